"""A run log for ``Trainer.fit`` (Phase 20): ``RunLogCallback`` writes a ``utils.spikelab.runlog.RunLog``
step by step, so that the dashboard (``utils.diagnosis.dashboard.draw(log)``) and the stability
check (``utils.diagnosis.stability_check.check(log)``) read a Lightning run like any run of the plain
loop.

    recorder = RunLogCallback()
    Trainer(callbacks=[recorder, RollbackOnSpike()], ...).fit(MiniGPTModule(cfg))
    draw(recorder.log)

When each hook runs and what it records (automatic optimization, one batch per optimizer step):

    on_fit_start              a new run log, with the module's meta
    on_train_start            the clock starts (``meta["wall_seconds"]`` at the end)
    on_train_batch_start      the LR this step uses (the LR scheduler steps after the update), and
                              the held-out evaluations the module has recorded so far
    on_before_optimizer_step  the gradient norm before clipping (Lightning clips after this hook)
    on_train_batch_end        the loss, the gradient norm after clipping, the batch's example ids,
                              the parameter checksum and non-finite count; the step is appended
    on_train_end              the last held-out evaluations and the wall time

List it BEFORE ``RollbackOnSpike``: that callback drops an update by setting the gradients to None
(then both gradient norms of the step are None) and restores the weights in its own
``on_train_batch_end``; after it, this callback would see the restored weights instead of the
step's. Columns that cannot be read from outside the training step are None, as in the plain
loop's ``TrainingRun.step(instrument=False)``: activations, Adam moments, rare-row gradients,
per-token losses and token ids, batch hash, rare counts. A record's step is its position in the
log; Lightning's ``global_step`` counts the same batches (dropped updates included), one log per fit.

What it reads from the module, each if the module has it:
- ``runlog_meta()``: the run's meta (``MiniGPTModule`` gives the plain loop's own:
  ``config`` with its ``warmup``, ``layers``, ``pieces``, ``rare_pieces``, ``headline_piece``,
  ``piece_counts``, ``dtype``, ...); otherwise a minimal one (``run_id`` is the module's class name,
  no warm-up: every step is judged);
- ``batch_example_ids(batch)``: the ``batch_ids`` column (None without it);
- ``heldout``: a list of (step, held-out loss) pairs, copied into ``log.heldout``.
``meta["clip"]`` is the trainer's norm clip (None when it does not clip by norm).
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from utils.recovery.lightning_rollback import grad_norm
from utils.spikelab.runlog import STEP_COLUMNS, RunLog
from utils.spikelab.train import param_fingerprint


def _held_grad_norm(trainer: pl.Trainer) -> float | None:
    """Global L2 norm of the gradients the optimizers hold; None when none holds one (an update
    that was dropped, or a step without backward)."""
    optimizers = trainer.optimizers
    if not any(p.grad is not None for opt in optimizers for g in opt.param_groups for p in g["params"]):
        return None
    return math.hypot(*(grad_norm(opt) for opt in optimizers))


def _minimal_meta(pl_module: pl.LightningModule) -> dict[str, Any]:
    """The meta of a module that has no ``runlog_meta()``."""
    first = next(pl_module.parameters(), None)
    return {"run_id": type(pl_module).__name__, "trainer": "pytorch-lightning",
            "dtype": str(first.dtype).removeprefix("torch.") if first is not None else None,
            "config": {"warmup": 0}, "layers": []}


class RunLogCallback(Callback):
    """Writes ``self.log``, a RunLog of the fit (see the module docstring). ``meta``: use this meta
    instead of the module's; ``fingerprint=False`` leaves the parameter checksum columns None (it
    reads every parameter once per step)."""

    def __init__(self, meta: dict[str, Any] | None = None, fingerprint: bool = True):
        self.meta = meta
        self.fingerprint = fingerprint
        self.log = RunLog(meta=dict(meta or {}))
        self._lr: float | None = None
        self._preclip: float | None = None
        self._started = time.perf_counter()

    # ----------------------------------------------------------------- Lightning hooks
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.meta is not None:
            meta = dict(self.meta)
        elif callable(getattr(pl_module, "runlog_meta", None)):
            meta = pl_module.runlog_meta()
        else:
            meta = _minimal_meta(pl_module)
        by_norm = (trainer.gradient_clip_algorithm or "norm") == "norm"
        meta["clip"] = float(trainer.gradient_clip_val) if by_norm and trainer.gradient_clip_val else None
        self.log = RunLog(meta=meta)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        groups = trainer.optimizers[0].param_groups if trainer.optimizers else []
        self._lr = float(groups[0]["lr"]) if groups else None
        self._preclip = None
        self._copy_heldout(pl_module)

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 optimizer: Any) -> None:
        self._preclip = _held_grad_norm(trainer)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        record: dict[str, Any] = {column: None for column in STEP_COLUMNS}
        record.update(loss=None if loss is None else float(loss), lr=self._lr,
                      grad_norm_preclip=self._preclip,
                      grad_norm_postclip=_held_grad_norm(trainer) if self._preclip is not None else None)
        example_ids = getattr(pl_module, "batch_example_ids", None)
        if callable(example_ids):
            record["batch_ids"] = list(example_ids(batch))
        if self.fingerprint:
            record["param_hash"], record["nonfinite_params"] = param_fingerprint(list(pl_module.parameters()))
        self.log.append(record)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._copy_heldout(pl_module)
        self.log.meta["wall_seconds"] = round(time.perf_counter() - self._started, 2)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        self._copy_heldout(pl_module)          # a fit stopped by an error keeps what it measured

    # ----------------------------------------------------------------- held-out loss
    def _copy_heldout(self, pl_module: pl.LightningModule) -> None:
        pairs = getattr(pl_module, "heldout", None)
        if isinstance(pairs, list):
            self.log.heldout = {"step": [int(s) for s, _ in pairs], "loss": [float(v) for _, v in pairs]}
