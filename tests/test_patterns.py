"""The classic failure patterns, asserted on real runs (utils.diagnosis.patterns, Phase 19).

Every run trains the mini-GPT for real; runs are shared within the process through
``patterns.cached_run`` (the stability-check tests reuse them).
"""
from __future__ import annotations

import copy
import math

import pytest

from utils.course import claims
from utils.diagnosis import patterns
from utils.diagnosis import stability_check as sc
from utils.spikelab.config import PATTERN_VARIANTS, VARIANTS, config_for

FLOAT32_EXP_LIMIT = math.log(3.4028234663852886e38)     # exp(x) overflows float32 above ≈ 88.72


@pytest.fixture(scope="module")
def run():
    """run(name) -> the shared RunLog of a fresh run of that variant, seed 42."""
    return patterns.cached_run


def finite(xs) -> bool:
    return all(math.isfinite(x) for x in xs)


# ---------------------------------------------------------------- variants and configs
def test_pattern_variants_only_change_honest_knobs():
    allowed = {"attention", "peak_lr", "steps", "dtype", "grad_scaler", "warmup", "lr_schedule",
               "lr_jump_from", "reset_optimizer_at"}
    for name, fields in PATTERN_VARIANTS.items():
        assert set(fields) <= allowed, name
        assert config_for(name).order == "plain", f"{name} uses the healthy data order"
        assert config_for(name).steps <= 420
    assert not set(PATTERN_VARIANTS) & set(VARIANTS)


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="fp16-overflow"):
        config_for("no-such-pattern")


# ---------------------------------------------------------------- fp16 overflow
FP16_SCORE_LIMIT = patterns.FP16_MAX / math.sqrt(32)      # a float16 q·k beyond ±65504 is ±inf, before the 1/√32


def test_fp16_without_scaling_overflows_and_never_recovers(run):
    log = run("fp16-overflow")
    k = sc.first_nonfinite(log)["loss"]
    # it overflows, well inside the run: between steps 97 and 149 of 200 in the 15 measured runs
    assert k is not None and 50 <= k <= len(log) - 50, k
    assert finite(log.steps["loss"][:k]) and not any(math.isfinite(v) for v in log.steps["loss"][k:])
    nf = log.steps["nonfinite_params"]
    assert nf[k - 1] == 0 and all(n == log.meta["n_params"] for n in nf[k:]), "the overflowed step's update poisons every weight"
    # the mechanism: the attention logits grow from ~0 to float16's limit (±65504 before the 1/√32),
    # then a product overflows. Which side goes first (the largest logit to +inf, or a whole row of
    # visible logits to -inf) varies from run to run; so does whether a -inf logit that
    # is harmless (weight 0, loss finite) appears before the crash.
    high, low = log.steps["attn_max_score"], log.steps["attn_min_score"]
    assert max(abs(high[0]), abs(low[0])) < 1, "the logits start near 0"
    peak = max(abs(v) for v in [*high[:k], *low[:k]] if math.isfinite(v))
    assert 0.5 * FP16_SCORE_LIMIT < peak <= FP16_SCORE_LIMIT, "they grew to the float16 limit before the crash"
    assert not (math.isfinite(high[k]) and math.isfinite(low[k])), "at the crash the logits are no longer finite"


def test_bf16_twin_survives_the_same_run(run):
    log, fp16 = run("fp16-overflow-bf16"), run("fp16-overflow")
    assert len(log) == len(fp16) > sc.first_nonfinite(fp16)["loss"]
    assert finite(log.steps["loss"]) and max(log.steps["nonfinite_params"]) == 0
    assert max(log.steps["attn_max_score"]) > FP16_SCORE_LIMIT, "past the float16 limit, fine in bfloat16's range"


def test_grad_scaler_keeps_weights_finite_by_skipping_steps(run):
    log = run("fp16-overflow-scaled")
    assert log.meta["config"]["grad_scaler"] and log.meta["dtype"] == "float16"
    assert max(log.steps["nonfinite_params"]) == 0, "no non-finite update was ever applied"
    skips = [e for e in log.events if e["kind"] == "skip"]
    skipped = {e["step"] for e in skips}
    bad_loss = [s for s, v in enumerate(log.steps["loss"]) if not math.isfinite(v)]
    assert bad_loss and set(bad_loss) <= skipped, "every forward overflow was skipped"
    # the everyday behaviour: a few skips at the start, while the scale (65536 at first) finds its level
    warmup = log.meta["config"]["warmup"]
    assert 1 <= sum(s < 10 for s in skipped)
    # what it cannot do: a forward overflow is not a gradient problem. The logits keep their size, the
    # forward pass overflows again on most of the later batches (the late skips start within 3 steps
    # of the first nan loss in every measured run), each skip halves the scale, and it falls below 1:
    # the run stops learning, with finite weights.
    late = sorted(s for s in skipped if s >= warmup)
    assert late and abs(late[0] - bad_loss[0]) <= 3
    assert len(late) >= 0.5 * (len(log) - bad_loss[0]), "most steps from the first overflow on are skipped"
    scales = [e["scale"] for e in skips]
    assert all(b == a / 2 for a, b in zip(scales, scales[1:])), "each skip halves the scale"
    assert scales[-1] < 1


# ---------------------------------------------------------------- LR discontinuity
def test_lr_jumps_by_the_designed_factor_at_the_end_of_warmup(run):
    cfg = config_for("lr-discontinuity")
    lr = run("lr-discontinuity").steps["lr"]
    assert lr[cfg.warmup] / lr[cfg.warmup - 1] == pytest.approx(1 / cfg.lr_jump_from, rel=1e-6)
    jump = sc.lr_jump(run("lr-discontinuity"))
    assert jump["step"] == cfg.warmup
    h = sc.heldout_rise(run("lr-discontinuity"), cfg.warmup)
    assert h["sigma"] >= 10 and h["peak"] > h["before"] + 0.5


def test_continuous_schedule_has_no_jump_and_no_damage(run):
    log = run("lr-continuous")
    assert sc.lr_jump(log)["step"] is None
    assert sc.heldout_rise(log, config_for("lr-continuous").warmup)["sigma"] < 3
    assert finite(log.steps["loss"])


# ---------------------------------------------------------------- optimizer reset
def test_optimizer_reset_shows_on_the_moments_and_as_a_loss_bump(run):
    log, ref = run("optimizer-reset"), run("healthy")
    at = config_for("optimizer-reset").reset_optimizer_at
    assert log.steps["loss"][:at] == ref.steps["loss"][:at], "identical until the reload"
    v, m = log.steps["adam_v_norm"], log.steps["adam_m_norm"]
    assert v[at - 1] / v[at] > 20, "second moments restart from 0 (AdamW v = 0.001·g²)"
    assert m[at - 1] / m[at] > 1.5 and m[at] == pytest.approx(0.1 * log.steps["grad_norm_postclip"][at], rel=1e-3)
    diffs = [a - b for a, b in zip(log.steps["loss"][at: at + 20], ref.steps["loss"][at: at + 20])]
    assert sum(d > 0 for d in diffs) >= 14 and sum(diffs) / len(diffs) > 0.05
    assert [e["kind"] for e in log.events] == ["reload"] and log.events[0]["step"] == at


def test_resume_with_optimizer_state_replays_exactly_and_without_it_is_the_reset(run):
    at, steps = 300, 310
    ref, reset = run("healthy"), run("optimizer-reset")
    assert patterns.resume(at=at, steps=steps).steps["loss"] == ref.steps["loss"][:steps]
    assert patterns.resume(at=at, steps=steps, with_optimizer=False).steps["loss"] == reset.steps["loss"][:steps]


# ---------------------------------------------------------------- nan, no recovery
def test_nan_run_poisons_the_weights_for_good(run):
    log = run("nan")
    k = patterns.first_bad_step(log)
    nf = log.steps["nonfinite_params"]
    assert k is not None and k > 100
    assert all(n == 0 for n in nf[:k]) and all(n == log.meta["n_params"] for n in nf[k:]), "never returns to 0"
    # the update of step k writes non-finite values into the weights; the loss is non-finite at k, or
    # at k + 1 when the backward pass overflowed first (2 of 15 measured runs)
    assert finite(log.steps["loss"][:k]) and sc.first_nonfinite(log)["loss"] in (k, k + 1)
    # the mechanism: the attention logits grow towards ln(float32 max), where exp() gives inf
    attn = log.steps["attn_max_score"]
    assert max(attn[:k]) < FLOAT32_EXP_LIMIT and max(attn[:k]) > 0.8 * FLOAT32_EXP_LIMIT
    assert patterns.last_clean_hash(log) == log.steps["param_hash"][k - 1]


def test_stable_softmax_from_the_start_survives(run):
    log = run("nan-stable-softmax")
    assert finite(log.steps["loss"]) and max(log.steps["nonfinite_params"]) == 0


def test_rollback_to_the_last_finite_checkpoint_then_fix_recovers(run):
    k = patterns.first_bad_step(run("nan"))
    fixed = patterns.train_with_rollback("nan", every=25, fix="manual")
    [rb] = [e for e in fixed.events if e["kind"] == "rollback"]
    assert rb["step"] == k and rb["to"] == (k // 25) * 25
    assert rb["param_hash"] == run("nan").steps["param_hash"][rb["to"] - 1], "the checkpoint is a clean logged state"
    assert len(fixed) == config_for("nan").steps and max(fixed.steps["nonfinite_params"]) == 0
    assert fixed.steps["attn_max_score"][k] > FLOAT32_EXP_LIMIT, "the same logit, now with max-subtraction"
    assert fixed.steps["loss"][: rb["to"]] == run("nan").steps["loss"][: rb["to"]]


def test_rollback_without_a_fix_hits_the_same_nan_again():
    k = patterns.first_bad_step(patterns.cached_run("nan"))
    log = patterns.train_with_rollback("nan", fix=None, max_rollbacks=1)
    kinds = [(e["kind"], e["step"]) for e in log.events]
    assert kinds == [("rollback", k), ("stop", k)]


# ---------------------------------------------------------------- facts for claim spans
def test_claims_can_quote_pattern_facts(run):
    k = sc.first_nonfinite(run("fp16-overflow"))["loss"]
    assert claims.value_of("fp16-overflow", "first_nonfinite_step") == k
    assert claims.value_of("pattern:broken", "pattern") in ("long-tail-token", "data-order")
    table = {"samples": {"fp16-overflow|first_nonfinite_step": {"42/default": k}}}
    [c] = claims.claims_in(f'<span data-run="fp16-overflow" data-key="first_nonfinite_step">{k + 1}</span>')
    assert c.expected(table) == str(k) != c.text and c.fresh_holds(table)


def test_first_bad_step_reads_panel_8_only(run):
    log = copy.deepcopy(run("healthy"))
    assert patterns.first_bad_step(log) is None
    log.steps["nonfinite_params"][200:] = [3] * (len(log) - 200)
    assert patterns.first_bad_step(log) == 200


def test_pattern_runs_are_shared_through_the_run_store(tmp_path, monkeypatch):
    # resume / train_with_rollback logs are kept in the run store like run_variant's: the second
    # call reads the file, a damaged file is trained again, other arguments get another file.
    monkeypatch.setenv("COURSE_RUN_CACHE", str(tmp_path))
    first = patterns.resume(at=4, steps=8)
    files = sorted(tmp_path.glob("pattern-run-*.json"))
    assert len(files) == 1
    trained = patterns._resume
    monkeypatch.setattr(patterns, "_resume", lambda *a: pytest.fail("trained again instead of read"))
    again = patterns.resume(at=4, steps=8)
    assert again.steps["loss"] == first.steps["loss"] and again.events == first.events
    monkeypatch.setattr(patterns, "_resume", trained)
    files[0].write_text(files[0].read_text()[:200])                     # torn: trained again
    assert patterns.resume(at=4, steps=8).steps["loss"] == first.steps["loss"]
    forgot = patterns.resume(at=4, steps=8, with_optimizer=False)
    assert len(list(tmp_path.glob("pattern-run-*.json"))) == 2
    assert forgot.events[-1]["restored"] == ["model"]
