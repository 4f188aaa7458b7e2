"""Tests for the detector told a false-alarm budget (utils.recovery.detectors.budget), its tail fits
(utils.recovery.tail_fit), the labelled traces kept in tests/traces (utils.recovery.traces), and its wiring into
evaluate, the rollback policy and the Lightning callback."""

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest

from utils.recovery import detectors as D
from utils.recovery import tail_fit as F
from utils.recovery import traces as T
from utils.recovery.detectors import BudgetDetector

TRACES = Path(__file__).parent / "traces"
GENERATED = TRACES / "generated.json"
REAL = TRACES / "real-runs.json"
TOLERANCE = 10


def fires(detector, values):
    return [step for step, v in enumerate(values) if detector.update(v, step) is not None]


def kept(category):
    return next(t for t in T.load_traces(GENERATED) if t["category"] == category)


def noisy(length, seed, sigma=0.02, level=2.0):
    rng = random.Random(seed)
    return [level * math.exp(sigma * rng.gauss(0, 1)) for _ in range(length)]


def detected(fire_steps, spikes):
    return [s for s in spikes if any(s <= f <= s + TOLERANCE for f in fire_steps)]


def false_alarms(fire_steps, spikes):
    return [f for f in fire_steps if not any(s <= f <= s + TOLERANCE for s in spikes)]


# ---------------------------------------------------------------------------------------------
# The budget sets the bar
# ---------------------------------------------------------------------------------------------

QUIET_STEPS = 3 * 20_000


@pytest.mark.parametrize("budget", [1.0, 5.0, 20.0])
def test_on_the_kept_quiet_runs_the_realised_rate_is_within_2x_of_the_budget(budget):
    quiet = [t for t in T.load_traces(GENERATED) if t["category"] in T.QUIET]
    assert sum(len(t["loss"]) for t in quiet) == QUIET_STEPS
    n = sum(len(fires(BudgetDetector(budget), t["loss"])) for t in quiet)
    expected = budget * QUIET_STEPS / 1e4
    assert expected / 2 <= n <= 2 * expected


def test_small_spikes_in_every_kind_of_noise_are_caught_at_once():
    for category in ("spikes-gaussian", "spikes-heavy", "spikes-gaussian-ar", "spikes-heavy-ar"):
        trace = kept(category)
        assert all(1.3 <= m <= 1.5 for m in trace["spike_sizes"])
        found = fires(BudgetDetector(), trace["loss"])
        assert detected(found, trace["spikes"]) == trace["spikes"], category
        assert set(trace["spikes"]) <= set(found), category          # delay 0
        assert len(false_alarms(found, trace["spikes"])) <= 1, category


def test_the_same_spikes_are_missed_by_a_fixed_2x_ema():
    trace = kept("spikes-gaussian")
    assert detected(fires(D.EMADetector(rel_threshold=2.0), trace["loss"]), trace["spikes"]) == []


def test_back_to_back_spikes_are_two_detections():
    trace = kept("back-to-back")
    pairs = list(zip(trace["spikes"][::2], trace["spikes"][1::2]))
    assert pairs and all(2 <= b - a <= 6 for a, b in pairs)
    found = fires(BudgetDetector(), trace["loss"])
    assert set(trace["spikes"]) <= set(found)


def test_a_second_spike_three_steps_after_the_first_fires_again():
    values = noisy(600, seed=1)
    for start in (400, 403):                    # each 1.4x, decaying over about 2 steps
        for t in range(start, start + 12):
            values[t] *= 1.0 + 0.4 * math.exp(-(t - start) / 2.0)
    found = fires(BudgetDetector(), values)
    assert 400 in found and 403 in found and false_alarms(found, [400, 403]) == []


def test_a_spike_that_lasts_is_reported_once_then_reminded_every_50_steps():
    values = noisy(600, seed=2)
    values[400:] = [v * 1.5 for v in values[400:]]          # a new, higher level for good
    assert fires(BudgetDetector(), values) == [400, 450, 500, 550]


def test_improvements_and_drifts_never_fire():
    for category in ("improvements", "drifts"):
        trace = kept(category)
        assert trace["events"]
        found = fires(BudgetDetector(), trace["loss"])
        assert false_alarms(found, trace["spikes"]) == [], category


def test_a_sudden_improvement_is_not_a_spike():
    values = noisy(800, seed=3)
    values[500:] = [v / 1.7 for v in values[500:]]
    assert fires(BudgetDetector(20.0), values) == []


def test_a_slow_drift_is_followed_and_reported_separately():
    rng = random.Random(4)
    values = [2.0 * (1.0 + 0.4 * min(1.0, max(0, t - 500) / 400)) * math.exp(0.01 * rng.gauss(0, 1))
              for t in range(1200)]                          # +40 % over steps 500-900
    detector = BudgetDetector()
    drift = {}
    for step, v in enumerate(values):
        assert detector.update(v, step) is None
        drift[step] = detector.drift()
    assert not drift[480]["rising"] and drift[850]["rising"]
    assert drift[850]["per_100_steps"] > 0.02


# ---------------------------------------------------------------------------------------------
# The first steps
# ---------------------------------------------------------------------------------------------

def fast_fall(length=400, seed=5, sigma=0.02):
    rng = random.Random(seed)
    return [(2.0 + 6.0 * math.exp(-t / 40)) * math.exp(sigma * rng.gauss(0, 1)) for t in range(length)]


def test_nothing_is_judged_before_about_20_values():
    values = fast_fall()
    values[10] *= 100.0
    detector = BudgetDetector()
    assert [s for s in range(20) if detector.update(values[s], s) is not None] == []
    assert detector.bar == math.inf


@pytest.mark.parametrize("budget", [1.0, 20.0, 100.0])
def test_a_fast_falling_loss_costs_no_more_false_alarms_than_the_budget(budget):
    values = fast_fall()                    # the level lags behind: residuals are negative
    assert len(fires(BudgetDetector(budget), values)) <= int(2 * budget * len(values) / 1e4)


def test_early_on_only_a_large_spike_is_seen_and_the_bar_comes_down_later():
    def spiked(step, m):
        values = fast_fall()
        values[step] *= m
        return values
    assert fires(BudgetDetector(), spiked(30, 1.4)) == []     # 30 values: the bar is cautious
    assert fires(BudgetDetector(), spiked(30, 5.0)) == [30]
    assert fires(BudgetDetector(), spiked(200, 1.3)) == [200]


def test_on_the_real_runs_the_designed_event_fires_and_the_quiet_runs_do_not():
    real = {t["name"]: t for t in T.load_traces(REAL)}
    assert sorted(real) == sorted(["healthy", "broken", "one-batch", "control-no-rare-piece",
                                   "control-mixed-shard"])
    assert all(t["synthetic"] is False for t in real.values())
    assert real["broken"]["spikes"] == [312, 327] and real["healthy"]["spikes"] == []
    for name in ("broken", "one-batch", "control-no-rare-piece"):
        assert 312 in fires(BudgetDetector(), real[name]["loss"]), name
    for name in ("healthy", "control-mixed-shard"):
        assert fires(BudgetDetector(), real[name]["loss"]) == [], name


# ---------------------------------------------------------------------------------------------
# Bad input, state, parameters
# ---------------------------------------------------------------------------------------------

def test_log_mode_refuses_negative_values_with_a_clear_message():
    with pytest.raises(ValueError, match=r"needs values >= 0.*got -1.0 at step 3.*log=False"):
        BudgetDetector().update(-1.0, 3)


def test_a_loss_at_zero_that_moves_is_a_spike_in_both_modes():
    for log in (True, False):
        assert fires(BudgetDetector(log=log), [0.0] * 100 + [0.5]) == [100], log


def test_linear_mode_handles_a_loss_at_zero_that_moves():
    rng = random.Random(6)
    values = [abs(0.001 * rng.gauss(0, 1)) for _ in range(300)] + [0.5]
    assert fires(BudgetDetector(log=False), values) == [300]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_is_a_detection_that_leaves_the_state_alone(bad):
    detector = BudgetDetector()
    fires(detector, noisy(200, seed=7))
    before = detector.state_dict()
    detection = detector.update(bad, 200)
    assert detection is not None and detection.reason == "non-finite"
    assert detector.state_dict() == before


def test_state_dict_round_trip_gives_the_same_future_detections():
    trace = kept("spikes-heavy")
    original = BudgetDetector(2.0)
    fires(original, trace["loss"][:700])
    state = json.loads(json.dumps(original.state_dict()))
    restored = BudgetDetector(50.0, tail="empirical")
    restored.load_state_dict(state)
    later = list(enumerate(trace["loss"]))[700:]
    expected = [original.update(v, s) for s, v in later]
    assert [restored.update(v, s) for s, v in later] == expected
    assert any(d is not None for d in expected)
    with pytest.raises(ValueError):
        D.EMADetector().load_state_dict(state)


def test_parameters_are_checked():
    for budget in (0.0, -1.0, 10_000.0):
        with pytest.raises(ValueError, match="false_alarms_per_10k"):
            BudgetDetector(budget)
    with pytest.raises(ValueError, match="tail must be one of"):
        BudgetDetector(tail="pareto")


# ---------------------------------------------------------------------------------------------
# Tail fits
# ---------------------------------------------------------------------------------------------

def test_t_quantile_matches_known_values():
    assert F.t_quantile(1e6, 0.975) == pytest.approx(1.95996, abs=1e-3)
    assert F.t_quantile(3, 0.975) == pytest.approx(3.18245, abs=1e-4)
    assert F.t_quantile(1, 0.75) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("nu", [4.0, 1e6])
@pytest.mark.parametrize("method", F.METHODS)
def test_every_tail_fit_finds_the_quantile_of_a_large_sample(method, nu):
    rng = random.Random(8)
    hist = F.TailHistogram(memory=1e9)
    for _ in range(50_000):
        hist.add(rng.gauss(0, 1) / math.sqrt(rng.gammavariate(nu / 2, 2) / nu))
    true = F.t_quantile(nu, 1 - 1e-3)
    assert F.BARS[method](hist, 1e-3) == pytest.approx(true, rel=0.12)


def test_a_heavy_tail_gets_a_higher_bar_than_a_gaussian_one():
    rng = random.Random(9)
    gauss, heavy = F.TailHistogram(), F.TailHistogram()
    for _ in range(5000):
        gauss.add(rng.gauss(0, 1))
        heavy.add(rng.gauss(0, 1) / math.sqrt(rng.gammavariate(1.5, 2) / 3))
    assert F.gpd_bar(heavy, 1e-4) > 1.5 * F.gpd_bar(gauss, 1e-4)


# ---------------------------------------------------------------------------------------------
# The kept traces and the generator
# ---------------------------------------------------------------------------------------------

def test_the_kept_generated_traces_are_what_the_generator_writes(tmp_path):
    assert T.write_generated(tmp_path).read_bytes() == GENERATED.read_bytes()
    assert [t["category"] for t in T.load_traces(GENERATED)] == T.CATEGORIES
    assert sum(p.stat().st_size for p in TRACES.iterdir()) < 2_000_000


def test_generated_spikes_start_where_they_are_labelled():
    trace = T.make_trace("spikes-gaussian", seed=11)
    assert trace == T.make_trace("spikes-gaussian", seed=11) and trace["synthetic"] is True
    loss = trace["loss"]
    for s, m in zip(trace["spikes"], trace["spike_sizes"]):
        assert 1.3 <= m <= 1.5
        before = sum(loss[s - 6:s - 1]) / 5
        assert loss[s] / before > 1.15 and loss[s - 1] / before < 1.15, s   # at s, not s +- 1
    warm = T.make_trace("warmup-spikes", seed=11)
    assert len(warm["loss"]) == 600 and all(20 <= s < 150 for s in warm["spikes"])


def test_oracle_bar_is_the_innovation_quantile():
    noise = {"kind": "gaussian", "phi": 0.0, "sigma": 0.02}
    assert T.oracle_bar(noise, 1e-4) == pytest.approx(0.02 * 3.719, rel=1e-3)
    assert T.oracle_bar({**noise, "phi": 0.8}, 1e-4) == pytest.approx(0.6 * T.oracle_bar(noise, 1e-4))


# ---------------------------------------------------------------------------------------------
# Wired in: evaluate, the rollback policy, the Lightning callback
# ---------------------------------------------------------------------------------------------

def test_evaluate_cli_reports_the_budget_detector_beside_the_others(capsys):
    assert D.main(["evaluate", str(REAL), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert {"budget", "ema", "cusum", "robust-z", "lightning-spike-detection"} <= set(results)
    assert set(results["budget"]) == {"recall", "false_alarms_per_10k", "median_delay"}
    assert results["budget"]["false_alarms_per_10k"] == 0.0


def test_the_rollback_policy_can_use_the_budget_detector():
    from utils.recovery.rollback import RollbackPolicy, default_loss_detector, policy_loss_detector

    assert RollbackPolicy().loss_detector is True              # the default stays the EMA
    assert policy_loss_detector(RollbackPolicy()).state_dict() == default_loss_detector().state_dict()
    assert policy_loss_detector(RollbackPolicy(loss_detector="ema", loss_threshold=2.0)).rel_threshold == 2.0
    detector = policy_loss_detector(RollbackPolicy(loss_detector="budget:0.5"))
    assert isinstance(detector, BudgetDetector) and detector.false_alarms_per_10k == 0.5
    with pytest.raises(ValueError):
        policy_loss_detector(RollbackPolicy(loss_detector="nonsense"))


def test_the_recovery_loop_with_the_budget_detector_rolls_back_the_broken_run():
    from utils.recovery.rollback import COURSE_POLICY, run_with_rollback

    result = run_with_rollback("broken", policy=replace(COURSE_POLICY, loss_detector="budget"))
    assert result.log.meta["detectors"]["loss"] == "BudgetDetector"
    first = next(e for e in result.log.events if e["kind"] == "rollback")
    assert 312 <= first["step"] <= 312 + TOLERANCE and first["restored_step"] <= 300


def test_the_lightning_callback_takes_the_budget_detector_by_name():
    pytest.importorskip("pytorch_lightning")
    import logging
    import warnings

    import pytorch_lightning as pl

    from utils.recovery.lightning_module import TinyRegressor, ood_regression_data, tiny_loader
    from utils.recovery.lightning_rollback import RollbackOnSpike

    callback = RollbackOnSpike("budget", every_n_steps=8)
    assert isinstance(callback.detector, BudgetDetector) and callback.detector.false_alarms_per_10k == 1
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                   enable_model_summary=False, enable_checkpointing=False, max_steps=80,
                   callbacks=[callback]).fit(TinyRegressor(), tiny_loader(ood_regression_data()))
    # The tiny run's loss moves by about +-50 % a step. 30 steps in, that noise could still be
    # heavy-tailed enough for a 4000x loss once in 10,000 steps, so the cautious early bar lets
    # the OOD batch (steps 30, 70, ... of each 40-step epoch) through once; its next arrival is
    # caught, and nothing else fires.
    assert [e["step"] for e in callback.events if e["action"] == "rollback"] == [70]
    assert set(range(30 * 16, 31 * 16)) <= callback.quarantine
    assert RollbackOnSpike("budget:0.5").detector.false_alarms_per_10k == 0.5
