"""The stability check: a decision tree you can run on any run log (Phase 19).

    python -m utils.stability_check --variant broken          # train the run, print the path
    python -m utils.stability_check --variant nan --json      # {"pattern", "runner_up", "evidence"}
    python -m utils.stability_check runs/19-spike-001.json    # a saved run log

``check(log)`` walks the questions of theory/phase-19/stability-check.md in order, each one read
off one dashboard panel, records the answer and the numbers behind it (the evidence), and names
the most likely failure pattern and the runner-up. Patterns: ``long-tail-token``,
``data-order``, ``fp16-overflow``, ``lr-discontinuity``, ``optimizer-reset``,
``nan-non-recovery``, or ``none`` (no spike found).

How it decides between patterns (the same rule everywhere):

1. Non-finite values first. If the loss, the gradient norm or the parameters ever hold
   nan/inf, the run is in the non-finite branch: which came first (params, loss, gradients),
   whether the parameters ever become finite again (panel 8), and the dtype decide between
   ``fp16-overflow`` (float16) and ``nan-non-recovery`` (any other dtype).
2. Otherwise each remaining pattern has ONE primary signal, read on its panel, and an alarm
   line for it; its *score* is how many times the signal exceeds that line:

   - long-tail-token: pre-clip gradient norm ÷ median of the 50 steps before (panel 3), line
     30×; it counts only if most of that gradient sits in the rare pieces' embedding rows.
   - data-order: held-out rise in σ of its own noise after a run of consecutive same-kind
     batches (panels 1 and 6), line 10σ; it counts only if such a run of ≥ 5 batches exists.
   - lr-discontinuity: the largest one-step LR ratio (panel 2), line 2×; it counts only if
     the loss or the held-out loss gets worse right after it.
   - optimizer-reset: the largest one-step drop of the Adam second-moment norm (panel 5),
     line 2× (with β2 = 0.999 the norm cannot fall by more than 0.1 % per step on its own).

   The lines and the gates' bars are those of ``utils.spikelab.thresholds``; the signals are
   read by ``utils.diagnosis.signals``. Candidates are ranked by score. The pattern is the top
   one if its score is ≥ 1 (its signal crossed its line), else ``none``; the runner-up is the next one in the ranking. When two
   patterns are present (``broken``: a gradient spike AND a same-kind run that damages the
   held-out loss) both cross their lines and the larger multiple comes first.

The check never reads ``log.events`` or the run's config to name a pattern: only the panels
(the step columns, the held-out curve) and the dtype. The events are what a person would check
afterwards to confirm it.

The questions and answers are worded, in the learner's language, by ``utils.diagnosis.stability_questions``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from utils.diagnosis import stability_questions as words
from utils.diagnosis.runs import cached_run
from utils.diagnosis.signals import (first_nonfinite, grad_spike, hash_frozen_from, heldout_rise, loss_rise_after,
                                     lr_jump, moment_drop, prefix, same_kind_run)
from utils.spikelab.config import PATTERN_VARIANTS, VARIANTS
from utils.spikelab.runlog import RunLog
from utils.spikelab.metrics import significant
from utils.spikelab.symptoms import find_spike
from utils.spikelab.thresholds import (DAMAGE_SIGMA, GRAD_SPIKE_ANYWHERE, LR_DAMAGE_RATIO, LR_DAMAGE_SIGMA, LR_JUMP,
                                       RARE_SHARE, SAME_KIND_RUN, V_DROP)

PATTERNS = ["long-tail-token", "data-order", "fp16-overflow", "lr-discontinuity",
            "optimizer-reset", "nan-non-recovery", "none"]

# the panel readers the check is built from, importable from here as well (notebooks, tests)
__all__ = ["PATTERNS", "Evidence", "Verdict", "check", "render", "main", "first_nonfinite", "grad_spike",
           "hash_frozen_from", "heldout_rise", "loss_rise_after", "lr_jump", "moment_drop", "prefix",
           "same_kind_run"]


@dataclass
class Evidence:
    panel: int | None          # dashboard panel the answer is read on (None: run metadata)
    question: str              # question and answer in the learner's language (stability_questions)
    answer: str
    values: dict = field(default_factory=dict)


@dataclass
class Verdict:
    pattern: str
    runner_up: str
    evidence: list[Evidence]
    scores: dict[str, float]
    run_id: str = ""

    def to_json(self) -> dict:
        """The JSON form: pattern, runner-up and the path taken (scores are in the last node)."""
        return {"pattern": self.pattern, "runner_up": self.runner_up,
                "evidence": [asdict(e) for e in self.evidence]}


# ---------------------------------------------------------------- the tree
def _rounded(d: dict) -> dict:
    return {k: significant(v) for k, v in d.items()}


def check(log: RunLog) -> Verdict:
    """Walk the decision tree on ``log``; see the module docstring for the rule."""
    ev: list[Evidence] = []
    dtype = log.meta.get("dtype", "float32")
    bad = first_nonfinite(log)
    found = {k: v for k, v in bad.items() if v is not None}
    ev.append(Evidence(8, words.QUESTIONS["nonfinite"], words.yes_no(bool(found)), dict(first_nonfinite_step=bad)))
    if found:
        return _nonfinite_branch(log, bad, dtype, ev)
    scores, _ = _finite_branch(log, dtype, ev)
    return _decide(log, scores, ev)


def _nonfinite_branch(log: RunLog, bad: dict, dtype: str, ev: list[Evidence]) -> Verdict:
    k = min(v for v in bad.values() if v is not None)
    # the loss and gradient at step s are computed before step s's update; panel 8 after it
    order = sorted((v, {"loss": 0, "grads": 1, "params": 2}[n], n) for n, v in bad.items() if v is not None)
    n_loss = sum(not math.isfinite(v) for v in log.steps["loss"])
    n_grad = sum(not math.isfinite(v) for v in log.steps["grad_norm_preclip"])
    ev.append(Evidence(8, words.QUESTIONS["first"],
                       words.first_nonfinite(order[0][2], order[0][0], [(n, v) for v, _, n in order[1:]]),
                       dict(bad, nonfinite_loss_steps=n_loss, nonfinite_grad_steps=n_grad)))
    nf = log.steps["nonfinite_params"]
    params_bad = bad["params"] is not None
    recovered = params_bad and nf[-1] == 0
    frozen = hash_frozen_from(log)
    losses_after = [v for v in log.steps["loss"][k:]]
    finite_after = sum(math.isfinite(v) for v in losses_after)
    answer = words.parameters_stay(params_bad, recovered, n_grad, finite_after, len(losses_after), k)
    ev.append(Evidence(8, words.QUESTIONS["stays"], answer,
                       dict(nonfinite_params_last=nf[-1], n_params=log.meta.get("n_params"),
                            param_hash_frozen_from=frozen, finite_losses_after=finite_after,
                            losses_after=len(losses_after))))
    attn = log.steps.get("attn_max_score")
    low = log.steps.get("attn_min_score")          # smallest visible logit: overflow on the negative side
    at = bad["loss"] if bad["loss"] is not None else k     # the forward pass that overflowed
    if attn and at > 0:
        before = [a for a in attn[:at] if math.isfinite(a)]
        values = dict(step=at, attn_max_score_before=significant(attn[at - 1]), attn_max_score_at=significant(attn[at]),
                      attn_max_score_peak=significant(max(before)) if before else None)
        if low:
            values.update(attn_min_score_before=significant(low[at - 1]), attn_min_score_at=significant(low[at]))
        ev.append(Evidence(4, words.QUESTIONS["activations"], words.activations(at, attn, low), values))
    fp16 = dtype == "float16"
    ev.append(Evidence(8, words.QUESTIONS["dtype"], words.dtype_range(dtype, fp16), dict(dtype=dtype)))
    # what the run looked like before its first non-finite value: the runner-up's candidates
    pre_scores, _ = _finite_branch(prefix(log, k), dtype, [])
    stays_bad = params_bad and not recovered
    if fp16:
        pattern = "fp16-overflow"
        runner = "nan-non-recovery" if stays_bad else _best(pre_scores)
    elif stays_bad:
        pattern, runner = "nan-non-recovery", _best(pre_scores)
    else:                      # a transient nan in float32 that never reached the weights
        pattern, runner = _best(pre_scores), "nan-non-recovery"
    scores = {p: 0.0 for p in PATTERNS if p != "none"}
    scores.update(pre_scores)
    ev.append(Evidence(None, words.QUESTIONS["decision"], words.decision(pattern, runner, why_none=False),
                       dict(rule=words.nonfinite_rule(),
                            scores_before_first_nonfinite={p: significant(s) for p, s in sorted(pre_scores.items())})))
    return Verdict(pattern, runner, ev, scores, log.run_id)


def _best(scores: dict[str, float]) -> str:
    ranked = sorted(((s, p) for p, s in scores.items() if s > 0), reverse=True)
    return ranked[0][1] if ranked else "none"


def _finite_branch(log: RunLog, dtype: str, ev: list[Evidence]) -> tuple[dict[str, float], dict]:
    """Scores of the four finite-run patterns (signal ÷ its line; 0 if a gate fails)."""
    scores: dict[str, float] = {}
    loss_spike = find_spike(log) if len(log) > log.meta["config"]["warmup"] else None

    jump = lr_jump(log)
    if jump["step"] is not None and jump["factor"] >= LR_JUMP:
        h = heldout_rise(log, jump["step"])
        rise = loss_rise_after(log, jump["step"])
        damage = h["sigma"] >= LR_DAMAGE_SIGMA or (rise["ratio"] or 0) >= LR_DAMAGE_RATIO
        scores["lr-discontinuity"] = jump["factor"] / LR_JUMP if damage else 0.0
        ev.append(Evidence(2, words.QUESTIONS["lr"], words.lr_answer(jump, h, damage, crossed=True),
                           dict(**_rounded(jump), heldout_rise_sigma=significant(h["sigma"]),
                                heldout_peak=significant(h["peak"]), heldout_before=significant(h["before"]),
                                loss_ratio_after=significant(rise["ratio"]))))
    else:
        scores["lr-discontinuity"] = 0.0
        ev.append(Evidence(2, words.QUESTIONS["lr"], words.lr_answer(jump, None, False, crossed=False),
                           _rounded(jump)))

    ev.append(Evidence(1, words.QUESTIONS["loss-spike"], words.loss_spike_answer(loss_spike),
                       dict(step=loss_spike,
                            ratio=significant(loss_rise_after(log, loss_spike, 1)["ratio"]) if loss_spike else None)))

    g = grad_spike(log)
    spike = g["ratio"] >= GRAD_SPIKE_ANYWHERE
    share_ok = (g["rare_share"] or 0) >= RARE_SHARE
    scores["long-tail-token"] = g["ratio"] / GRAD_SPIKE_ANYWHERE if share_ok else 0.0
    ev.append(Evidence(3, words.QUESTIONS["grad-spike"], words.grad_spike_answer(g, spike, loss_spike), _rounded(g)))

    md = moment_drop(log)
    scores["optimizer-reset"] = md["v_factor"] / V_DROP if md["v_factor"] >= V_DROP else 0.0
    ev.append(Evidence(5, words.QUESTIONS["moments"], words.moments_answer(md, md["v_factor"] >= V_DROP), _rounded(md)))

    ev.append(Evidence(8, words.QUESTIONS["dtype"], dtype, dict(dtype=dtype)))

    run = same_kind_run(log)
    anchor = run["start"] if run["length"] >= SAME_KIND_RUN else (g["step"] if spike else loss_spike)
    h = heldout_rise(log, anchor)
    damaged = h["sigma"] >= DAMAGE_SIGMA
    ev.append(Evidence(1, words.QUESTIONS["damage"], words.damage_answer(h, damaged, spike and share_ok), _rounded(h)))
    ev.append(Evidence(6, words.QUESTIONS["same-kind"], words.same_kind_answer(run, run["length"] >= SAME_KIND_RUN),
                       dict(run)))
    scores["data-order"] = h["sigma"] / DAMAGE_SIGMA if run["length"] >= SAME_KIND_RUN else 0.0
    return scores, {"loss_spike": loss_spike}


def _decide(log: RunLog, scores: dict[str, float], ev: list[Evidence]) -> Verdict:
    ranked = sorted(((s, p) for p, s in scores.items()), key=lambda sp: (-sp[0], PATTERNS.index(sp[1])))
    top_score, top = ranked[0]
    if top_score >= 1:
        pattern = top
        runner = ranked[1][1] if ranked[1][0] > 0 else "none"
    else:
        pattern = "none"
        runner = top if top_score > 0 else "none"
    passing = [p for s, p in ranked if s >= 1]
    both = [(passing[0], ranked[0][0]), (passing[1], ranked[1][0])] if len(passing) >= 2 else None
    ev.append(Evidence(None, words.QUESTIONS["decision"], words.decision(pattern, runner, both),
                       dict(rule=words.score_rule(),
                            scores={p: significant(s) for p, s in sorted(scores.items())})))
    return Verdict(pattern, runner, ev, scores, log.run_id)


def render(v: Verdict) -> str:
    """The path the check took, one numbered question per line, then the verdict."""
    lines = [words.heading(v.run_id)]
    for i, e in enumerate(v.evidence, 1):
        lines.append(f"{i:2d}. [{words.where_read(e.panel)}] {e.question}\n      → {e.answer}")
    lines.append(words.verdict_line(v.pattern, v.runner_up))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m utils.stability_check", description=__doc__.splitlines()[0])
    ap.add_argument("log", nargs="?", type=Path, help="a saved run log (runs/<run-id>.json)")
    ap.add_argument("--variant", help="train this variant first: " + ", ".join([*VARIANTS, *PATTERN_VARIANTS]))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", action="store_true", help='print {"pattern", "runner_up", "evidence"}')
    args = ap.parse_args(argv)
    if (args.log is None) == (args.variant is None):
        print(words.usage_error(), file=sys.stderr)
        return 2
    try:
        if args.log is not None:
            log = RunLog.load(args.log)
        else:
            log = cached_run(args.variant, seed=args.seed)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    verdict = check(log)
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2, sort_keys=True, ensure_ascii=False))
    else:
        print(render(verdict))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
