"""LightningModules for Phase 20: the course's mini-GPT run, and a tiny regression example.

Both follow the two conventions of ``utils.recovery.lightning_rollback.RollbackOnSpike``: each batch
carries global ids (``batch["ids"]``, or the last element of a tuple), and ``training_step``
stores its loss in ``self.last_train_loss`` so the callback can judge it before the update.

- ``MiniGPTModule(cfg)`` trains a ``utils.spikelab.config`` variant through ``Trainer.fit``. It is built
  from the same pieces as ``utils.spikelab.train.TrainingRun`` (the run object supplies the model, the
  AdamW optimizer, the data order and the held-out set), so with ``mini_gpt_trainer_kwargs(cfg)``
  it follows the plain loop. Global id of a batch: its position in the data order (the step it
  was planned for), e.g. 312 for the first batch of the late shard. It also answers what
  ``utils.recovery.lightning_runlog.RunLogCallback`` asks to write a run log: ``runlog_meta()``,
  ``batch_example_ids(batch)`` and ``heldout``.
- ``TinyRegressor`` + ``ood_regression_data``: a small MLP learning a fixed random teacher, with
  one batch of out-of-distribution inputs (a unit mistake: every input multiplied by ``scale``) at
  a known position of the data order. Global id: the dataset index of each example.
"""
from __future__ import annotations

import copy

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from utils.spikelab.config import RunConfig
from utils.spikelab.train import TrainingRun, rows_to_tensors
from utils.text import say


class StepBatches(Dataset):
    """Item ``i`` is the whole batch the data order planned for step ``i``: a dict with
    ``x``, ``y`` (padded as in ``rows_to_tensors``) and ``ids``: tensor([i]) (``ids="position"``)
    or the example ids of its sentences (``ids="examples"``)."""

    def __init__(self, run: TrainingRun, ids: str = "position"):
        if ids not in ("position", "examples"):
            raise ValueError(say("ids must be 'position' or 'examples'", "ids debe ser 'position' o 'examples'"))
        self.run, self.ids = run, ids

    def __len__(self) -> int:
        return len(self.run.batches)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x, y = rows_to_tensors([self.run.examples[j].ids for j in self.run.batches[i]])
        ids = [i] if self.ids == "position" else self.run.batches[i]
        return {"x": x, "y": y, "ids": torch.tensor(ids)}


class CourseLR(torch.optim.lr_scheduler.LRScheduler):
    """Sets every group's LR to ``lr_of(step)`` (the course schedule, e.g. ``TrainingRun.lr``)
    exactly, not as base_lr x factor, so the LR values are bit-for-bit the plain loop's."""

    def __init__(self, optimizer: torch.optim.Optimizer, lr_of):
        self.lr_of = lr_of
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [self.lr_of(self.last_epoch) for _ in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_of")}


class MiniGPTModule(pl.LightningModule):
    """The mini-GPT of ``cfg`` as a LightningModule (AdamW + warmup-cosine LR, as in TrainingRun).

    Records ``losses`` (step, training loss, one per batch seen) and ``heldout`` (step, held-out
    loss every ``heldout_every`` steps, measured after the step's callbacks, so after a rollback).
    """

    def __init__(self, cfg: RunConfig, heldout_every: int | None = None, ids: str = "position"):
        super().__init__()
        self.cfg, self.ids = cfg, ids
        self.run = TrainingRun(cfg)           # seeds torch, builds model, optimizer, data order
        self.model = self.run.model
        self.heldout_every = cfg.heldout_every if heldout_every is None else heldout_every
        self.last_train_loss: torch.Tensor | None = None
        self.losses: list[tuple[int, float]] = []
        self.heldout: list[tuple[int, float]] = []

    def train_dataloader(self) -> DataLoader:
        return DataLoader(StepBatches(self.run, self.ids), batch_size=None, shuffle=False)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self.model(batch["x"])
        mask = batch["y"] != -100              # the loss of TrainingRun: mean over real tokens
        loss = F.cross_entropy(logits.float()[mask], batch["y"][mask], reduction="none").mean()
        self.last_train_loss = loss.detach()
        self.losses.append((self.global_step, float(loss)))
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        step = self.global_step - 1           # the step that just ended
        if self.heldout_every and step % self.heldout_every == 0:
            self.heldout.append((step, self.run.heldout_loss()))

    def batch_example_ids(self, batch: dict[str, torch.Tensor]) -> list[int]:
        """The example ids of a batch's sentences (the run log's ``batch_ids`` column)."""
        ids = [int(i) for i in batch["ids"].flatten().tolist()]
        return ids if self.ids == "examples" else [e for i in ids for e in self.run.batches[i]]

    def runlog_meta(self) -> dict:
        """The run log's meta, as the plain loop writes it (``TrainingRun``'s own), marked as a
        Lightning run: ``run_id`` gets ``-lightning``, and ``heldout_every`` is this module's."""
        return {**copy.deepcopy(self.run.log.meta), "run_id": f"{self.cfg.run_id}-lightning",
                "trainer": "pytorch-lightning", "heldout_every": self.heldout_every}

    def configure_optimizers(self):
        return {"optimizer": self.run.opt,
                "lr_scheduler": {"scheduler": CourseLR(self.run.opt, self.run.lr), "interval": "step"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None,
                                    gradient_clip_algorithm=None) -> None:
        """The plain loop's clip: global norm over ``model.parameters()`` in that order (Lightning's
        own clip walks the optimizer's groups, a different summation order)."""
        if gradient_clip_val:
            torch.nn.utils.clip_grad_norm_(self.run.params, gradient_clip_val)


def mini_gpt_trainer_kwargs(cfg: RunConfig) -> dict:
    """Trainer arguments that match the plain loop: CPU, cfg.steps steps, the same global-norm
    clip, and no logger, progress bar, model summary or default checkpointing."""
    return dict(accelerator="cpu", devices=1, max_steps=cfg.steps, logger=False,
                enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                gradient_clip_val=cfg.clip, gradient_clip_algorithm="norm")


# ------------------------------------------------------------------------------------------
# The tiny engineered example
# ------------------------------------------------------------------------------------------

def ood_regression_data(n_batches: int = 40, batch_size: int = 16, ood_batch: int = 30,
                        scale: float = 30.0, dim: int = 8, seed: int = 0) -> TensorDataset:
    """(x, y, index) for a fixed random teacher y = tanh(x W1) w2 + 0.05 noise, x ~ N(0, 1).

    The examples of batch ``ood_batch`` (dataset indices ``ood_batch*batch_size`` onwards) get
    their inputs multiplied by ``scale`` AFTER their targets were computed: the same examples,
    recorded in the wrong unit. Iterated without shuffling, they form the batch at global step
    ``ood_batch`` of every epoch (``ood_batch + n_batches``, ...)."""
    g = torch.Generator().manual_seed(seed)
    n = n_batches * batch_size
    w1 = torch.randn(dim, 16, generator=g) / dim ** 0.5
    w2 = torch.randn(16, 1, generator=g)
    x = torch.randn(n, dim, generator=g)
    y = torch.tanh(x @ w1) @ w2 + 0.05 * torch.randn(n, 1, generator=g)
    bad = slice(ood_batch * batch_size, (ood_batch + 1) * batch_size)
    x[bad] *= scale
    return TensorDataset(x, y, torch.arange(n))


class TinyRegressor(pl.LightningModule):
    """An 8-32-1 ReLU MLP trained with AdamW (lr 1e-2) and an exponential LR decay per step.

    Like ``TrainingRun`` it sets torch to ``num_threads`` threads (1: on a busy small machine more
    threads make such tiny steps many times slower) and seeds torch before building the weights.

    ``stash_loss=False`` leaves ``last_train_loss`` unset, so RollbackOnSpike can only judge the
    loss after the optimizer step. ``losses`` records (step, loss) of every batch seen.
    """

    def __init__(self, dim: int = 8, lr: float = 1e-2, gamma: float = 0.995,
                 stash_loss: bool = True, seed: int = 0, num_threads: int = 1):
        super().__init__()
        torch.set_num_threads(num_threads)
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(torch.nn.Linear(dim, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
        self.lr, self.gamma, self.stash_loss = lr, gamma, stash_loss
        self.losses: list[tuple[int, float]] = []

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y, _ = batch
        loss = F.mse_loss(self.net(x), y)
        if self.stash_loss:
            self.last_train_loss = loss.detach()
        self.losses.append((self.global_step, float(loss)))
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr)
        schedule = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=self.gamma)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def tiny_loader(data: TensorDataset, batch_size: int = 16) -> DataLoader:
    """The data in order (no shuffling), so every global position is known in advance."""
    return DataLoader(data, batch_size=batch_size, shuffle=False)
