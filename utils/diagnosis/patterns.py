"""The classic failure patterns (Phase 19), each one produced by a real run of the mini-GPT.

Nothing here injects a value or edits a loss or a gradient: every pattern is "engineered" only
through data order, corpus, model, precision and hyperparameter choices (utils.spikelab.config's
``VARIANTS`` and ``PATTERN_VARIANTS``):

=================  ==========================  =======================================  ==========
pattern            run(s)                      what is chosen                           panels
=================  ==========================  =======================================  ==========
long-tail-token    broken, one-batch           a never-trained rare piece (§A13)        3, 7
data-order         control-no-rare-piece       15 consecutive same-kind batches         1, 6
fp16-overflow      fp16-overflow               float16 autocast, no loss scaling,       8, 4, 1
                                               explicit attention, LR 20× the course's
lr-discontinuity   lr-discontinuity            warmup ends at 0.1× peak, then jumps     2, 1
optimizer-reset    optimizer-reset             step 300 reloads the model, not AdamW    5, 1
nan-non-recovery   nan                         softmax written without max-subtraction  8, 4
none               healthy                     the course's settings                    all
=================  ==========================  =======================================  ==========

Remedies, also real runs: ``fp16-overflow-bf16`` (and ``fp16-overflow-scaled``, which shows what
a GradScaler does and does not do), ``lr-continuous``, ``resume(..., with_optimizer=True)``,
``train_with_rollback("nan")`` (reload the last finite checkpoint, then fix the cause), and
``nan-stable-softmax``.

    log = run_pattern("fp16-overflow")          # a fresh run (RunLog)
    pattern_facts("fp16-overflow")["first_nonfinite_step"]
"""
from __future__ import annotations

import copy
import json
import math
import statistics
from pathlib import Path

from utils.diagnosis.runs import cached_run, run_pattern
from utils.diagnosis.signals import (first_nonfinite, grad_spike, hash_frozen_from, heldout_rise, lr_jump,
                                     moment_drop, same_kind_run)
from utils.diagnosis.stability_check import check
from utils.spikelab import runstore
from utils.spikelab.config import PATTERN_VARIANTS, VARIANTS, config_for
from utils.spikelab.runlog import STEP_COLUMNS, RunLog
from utils.spikelab.thresholds import GRAD_SPIKE_ANYWHERE, LR_JUMP, SAME_KIND_RUN, V_DROP
from utils.spikelab.train import TrainingRun, param_fingerprint

FP16_MAX = 65504.0

# pattern name -> the runs that show it, the remedy runs and the dashboard panels to look at
PATTERNS: dict[str, dict] = {
    "long-tail-token": {"runs": ["broken", "one-batch"], "remedy": ["emb-init-0.02"], "panels": [3, 7]},
    "data-order": {"runs": ["control-no-rare-piece"], "remedy": ["stratified-covering"], "panels": [1, 6]},
    "fp16-overflow": {"runs": ["fp16-overflow"], "remedy": ["fp16-overflow-bf16", "fp16-overflow-scaled"],
                      "panels": [8, 4, 1]},
    "lr-discontinuity": {"runs": ["lr-discontinuity"], "remedy": ["lr-continuous"], "panels": [2, 1]},
    "optimizer-reset": {"runs": ["optimizer-reset"], "remedy": ["resume(with_optimizer=True)"], "panels": [5, 1]},
    "nan-non-recovery": {"runs": ["nan"], "remedy": ["train_with_rollback", "nan-stable-softmax"], "panels": [8, 4]},
    "none": {"runs": ["healthy"], "remedy": [], "panels": [1, 2, 3, 4, 5, 6, 7, 8]},
}

ALL_RUNS = [*VARIANTS, *PATTERN_VARIANTS]
__all__ = ["FP16_MAX", "PATTERNS", "ALL_RUNS", "run_pattern", "cached_run", "first_bad_step", "last_clean_hash",
           "train_with_rollback", "resume", "pattern_facts"]


# ---------------------------------------------------------------- panel 8: the first bad step
def first_bad_step(log: RunLog) -> int | None:
    """The first step whose update left a non-finite parameter (panel 8), or None.

    Each step logs a checksum of every parameter's bits and the count of non-finite values, right
    after the update. The first step with a count > 0 is the first bad one; the hash of the
    step before it identifies the last clean state, so a checkpoint whose hash equals it is
    known to be clean without reloading it.
    """
    return first_nonfinite(log)["params"]


def last_clean_hash(log: RunLog) -> str | None:
    """The parameter hash of the last step before the first bad one (None if it never went bad
    or went bad at step 0)."""
    k = first_bad_step(log)
    return log.steps["param_hash"][k - 1] if k else None


# ---------------------------------------------------------------- remedies
def _snapshot(run: TrainingRun) -> dict:
    """An in-memory checkpoint: model and optimizer state (deep copies), with the parameter hash."""
    phash, nonfinite = param_fingerprint(run.params)
    return {"step": run.step_index, "model": copy.deepcopy(run.model.state_dict()),
            "optimizer": copy.deepcopy(run.opt.state_dict()), "param_hash": phash, "finite": nonfinite == 0}


def _restore(run: TrainingRun, ckpt: dict) -> None:
    run.model.load_state_dict(ckpt["model"])
    run.opt.load_state_dict(ckpt["optimizer"])
    run.step_index = ckpt["step"]
    run.log.truncate(ckpt["step"])
    for extra in set(run.log.steps) - set(STEP_COLUMNS):
        del run.log.steps[extra][ckpt["step"]:]


def train_with_rollback(name: str = "nan", every: int = 25, fix: str | None = "manual", seed: int = 42,
                        max_rollbacks: int = 2) -> RunLog:
    """Train ``name`` keeping an in-memory checkpoint every ``every`` steps; when an update leaves
    a non-finite parameter (panel 8), reload the newest checkpoint whose parameters were finite
    and, if ``fix`` is given, switch the attention to it (``"manual"``: the same function,
    softmax with max-subtraction) before going on. Each rollback is an event in the log.

    With ``fix=None`` the reload alone replays the same steps and hits the same nan: the
    overflow is deterministic. The run stops after ``max_rollbacks`` rollbacks.

    Inside a session with a run store the log is shared (``_remembered``).
    """
    cfg = config_for(name, seed=seed)
    return _remembered(cfg, ["rollback", every, fix, max_rollbacks],
                       lambda: _train_with_rollback(cfg, every, fix, max_rollbacks))


def _remembered(cfg, args: list, train) -> RunLog:
    """``train()``'s log, shared like ``run_variant``'s inside a session with a run store
    (``COURSE_RUN_CACHE``): keyed by the run's own key, ``args`` and this module's code."""
    variant_path = runstore.cache_path(cfg)
    path = None if variant_path is None else runstore.memo_path(
        "pattern-run", json.dumps([variant_path.name, *args]).encode() + Path(__file__).read_bytes())
    if path is not None and path.exists():
        try:
            return RunLog.load(path)
        except ValueError:
            pass                          # a damaged file: train again
    log = train()
    if path is not None:
        log.save(path)
    return log


def _train_with_rollback(cfg, every: int, fix: str | None, max_rollbacks: int) -> RunLog:
    run = TrainingRun(cfg)
    ckpts: list[dict] = []
    rollbacks = 0
    while run.step_index < run.cfg.steps:
        s = run.step_index
        if s % every == 0:
            ckpts.append(_snapshot(run))
        record = run.step()
        if not record["nonfinite_params"]:
            continue
        if rollbacks >= max_rollbacks:
            reason = "non-finite parameters again"  # i18n: not shown (run-log data, shared by learners of both languages)
            run.log.events.append({"step": s, "kind": "stop", "reason": reason})
            break
        good = [c for c in ckpts if c["finite"] and c["step"] <= s][-1]
        _restore(run, good)
        rollbacks += 1
        run.log.events.append({"step": s, "kind": "rollback", "to": good["step"], "param_hash": good["param_hash"],
                               "fix": fix})
        if fix is not None:
            for block in run.model.blocks:
                block.attn.attention = fix
    return run.log


def resume(name: str = "healthy", at: int = 300, steps: int = 340, with_optimizer: bool = True,
           seed: int = 42) -> RunLog:
    """Train ``name`` to step ``at``, "save a checkpoint", start a fresh TrainingRun (a new
    process would: new model, new optimizer), load the model and, if ``with_optimizer``, the
    AdamW state, and go on to ``steps``. With the optimizer state the run continues exactly as
    if never interrupted; without it, it is the ``optimizer-reset`` run. Shared inside a session
    with a run store (``_remembered``)."""
    cfg = config_for(name, seed=seed, steps=steps)
    return _remembered(cfg, ["resume", at, with_optimizer], lambda: _resume(cfg, at, with_optimizer))


def _resume(cfg, at: int, with_optimizer: bool) -> RunLog:
    first = TrainingRun(cfg)
    first.train(steps=at)
    ckpt = {"model": copy.deepcopy(first.model.state_dict()), "optimizer": copy.deepcopy(first.opt.state_dict())}
    second = TrainingRun(cfg)
    second.model.load_state_dict(ckpt["model"])
    if with_optimizer:
        second.opt.load_state_dict(ckpt["optimizer"])
    second.step_index, second.log = at, first.log
    second.log.events.append({"step": at, "kind": "resume",
                              "restored": ["model", "optimizer"] if with_optimizer else ["model"]})
    return second.train()


# ---------------------------------------------------------------- facts the texts quote
def _mean(xs) -> float:
    xs = [x for x in xs if math.isfinite(x)]
    return sum(xs) / len(xs) if xs else float("nan")


_FACTS: dict[tuple[str, int], dict] = {}


def pattern_facts(name: str, seed: int = 42) -> dict:
    """Numbers of one run that the notebook and theory texts quote (claim spans with
    ``data-run="<pattern run>"`` or ``data-run="pattern:<spike variant>"``); None where a
    fact does not apply to that run. Computed once per process."""
    if (name, seed) not in _FACTS:
        _FACTS[(name, seed)] = _facts(name, seed)
    return _FACTS[(name, seed)]


def _facts(name: str, seed: int) -> dict:
    log = cached_run(name, seed)
    verdict = check(log)
    bad = first_nonfinite(log)
    found = [v for v in bad.values() if v is not None]
    k = min(found) if found else None
    nf = log.steps["nonfinite_params"]
    attn = log.steps.get("attn_max_score")
    low = log.steps.get("attn_min_score")
    finite_attn = [a for a in (attn or [])[: k if k is not None else None] if math.isfinite(a)]
    cfg = log.meta["config"]
    skips = [e for e in log.events if e.get("kind") == "skip"]
    jump, drop, grad = lr_jump(log), moment_drop(log), grad_spike(log)
    same = same_kind_run(log)
    anchor = (jump["step"] if jump["factor"] >= LR_JUMP else
              drop["step"] if drop["v_factor"] >= V_DROP else
              same["start"] if same["length"] >= SAME_KIND_RUN else
              grad["step"] if grad["ratio"] >= GRAD_SPIKE_ANYWHERE else None)
    held = heldout_rise(log, anchor) if k is None else heldout_rise(log, None)
    loss = log.steps["loss"]
    facts = {
        "run": name, "steps": len(log), "dtype": log.meta["dtype"], "n_params": log.meta["n_params"],
        "peak_lr": cfg["peak_lr"], "attention": cfg.get("attention", "sdpa"),
        "pattern": verdict.pattern, "runner_up": verdict.runner_up,
        "first_nonfinite_step": k, "first_nonfinite_loss_step": bad["loss"],
        "first_nonfinite_grad_step": bad["grads"], "first_nonfinite_params_step": bad["params"],
        "first_bad_step": first_bad_step(log), "nonfinite_params_last": nf[-1],
        "param_hash_frozen_from": hash_frozen_from(log),
        "finite_losses_after": sum(math.isfinite(v) for v in loss[k:]) if k is not None else None,
        "attn_max_score_before": finite_attn[-1] if finite_attn and k is not None else None,
        "attn_max_score_peak": max(finite_attn) if finite_attn else None,
        "attn_max_score_at": attn[k] if attn and k is not None and k < len(attn) else None,
        "attn_min_score_before": low[k - 1] if low and k else None,
        "attn_min_score_at": low[k] if low and k is not None and k < len(low) else None,
        "attn_abs_score_before": max(abs(attn[k - 1]), abs(low[k - 1])) if low and attn and k else None,
        # the largest finite logit magnitude, either side, before the first non-finite step
        "attn_abs_score_peak_before": max((abs(v) for v in [*(attn or [])[:k], *(low or [])[:k]] if math.isfinite(v)),
                                          default=None) if k is not None else None,
        "overflow_side": _overflow_side(attn, low, k),
        # negative-side overflow: steps whose smallest visible logit is already -inf (float16) while
        # the loss is still finite (a row with some -inf logits is fine; a row of only -inf is 0/0)
        "attn_min_inf_first_step": next((s for s, v in enumerate(low or []) if v == -math.inf), None),
        "attn_min_inf_steps_before": (sum(v == -math.inf for v in low[:k]) if low and k is not None else None),
        "fp16_max": FP16_MAX, "fp16_score_limit": FP16_MAX / math.sqrt(cfg["d_model"] // cfg["n_head"]),
        "exp_overflow_fp32": math.log(3.4028234663852886e38), "exp_overflow_fp16": math.log(FP16_MAX),
        "skipped_steps": len(skips), "first_skip_after_warmup": next(
            (e["step"] for e in skips if e["step"] >= cfg["warmup"]), None),
        "final_loss_scale": skips[-1]["scale"] if skips else None,
        "skips_before_warmup": sum(e["step"] < cfg["warmup"] for e in skips),
        # GradScaler runs: how the skips go on once the forward pass has overflowed
        "steps_from_first_overflow": len(log) - bad["loss"] if bad["loss"] is not None else None,
        "skips_from_first_overflow": (sum(e["step"] >= bad["loss"] for e in skips)
                                      if bad["loss"] is not None else None),
        "scale_below_one_step": next((e["step"] for e in skips if e["scale"] < 1), None),
        "zero_grad_steps": sum(1 for g in log.steps["grad_norm_preclip"] if g == 0.0),
        "lr_jump_step": jump["step"], "lr_jump_factor": jump["factor"],
        "lr_before_jump": jump["lr_before"], "lr_after_jump": jump["lr_after"],
        "v_drop_step": drop["step"], "v_drop_factor": drop["v_factor"], "m_drop_factor": drop["m_factor"],
        "adam_v_before": drop["v_before"], "adam_v_after": drop["v_after"],
        "adam_m_before": drop["m_before"], "adam_m_after": drop["m_after"],
        "grad_spike_step": grad["step"], "grad_ratio": grad["ratio"], "rare_share": grad["rare_share"],
        "same_kind_run": same["length"], "same_kind_start": same["start"],
        "heldout_before": held["before"], "heldout_noise": held["noise"], "heldout_peak": held["peak"],
        "heldout_peak_step": held["peak_step"], "heldout_rise_sigma": held["sigma"],
        "heldout_peak_after_warmup": max((v for st, v in zip(log.heldout["step"], log.heldout["loss"])
                                          if st >= cfg["warmup"] and math.isfinite(v)), default=None),
        "loss_last10": _mean(loss[-10:]), "heldout_last": log.heldout["loss"][-1] if log.heldout["loss"] else None,
    }
    for p, s in verdict.scores.items():
        facts[f"score_{p}"] = s
    if name == "optimizer-reset":
        facts.update(_reset_facts(log, drop["step"]))
    if name == "nan":
        facts.update(_rollback_facts(seed))
    return facts


def _overflow_side(high: list | None, low: list | None, k: int | None) -> str | None:
    """Which logged attention logit was no longer finite at step ``k`` (the first non-finite
    step): "positive" (the largest is +inf), "negative" (the smallest visible one is -inf),
    "both", "nan" (a nan reached the logits, e.g. from an earlier layer's softmax) or "none"
    (both finite: the overflow was elsewhere)."""
    if not high or not low or k is None or k >= len(high):
        return None
    hi, lo = high[k], low[k]
    if math.isnan(hi) or math.isnan(lo):
        return "nan"
    side = {(True, False): "positive", (False, True): "negative", (True, True): "both"}
    return side.get((hi == math.inf, lo == -math.inf), "none")


def _reset_facts(log: RunLog, at: int, n: int = 20) -> dict:
    """The reset run against the uninterrupted healthy run on the same batches."""
    ref = cached_run("healthy")
    diffs = [a - b for a, b in zip(log.steps["loss"][at: at + n], ref.steps["loss"][at: at + n])]
    resumed = resume(at=at, steps=at + n, with_optimizer=True)
    forgot = resume(at=at, steps=at + n, with_optimizer=False)
    return {"loss_bump_mean": statistics.mean(diffs), "loss_bump_steps_higher": sum(d > 0 for d in diffs),
            "loss_bump_steps": n,
            "v_after_40_ratio": log.steps["adam_v_norm"][-1] / ref.steps["adam_v_norm"][len(log) - 1],
            "resume_with_state_identical": resumed.steps["loss"] == ref.steps["loss"][: at + n],
            "resume_without_state_is_reset": forgot.steps["loss"] == log.steps["loss"][: at + n]}


_ROLLBACK: dict[int, dict] = {}


def _rollback_facts(seed: int) -> dict:
    if seed not in _ROLLBACK:
        fixed = train_with_rollback("nan", fix="manual", seed=seed)
        plain = train_with_rollback("nan", fix=None, seed=seed, max_rollbacks=1)
        rb = [e for e in fixed.events if e["kind"] == "rollback"]
        again = [e for e in plain.events if e["kind"] in ("rollback", "stop")]
        _ROLLBACK[seed] = {
            "rollback_from": rb[0]["step"] if rb else None, "rollback_to": rb[0]["to"] if rb else None,
            "rollback_final_nonfinite": fixed.steps["nonfinite_params"][-1],
            "rollback_loss_last10": _mean(fixed.steps["loss"][-10:]),
            "rollback_steps": len(fixed),
            "reload_only_fails_again_at": again[-1]["step"] if len(again) > 1 else None,
        }
    return _ROLLBACK[seed]
