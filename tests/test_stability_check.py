"""The stability check classifies every engineered run, from its panels alone (utils.diagnosis.stability_check).

Runs are real and shared with tests/test_patterns.py through ``patterns.cached_run``.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from utils.diagnosis import patterns
from utils.diagnosis import stability_check as sc

EXPECTED = {
    # run: (pattern, runner-up or None when any runner-up is fine), as in all 15 measured runs (seeds
    # 42-46 x kernel paths, theory/ranges.json). `broken` has both signals, and which crosses its line
    # further varies (long-tail-token first in 14 of 15): test_two_patterns_... checks it.
    "one-batch": ("long-tail-token", None),
    "control-no-rare-piece": ("data-order", None),
    "control-common-piece": ("data-order", None),
    "control-mixed-shard": ("none", None),
    "healthy": ("none", None),
    "fp16-overflow": ("fp16-overflow", "nan-non-recovery"),
    "fp16-overflow-scaled": ("fp16-overflow", None),
    "lr-discontinuity": ("lr-discontinuity", None),
    "optimizer-reset": ("optimizer-reset", None),
    "nan": ("nan-non-recovery", None),
    # the remedies' runs
    "fp16-overflow-bf16": ("none", None),
    "lr-continuous": ("none", None),
    "nan-stable-softmax": ("none", None),
}


@pytest.fixture(scope="module")
def verdict():
    cache: dict[str, sc.Verdict] = {}

    def get(name: str) -> sc.Verdict:
        if name not in cache:
            cache[name] = sc.check(patterns.cached_run(name))
        return cache[name]
    return get


def test_broken_shows_both_mechanisms(verdict):
    v = verdict("broken")
    assert {v.pattern, v.runner_up} == {"long-tail-token", "data-order"}, sc.render(v)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_engineered_run_is_classified(verdict, name):
    pattern, runner_up = EXPECTED[name]
    v = verdict(name)
    assert v.pattern == pattern, sc.render(v)
    if runner_up is not None:
        assert v.runner_up == runner_up, sc.render(v)
    assert v.pattern in sc.PATTERNS and v.runner_up in sc.PATTERNS
    assert v.runner_up != v.pattern or v.pattern == "none"


def test_two_patterns_are_ordered_by_how_far_each_signal_crosses_its_line(verdict):
    v = verdict("broken")
    first, second = sorted(["long-tail-token", "data-order"], key=lambda p: -v.scores[p])
    assert (v.pattern, v.runner_up) == (first, second) and v.scores[second] >= 1
    decision = v.evidence[-1]
    assert decision.question == "Decision" and "long-tail-token" in decision.answer and "data-order" in decision.answer
    grad = next(e for e in v.evidence if e.panel == 3)
    assert grad.values["step"] == 312 and grad.values["rare_share"] > 0.9


def test_the_path_names_panels_and_values(verdict):
    for name in ["broken", "nan", "optimizer-reset"]:
        v = verdict(name)
        assert v.evidence[0].panel == 8 and v.evidence[0].question.startswith("Any non-finite")
        for e in v.evidence:
            assert e.panel in (None, 1, 2, 3, 4, 5, 6, 7, 8) and e.question and e.answer
            assert isinstance(e.values, dict)
    reset = next(e for e in verdict("optimizer-reset").evidence if e.panel == 5)
    assert reset.values["step"] == 300 and reset.values["v_factor"] > 20
    first = verdict("nan").evidence[1]
    assert first.panel == 8 and first.answer.startswith(("the loss", "the gradients"))
    assert first.values["loss"] in (first.values["params"], first.values["params"] + 1)


def test_an_lr_jump_that_does_no_harm_is_not_called_a_discontinuity():
    log = copy.deepcopy(patterns.cached_run("healthy"))
    log.steps["lr"][200] *= 3.0          # an LR column with a jump, and a loss that did not react
    v = sc.check(log)
    assert sc.lr_jump(log)["step"] == 200 and v.scores["lr-discontinuity"] == 0 and v.pattern == "none"


def test_readers_on_edited_columns():
    log = copy.deepcopy(patterns.cached_run("healthy"))
    assert sc.same_kind_run(log)["length"] == 0 and sc.hash_frozen_from(log) is None
    log.steps["adam_v_norm"][250] /= 100
    assert sc.moment_drop(log)["step"] == 250
    rare = log.meta["rare_example_ids"][:8]
    for s in range(100, 107):
        log.steps["batch_ids"][s] = rare
    assert sc.same_kind_run(log) == {"length": 7, "start": 100, "end": 106}
    log.steps["param_hash"][-5:] = ["deadbeef"] * 5
    assert sc.hash_frozen_from(log) == len(log) - 5


def test_json_on_a_saved_log(tmp_path):
    path = patterns.cached_run("broken").save(tmp_path / "19-spike-001.json")
    out = subprocess.run([sys.executable, "-m", "utils.diagnosis.stability_check", str(path), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert set(d) == {"pattern", "runner_up", "evidence"}
    assert (d["pattern"], d["runner_up"]) == ("long-tail-token", "data-order")
    assert all(set(e) == {"panel", "question", "answer", "values"} for e in d["evidence"])


def test_cli_variant_prints_the_path(capsys):
    assert sc.main(["--variant", "nan"]) == 0          # shares the cached run
    out = capsys.readouterr().out
    assert "[panel 8]" in out and "pattern: nan-non-recovery" in out


def test_cli_refuses_bad_input(tmp_path, capsys):
    assert sc.main([]) == 2
    (tmp_path / "x.json").write_text("{}")
    assert sc.main([str(tmp_path / "x.json")]) == 2
    assert sc.main(["--variant", "nope"]) == 2


def test_the_bars_are_the_course_thresholds(verdict):
    """The check's lines are utils.spikelab.thresholds' (30x anywhere in a run, 10 sigma of damage),
    and its report quotes them."""
    from utils.spikelab.thresholds import DAMAGE_SIGMA, GRAD_SPIKE_ANYWHERE
    healthy, broken = verdict("healthy"), verdict("broken")
    assert f"(line ×{GRAD_SPIKE_ANYWHERE:g})" in sc.render(healthy)
    assert f"Held-out damage (rise ≥ {DAMAGE_SIGMA:g}σ of its noise)" in sc.render(broken)
    log = patterns.cached_run("broken")
    g, h = sc.grad_spike(log), sc.heldout_rise(log, sc.same_kind_run(log)["start"])
    assert broken.scores["long-tail-token"] == g["ratio"] / GRAD_SPIKE_ANYWHERE
    assert broken.scores["data-order"] == h["sigma"] / DAMAGE_SIGMA


def test_the_check_and_the_patterns_share_one_run_cache():
    from utils.diagnosis import runs
    assert patterns.cached_run is runs.cached_run and sc.cached_run is runs.cached_run
