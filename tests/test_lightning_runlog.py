"""A Lightning run writes a RunLog (utils.recovery.lightning_runlog.RunLogCallback) that the dashboard
and the stability check read like a run of the plain loop."""
from __future__ import annotations

import logging
import math
import statistics
import warnings

import matplotlib
import pytest

matplotlib.use("Agg")
pl = pytest.importorskip("pytorch_lightning")

from utils.diagnosis import dashboard, stability_check  # noqa: E402
from utils.recovery.detectors import EMADetector  # noqa: E402
from utils.recovery.lightning_module import (MiniGPTModule, TinyRegressor, mini_gpt_trainer_kwargs,  # noqa: E402
                                             ood_regression_data, tiny_loader)
from utils.recovery.lightning_rollback import RollbackOnSpike  # noqa: E402
from utils.recovery.lightning_runlog import RunLogCallback  # noqa: E402
from utils.spikelab import symptoms  # noqa: E402
from utils.spikelab.config import config_for  # noqa: E402
from utils.spikelab.runlog import STEP_COLUMNS, RunLog  # noqa: E402
from utils.spikelab.train import run_variant  # noqa: E402


@pytest.fixture(autouse=True)
def quiet():
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def broken_lightning() -> RunLog:
    """The course's broken run (420 steps, about 5 s) trained by Trainer.fit with the callback."""
    cfg = config_for("broken")
    recorder = RunLogCallback()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl.Trainer(**mini_gpt_trainer_kwargs(cfg), callbacks=[recorder]).fit(MiniGPTModule(cfg))
    return recorder.log


def test_a_lightning_run_logs_every_step_like_the_plain_loop(broken_lightning):
    log, plain = broken_lightning, run_variant("broken")
    assert len(log) == 420 and set(log.steps) == set(STEP_COLUMNS)
    loss = log.steps["loss"]
    assert all(math.isfinite(v) for v in loss)
    assert statistics.mean(loss[-20:]) < 0.5 * statistics.mean(loss[:20]), "the loss falls overall"
    # the same run, bit for bit: what the callback reads is what the plain loop recorded
    for column in ("loss", "lr", "batch_ids", "param_hash", "nonfinite_params"):
        assert log.steps[column] == plain.steps[column], column
    assert log.heldout == plain.heldout and log.heldout["step"][:3] == [0, 8, 16]
    for column in ("grad_norm_preclip", "grad_norm_postclip"):   # summed in another order
        assert all(math.isclose(a, b, rel_tol=1e-5) for a, b in zip(log.steps[column], plain.steps[column]))
    assert log.steps["act_mean_abs"] == log.steps["token_losses"] == [None] * 420, "not read: None"
    # the meta is the plain loop's own, marked as a Lightning run
    assert log.run_id == "19-spike-001-lightning" and log.meta["trainer"] == "pytorch-lightning"
    for key in ("config", "layers", "pieces", "rare_pieces", "headline_piece", "piece_counts", "dtype",
                "event_step", "event_end", "clip", "heldout_every", "rare_example_ids"):
        assert log.meta[key] == plain.meta[key], key
    assert log.meta["wall_seconds"] > 0


def test_the_dashboard_and_the_stability_check_read_a_lightning_run(broken_lightning):
    log = broken_lightning
    fig = dashboard.draw(log)
    assert sorted(fig.panel_axes) == list(range(1, 9))
    assert len(dashboard.draw(log, step=312, window=(280, 360)).panel_axes) == 8
    summary = dashboard.step_summary(log, 312)
    assert summary["loss_to_ema"] > 1.5 and summary["shard_sentences"] == 8
    # no rare-row gradient is recorded, so the long-tail signal is unread; the data-order damage
    # (batch composition and held-out loss) is read exactly as on the plain run
    verdict = stability_check.check(log)
    assert verdict.pattern == "data-order"
    assert verdict.scores["data-order"] == stability_check.check(run_variant("broken")).scores["data-order"]
    s = symptoms.compute(log)
    assert s.spike_step == 312 and s.heldout_rise_sigma == symptoms.compute(run_variant("broken")).heldout_rise_sigma


def test_any_module_gets_a_log_and_a_dropped_update_has_no_gradient_norm():
    recorder = RunLogCallback()
    rollback = RollbackOnSpike(EMADetector(rel_threshold=3.0), every_n_steps=8)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, max_steps=60,
                         callbacks=[recorder, rollback])
    model = TinyRegressor()
    trainer.fit(model, tiny_loader(ood_regression_data()))
    log = recorder.log
    assert len(log) == 60 and log.steps["loss"] == [loss for _, loss in model.losses]
    assert log.meta["run_id"] == "TinyRegressor" and log.meta["clip"] is None
    assert log.steps["batch_ids"] == [None] * 60 and log.heldout == {"step": [], "loss": []}
    spike = next(e for e in rollback.events if e["action"] == "rollback")["step"]
    assert spike == 30 and log.steps["loss"][30] > 3 * log.steps["loss"][29]
    # detected before the update: the norm before clipping was read, no update was applied
    assert log.steps["grad_norm_preclip"][30] > 0 and log.steps["grad_norm_postclip"][30] is None
    assert log.steps["param_hash"][30] == log.steps["param_hash"][29], "the weights did not move"
    assert all(v is not None for s, v in enumerate(log.steps["grad_norm_postclip"]) if s != 30)
    assert sorted(dashboard.draw(log).panel_axes) == list(range(1, 9))
