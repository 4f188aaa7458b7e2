"""Tests for utils.recovery.detectors: known traces give known detections, nan/inf never poison a
detector, state round-trips, evaluate() counts correctly, and the command line works."""

import json
import math
import random
import subprocess
import sys

import pytest

from utils.recovery import detectors as D


def flat_with_spike(length=200, spike_step=100, spike=3.0):
    values = [1.0] * length
    values[spike_step] = spike
    return values


def noisy_trace(length=600, seed=0, spikes=(300, 450)):
    rng = random.Random(seed)
    values = [2.0 * math.exp(0.03 * rng.gauss(0, 1)) for _ in range(length)]
    for s in spikes:
        values[s] *= 3.0
    return values


def fires(detector, values):
    return [step for step, v in enumerate(values) if detector.update(v, step) is not None]


LOSS_DETECTORS = ["moving-average", "ema", "cusum", "robust-z"]


@pytest.mark.parametrize("name", LOSS_DETECTORS)
def test_flat_trace_with_one_spike_fires_exactly_there(name):
    detector = D.all_detectors()[name]
    assert fires(detector, flat_with_spike()) == [100]


def test_threshold_detector_fires_above_its_number_only():
    assert fires(D.ThresholdDetector(2.0), flat_with_spike()) == [100]
    assert fires(D.ThresholdDetector(3.0), flat_with_spike()) == []  # strictly above


def test_detection_fields():
    detector = D.MovingAverageDetector(window=10, rel_threshold=1.5)
    for step in range(20):
        assert detector.update(2.0, step) is None
    detection = detector.update(5.0, 20)
    assert detection == D.Detection(step=20, value=5.0, reference=2.0, score=2.5,
                                    reason="above-moving-average")


def test_moving_average_uses_only_the_last_window_values():
    detector = D.MovingAverageDetector(window=5, rel_threshold=1.5)
    for step, v in enumerate([10.0] * 5 + [1.0] * 5):
        detector.update(v, step)
    assert detector.reference() == pytest.approx(1.0)
    assert detector.update(1.6, 10) is not None  # 1.6 > 1.5 x mean of the last 5 (all 1.0)


def test_warmup_suppresses_early_detections():
    detector = D.EMADetector(warmup=20)
    values = [1.0] * 10 + [5.0] + [1.0] * 20 + [5.0]
    assert fires(detector, values) == [31]


def test_cusum_sees_a_sustained_small_shift_that_ratio_detectors_miss():
    rng = random.Random(1)
    values = [1.0 * math.exp(0.02 * rng.gauss(0, 1)) for _ in range(300)]
    values += [1.1 * math.exp(0.02 * rng.gauss(0, 1)) for _ in range(50)]  # +10 %, about 5 sigma
    cusum_fires = fires(D.all_detectors()["cusum"], values)
    assert cusum_fires and all(f >= 300 for f in cusum_fires) and cusum_fires[0] <= 305
    assert fires(D.all_detectors()["ema"], values) == []


@pytest.mark.parametrize("name", LOSS_DETECTORS + ["threshold"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_is_always_detected_and_does_not_poison_state(name, bad):
    detector = D.all_detectors()[name]
    for step in range(5):  # also during warm-up
        detector.update(1.0, step)
    detection = detector.update(bad, 5)
    assert detection is not None and detection.reason == "non-finite"
    for step in range(6, 100):
        detector.update(1.0, step)
    before = detector.state_dict()
    detection = detector.update(bad, 100)
    assert detection is not None and detection.reason == "non-finite"
    assert detector.state_dict() == before
    assert detector.update(1.0, 101) is None


@pytest.mark.parametrize("name", LOSS_DETECTORS)
def test_a_detected_spike_is_not_folded_into_the_baseline(name):
    detector = D.all_detectors()[name]
    for step in range(100):
        detector.update(1.0, step)
    before = detector.reference()
    assert detector.update(50.0, 100) is not None
    assert detector.reference() == before


def all_kinds():
    return {**D.all_detectors(), "grad-norm": D.make_grad_norm_detector(),
            "probe": D.HeldoutProbeDetector(every=1)}


@pytest.mark.parametrize("name", sorted(all_kinds()))
def test_state_dict_round_trip_gives_the_same_future_detections(name):
    values = noisy_trace(seed=3) + [math.nan] + noisy_trace(seed=4, spikes=(100, 250))
    original = all_kinds()[name]
    for step, v in enumerate(values[:200]):
        original.update(v, step)
    state = json.loads(json.dumps(original.state_dict()))  # plain, JSON-safe values
    restored = {"threshold": D.ThresholdDetector(99.0), "moving-average": D.MovingAverageDetector(7),
                "ema": D.EMADetector(0.5), "cusum": D.CUSUMDetector(h=1.0),
                "robust-z": D.RobustZDetector(9), "grad-norm": D.CUSUMDetector(),
                "probe": D.HeldoutProbeDetector(every=9)}[name]
    restored.load_state_dict(state)
    later = [(step, v) for step, v in enumerate(values) if step >= 200]
    expected = [original.update(v, step) for step, v in later]
    assert [restored.update(v, step) for step, v in later] == expected
    assert any(d is not None for d in expected)  # the comparison covers real detections


def test_load_state_dict_refuses_another_kind():
    with pytest.raises(ValueError):
        D.EMADetector().load_state_dict(D.CUSUMDetector().state_dict())


def test_heldout_probe_detector_is_due_every_n_steps_and_fires_on_damage():
    probe = D.HeldoutProbeDetector(rel_threshold=1.2, every=50)
    assert [s for s in range(0, 301) if probe.due(s)] == [0, 50, 100, 150, 200, 250, 300]
    probe_losses = {0: 3.0, 50: 2.8, 100: 2.7, 150: 2.65, 200: 2.6, 250: 3.5, 300: 2.6}
    assert [s for s, v in probe_losses.items() if probe.update(v, s)] == [250]


def test_robust_z_ignores_heavy_tailed_noise_that_moves_a_mean():
    rng = random.Random(5)
    # Occasional 1.3x blips (heavy tail) should not stop a later 3x spike being seen.
    values = [1.3 if rng.random() < 0.05 else 1.0 + 0.01 * rng.gauss(0, 1) for _ in range(200)]
    values[150] = 3.0
    assert 150 in fires(D.RobustZDetector(window=50, z=3.5), values)


def test_synthetic_traces_are_labelled_and_deterministic():
    a = D.synthetic_traces(3, 1000, seed=7)
    assert a == D.synthetic_traces(3, 1000, seed=7)
    assert a != D.synthetic_traces(3, 1000, seed=8)
    for trace in a:
        assert trace["synthetic"] is True
        assert len(trace["loss"]) == len(trace["grad_norm"]) == 1000
        assert trace["spikes"] and all(200 <= s < 970 for s in trace["spikes"])
        for s in trace["spikes"]:
            assert trace["loss"][s] > 2.0 * trace["loss"][s - 1]


def test_evaluate_obvious_spikes_full_recall():
    traces = D.synthetic_traces(4, 2000, seed=0)
    detectors = {k: v for k, v in D.all_detectors().items() if k != "threshold"}
    results = D.evaluate(traces, detectors)
    assert list(results) == sorted(detectors)
    for name, row in results.items():
        assert row["recall"] == 1.0, name
        assert row["median_delay"] == 0.0, name


def test_evaluate_counts_recall_false_alarms_and_delay_on_a_hand_made_case():
    # 1000 steps of 1.0; labelled spikes at 100 (value at 103: delay 3) and 500 (never visible).
    # Unlabelled jumps at 300 and 800 are false alarms; 115 is outside the window of 100.
    loss = [1.0] * 1000
    loss[103] = loss[300] = loss[800] = loss[115] = 10.0
    trace = {"loss": loss, "spikes": [100, 500]}
    results = D.evaluate([trace], {"t": D.ThresholdDetector(5.0)}, tolerance=10)
    assert results == {"t": {"recall": 0.5, "false_alarms_per_10k": 30.0, "median_delay": 3.0}}
    results = D.evaluate([trace], {"t": D.ThresholdDetector(5.0)}, tolerance=15)
    assert results["t"]["false_alarms_per_10k"] == 20.0


def test_evaluate_none_when_nothing_detected_and_fresh_detector_per_trace():
    traces = [{"loss": [1.0] * 100, "spikes": [50]}, {"loss": [1.0] * 100, "spikes": []}]
    detector = D.MovingAverageDetector(window=5)
    results = D.evaluate(traces, {"ma": detector})
    assert results["ma"] == {"recall": 0.0, "false_alarms_per_10k": 0.0, "median_delay": None}
    assert detector.n_accepted == 0  # the given detector was copied, not used


def test_evaluate_defaults_include_lightning_and_grad_norm():
    traces = D.synthetic_traces(1, 800, seed=2)
    results = D.evaluate(traces)
    assert sorted(results) == ["budget", "cusum", "ema", "grad-norm", "lightning-spike-detection",
                               "moving-average", "robust-z", "threshold"]


def test_lightning_adapter_needs_three_times_the_running_mean():
    # Lightning's defaults (rtol=2.0): |loss - mean| >= 2 * mean, i.e. >= 3x for a positive loss.
    values = [1.0] * 50
    values[20], values[40] = 2.9, 3.1
    assert fires(D.LightningSpikeAdapter(), values) == [40]
    assert fires(D.LightningSpikeAdapter(), [1.0, 1.0, math.nan, 1.0]) == [2]


def test_cli_json_table_and_help(tmp_path, capsys):
    loss = [1.0] * 300
    loss[150] = 3.0
    path = tmp_path / "traces.json"
    path.write_text(json.dumps([{"loss": loss, "spikes": [150]}]))
    out = subprocess.run([sys.executable, "-m", "utils.detectors", "evaluate", str(path), "--json"],
                         capture_output=True, text=True, check=True).stdout
    results = json.loads(out)
    assert list(results) == sorted(results)
    assert set(results) == {"budget", "cusum", "ema", "lightning-spike-detection",
                            "moving-average", "robust-z", "threshold"}
    for name in ("budget", "cusum", "ema", "moving-average", "robust-z",
                 "lightning-spike-detection"):
        assert results[name] == {"recall": 1.0, "false_alarms_per_10k": 0.0, "median_delay": 0.0}
    assert results["threshold"]["recall"] == 0.0
    usage = subprocess.run([sys.executable, "-m", "utils.detectors", "--help"],
                           capture_output=True, text=True, check=True).stdout
    assert "evaluate" in usage and "synthetic" in usage
    # The table, in-process (a second subprocess would import Lightning again: seconds).
    assert D.main(["evaluate", str(path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["detector", "recall"]
    assert [line.split()[0] for line in table[1:]] == sorted(results)
    assert table[1].split()[1:] == ["1", "0", "0"]  # budget: recall 1, no false alarms, delay 0


def test_cli_synthetic_writes_labelled_traces(capsys):
    assert D.main(["synthetic", "--n", "2", "--length", "500", "--seed", "3"]) == 0
    assert json.loads(capsys.readouterr().out) == D.synthetic_traces(2, 500, 3)


def test_course_defaults_come_from_the_course_tokenizer_and_config():
    from utils.spikelab.config import CANONICAL
    from utils.spikelab.data_order import tokenizer

    assert D.all_detectors()["threshold"].threshold == pytest.approx(math.log(len(tokenizer().vocab)))
    assert D.uniform_guess_loss(100) == pytest.approx(math.log(100))
    assert D.HeldoutProbeDetector().every == CANONICAL.heldout_every


# ---------------------------------------------------------------------------------------------
# Bad input: a zero baseline, negative losses, broken trace files
# ---------------------------------------------------------------------------------------------

RATIO_DETECTORS = {"moving-average": lambda: D.MovingAverageDetector(window=10),
                   "ema": lambda: D.EMADetector(warmup=5),
                   "probe": lambda: D.HeldoutProbeDetector(every=1)}


@pytest.mark.parametrize("name", sorted(RATIO_DETECTORS))
def test_a_loss_at_zero_that_moves_fires_without_dividing_by_zero(name):
    detector = RATIO_DETECTORS[name]()
    assert fires(detector, [0.0] * 30) == []
    detection = detector.update(0.5, 30)
    assert detection is not None and detection.score == math.inf


def test_robust_z_on_a_constant_loss_ignores_rounding_noise_but_not_a_real_jump():
    detector = D.RobustZDetector()
    assert fires(detector, [2.0] * 60 + [2.0001]) == []
    assert detector.update(2.1, 61) is not None


@pytest.mark.parametrize("name", ["moving-average", "ema", "cusum", "probe"])
def test_negative_values_are_refused_with_a_clear_message(name):
    detector = {**RATIO_DETECTORS, "cusum": D.CUSUMDetector}[name]()
    with pytest.raises(ValueError, match=r"needs values >= 0.*got -2.0 at step 0.*RobustZDetector"):
        detector.update(-2.0, 0)


def test_robust_z_and_the_budget_detector_work_on_a_negative_objective():
    rng = random.Random(0)
    values = [-2.0 + 0.01 * rng.gauss(0, 1) for _ in range(300)] + [-0.5]
    assert fires(D.RobustZDetector(), values) == [300]
    assert fires(D.BudgetDetector(log=False), values) == [300]


def test_a_threshold_at_or_below_zero_scores_by_difference():
    detection = D.ThresholdDetector(-1.0).update(0.5, 3)
    assert detection is not None and detection.score == 1.5


BAD_FILES = {
    "malformed.json": ('[{"loss": [1, 2', "not valid JSON"),
    "empty.json": ("", "the file is empty"),
    "no-spikes.json": ('[{"loss": [1.0, 2.0]}]', 'has no "spikes" list'),
    "numbers.json": ("[1, 2, 3]", "trace 0 is a number"),
    "object.json": ('{"loss": [1.0]}', "expected a non-empty JSON list"),
    "bad-step.json": ('[{"loss": [1.0, 2.0], "spikes": [5]}]', '"spikes" must be a list of step'),
    "negative.json": ('[{"loss": [-2.0, -2.0, -0.5], "spikes": [2]}]', "needs values >= 0"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES) + ["missing.json"])
def test_cli_gives_one_clear_line_and_a_nonzero_exit_for_a_bad_traces_file(tmp_path, capsys, name):
    path = tmp_path / name
    text, message = BAD_FILES.get(name, (None, "no such file"))
    if text is not None:
        path.write_text(text)
    assert D.main(["evaluate", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in captured.err


def test_cli_bad_file_in_a_subprocess_has_no_traceback(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("[1, 2")
    result = subprocess.run([sys.executable, "-m", "utils.detectors", "evaluate", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "not valid JSON" in result.stderr


def test_detector_from_name():
    assert isinstance(D.detector_from_name("ema"), D.EMADetector)
    assert D.detector_from_name("cusum").state_dict() == D.all_detectors()["cusum"].state_dict()
    assert D.detector_from_name("budget").false_alarms_per_10k == 1.0
    assert D.detector_from_name("budget:0.25").false_alarms_per_10k == 0.25
    for bad in ("budget:x", "budget:0", "emma"):
        with pytest.raises(ValueError, match="budget|unknown detector"):
            D.detector_from_name(bad)


def test_cli_on_a_loss_at_zero_that_moves_gives_a_correct_result(tmp_path, capsys):
    path = tmp_path / "zero.json"
    path.write_text(json.dumps([{"loss": [0.0] * 60 + [0.5] + [0.0] * 20, "spikes": [60]}]))
    assert D.main(["evaluate", str(path), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    for name in ("moving-average", "ema", "cusum", "robust-z", "budget"):
        assert results[name]["recall"] == 1.0 and results[name]["median_delay"] == 0.0, name


def test_lightning_fires_are_remembered_in_the_run_store(tmp_path, monkeypatch):
    # Scoring Lightning's callback is slow, so a fresh adapter's fires are remembered: in this
    # process and in the run store. A remembered answer equals feeding the values one by one.
    from utils.recovery.detectors import lightning_spike
    monkeypatch.setenv("COURSE_RUN_CACHE", str(tmp_path))
    monkeypatch.setattr(lightning_spike, "_REMEMBERED", {})
    values = [1.0] * 60
    values[20], values[40], values[50] = 2.9, 3.1, math.nan
    by_hand = fires(D.LightningSpikeAdapter(), values)
    assert by_hand == [40, 50]
    assert D.fires(values, D.LightningSpikeAdapter()) == by_hand        # computed, then stored
    stored = list(tmp_path.glob("lightning-fires-*.json"))
    assert len(stored) == 1 and json.loads(stored[0].read_text()) == by_hand

    lightning_spike._REMEMBERED.clear()                                 # a new process: read from disk
    adapter = D.LightningSpikeAdapter()
    assert D.fires(values, adapter) == by_hand and adapter.spent
    with pytest.raises(RuntimeError, match="make a new LightningSpikeAdapter"):
        adapter.update(1.0, 60)                                         # its window was never fed

    other = values[:]
    other[40] = 2.9                                                     # other values: another key
    assert D.fires(other, D.LightningSpikeAdapter()) == [50]

    lightning_spike._REMEMBERED.clear()
    stored[0].write_text("[40, ")                                       # a torn file: computed again
    adapter = D.LightningSpikeAdapter()
    assert D.fires(values, adapter) == by_hand and not adapter.spent
    assert json.loads(stored[0].read_text()) == by_hand

    fed = D.LightningSpikeAdapter()                                     # one already fed is just fed
    fed.update(1.0, 0)
    assert D.fires(values, fed, list(range(1, 61)))[:1] == [41] and not fed.spent
