"""RollbackOnSpike inside a real Trainer.fit, and the Lightning behaviours the course describes.

The spike is engineered by data only: ``ood_regression_data`` puts one batch of examples whose
inputs are in the wrong unit (x 30) at global step 30 of every 40-step epoch (steps 30, 70, 110).
"""
from __future__ import annotations

import copy
import json
import logging
import statistics
import warnings
from pathlib import Path

import pytest
import torch

pl = pytest.importorskip("pytorch_lightning")
from lightning_fabric.utilities.spike import TrainingSpikeException  # noqa: E402
from pytorch_lightning.callbacks import ModelCheckpoint  # noqa: E402
from pytorch_lightning.callbacks.spike import SpikeDetection  # noqa: E402
from pytorch_lightning.trainer.states import TrainerStatus  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from utils.recovery.checkpoint import CheckpointManager  # noqa: E402
from utils.recovery.detectors import EMADetector  # noqa: E402
from utils.recovery.lightning_module import TinyRegressor, ood_regression_data, tiny_loader  # noqa: E402
from utils.recovery.lightning_rollback import RollbackBudgetExceeded, RollbackOnSpike  # noqa: E402

SPIKE, EPOCH, BATCH = 30, 40, 16
OOD_IDS = list(range(SPIKE * BATCH, (SPIKE + 1) * BATCH))


@pytest.fixture(autouse=True)
def quiet():
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def make_trainer(max_steps: int, callbacks=(), **kwargs) -> "pl.Trainer":
    kwargs.setdefault("enable_checkpointing", any(isinstance(c, ModelCheckpoint) for c in callbacks))
    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, max_steps=max_steps, callbacks=list(callbacks), **kwargs)


def rollback_cb(**kwargs) -> RollbackOnSpike:
    return RollbackOnSpike(EMADetector(rel_threshold=3.0), every_n_steps=kwargs.pop("every_n_steps", 8),
                           **kwargs)


class WeightWatch(pl.Callback):
    """Records, per step, whether the weights changed between batch start and batch end, and the
    batch's ids. Put after RollbackOnSpike: it then sees the weights after a rollback."""

    def __init__(self):
        self.changed: dict[int, bool] = {}
        self.ids: dict[int, list[int]] = {}
        self.batch_idx: dict[int, int] = {}
        self.after_rollback: dict[int, dict] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._before = {k: v.clone() for k, v in pl_module.state_dict().items()}
        self._step = trainer.global_step
        self.ids[self._step] = batch[-1].tolist()
        self.batch_idx[self._step] = batch_idx

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        now = pl_module.state_dict()
        self.changed[self._step] = any(not torch.equal(now[k], v) for k, v in self._before.items())
        self.after_rollback[self._step] = {"model": {k: v.clone() for k, v in now.items()},
                                           "optimizer": copy.deepcopy(trainer.optimizers[0].state_dict())}


def losses_of(model: TinyRegressor, steps) -> list[float]:
    table = dict(model.losses)
    return [table[s] for s in steps]


# ------------------------------------------------------------------------------------------
# The engineered spike is real, and the callback recovers from it
# ------------------------------------------------------------------------------------------

def test_without_rollback_the_ood_batch_damages_training():
    control, recovered = TinyRegressor(), TinyRegressor()
    make_trainer(60).fit(control, tiny_loader(ood_regression_data()))
    make_trainer(60, [rollback_cb()]).fit(recovered, tiny_loader(ood_regression_data()))
    pre = statistics.mean(losses_of(control, range(20, 30)))
    assert losses_of(control, [SPIKE])[0] > 100 * pre                  # a real spike ...
    assert losses_of(control, range(SPIKE)) == losses_of(recovered, range(SPIKE))
    damaged = statistics.mean(losses_of(control, range(41, 60)))         # ... and lasting damage
    assert damaged > 2 * statistics.mean(losses_of(recovered, range(41, 60)))
    assert damaged > pre


def test_rollback_before_the_update_recovers(tmp_path: Path):
    manager = CheckpointManager(tmp_path / "rollback", keep_last=20)
    callback = rollback_cb(manager=manager, events_path=tmp_path / "events.json")
    watch = WeightWatch()
    model = TinyRegressor()
    trainer = make_trainer(120, [callback, watch])
    trainer.fit(model, tiny_loader(ood_regression_data()))

    assert trainer.state.finished and trainer.global_step == 120
    rollbacks = [e for e in callback.events if e["action"] == "rollback"]
    assert len(rollbacks) == 1
    event = rollbacks[0]
    assert event["step"] == SPIKE and event["detected_in"] == "on_before_optimizer_step"
    assert event["update_applied"] is False and event["reason"] == "above-ema"
    assert event["restored_step"] == 24 and event["updates_discarded"] == SPIKE - 24
    assert event["quarantined"] == OOD_IDS and callback.quarantine == set(OOD_IDS)

    # right after the restore the weights (and AdamW state) are the checkpoint's
    saved = manager.load(manager.path_for(24))
    restored = watch.after_rollback[SPIKE]
    assert all(torch.equal(restored["model"][k], saved["model"][k]) for k in saved["model"])
    for index, moments in saved["optimizers"][0]["state"].items():
        for name, value in moments.items():
            assert torch.equal(restored["optimizer"]["state"][index][name], value), (index, name)
    assert restored["optimizer"]["param_groups"][0]["lr"] == saved["optimizers"][0]["param_groups"][0]["lr"]

    # the quarantined examples came back in every epoch and were never trained on again
    seen = [s for s, ids in watch.ids.items() if set(ids) & set(OOD_IDS)]
    assert seen == [SPIKE, SPIKE + EPOCH, SPIKE + 2 * EPOCH]
    assert not any(watch.changed[s] for s in seen[1:])   # at step 30 only the restore changed them
    assert all(watch.changed[s] for s in watch.changed if s not in seen)
    skips = [e["step"] for e in callback.events if e["action"] == "skip"]
    assert skips == [SPIKE + EPOCH, SPIKE + 2 * EPOCH]

    # the loss is back at (or below) the pre-spike level
    pre = statistics.mean(losses_of(model, range(20, 30)))
    assert statistics.mean(losses_of(model, range(31, 41))) < 1.1 * pre
    assert json.loads((tmp_path / "events.json").read_text()) == callback.events


def test_rollback_after_the_update_when_the_loss_is_not_stashed():
    callback = rollback_cb(keep_last=10)
    watch = WeightWatch()
    model = TinyRegressor(stash_loss=False)           # the callback sees the loss one hook later
    trainer = make_trainer(60, [callback, watch])
    trainer.fit(model, tiny_loader(ood_regression_data()))
    event = next(e for e in callback.events if e["action"] == "rollback")
    assert event["step"] == SPIKE and event["detected_in"] == "on_train_batch_end"
    assert event["update_applied"] is True and event["updates_discarded"] == SPIKE - 24 + 1
    snapshot = dict(callback.snapshots)[24]["model"]
    assert all(torch.equal(watch.after_rollback[SPIKE]["model"][k], v) for k, v in snapshot.items())
    assert trainer.state.finished and trainer.global_step == 60


def test_non_finite_loss_is_always_a_detection():
    data = ood_regression_data()
    data.tensors[0][SPIKE * BATCH] = float("inf")              # one corrupt input value
    callback = RollbackOnSpike(EMADetector(warmup=10_000), every_n_steps=8)   # EMA never fires
    trainer = make_trainer(40, [callback])
    model = TinyRegressor()
    trainer.fit(model, tiny_loader(data))
    event = next(e for e in callback.events if e["action"] == "rollback")
    assert event["step"] == SPIKE and event["reason"] == "non-finite" and event["loss"] in ("inf", "nan")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_retry_budget_stops_training():
    callback = rollback_cb(max_rollbacks=0, keep_last=10)
    trainer = make_trainer(60, [callback])
    model = TinyRegressor()
    with pytest.raises(RollbackBudgetExceeded):
        trainer.fit(model, tiny_loader(ood_regression_data()))
    assert [e["action"] for e in callback.events][-2:] == ["rollback", "give-up"]
    assert trainer.state.status == TrainerStatus.INTERRUPTED
    snapshot = dict(callback.snapshots)[24]["model"]            # left restored, not damaged
    assert all(torch.equal(model.state_dict()[k], v) for k, v in snapshot.items())


def test_skip_next_and_quarantine_previous():
    callback = rollback_cb(skip_next=3, quarantine_previous=1)
    watch = WeightWatch()
    make_trainer(50, [callback, watch]).fit(TinyRegressor(), tiny_loader(ood_regression_data()))
    assert [e["step"] for e in callback.events if e["action"] == "skip"] == [31, 32, 33]
    assert not any(watch.changed[s] for s in (31, 32, 33)) and watch.changed[34]
    assert callback.quarantine == set(range((SPIKE - 1) * BATCH, 34 * BATCH))   # batches 29-33


def test_mini_gpt_module_is_the_plain_training_loop():
    from utils.spikelab.config import config_for
    from utils.recovery.lightning_module import MiniGPTModule, mini_gpt_trainer_kwargs
    from utils.spikelab.train import TrainingRun

    cfg = config_for("broken", steps=12)
    plain = TrainingRun(cfg).train().steps["loss"]
    module = MiniGPTModule(cfg, heldout_every=0, ids="examples")
    trainer = pl.Trainer(**mini_gpt_trainer_kwargs(cfg))
    trainer.fit(module)
    assert [loss for _, loss in module.losses] == plain           # bit for bit
    batch = module.train_dataloader().dataset[3]
    assert batch["ids"].tolist() == module.run.batches[3]


# ------------------------------------------------------------------------------------------
# ModelCheckpoint files hold the restored lineage; the callback state survives a resume
# ------------------------------------------------------------------------------------------

def ordered_batches_loader(batches: list[int]) -> DataLoader:
    """The same data, but exactly these batches (by position in the epoch) in this order."""
    data = ood_regression_data()
    return DataLoader(data, batch_sampler=[list(range(b * BATCH, (b + 1) * BATCH)) for b in batches])


def test_model_checkpoint_files_hold_the_restored_lineage(tmp_path: Path):
    callback = rollback_cb()
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=20, save_top_k=-1)
    make_trainer(80, [callback, saver]).fit(TinyRegressor(), tiny_loader(ood_regression_data()))
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == [
        "epoch=0-step=20.ckpt", "epoch=0-step=40.ckpt", "epoch=1-step=60.ckpt", "epoch=1-step=80.ckpt"]

    # what was really applied: steps 0-23, then 31 on (24-29 were discarded, 30 dropped, 70 skipped)
    for step, applied in [(60, list(range(24)) + list(range(31, 40)) + list(range(0, 20))),
                          (80, list(range(24)) + list(range(31, 40)) + list(range(0, 30)) + list(range(31, 40)))]:
        comparison = TinyRegressor()
        make_trainer(len(applied)).fit(comparison, ordered_batches_loader(applied))
        (path,) = tmp_path.glob(f"*-step={step}.ckpt")
        ckpt = torch.load(path, weights_only=False)
        assert ckpt["global_step"] == step
        for key, value in comparison.state_dict().items():
            assert torch.equal(ckpt["state_dict"][key], value), (step, key)
        comparison_opt = comparison.trainer.optimizers[0].state_dict()["state"]
        for index, state in ckpt["optimizer_states"][0]["state"].items():
            assert torch.equal(state["exp_avg_sq"], comparison_opt[index]["exp_avg_sq"])
            assert int(state["step"]) == len(applied)
        assert ckpt["lr_schedulers"][0]["last_epoch"] == len(applied)
        assert ckpt["callbacks"]["RollbackOnSpike"]["quarantine"] == OOD_IDS


def test_callback_state_round_trip_and_resume(tmp_path: Path):
    callback = rollback_cb()
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=60, save_top_k=-1)
    make_trainer(60, [callback, saver]).fit(TinyRegressor(), tiny_loader(ood_regression_data()))

    state = json.loads(json.dumps(callback.state_dict()))       # plain JSON values
    fresh = RollbackOnSpike(EMADetector(rel_threshold=3.0))
    fresh.load_state_dict(state)
    assert fresh.state_dict() == state and fresh.quarantine == set(OOD_IDS)

    resumed = RollbackOnSpike(EMADetector(rel_threshold=3.0), every_n_steps=8)
    watch = WeightWatch()
    trainer = make_trainer(120, [resumed, watch])
    trainer.fit(TinyRegressor(), tiny_loader(ood_regression_data()),
                ckpt_path=tmp_path / "epoch=1-step=60.ckpt")
    assert trainer.state.finished and trainer.global_step == 120
    assert resumed.events[:len(callback.events)] == callback.events
    # A mid-epoch resume restarts a plain dataloader at its first batch while batch_idx goes on
    # counting from 20: at step 70 batch_idx is 30 but the data is the epoch's batch 10.
    assert watch.batch_idx[70] == SPIKE and watch.ids[70][0] == 10 * BATCH
    # The quarantine, by dataset index, still finds the OOD examples where they really are.
    seen = [s for s, ids in watch.ids.items() if set(ids) & set(OOD_IDS)]
    assert seen == [110] and not watch.changed[110]
    assert [e["step"] for e in resumed.events if e["action"] == "skip"] == seen
    assert not [e for e in resumed.events[len(callback.events):] if e["action"] == "rollback"]


# ------------------------------------------------------------------------------------------
# What the course says about the popular recipe and about Lightning's SpikeDetection
# ------------------------------------------------------------------------------------------

class RecipeAsWritten(pl.Callback):
    """The recipe as written for Lightning 1.x: a ``dataloader_idx`` argument, and on a spike
    ``trainer.stop()`` then ``trainer.fit(model)`` from the hook."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx):
        if outputs["loss"].item() > 100:
            trainer.stop()
            trainer.fit(pl_module)


class StopAndRefit(RecipeAsWritten):
    """The recipe with its hook signature fixed for Lightning 2; its body runs unchanged."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0)


class RefitOnly(pl.Callback):
    """The recipe without the nonexistent stop(): only the nested ``trainer.fit(model)``."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if outputs["loss"].item() > 100 and not hasattr(self, "before"):
            self.before = ({k: v.clone() for k, v in pl_module.state_dict().items()}, trainer.optimizers[0])
            trainer.fit(pl_module)
            self.after = ({k: v.clone() for k, v in pl_module.state_dict().items()}, trainer.optimizers[0])


class TinyWithLoader(TinyRegressor):
    def train_dataloader(self):
        return tiny_loader(ood_regression_data())


def test_recipe_breakage_1_checkpoint_callback_flag_is_gone(tmp_path: Path):
    with pytest.raises(TypeError, match="unexpected keyword argument 'checkpoint_callback'"):
        pl.Trainer(max_steps=60, callbacks=[RecipeAsWritten()], checkpoint_callback=True)
    fixed = pl.Trainer(max_steps=60, callbacks=[RecipeAsWritten()], enable_checkpointing=True,
                       default_root_dir=tmp_path, logger=False)
    assert fixed.checkpoint_callback is not None                 # the fix adds a ModelCheckpoint


def test_recipe_breakage_2_dataloader_idx_fails_after_the_first_update(tmp_path: Path):
    """No signature check at fit start: a plain TypeError at the first call of the hook."""
    trainer = make_trainer(60, [RecipeAsWritten()], enable_checkpointing=True, default_root_dir=tmp_path)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'dataloader_idx'"):
        trainer.fit(TinyWithLoader())
    assert trainer.state.status == TrainerStatus.INTERRUPTED and trainer.global_step == 1


def test_recipe_trainer_stop_does_not_exist():
    assert not hasattr(pl.Trainer, "stop")
    trainer = make_trainer(60, [StopAndRefit()])
    with pytest.raises(AttributeError, match="'Trainer' object has no attribute 'stop'"):
        trainer.fit(TinyWithLoader())
    assert trainer.state.status == TrainerStatus.INTERRUPTED and trainer.global_step == SPIKE + 1


def test_recipe_nested_fit_restores_nothing_and_breaks_the_outer_fit():
    recipe = RefitOnly()
    trainer = make_trainer(60, [recipe])
    with pytest.raises(AssertionError):                    # raised by the OUTER loop afterwards
        trainer.fit(TinyWithLoader())
    _, optimizer_before = recipe.before
    _, optimizer_after = recipe.after
    # a fresh AdamW (configure_optimizers ran again): the moments of 31 steps were thrown away,
    # and the nested fit went on from step 31 with the damaged weights - nothing was restored
    assert optimizer_after is not optimizer_before
    first = next(iter(optimizer_after.state.values()))
    assert int(first["step"]) == 60 - (SPIKE + 1) and trainer.global_step == 60


def test_lightning_spike_detection_raises_after_the_update(tmp_path: Path):
    watch = WeightWatch()
    detection = SpikeDetection(window=10, warmup=20)
    trainer = make_trainer(60, [watch, detection], default_root_dir=tmp_path)
    with pytest.raises(TrainingSpikeException, match=f"batch {SPIKE}"):
        trainer.fit(TinyRegressor(), tiny_loader(ood_regression_data()))
    assert trainer.global_step == SPIKE + 1                 # the spiking batch's update was applied
    assert json.loads((tmp_path / "skip_batches.json").read_text()) == [SPIKE - 1, SPIKE]
    state = detection.state_dict()
    assert len(state["running"]) == 0 and len(state["mean"]) == 0   # the window is not saved
    with pytest.raises(AttributeError, match="'running'"):
        SpikeDetection().load_state_dict(state)


def test_training_step_returning_none_still_steps_the_lr_schedule():
    """Lightning's own skip (training_step returns None): no update, but the scheduler steps."""

    class SkipStepTwo(TinyRegressor):
        def training_step(self, batch, batch_idx):
            return None if self.global_step == 2 else super().training_step(batch, batch_idx)

    watch = WeightWatch()
    model = SkipStepTwo()
    trainer = make_trainer(4, [watch])
    trainer.fit(model, tiny_loader(ood_regression_data()))
    assert [watch.changed[s] for s in range(4)] == [True, True, False, True]
    assert trainer.global_step == 4 and trainer.lr_scheduler_configs[0].scheduler.last_epoch == 4


def test_per_epoch_batch_idx_is_ambiguous():
    """batch_idx restarts every epoch: the same number names different steps."""
    seen: dict[int, list[int]] = {}

    class Idx(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.setdefault(batch_idx, []).append(trainer.global_step)

    make_trainer(2 * EPOCH, [Idx()]).fit(TinyRegressor(), tiny_loader(ood_regression_data()))
    assert seen[SPIKE] == [SPIKE, SPIKE + EPOCH]
