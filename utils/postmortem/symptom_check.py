"""§1 against the run log it was read from: each typed symptom within a stated tolerance.

- `compare_symptoms(symptoms, reference)` -> one `SymptomCheck` per symptom the run log has,
  within `DEFAULT_TOLERANCES`; `check_symptoms(...)` -> the same as one `SymptomsReport`;
- `draft_symptoms(reference)` -> symptoms pre-filled from the run log, marked as drafted until
  the learner confirms each field.

`reference` is ``utils.spikelab.symptoms.compute(log)`` of the run log §1 was read from: the one
saved with the post-mortem (`utils.postmortem.files`), not a run of the machine that checks it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from utils.postmortem.model import INTEGER_FIELDS, SYMPTOM_FIELDS, Symptoms, normal_dtype, recovery_word
from utils.postmortem.typed_numbers import comma_error, parse_number, read_with_comma
from utils.text import say


@dataclass(frozen=True)
class Tolerance:
    """How far a typed symptom may be from the run log: kind "abs", "rel" or "exact"."""

    kind: str
    amount: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("abs", "rel", "exact"):
            raise ValueError(f"tolerance kind must be abs, rel or exact, not {self.kind!r}")  # i18n: not shown (a programming error)

    def describe(self) -> str:
        """"±1", "5 %" or "exact"."""
        if self.kind == "abs":
            return f"±{_fmt(self.amount)}"
        if self.kind == "rel":
            return f"{_pct(self.amount)} %"
        return say("exact", "exacta")


def _verdict(ok: bool) -> str:
    """The last words of a check's line: ok or not ok."""
    return say("ok", "correcto") if ok else say("not ok", "no coincide")


# Stated defaults: steps within one step (where a spike "begins" depends on a threshold), the
# batch index exactly, losses within 5 %, the gradient norm within 10 %, the lr within 1 %,
# the dtype exactly, and the unusual tokens as a set with nothing missing or extra.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "spike_step": Tolerance("abs", 1),
    "pre_spike_ema": Tolerance("rel", 0.05),
    "peak_loss": Tolerance("rel", 0.05),
    "recovery_loss": Tolerance("rel", 0.05),
    "grad_norm_preclip": Tolerance("rel", 0.10),
    "lr_at_spike": Tolerance("rel", 0.01),
    "dtype": Tolerance("exact"),
    "batch_index": Tolerance("abs", 0),
    "unusual_tokens": Tolerance("abs", 0),
}


@dataclass(frozen=True)
class SymptomCheck:
    """One typed symptom against the run log: how far off (absolute and relative), and whether ok."""

    field: str
    typed: str
    expected: str
    off_abs: float | None
    off_rel: float | None
    tolerance: Tolerance
    ok: bool
    message: str


def _fmt(x: float | int) -> str:
    if isinstance(x, int):
        return str(x)
    if math.isfinite(x) and x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}"


def _pct(fraction: float) -> str:
    pct = 100 * fraction
    if not math.isfinite(pct):
        return "∞"
    return f"{pct:.0f}" if pct >= 10 else f"{pct:.2g}"


def _ref_number(name: str, value: object) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if name in INTEGER_FIELDS and float(value).is_integer():
            return int(value)
        return value
    if isinstance(value, str):
        return parse_number(value, integer=name in INTEGER_FIELDS, allow_nonfinite=True)
    return None


def _ref_recovery(value: object) -> str | float | None:
    """The run log's recovery loss as a number or a canonical word."""
    if value is None:
        return "did not recover"  # i18n: not shown (the template's word, compared as typed)
    if isinstance(value, str):
        word = recovery_word(value)
        if word or parse_number(value, allow_nonfinite=True) is None:
            return word or value.strip()
    number = _ref_number("recovery_loss", value)
    if isinstance(number, float) and math.isnan(number):
        return "NaN"
    return number


def _same_nonfinite(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _compare_number(name: str, typed_text: str, expected: float | int, tol: Tolerance,
                    peak_step: int | None) -> SymptomCheck:
    exp_text = _fmt(expected)
    integer = name in INTEGER_FIELDS
    typed_number = parse_number(typed_text, integer=integer, allow_nonfinite=True)
    if typed_number is None:
        kind = say("a whole number", "un número entero") if integer else say("a number", "un número")
        what = say("empty", "vacío") if not typed_text.strip() else (
            comma_error(typed_text, integer=integer)
            or say(f"you typed {typed_text.strip()!r}, which is not {kind}",
                   f"escribiste {typed_text.strip()!r}, que no es {kind}"))
        msg = say(f"{name}: {what}; the run log says {exp_text} (tolerance {tol.describe()}) — not ok",
                  f"{name}: {what}; el registro dice {exp_text} (tolerancia {tol.describe()}) — no coincide")
        return SymptomCheck(name, typed_text, exp_text, None, None, tol, False, msg)
    # a decimal comma is shown as read, so that a thousands separator read as a decimal is seen
    read_as = say(f" (read as {typed_number:g})", f" (leído como {typed_number:g})") if read_with_comma(typed_text) else ""
    head = say(f"{name}: you typed {typed_text.strip()}{read_as}, the run log says {exp_text}",
               f"{name}: escribiste {typed_text.strip()}{read_as}, el registro dice {exp_text}")
    if not (math.isfinite(typed_number) and math.isfinite(expected)):
        ok = _same_nonfinite(float(typed_number), float(expected))
        msg = say(f"{head} (tolerance {tol.describe()}) — {_verdict(ok)}",
                  f"{head} (tolerancia {tol.describe()}) — {_verdict(ok)}")
        return SymptomCheck(name, typed_text, exp_text, None, None, tol, ok, msg)
    off = abs(typed_number - expected)
    rel = off / abs(expected) if expected != 0 else (0.0 if off == 0 else math.inf)
    limit = off if tol.kind == "abs" else rel
    ok = limit <= tol.amount * (1 + 1e-9) + 1e-12
    off_text = _fmt(off) if isinstance(off, int) else f"{off:.3g}"
    msg = say(f"{head} (off by {off_text}, {_pct(rel)} %; tolerance {tol.describe()}) — {_verdict(ok)}",
              f"{head} (diferencia {off_text}, {_pct(rel)} %; tolerancia {tol.describe()}) — {_verdict(ok)}")
    if not ok and name == "spike_step" and peak_step is not None and typed_number == peak_step:
        msg += say(f" — {peak_step} is the step of the peak; the spike began earlier",
                   f" — {peak_step} es el paso del máximo; el pico empezó antes")
    return SymptomCheck(name, typed_text, exp_text, off, rel, tol, ok, msg)


def _merge_tolerances(tolerances: dict | None) -> dict[str, Tolerance]:
    merged = dict(DEFAULT_TOLERANCES)
    for name, tol in (tolerances or {}).items():
        if name not in merged:
            raise ValueError(f"no symptom field {name!r}; fields are {', '.join(SYMPTOM_FIELDS)}")  # i18n: not shown (a programming error)
        merged[name] = tol if isinstance(tol, Tolerance) else Tolerance(merged[name].kind, float(tol))
    return merged


def compare_symptoms(pm_symptoms: Symptoms, reference: Mapping, tolerances: dict | None = None) -> list[SymptomCheck]:
    """Check each typed symptom against the run log's value, within `DEFAULT_TOLERANCES`.

    `reference` holds the run log's symptoms (keys spike_step, pre_spike_ema, peak_loss,
    peak_step, recovery_loss, grad_norm_preclip, lr_at_spike, dtype, batch_index,
    unusual_tokens), as `utils.spikelab.symptoms.compute` returns them; only fields present in it and
    not None are checked (a run log without a spike has spike_step None). `tolerances` overrides defaults,
    per field, with a `Tolerance` or a bare amount (keeping the default's kind).
    Each message reads like "peak_loss: you typed 2.1, the run log says 3.15
    (off by 1.05, 33 %; tolerance 5 %) — not ok"; the run log's numbers are written as the form
    drafts them (4 significant digits). The tolerances are for numbers read off the panels by
    eye; they assume §1 and `reference` come from the same run log (another machine's run of the
    same variant and seed gives other numbers).
    """
    tols = _merge_tolerances(tolerances)
    peak_step = _ref_number("spike_step", reference.get("peak_step"))
    checks = []
    for name in SYMPTOM_FIELDS:
        if name not in reference or (reference[name] is None and name != "recovery_loss"):
            continue
        tol, value = tols[name], reference[name]
        if name == "unusual_tokens":
            checks.append(_compare_tokens(pm_symptoms.unusual_tokens, [str(t) for t in value], tol))
        elif name == "dtype":
            typed, expected = pm_symptoms.dtype.strip(), normal_dtype(str(value))
            ok = normal_dtype(typed) == expected
            nothing = say("(nothing)", "(nada)")
            msg = say(f"dtype: you typed {typed or nothing}, the run log says {expected} "
                      f"(tolerance exact) — {_verdict(ok)}",
                      f"dtype: escribiste {typed or nothing}, el registro dice {expected} "
                      f"(tolerancia exacta) — {_verdict(ok)}")
            checks.append(SymptomCheck(name, pm_symptoms.dtype, expected, None, None, tol, ok, msg))
        elif name == "recovery_loss":
            checks.append(_compare_recovery(pm_symptoms.recovery_loss, _ref_recovery(value), tol))
        else:
            expected = _ref_number(name, value)
            if expected is None:
                raise ValueError(say(f"run log value for {name} is not a number: {value!r}",
                                     f"el valor de {name} en el registro no es un número: {value!r}"))
            checks.append(_compare_number(name, getattr(pm_symptoms, name), expected, tol, peak_step))
    return checks


def _compare_recovery(typed: str, expected: str | float | None, tol: Tolerance) -> SymptomCheck:
    name = "recovery_loss"
    typed_word = recovery_word(typed)
    if isinstance(expected, str) or typed_word:
        exp_text = expected if isinstance(expected, str) else _fmt(expected)
        typed_canon = typed_word or typed.strip()
        ok = typed_word is not None and typed_word == expected
        if not ok and isinstance(expected, str) and expected == "NaN":
            number = parse_number(typed, allow_nonfinite=True)
            ok = isinstance(number, float) and math.isnan(number)
        nothing = say("(nothing)", "(nada)")
        msg = say(f"{name}: you typed {typed_canon or nothing}, the run log says {exp_text} "
                  f"(tolerance exact for words) — {_verdict(ok)}",
                  f"{name}: escribiste {typed_canon or nothing}, el registro dice {exp_text} "
                  f"(tolerancia exacta para palabras) — {_verdict(ok)}")
        return SymptomCheck(name, typed, exp_text, None, None, tol, ok, msg)
    return _compare_number(name, typed, expected, tol, None)


def _compare_tokens(typed: list[str], expected: list[str], tol: Tolerance) -> SymptomCheck:
    missing = [t for t in expected if t not in typed]
    extra = [t for t in typed if t not in expected]
    off = len(set(missing)) + len(set(extra))
    rel = off / len(set(expected)) if expected else (0.0 if off == 0 else math.inf)
    ok = off <= tol.amount
    details = []
    if missing:
        details.append(say("missing ", "faltan ") + ", ".join(repr(t) for t in missing))
    if extra:
        details.append(say("not in the log ", "no están en el registro ") + ", ".join(repr(t) for t in extra))
    detail = "; ".join(details) + "; " if details else ""
    msg = say(f"unusual_tokens: you typed {len(typed)} token(s), the run log lists {len(expected)} "
              f"({detail}off by {off}; tolerance {tol.describe()}) — {_verdict(ok)}",
              f"unusual_tokens: escribiste {len(typed)} token(s), el registro lista {len(expected)} "
              f"({detail}diferencia {off}; tolerancia {tol.describe()}) — {_verdict(ok)}")
    return SymptomCheck("unusual_tokens", json.dumps(typed, ensure_ascii=False),
                        json.dumps(expected, ensure_ascii=False), float(off), rel, tol, ok, msg)


@dataclass(frozen=True)
class SymptomsReport:
    """§1 against a run log: one `SymptomCheck` per symptom the run log has."""

    checks: list[SymptomCheck]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def wrong(self) -> list[str]:
        return [c.message for c in self.checks if not c.ok]

    def summary(self) -> str:
        """One line: what is wrong, or that §1 matches."""
        if self.wrong:
            return "; ".join(self.wrong)
        return say(f"{len(self.checks)} symptoms within tolerance",
                   f"{len(self.checks)} síntomas dentro de la tolerancia")


def check_symptoms(pm_symptoms: Symptoms, reference: Mapping, tolerances: dict | None = None) -> SymptomsReport:
    """`compare_symptoms` as one report (`.ok`, `.wrong`, `.summary()`).

    `reference` is `utils.spikelab.symptoms.compute(log)` of the run log §1 was read from: the one saved
    with the post-mortem (``utils.postmortem.files``), not a run of the machine that checks it.
    """
    return SymptomsReport(compare_symptoms(pm_symptoms, reference, tolerances))


def draft_symptoms(reference: Mapping) -> Symptoms:
    """Symptoms filled from the run log, each filled field marked drafted (and not confirmed).

    Numbers are written with 4 significant digits, as a learner would read them off a panel.
    """
    s = Symptoms()
    for name in SYMPTOM_FIELDS:
        if name not in reference or (reference[name] is None and name != "recovery_loss"):
            continue
        value = reference[name]
        if name == "unusual_tokens":
            s.unusual_tokens = [str(t) for t in value]
        elif name == "dtype":
            s.dtype = normal_dtype(str(value))
        elif name == "recovery_loss" and isinstance(_ref_recovery(value), str):
            s.recovery_loss = _ref_recovery(value)
        else:
            number = _ref_number(name, value)
            if number is None:
                raise ValueError(say(f"run log value for {name} is not a number: {value!r}",
                                     f"el valor de {name} en el registro no es un número: {value!r}"))
            text = str(number) if isinstance(number, int) else f"{number:.4g}"
            setattr(s, name, text)
        s.drafted.add(name)
    return s
