"""Check a post-mortem's §6 expectations against a rerun: one pass/fail row per expectation.

    rows = check_expectations(["heldout_rise_sigma < 3", "grad_norm_ratio < 15"], log)
    print(format_table(rows))
    rows = check_verification(pm.verification, log)   # §6 as written: seed, ε, step T, expectations
    print(format_matrix({"clip-0.5": rows_a, "control-mixed-shard": rows_b}))   # one line per run
    print(format_comparison({"broken": symptoms_a, "clip-0.5": symptoms_b}))     # the event metrics

A metric is a key of ``utils.spikelab.symptoms.compute`` (``heldout_rise_sigma``, ``grad_norm_ratio``,
``loss_ratio``, ``post_event_ratio``, ``peak_loss``, ...): the rerun's numbers are computed the
same way as the post-mortem's §1, never typed. An expectation is a
``utils.postmortem.model.Expectation``, a tuple ``(metric, comparator, value)`` or a string
``"metric < value"``; comparators are ``<``, ``<=``, ``>``, ``>=``.

The tolerance ε is the rerun noise §6 allows: a metric that misses its bound by no more than ε
still passes, and its row says so ("within ε"). The step T: the metrics are computed on the run
log's first T steps, so a rerun that stopped before T fails every row.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Iterable

from utils.postmortem.model import COMPARATORS, Expectation, Verification
from utils.postmortem.typed_numbers import parse_number
from utils.spikelab.runlog import RunLog
from utils.spikelab import symptoms
from utils.spikelab.thresholds import GRAD_SPIKE_RATIO, damage_verdict

# A string expectation is "metric comparator value"; the two-character comparators come first.
_SPLIT_ORDER = ("<=", ">=", "<", ">")


@dataclass(frozen=True)
class ExpectationRow:
    """One expectation against the rerun: what was asked, what the run gave, and whether it passes."""

    metric: str
    comparator: str
    value: str               # the bound as written in §6
    actual: float | None     # the rerun's value (None when it could not be read)
    ok: bool
    note: str                # "", "within ε (missed by 0.02)", or why the row failed

    @property
    def expectation(self) -> str:
        return f"{self.metric} {self.comparator} {self.value}"


def as_expectation(item: Expectation | tuple | str) -> Expectation:
    """An `Expectation` from an Expectation, a (metric, comparator, value) tuple or "metric < value"."""
    if isinstance(item, Expectation):
        return item
    if isinstance(item, str):
        for comp in _SPLIT_ORDER:
            if comp in item:
                metric, _, value = item.partition(comp)
                return Expectation(metric.strip(), comp, value.strip())
        raise ValueError(f"{item!r} has no comparator; write it like 'heldout_rise_sigma < 3'")
    metric, comparator, value = item
    return Expectation(str(metric), str(comparator), value)


def symptoms_of(log_or_symptoms: RunLog | Mapping, step: int | None = None) -> Mapping:
    """The rerun's metrics: ``utils.spikelab.symptoms.compute`` on the log's first ``step`` steps (all when None).

    A Mapping is taken as already computed symptoms (``step`` must then be None).
    """

    if isinstance(log_or_symptoms, Mapping):
        if step is not None:
            raise ValueError("a step T needs the run log, not its symptoms")
        return log_or_symptoms
    log = log_or_symptoms
    if step is not None and len(log) > step:
        log = copy.deepcopy(log)
        log.truncate(step)
    return symptoms.compute(log)


def _compare(actual: float, comparator: str, bound: float) -> bool:
    return {"<": actual < bound, "<=": actual <= bound, ">": actual > bound, ">=": actual >= bound}[comparator]


def check_one(expectation: Expectation, symptoms: Mapping, tolerance: float = 0.0) -> ExpectationRow:
    """One expectation against computed symptoms (see `check_expectations`)."""
    e = as_expectation(expectation)
    metric, comp, text = e.metric.strip(), e.comparator.strip(), e.value.strip()

    def fail(note: str, actual: float | None = None) -> ExpectationRow:
        return ExpectationRow(metric, comp, text, actual, False, note)

    if comp not in COMPARATORS:
        return fail(f"comparator {comp!r} is not one of {' '.join(COMPARATORS)}")
    bound = parse_number(text)
    if bound is None:
        return fail(f"the value {text!r} is not a number")
    if metric not in symptoms:
        known = ", ".join(k for k in sorted(symptoms) if _number(symptoms[k]) is not None)
        return fail(f"no metric {metric!r}; the run log's numbers are: {known}")
    actual = _number(symptoms[metric])
    if actual is None:
        return fail(f"the run gives {symptoms[metric]!r}, not a number")
    if not math.isfinite(actual):
        return fail(f"the run gives {actual}", actual)
    if _compare(actual, comp, bound):
        return ExpectationRow(metric, comp, text, actual, True, "")
    missed = abs(actual - bound)
    if missed <= tolerance:
        return ExpectationRow(metric, comp, text, actual, True, f"within ε (missed by {missed:.3g})")
    return fail(f"misses by {missed:.3g}", actual)


def _number(value) -> float | None:
    """A symptom as a float (True/False count as 1/0); None for words, lists and missing values."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def check_expectations(expectations: Iterable[Expectation | tuple | str], log_or_symptoms: RunLog | Mapping,
                       tolerance: float = 0.0, step: int | None = None) -> list[ExpectationRow]:
    """Each expectation against a rerun (its run log, or the symptoms ``utils.spikelab.symptoms.compute`` returned).

    A row fails when the metric misses its bound by more than ``tolerance`` (ε), when the
    metric is not a number the run log gives (a typo, a spike step of a run without a spike),
    or when the bound is not a number. With ``step`` (T), the metrics are computed on the
    first T steps of the log, and a log shorter than T fails every row.
    """
    items = [as_expectation(e) for e in expectations]
    if step is not None and not isinstance(log_or_symptoms, Mapping) and len(log_or_symptoms) < step:
        n = len(log_or_symptoms)
        return [ExpectationRow(e.metric.strip(), e.comparator.strip(), e.value.strip(), None, False,
                               f"the run stopped at {n} steps, before step T = {step}") for e in items]
    symptoms = symptoms_of(log_or_symptoms, step)
    return [check_one(e, symptoms, tolerance) for e in items]


def check_verification(verification: Verification, log: RunLog) -> list[ExpectationRow]:
    """§6 as written against a rerun's log: a seed row first, then one row per expectation.

    The seed row fails when the rerun used another seed than §6 names. ε and T are read from
    §6; when they are not numbers the rows fail and say so.
    """
    seed = parse_number(verification.seed, integer=True)
    tol = parse_number(verification.tolerance)
    step = parse_number(verification.step, integer=True)
    run_seed = log.meta.get("seed")
    seed_ok = seed is not None and run_seed == seed
    rows = [ExpectationRow("seed", "=", verification.seed.strip(), _number(run_seed), seed_ok,
                           "" if seed_ok else f"the rerun used seed {run_seed}")]
    problems = []
    if tol is None or tol < 0:
        problems.append(f"ε {verification.tolerance.strip()!r} is not a number ≥ 0")
    if step is None or step <= 0:
        problems.append(f"step T {verification.step.strip()!r} is not a whole number > 0")
    if problems:
        return rows + [ExpectationRow(e.metric, e.comparator, e.value, None, False, "; ".join(problems))
                       for e in map(as_expectation, verification.expectations)]
    return rows + check_expectations(verification.expectations, log, tolerance=tol, step=step)


def all_passed(rows: list[ExpectationRow]) -> bool:
    """True when there is at least one row and every row passes."""
    return bool(rows) and all(r.ok for r in rows)


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.4g}"


def format_table(rows: list[ExpectationRow], title: str | None = None) -> str:
    """The rows as an aligned text table: expectation, the run's value, pass/FAIL, note."""
    head = ("expectation", "run gives", "result", "note")
    body = [(r.expectation, _fmt(r.actual), "pass" if r.ok else "FAIL", r.note) for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    lines = [title] if title else []
    for cells in [head, *body]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip())
    passed = sum(r.ok for r in rows)
    lines.append(f"{passed} of {len(rows)} pass" + (" — verified" if all_passed(rows) else ""))
    return "\n".join(lines)


def format_matrix(checks: dict[str, list[ExpectationRow]]) -> str:
    """Several runs checked against the same expectations: one line per run, one column per
    expectation (the run's value and ✓ or ✗), then how many pass."""
    if not checks:
        return ""
    columns = [r.expectation for r in next(iter(checks.values()))]
    cells = {name: [f"{_fmt(r.actual)} {'✓' if r.ok else '✗'}" for r in rows] for name, rows in checks.items()}
    widths = [max([len(c)] + [len(v[i]) for v in cells.values() if i < len(v)]) for i, c in enumerate(columns)]
    first = max(len("run"), *(len(n) for n in checks))
    lines = ["  ".join(["run".ljust(first)] + [c.rjust(w) for c, w in zip(columns, widths)] + ["passed"])]
    for name, rows in checks.items():
        verdict = f"{sum(r.ok for r in rows)} of {len(rows)}" + (" — verified" if all_passed(rows) else "")
        lines.append("  ".join([name.ljust(first)] + [v.rjust(w) for v, w in zip(cells[name], widths)] + [verdict]))
    return "\n".join(lines)


def format_comparison(results: dict[str, Mapping]) -> str:
    """The event metrics of several runs (as ``utils.spikelab.symptoms.compute`` returns them), one line per run, with
    the course's two verdicts: a gradient spike (grad ratio ≥ ``utils.spikelab.thresholds.GRAD_SPIKE_RATIO``)
    and held-out damage (``utils.spikelab.thresholds.damage_verdict``: yes from ``DAMAGE_SIGMA`` σ of its
    noise, no below ``NOISE_SIGMA`` σ, small in between)."""

    first = max(len("variant"), *(len(n) for n in results))
    lines = [f"{'variant':{first}}  {'loss÷EMA':>8}  {'grad ratio':>10}  {'held-out rise':>13}  "
             f"{'post-event':>10}  gradient spike  damage"]
    for name, r in results.items():
        spike = "yes" if r["grad_norm_ratio"] >= GRAD_SPIKE_RATIO else "no"
        damage = damage_verdict(r["heldout_rise_sigma"])
        lines.append(f"{name:{first}}  {r['loss_ratio']:8.2f}  {r['grad_norm_ratio']:9.1f}×  "
                     f"{r['heldout_rise_sigma']:11.1f} σ  {r['post_event_ratio']:10.2f}  {spike:14}  {damage}")
    return "\n".join(lines)
