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
from utils.text import say

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
        raise ValueError(say(f"{item!r} has no comparator; write it like 'heldout_rise_sigma < 3'",
                             f"{item!r} no tiene comparador; escríbelo así: 'heldout_rise_sigma < 3'"))
    metric, comparator, value = item
    return Expectation(str(metric), str(comparator), value)


def symptoms_of(log_or_symptoms: RunLog | Mapping, step: int | None = None) -> Mapping:
    """The rerun's metrics: ``utils.spikelab.symptoms.compute`` on the log's first ``step`` steps (all when None).

    A Mapping is taken as already computed symptoms (``step`` must then be None).
    """

    if isinstance(log_or_symptoms, Mapping):
        if step is not None:
            raise ValueError("a step T needs the run log, not its symptoms")  # i18n: not shown (a caller's mistake)
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
        return fail(say(f"comparator {comp!r} is not one of {' '.join(COMPARATORS)}",
                        f"el comparador {comp!r} no es ninguno de {' '.join(COMPARATORS)}"))
    bound = parse_number(text)
    if bound is None:
        return fail(say(f"the value {text!r} is not a number", f"el valor {text!r} no es un número"))
    if metric not in symptoms:
        known = ", ".join(k for k in sorted(symptoms) if _number(symptoms[k]) is not None)
        return fail(say(f"no metric {metric!r}; the run log's numbers are: {known}",
                        f"no hay ninguna métrica {metric!r}; los números del registro de la ejecución son: {known}"))
    actual = _number(symptoms[metric])
    if actual is None:
        return fail(say(f"the run gives {symptoms[metric]!r}, not a number",
                        f"la ejecución da {symptoms[metric]!r}, que no es un número"))
    if not math.isfinite(actual):
        return fail(say(f"the run gives {actual}", f"la ejecución da {actual}"), actual)
    if _compare(actual, comp, bound):
        return ExpectationRow(metric, comp, text, actual, True, "")
    missed = abs(actual - bound)
    if missed <= tolerance:
        return ExpectationRow(metric, comp, text, actual, True, say(f"within ε (missed by {missed:.3g})",
                                                                    f"dentro de ε (a {missed:.3g} del límite)"))
    return fail(say(f"misses by {missed:.3g}", f"no se cumple por {missed:.3g}"), actual)


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
                               say(f"the run stopped at {n} steps, before step T = {step}",
                                   f"la ejecución se detuvo en {n} pasos, antes del paso T = {step}")) for e in items]
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
                           "" if seed_ok else say(f"the rerun used seed {run_seed}",
                                                  f"la nueva ejecución usó la semilla {run_seed}"))]
    problems = []
    if tol is None or tol < 0:
        problems.append(say(f"ε {verification.tolerance.strip()!r} is not a number ≥ 0",
                            f"ε {verification.tolerance.strip()!r} no es un número ≥ 0"))
    if step is None or step <= 0:
        problems.append(say(f"step T {verification.step.strip()!r} is not a whole number > 0",
                            f"el paso T {verification.step.strip()!r} no es un número entero > 0"))
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


def _verified(rows: list[ExpectationRow]) -> str:
    """" — verified" after the count when every row passes, else nothing."""
    return say(" — verified", " — verificado") if all_passed(rows) else ""


def format_table(rows: list[ExpectationRow], title: str | None = None) -> str:
    """The rows as an aligned text table: expectation, the run's value, pass/FAIL, note."""
    head = (say("expectation", "expectativa"), say("run gives", "la ejecución da"), say("result", "resultado"),
            say("note", "nota"))
    body = [(r.expectation, _fmt(r.actual), say("pass", "correcto") if r.ok else say("FAIL", "FALLO"), r.note)
            for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    lines = [title] if title else []
    for cells in [head, *body]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip())
    passed = sum(r.ok for r in rows)
    lines.append(say(f"{passed} of {len(rows)} pass", f"{passed} de {len(rows)} correctas") + _verified(rows))
    return "\n".join(lines)


def format_matrix(checks: dict[str, list[ExpectationRow]]) -> str:
    """Several runs checked against the same expectations: one line per run, one column per
    expectation (the run's value and ✓ or ✗), then how many pass."""
    if not checks:
        return ""
    columns = [r.expectation for r in next(iter(checks.values()))]
    cells = {name: [f"{_fmt(r.actual)} {'✓' if r.ok else '✗'}" for r in rows] for name, rows in checks.items()}
    widths = [max([len(c)] + [len(v[i]) for v in cells.values() if i < len(v)]) for i, c in enumerate(columns)]
    run = say("run", "ejecución")
    first = max(len(run), *(len(n) for n in checks))
    lines = ["  ".join([run.ljust(first)] + [c.rjust(w) for c, w in zip(columns, widths)]
                       + [say("passed", "correctas")])]
    for name, rows in checks.items():
        verdict = say(f"{sum(r.ok for r in rows)} of {len(rows)}", f"{sum(r.ok for r in rows)} de {len(rows)}") \
            + _verified(rows)
        lines.append("  ".join([name.ljust(first)] + [v.rjust(w) for v, w in zip(cells[name], widths)] + [verdict]))
    return "\n".join(lines)


def format_comparison(results: dict[str, Mapping]) -> str:
    """The event metrics of several runs (as ``utils.spikelab.symptoms.compute`` returns them), one line per run, with
    the course's two verdicts: a gradient spike (grad ratio ≥ ``utils.spikelab.thresholds.GRAD_SPIKE_RATIO``)
    and held-out damage (``utils.spikelab.thresholds.damage_verdict``: yes from ``DAMAGE_SIGMA`` σ of its
    noise, no below ``NOISE_SIGMA`` σ, small in between)."""

    variant = say("variant", "variante")
    # the column headings, and the narrowest each column is (its English heading's width)
    heads = [(say("loss÷EMA", "pérdida÷EMA"), 8), (say("grad ratio", "ratio grad-norm"), 10),
             (say("held-out rise", "subida en validación"), 13), (say("post-event", "post-evento"), 10),
             (say("gradient spike", "pico de gradiente"), 14)]
    widths = [max(len(head), least) for head, least in heads]
    first = max(len(variant), *(len(n) for n in results))
    lines = ["  ".join([f"{variant:{first}}"] + [h.rjust(w) for (h, _), w in zip(heads[:4], widths)]
                       + [heads[4][0].ljust(widths[4]), say("damage", "daño")])]
    for name, r in results.items():
        spike = _yes_no(r["grad_norm_ratio"] >= GRAD_SPIKE_RATIO)
        damage = _damage(damage_verdict(r["heldout_rise_sigma"]))
        values = [f"{r['loss_ratio']:.2f}", f"{r['grad_norm_ratio']:.1f}×", f"{r['heldout_rise_sigma']:.1f} σ",
                  f"{r['post_event_ratio']:.2f}"]
        lines.append("  ".join([f"{name:{first}}"] + [v.rjust(w) for v, w in zip(values, widths)]
                               + [spike.ljust(widths[4]), damage]))
    return "\n".join(lines)


def _yes_no(yes: bool) -> str:
    return say("yes", "sí") if yes else "no"       # "no" is the same word in both languages


def _damage(verdict: str) -> str:
    """``utils.spikelab.thresholds.damage_verdict``'s word ("yes", "no", "small", "?") as the table says it."""
    return {"yes": _yes_no(True), "no": _yes_no(False), "small": say("small", "pequeño")}.get(verdict, verdict)
