"""Automatic recovery inside ``Trainer.fit`` (Phase 20): the ``RollbackOnSpike`` callback.

    from pytorch_lightning import Trainer
    from utils.recovery.detectors import EMADetector
    from utils.recovery.lightning_rollback import RollbackOnSpike

    rollback = RollbackOnSpike(EMADetector(rel_threshold=1.5), every_n_steps=25)
    # or RollbackOnSpike("budget"): told a false-alarm budget (1 per 10,000 steps), not a threshold
    Trainer(callbacks=[rollback], max_steps=420, ...).fit(module, dataloader)
    rollback.events        # every checkpoint, rollback, skip and give-up, as plain dicts
    rollback.quarantine    # the global ids that will never be trained on again

What it needs from the training code (two small conventions, nothing else):

- every batch carries GLOBAL ids: ``batch["ids"]`` for a dict batch, the last element of a tuple
  or list batch (or pass ``batch_ids=``). An id means what you decide: a dataset index (one per
  example) or a position in the data stream (one per batch). It must not be Lightning's
  ``batch_idx``, which restarts at 0 every epoch and, after a mid-epoch resume, does not even
  name the same data;
- to detect BEFORE the update, ``training_step`` stores its loss as ``self.last_train_loss``
  (any attribute name, ``loss_attr=``). Without it the callback still works, one hook later:
  it reads the loss Lightning hands to ``on_train_batch_end``, after the optimizer step, and the
  rollback then undoes the bad update instead of preventing it.

When each hook runs (automatic optimization, Lightning 2.6; see theory/phase-20/03):

    on_train_batch_start      ids of the batch; a quarantined batch is marked "skip"
    training_step             forward, loss (the module stashes it)
    backward
    on_before_optimizer_step  gradients are there, clipping and the update are not:
                              judge the loss (and non-finite gradients); on a detection or a
                              skip, set every gradient to None, so optimizer.step() moves
                              nothing and leaves AdamW's moments and step count untouched
    optimizer.step, then the LR scheduler's step
    on_train_batch_end        roll back (model, optimizers, schedulers, detector) or, on a
                              normal step, save a good checkpoint every ``every_n_steps`` steps;
                              ModelCheckpoint runs after us (Lightning moves it to the end of the
                              callback list), so the files it writes hold the restored weights

What a rollback does NOT do: rewind the data. Lightning owns the dataloader iterator, so the run
goes forward: the batches between the checkpoint and the spike are dropped from the restored
lineage (their updates are discarded), the suspect batch is quarantined, and training continues
with the next batch. ``trainer.global_step`` keeps counting batches seen, so ``max_steps`` bounds
the work; the event says how many updates a rollback discarded. The LR schedule is restored with
the optimizer and does not advance on a step whose update was dropped. RNG states are not
restored (the data order moves on, so nothing would be replayed with them).
"""
from __future__ import annotations

import copy
import json
import math
import os
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from utils.recovery.checkpoint import (CheckpointManager, capture_training_state, check_state, cpu_copy,
                                       restore_training_state)
from utils.recovery.detectors import Detection, Detector, EMADetector, detector_from_name
from utils.spikelab.atomic import atomic_write
from utils.text import say


class RollbackBudgetExceeded(RuntimeError):
    """More rollbacks were needed than ``max_rollbacks`` allows: something is wrong for good."""


def default_batch_ids(batch: Any) -> list[int]:
    """The global ids a batch carries: ``batch["ids"]`` (dict) or its last element (tuple/list)."""
    ids = batch["ids"] if isinstance(batch, Mapping) else batch[-1]
    if isinstance(ids, torch.Tensor):
        return [int(i) for i in ids.flatten().tolist()]
    return [int(i) for i in ids]


def _plain(value: float) -> float | str:
    """A float for an event: finite floats stay, nan/inf become the strings "nan", "inf"."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


def grad_norm(optimizer: torch.optim.Optimizer) -> float:
    """The global L2 norm of the gradients of the optimizer's parameters (0.0 without any)."""
    grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


def _schedulers(trainer: pl.Trainer) -> list[Any]:
    """The trainer's LR schedulers (what a snapshot saves besides model and optimizers)."""
    return [config.scheduler for config in trainer.lr_scheduler_configs]


class RollbackOnSpike(Callback):
    """Detect a loss spike, roll back in-process, quarantine the suspect batch, keep training.

    Args:
        detector: judges the training loss, one value per step (default: ``EMADetector`` with
            threshold 1.5 x the ~50-step EMA). A detector instance, or a name for
            ``utils.recovery.detectors.detector_from_name``: ``"budget"`` (a false-alarm budget of 1 per
            10,000 steps instead of a threshold), ``"budget:0.5"``, ``"cusum"``, ... A non-finite
            loss or gradient norm is always a detection, whatever the detector.
        every_n_steps: save a good checkpoint after a normal step (never after a dropped one) once
            ``trainer.global_step`` is this many steps past the last save; also when training starts.
        keep_last: in-memory snapshots kept (ignored when ``manager`` is given).
        manager: a ``utils.recovery.checkpoint.CheckpointManager``: checkpoints go to disk (atomic,
            sha256-checked, only finite ones are rolled back to) instead of memory.
        max_rollbacks: the retry budget; one more rollback raises ``RollbackBudgetExceeded``
            (after restoring the last good state, so the module is not left damaged).
        quarantine_previous: also quarantine the ids of this many batches trained before the
            spike (Lightning's SpikeDetection skips 1: the previous batch may have done the damage).
        skip_next: after a rollback, also drop the next this many batches and quarantine their
            ids as they arrive (PaLM skipped 200-500 batches around a spike; the plain-PyTorch
            ``utils.recovery.rollback.RollbackPolicy`` has the same knob).
        loss_attr: the module attribute where ``training_step`` stores its loss.
        batch_ids: how to read the global ids of a batch (default ``default_batch_ids``).
        events_path: optional JSON file, rewritten atomically after every event.
    """

    def __init__(self, detector: Detector | str | None = None, *, every_n_steps: int = 25,
                 keep_last: int = 3, manager: CheckpointManager | None = None,
                 max_rollbacks: int = 10, quarantine_previous: int = 0, skip_next: int = 0,
                 loss_attr: str = "last_train_loss",
                 batch_ids: Callable[[Any], list[int]] = default_batch_ids,
                 events_path: str | os.PathLike | None = None):
        if every_n_steps < 1:
            raise ValueError(say("every_n_steps must be >= 1", "every_n_steps debe ser >= 1"))
        if isinstance(detector, str):
            detector = detector_from_name(detector)
        self.detector = detector if detector is not None else EMADetector(rel_threshold=1.5)
        self.every_n_steps = int(every_n_steps)
        self.manager = manager
        self.max_rollbacks = int(max_rollbacks)
        self.quarantine_previous = int(quarantine_previous)
        self.skip_next = int(skip_next)
        self.loss_attr = loss_attr
        self.batch_ids = batch_ids
        self.events_path = Path(events_path) if events_path is not None else None
        self.snapshots: deque[tuple[int, dict[str, Any]]] = deque(maxlen=int(keep_last))
        self.quarantine: set[int] = set()
        self.events: list[dict[str, Any]] = []
        self.rollbacks = 0
        self.updates = 0                       # updates applied in the current lineage
        self.skip_left = 0                     # batches still to drop after the last rollback
        self.last_saved_step = -1
        self._recent: deque[list[int]] = deque(maxlen=max(1, self.quarantine_previous))
        self._reset_step(0, [])

    # ----------------------------------------------------------------- per-step bookkeeping
    def _reset_step(self, step: int, ids: list[int]) -> None:
        self._step = step                      # trainer.global_step when the batch started
        self._ids = ids
        self._skip = False                     # the batch holds a quarantined id
        self._detection: Detection | None = None
        self._detected_in: str | None = None
        self._judged = False                   # the detector has seen this step's loss
        self._grad_norm = math.nan
        self._hparams_before: list[list[dict[str, Any]]] = []
        self._schedulers_before: list[dict[str, Any]] = []

    def _event(self, **event: Any) -> None:
        self.events.append(event)
        if self.events_path is not None:
            atomic_write(self.events_path, json.dumps(self.events, indent=1, sort_keys=True) + "\n")

    @staticmethod
    def _drop_update(optimizer: torch.optim.Optimizer) -> None:
        """Set every gradient to None: ``optimizer.step()`` then skips every parameter."""
        optimizer.zero_grad(set_to_none=True)

    # ----------------------------------------------------------------- Lightning hooks
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.accumulate_grad_batches != 1:
            raise ValueError(say("RollbackOnSpike judges one batch per optimizer step: use accumulate_grad_batches=1",
                                 "RollbackOnSpike juzga un batch por paso del optimizador: usa "
                                 "accumulate_grad_batches=1"))
        if trainer.world_size != 1:
            raise ValueError(say("RollbackOnSpike is written for one process (world_size=1)",
                                 "RollbackOnSpike está escrito para un solo proceso (world_size=1)"))

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._save(trainer, pl_module)         # there is always a state to roll back to

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        self._reset_step(trainer.global_step, self.batch_ids(batch))
        if hasattr(pl_module, self.loss_attr):
            setattr(pl_module, self.loss_attr, None)    # never judge a stale loss
        # the LR schedule must not advance on a step whose update we drop: remember it
        self._hparams_before = [[{k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
                                 for g in opt.param_groups] for opt in trainer.optimizers]
        self._schedulers_before = [copy.deepcopy(c.scheduler.state_dict())
                                   for c in trainer.lr_scheduler_configs]
        if self.skip_left > 0:                 # one of the batches right after a rollback
            self.skip_left -= 1
            self.quarantine.update(self._ids)
        hit = sorted(set(self._ids) & self.quarantine)
        if hit:
            self._skip = True
            self._event(action="skip", step=self._step, ids=self._ids, quarantined_ids=hit)

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        if self._skip:
            self._drop_update(optimizer)
            return
        self._grad_norm = grad_norm(optimizer)          # before clipping (Lightning clips later)
        loss = getattr(pl_module, self.loss_attr, None)
        if loss is None:
            return                                      # judged in on_train_batch_end instead
        self._judged = True
        detection = self._judge(float(loss))
        if detection is not None:
            self._detection, self._detected_in = detection, "on_before_optimizer_step"
            self._drop_update(optimizer)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._skip:
            self._undo_schedule_step(trainer)
            return
        if not self._judged:
            loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
            if loss is None:                            # training_step returned None
                return
            self._detection = self._judge(float(loss))
            self._detected_in = "on_train_batch_end" if self._detection is not None else None
        if self._detection is not None:
            self._rollback(trainer, pl_module)
            return
        self.updates += 1
        self._recent.append(self._ids)
        if trainer.global_step - self.last_saved_step >= self.every_n_steps:
            self._save(trainer, pl_module)

    def _judge(self, loss: float) -> Detection | None:
        """The detector's verdict on this step's loss; a non-finite gradient norm with a finite
        loss is a detection too (the loss is then not folded into the detector's baseline)."""
        if math.isfinite(loss) and not math.isfinite(self._grad_norm):
            return Detection(self._step, self._grad_norm, self.detector.reference(), math.inf,
                             "non-finite-grad")
        return self.detector.update(loss, self._step)   # non-finite loss: always a detection

    # ----------------------------------------------------------------- checkpoints
    def _state(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """The shared snapshot (``utils.recovery.checkpoint.capture_training_state``) without RNG
        states (the data moves on after a rollback: nothing is replayed with them)."""
        state = capture_training_state(pl_module, trainer.optimizers, _schedulers(trainer),
                                       detectors={"loss": self.detector}, rng=False)
        state.update(global_step=int(trainer.global_step), updates=self.updates)
        return state

    def _save(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        step = int(trainer.global_step)
        self.last_saved_step = step
        state = cpu_copy(self._state(trainer, pl_module))
        if self.manager is not None:
            path = self.manager.save(step, state)       # a non-finite state is saved, marked
            self._event(action="checkpoint", step=step, where=path.name)   # and never restored
            return
        if check_state(state):                          # nan/inf inside: not a state to return to
            self._event(action="checkpoint-refused", step=step, reason="non-finite")
            return
        self.snapshots.append((step, state))
        self._event(action="checkpoint", step=step, where="memory")

    def _latest_good(self, before_step: int) -> tuple[int, dict[str, Any]] | None:
        if self.manager is not None:
            return self.manager.latest_good(before_step=before_step)
        for step, state in reversed(self.snapshots):
            if step < before_step:
                return step, state
        return None

    def _restore(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                 state: dict[str, Any]) -> None:
        restore_training_state(state, pl_module, trainer.optimizers, _schedulers(trainer),
                               detectors={"loss": self.detector})
        self.updates = int(state["updates"])

    def _undo_schedule_step(self, trainer: pl.Trainer) -> None:
        """Put LR schedulers and optimizer hyperparameters back to the start of this step."""
        for opt, groups in zip(trainer.optimizers, self._hparams_before):
            for group, saved in zip(opt.param_groups, groups):
                group.update(copy.deepcopy(saved))
        for config, saved in zip(trainer.lr_scheduler_configs, self._schedulers_before):
            config.scheduler.load_state_dict(copy.deepcopy(saved))

    def _rollback(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        detection, step = self._detection, self._step
        assert detection is not None
        suspects = set(self._ids)
        if self.quarantine_previous:
            for ids in list(self._recent)[-self.quarantine_previous:]:
                suspects.update(ids)
        self.quarantine.update(suspects)
        self.rollbacks += 1
        found = self._latest_good(before_step=step + 1)
        if found is None:
            raise RuntimeError(say(f"step {step}: a spike was detected and there is no good checkpoint",
                                   f"paso {step}: se detectó un pico y no hay ningún checkpoint bueno"))
        restored_step, state = found
        update_applied = self._detected_in == "on_train_batch_end"
        discarded = self.updates - int(state["updates"]) + int(update_applied)
        self._restore(trainer, pl_module, state)
        self._recent.clear()
        self.skip_left = self.skip_next
        self._event(action="rollback", step=step, detected_in=self._detected_in,
                    update_applied=update_applied,
                    reason=detection.reason, loss=_plain(detection.value),
                    reference=_plain(detection.reference), score=_plain(detection.score),
                    grad_norm=_plain(self._grad_norm), restored_step=int(restored_step),
                    updates_discarded=int(discarded), quarantined=sorted(suspects),
                    rollbacks=self.rollbacks)
        if self.rollbacks > self.max_rollbacks:
            self._event(action="give-up", step=step, rollbacks=self.rollbacks,
                        max_rollbacks=self.max_rollbacks)
            raise RollbackBudgetExceeded(say(
                f"step {step}: rollback {self.rollbacks} exceeds max_rollbacks={self.max_rollbacks} "
                f"(restored step {restored_step}; quarantine holds {len(self.quarantine)} ids)",
                f"paso {step}: el rollback {self.rollbacks} supera max_rollbacks={self.max_rollbacks} "
                f"(restaurado el paso {restored_step}; la cuarentena guarda {len(self.quarantine)} ids)"))

    # ----------------------------------------------------------------- callback state
    def state_dict(self) -> dict[str, Any]:
        """What a Lightning checkpoint keeps of this callback: detector, quarantine, events,
        counters (plain Python values). Snapshots are not included: after a resume the first
        checkpoint is taken when training starts."""
        return {"detector": self.detector.state_dict(), "quarantine": sorted(self.quarantine),
                "events": copy.deepcopy(self.events), "rollbacks": self.rollbacks,
                "updates": self.updates, "skip_left": self.skip_left}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (a resumed fit keeps detector and quarantine)."""
        self.detector.load_state_dict(state_dict["detector"])
        self.quarantine = {int(i) for i in state_dict["quarantine"]}
        self.events = copy.deepcopy(list(state_dict["events"]))
        self.rollbacks = int(state_dict["rollbacks"])
        self.updates = int(state_dict["updates"])
        self.skip_left = int(state_dict["skip_left"])
