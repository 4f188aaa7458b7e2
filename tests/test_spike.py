"""Acceptance of the §A13 spike, asserted on fresh runs (issue: spike reproduced for real).

Each run trains the mini-GPT for real (≈ 6 s); runs are shared through the session fixture.

The runs are chaotic in the last floating-point bits: the same seed gives other numbers on another
CPU (theory/why-runs-differ.md). These tests assert the conclusions, with the course's bars
(utils/diagnosis/compare.py: gradient spike ≥ 15×, damage ≥ 10 σ, no damage < 3 σ), where they held in all 15
measured runs (seeds 42–46 × the kernel paths of the measuring machine, theory/ranges.json); the
comments give the measured span of each quantity.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from utils.spikelab import corpus, data_order
from utils.spikelab.thresholds import DAMAGE_SIGMA, GRAD_SPIKE_RATIO, NOISE_SIGMA, SPIKE_RATIO, damage_verdict
from utils.spikelab.config import VARIANTS, config_for

SHAPE_SEEDS = [42, 43, 44, 45, 46]


def has_story_shape(s: dict) -> list[str]:
    """The names of the acceptance conditions a `broken` run fails (empty = full shape)."""
    fails = []
    if not s["loss_ratio"] >= 2.0:
        fails.append(f"loss ratio {s['loss_ratio']:.2f} < 2")
    if not s["grad_norm_ratio"] >= 15:
        fails.append(f"grad-norm ratio {s['grad_norm_ratio']:.1f} < 15")
    if not (s["rare_piece_nll"] or 0) >= 10:
        fails.append(f"rare-piece NLL {s['rare_piece_nll']} < 10")
    if not s["post_event_ratio"] >= 1.25:
        fails.append(f"post-event ratio {s['post_event_ratio']:.2f} < 1.25")
    if not s["heldout_rise_sigma"] >= DAMAGE_SIGMA:
        fails.append(f"held-out rise {s['heldout_rise_sigma']:.1f} sigma < {DAMAGE_SIGMA}")
    if not s["heldout_recovered_by_80"]:
        fails.append("held-out not back within 3 sigma by 80 steps")
    return fails


def test_corpus_has_the_rare_construction_only_where_designed():
    train, extra, held = corpus.base_train(), corpus.extra_rare(), corpus.heldout()
    assert (len(train), len(extra), len(held)) == (240, 15, 200)
    assert sum(map(corpus.is_rare, train)) == 5 and all(map(corpus.is_rare, extra))
    assert not any(map(corpus.is_rare, held))
    assert not set(train) & set(held)


def test_tokenizer_makes_tten_a_rare_piece():
    tok = data_order.tokenizer()
    assert tok.split_word("written")[-1] == "tten" and tok.split_word("bitten")[-1] == "tten"
    assert data_order.headline_piece() == "tten"
    assert tok.piece_counts(corpus.base_train())["tten"] == 5
    shard = data_order.piece_counts(data_order.examples_for(config_for("broken")))
    assert shard[tok.vocab["tten"]] == 20


def test_broken_order_is_a_late_shard_of_15_rare_batches():
    cfg = config_for("broken")
    ex = data_order.examples_for(cfg)
    batches = data_order.batches_for(cfg, ex)
    rare_per_batch = [sum(ex[i].rare for i in b) for b in batches]
    assert all(n == 0 for n in rare_per_batch[:312])
    assert all(n == 8 for n in rare_per_batch[312:327])
    assert rare_per_batch[327:].count(8) == 0


def test_stratify_never_puts_two_rare_occurrences_in_a_batch():
    cfg = config_for("stratified-covering")
    ex = data_order.examples_for(cfg)
    batches = data_order.batches_for(cfg, ex)
    threshold = data_order.covering_threshold(ex)
    assert threshold == 25
    counts = data_order.piece_counts(ex)
    for b in batches:
        seen: dict[int, int] = {}
        for i in b:
            for t in set(ex[i].ids):
                if counts[t] < threshold:
                    seen[t] = seen.get(t, 0) + 1
        assert max(seen.values(), default=0) <= 1


def test_broken_seed42_has_the_story_shape(symptoms_of):
    s = symptoms_of("broken", 42)
    assert s["spike_step"] == 312 and s["peak_step"] in (312, 313)     # the peak: 312 or the step after
    assert has_story_shape(s) == []
    assert s["unusual_tokens"] == ["▁bi", "ri", "▁w", "tten"]
    assert s["dtype"] == "float32" and s["batch_index"] == 312


def test_broken_shape_holds_for_at_least_4_of_5_seeds(symptoms_of):
    # 15 of 15 measured; the tightest condition is the post-event ratio (1.26-1.66, bar 1.25)
    failures = {seed: has_story_shape(symptoms_of("broken", seed)) for seed in SHAPE_SEEDS}
    assert sum(not f for f in failures.values()) >= 4, failures


# The issue asked for < 5x (the feasibility study's numbers). Measured: the common-piece swap
# 3-32x (under the course's 15x bar in 14 of 15 runs), the no-rare-piece swap 2.9-7.9x; both at least
# 4x below `broken` (79-504x) in the same run. The runs win: the conclusion is "far below broken's".
NO_SPIKE = GRAD_SPIKE_RATIO


def test_control_common_piece_removes_the_gradient_spike_not_the_damage(symptoms_of):
    s = symptoms_of("control-common-piece")
    assert s["grad_norm_ratio"] * 4 < symptoms_of("broken", 42)["grad_norm_ratio"]
    assert s["heldout_rise_sigma"] >= DAMAGE_SIGMA                      # 21-154 sigma


def test_control_mixed_shard_has_no_spike_and_no_damage(symptoms_of):
    s = symptoms_of("control-mixed-shard")
    assert s["grad_norm_ratio"] < NO_SPIKE
    # -0.7-3.7 sigma: far below the damage bar; below the noise bar in 14 of 15 runs
    assert damage_verdict(s["heldout_rise_sigma"]) != "yes" and s["heldout_rise_sigma"] < DAMAGE_SIGMA / 2


def test_control_no_rare_piece_damages_without_gradient_spike(symptoms_of):
    s = symptoms_of("control-no-rare-piece")
    assert s["grad_norm_ratio"] < NO_SPIKE and s["heldout_rise_sigma"] >= DAMAGE_SIGMA   # 2.9-7.9x, 31-192 sigma


def test_control_no_rare_piece_loss_jumps_when_the_shard_comes_and_when_it_goes():
    """Two loss jumps, each above the spike detector's 1.5x its EMA: at 312 (the shard) and at 327
    (ordinary data returns). Which one is larger, and so which one §1 reports as the spike step,
    varies from run to run (327 in 10 of 15 measured runs, 312 in the others)."""
    from utils.spikelab import symptoms
    from utils.spikelab.metrics import ema
    from utils.spikelab.train import run_variant

    log = run_variant("control-no-rare-piece", seed=42)
    loss, e = log.steps["loss"], ema(log.steps["loss"])
    assert loss[312] / e[311] >= symptoms.SPIKE_RATIO and loss[327] / e[326] >= symptoms.SPIKE_RATIO
    assert symptoms.compute(log)["spike_step"] in (312, 327)


def test_one_batch_is_a_harmless_gradient_spike(symptoms_of):
    """The rare piece alone: the gradient spike (50-379x) without the damage. Its held-out rise
    (-0.3-5.7 sigma) stays below the damage bar and under a quarter of broken's in every measured run."""
    s = symptoms_of("one-batch")
    assert s["grad_norm_ratio"] >= GRAD_SPIKE_RATIO
    assert damage_verdict(s["heldout_rise_sigma"]) != "yes"
    assert s["heldout_rise_sigma"] * 4 < symptoms_of("broken", 42)["heldout_rise_sigma"]


def test_healthy_run_has_no_spike(symptoms_of):
    s = symptoms_of("healthy")
    assert s["spike_found"] is False and s["grad_norm_ratio"] < 5


# The remediation claims the course makes (theory/phase-19/01, 04 and notebook 05): the held-out
# damage verdict of each run (utils.spikelab.thresholds.damage_verdict), with every verdict it took in the 15
# measured runs. Held-out rise in sigma: clip-0.5 10-75, stratified 6.4-47, stratified+clip-0.5
# 6.3-41, stratified-covering 1.2-8.0, control-mixed-shard -0.7-3.7, emb-init-0.02 13-92,
# retokenized 28-101 (broken 18-152).
@pytest.mark.parametrize("variant, verdicts", [
    ("clip-0.5", {"yes"}),                   # the damage stays
    ("stratified", {"yes", "small"}),        # the damage is not removed (above the noise bar)
    ("stratified+clip-0.5", {"yes", "small"}),
    ("stratified-covering", {"no", "small"}),  # a fraction of broken's: no or small
    ("control-mixed-shard", {"no", "small"}),  # the root-cause fix: within noise in 14 of 15 runs
    ("emb-init-0.02", {"yes"}),
    ("retokenized", {"yes"}),
])
def test_remediation_claims(symptoms_of, variant, verdicts):
    s = symptoms_of(variant)
    assert damage_verdict(s["heldout_rise_sigma"]) in verdicts, s["heldout_rise_sigma"]


def test_stratified_covering_cuts_the_damage_well_below_brokens(symptoms_of):
    """Whether stratified-covering falls below the 3-sigma noise bar varies from run to run; its rise
    is at most a quarter of broken's in every measured run. The other candidates keep real damage
    (at least 6 sigma in every run; clip-0.5, emb-init-0.02 and retokenized at least 10)."""
    broken = symptoms_of("broken")["heldout_rise_sigma"]
    assert symptoms_of("stratified-covering")["heldout_rise_sigma"] * 2 < broken
    for other in ["clip-0.5", "emb-init-0.02", "retokenized"]:
        assert symptoms_of(other)["heldout_rise_sigma"] >= DAMAGE_SIGMA, other
    assert symptoms_of("stratified+clip-0.5")["heldout_rise_sigma"] >= 2 * NOISE_SIGMA


def test_stratified_covering_moves_the_gradient_spike_before_the_event_window():
    """Stratifying with the covering threshold spreads the shard from step 310 on: the first `tten`
    sentences arrive two steps before the designed event step, and the rare rows' gradient spike
    comes with them (at step 309-311 in 14 of 15 measured runs, 12-128x its median). The event
    window read from 312 does not see it: the spike is moved, not removed."""
    from utils.diagnosis import dashboard
    from utils.diagnosis.stability_check import grad_spike
    from utils.spikelab.train import run_variant

    log = run_variant("stratified-covering", seed=42)
    shard = dashboard.shard_counts(log)
    assert shard.index(1) == 310 and not any(shard[:310])
    spike = grad_spike(log)
    assert spike["ratio"] >= GRAD_SPIKE_RATIO / 2     # its step is not asserted: 415 in one run of 15


def test_clip_cannot_change_the_preclip_norm_spike(symptoms_of):
    assert symptoms_of("clip-0.5")["grad_norm_ratio"] >= GRAD_SPIKE_RATIO      # 87-583x


def test_retokenizing_keeps_the_gradient_spike(symptoms_of):
    assert symptoms_of("retokenized")["grad_norm_ratio"] >= GRAD_SPIKE_RATIO   # 38-605x


def test_embedding_init_shrinks_the_gradient_spike(symptoms_of):
    # the study saw more than 4x; the runs give 2.3-41x less than broken's, less than half in every
    # measured run; below the 15x bar in some runs, above it in others
    assert symptoms_of("emb-init-0.02")["grad_norm_ratio"] < symptoms_of("broken")["grad_norm_ratio"] / 2


def test_rare_rows_hold_almost_all_of_the_spike_gradient():
    from utils.spikelab.train import TrainingRun
    run = TrainingRun(config_for("broken", steps=313))
    log = run.train()
    share = log.steps["grad_norm_rare_rows"][312] / log.steps["grad_norm_preclip"][312]
    assert share > 0.99


def test_spike_cli_prints_the_section1_keys(tmp_path):
    out = subprocess.run([sys.executable, "-m", "utils.spikelab.spike", "--variant", "one-batch", "--json",
                          "--steps", "330", "--save", str(tmp_path / "log.json")],
                         capture_output=True, text=True, check=True)
    s = json.loads(out.stdout)
    for key in ["spike_step", "pre_spike_ema", "peak_loss", "peak_step", "recovery_loss",
                "grad_norm_preclip", "grad_norm_baseline", "lr_at_spike", "dtype", "batch_index",
                "unusual_tokens", "rare_piece_nll", "heldout_loss_before", "heldout_loss_peak",
                "heldout_loss_noise", "post_event_ratio"]:
        assert key in s
    assert s["spike_step"] == 312 and s["recovery_loss"] == "run too short"
    assert (tmp_path / "log.json").exists()


def test_spike_cli_saves_under_the_current_folder_and_reports_a_refused_save(tmp_path):
    """The default run log goes to runs/ of the folder it is run from (never into a read-only install);
    a save the disk refuses is reported, and the symptoms are still printed."""
    out = subprocess.run([sys.executable, "-m", "utils.spike", "--variant", "healthy", "--steps", "20", "--json"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "runs" / f"{config_for('healthy').run_id}.json").exists()
    (tmp_path / "a-file").write_text("not a folder")
    out = subprocess.run([sys.executable, "-m", "utils.spike", "--variant", "healthy", "--steps", "20", "--json",
                          "--save", str(tmp_path / "a-file" / "log.json")], capture_output=True, text=True)
    assert out.returncode == 1 and "the run log could not be saved to" in out.stderr and "--no-save" in out.stderr
    assert "spike_step" in json.loads(out.stdout)


def test_spike_cli_refuses_an_unknown_variant():
    out = subprocess.run([sys.executable, "-m", "utils.spikelab.spike", "--variant", "nope"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "unknown variant 'nope'" in out.stderr and "broken" in out.stderr


def test_every_variant_is_documented_in_the_readme():
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [v for v in VARIANTS if f"`{v}`" not in readme]
    assert not missing, missing


def test_compare_rows_are_the_runs_symptoms(symptoms_of):
    """utils.diagnosis.compare reads the same symptoms as the course's claims, with the course's bars."""
    from utils.diagnosis.compare import compare_variants, markdown_table
    rows = compare_variants(["broken", "control-mixed-shard"], progress=False)
    for row in rows:
        s = symptoms_of(row["variant"])
        for key in ("loss_ratio", "grad_norm_ratio", "heldout_rise_sigma", "post_event_ratio"):
            assert row[key] == s[key]
        assert row["gradient_spike"] == ("yes" if s["grad_norm_ratio"] >= GRAD_SPIKE_RATIO else "no")
        assert row["damage"] == damage_verdict(s["heldout_rise_sigma"])
    assert (rows[0]["gradient_spike"], rows[0]["damage"]) == ("yes", "yes")
    assert rows[1]["gradient_spike"] == "no" and rows[1]["damage"] != "yes"
    assert markdown_table(rows).count("\n") == 3


def test_symptoms_read_a_run_that_never_recovers_and_a_short_run_without_a_spike(symptoms_of):
    """`nan` diverges (its held-out evaluations overflow too, from before the first bad step on some
    seeds) and `nan-stable-softmax` is shorter than the designed event step, without a spike: both
    are read (both crashed utils.spikelab.symptoms.compute once), the first as "did not recover"."""
    for seed in SHAPE_SEEDS:
        s = symptoms_of("nan", seed)
        assert s["spike_found"] and s["recovery_loss"] == "did not recover" and s["dtype"] == "float32"
        assert math.isfinite(s["heldout_loss_before"]) and math.isfinite(s["heldout_loss_noise"])
    fixed = symptoms_of("nan-stable-softmax")
    assert not fixed["spike_found"] and fixed["event_step"] < config_for("nan-stable-softmax").steps
    assert fixed["loss_ratio"] < SPIKE_RATIO and fixed["grad_norm_ratio"] < GRAD_SPIKE_RATIO
