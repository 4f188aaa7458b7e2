"""The loss-spike post-mortem of phase 19: seven sections, a validator, and a markdown file.

A post-mortem has seven sections, always in this order:

1. Symptoms                -- numbers only, read off the dashboard (or drafted from the run log)
2. Hypotheses (ranked)     -- at least three, ranked 1..n, each citing dashboard panels 1-8
3. Discriminating evidence -- which panel favours which hypothesis and rules out which others
4. Root cause              -- exactly one sentence
5. Remediation             -- the smallest change
6. Verification            -- seed, tolerance, step and numeric expectations that prove the fix
7. Lesson                  -- exactly one line

This module is pure logic (no widgets; `utils.postmortem.forms` is the thin ipywidgets layer):

- the dataclasses `Symptoms`, `Hypothesis`, `Evidence`, `Expectation`, `Verification`,
  `PostMortem`;
- `validate(pm)` -> list of `Problem` (an empty section is itself named as a problem);
- `compare_symptoms(...)` -> the learner's typed symptoms against the run log, within stated
  tolerances (`DEFAULT_TOLERANCES`); `check_symptoms(...)` -> the same as one report;
- `draft_symptoms(reference)` -> symptoms pre-filled from the run log, marked as drafted until
  the learner confirms each field;
- `render_markdown(pm)` / `parse_markdown(text)` -> an exact round trip;
- `save(pm, run_log=log)` / `load_saved(run_id)` / `save_with_lesson(pm, run_log=log)` -> through
  `utils.course.notes`, into `learners/<name>/phase-19/notes/postmortems/<run-id>.md`, with the run log
  §1 was read from beside the notes (`save_run_log`, `load_saved_run_log`:
  `phase-19/notes/run-logs/<run-id>.json.gz`).

§1 always goes with its own run log. The runs are chaotic in the last bits of floating-point
arithmetic: another machine (another CPU, another PyTorch build) gives the same spike with other
numbers. So a post-mortem's §1 is checked against the run log saved with it, on any machine,
never against a run of whoever checks it.

What the learner typed into a numeric field is kept as typed (a string), so that the validator,
not the form, is the one place that refuses prose such as "about 3". Numbers are read by
`utils.postmortem.typed_numbers` (`parse_number`, re-exported here), which takes the decimal comma ("2,31")
and says when a comma is what stops a number. With the run it is about (`validate(pm, run_log=log)`),
§6 is also checked against that run (`utils.postmortem.run`: its metric names and its length).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from utils.postmortem import run as postmortem_run
from utils.spikelab.runlog import RunLog
from utils.postmortem.typed_numbers import comma_error, number_error, parse_number, read_with_comma

PHASE = 19
POSTMORTEM_FOLDER = "postmortems"
# The run log a post-mortem's §1 was read from is saved beside the notes, in this folder:
# <run-id>.json, or <run-id>.json.gz when its JSON is over RUN_LOG_GZIP_ABOVE bytes (the course's
# 420-step runs log about 800 KB of JSON, about 300 KB compressed).
RUN_LOG_FOLDER = "run-logs"
RUN_LOG_GZIP_ABOVE = 300_000
# What a saved run log leaves out of the run's meta: the time it took, which differs every time
# the same run is trained (so saving the same run again would otherwise keep a new version).
RUN_LOG_UNSAVED_META = ("wall_seconds",)

SECTION_TITLES: dict[int, str] = {
    1: "Symptoms",
    2: "Hypotheses",
    3: "Discriminating evidence",
    4: "Root cause",
    5: "Remediation",
    6: "Verification",
    7: "Lesson",
}

SECTION_HEADINGS: dict[int, str] = {
    1: "## 1. Symptoms",
    2: "## 2. Hypotheses (ranked)",
    3: "## 3. Discriminating evidence",
    4: "## 4. Root cause",
    5: "## 5. Remediation",
    6: "## 6. Verification",
    7: "## 7. Lesson",
}

# Why each section exists, in one phrase. The validator uses it to name an empty section
# ("§3 Discriminating evidence is empty: without it the root cause is a guess"); the notebook
# reuses it when it introduces each section.
SECTION_WHY: dict[int, str] = {
    1: "without numbers nobody can tell whether the next spike is the same one",
    2: "without rivals the first idea wins by default",
    3: "without it the root cause is a guess",
    4: "without it the remediation treats a symptom, not the cause",
    5: "without it the post-mortem changes nothing",
    6: "without it nobody can tell whether the fix worked",
    7: "without it the next run repeats this one",
}

# The eight panels of the phase-19 dashboard.
PANELS: dict[int, str] = {
    1: "loss + EMA",
    2: "learning rate",
    3: "grad norm before clipping",
    4: "activations",
    5: "Adam moments",
    6: "batch composition",
    7: "per-token loss histogram",
    8: "parameter hash / non-finite count",
}

SYMPTOM_FIELDS: tuple[str, ...] = (
    "spike_step",
    "pre_spike_ema",
    "peak_loss",
    "recovery_loss",
    "grad_norm_preclip",
    "lr_at_spike",
    "dtype",
    "batch_index",
    "unusual_tokens",
)
INTEGER_FIELDS = ("spike_step", "batch_index")
FLOAT_FIELDS = ("pre_spike_ema", "peak_loss", "recovery_loss", "grad_norm_preclip", "lr_at_spike")
# A diverged run can log NaN or inf for losses and the gradient norm.
NONFINITE_OK_FIELDS = ("pre_spike_ema", "peak_loss", "recovery_loss", "grad_norm_preclip")

SYMPTOM_HINTS: dict[str, str] = {
    "spike_step": "the step where the spike began (a whole number)",
    "pre_spike_ema": "the 50-step EMA of the loss just before the spike (a number)",
    "peak_loss": "the highest loss of the spike (a number)",
    "recovery_loss": "the mean loss 50-59 steps after the peak (a number, 'did not recover' or 'NaN')",
    "grad_norm_preclip": "the gradient norm before clipping at the spike (a number)",
    "lr_at_spike": "the learning rate at the spike step (a number; 3e-4 style is fine)",
    "dtype": "the training dtype (float32, float16 or bfloat16)",
    "batch_index": "the index of the batch at the spike step (a whole number)",
    "unusual_tokens": "the unusual tokens of that batch (panel 7)",
}

DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")
# Words allowed instead of a number in recovery_loss ("run too short" is what
# utils.spikelab.symptoms writes when the run ends before peak + 60).
RECOVERY_WORDS: tuple[str, ...] = ("did not recover", "NaN", "run too short")
COMPARATORS: tuple[str, ...] = ("<", "<=", ">", ">=")
MIN_HYPOTHESES = 3
REMEDIATION_MAX_WORDS = 40

# Abbreviations whose final period does not end a sentence (compared in lower case, without
# the final period).
ABBREVIATIONS = frozenset(
    {"e.g", "i.e", "vs", "etc", "cf", "approx", "fig", "eq", "al", "resp", "w.r.t", "ca", "incl", "esp"}
)

# A run id names a file: letters, digits, '.', '_', '-', not ending like a kept version (.v2).
_RUN_ID_RE = re.compile(r"(?![\s\S]*\.v\d+$)[A-Za-z0-9][A-Za-z0-9._-]*")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --------------------------------------------------------------------------- dataclasses


def _as_text(value: object) -> str:
    """A typed value as text: None -> "", numbers -> their shortest exact spelling."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise TypeError(f"expected text or a number, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass
class Symptoms:
    """§1: what the learner read off the dashboard, kept as typed (numbers are checked later).

    `drafted` names the fields that `draft_symptoms` filled from the run log; `confirmed` names
    the fields the learner ticked as checked. A drafted field that is not confirmed is reported
    by `validate`. Numbers passed in are stored as text (312 -> "312").
    """

    spike_step: str = ""
    pre_spike_ema: str = ""
    peak_loss: str = ""
    recovery_loss: str = ""
    grad_norm_preclip: str = ""
    lr_at_spike: str = ""
    dtype: str = ""
    batch_index: str = ""
    unusual_tokens: list[str] = field(default_factory=list)
    drafted: set[str] = field(default_factory=set)
    confirmed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for name in SYMPTOM_FIELDS[:-1]:
            setattr(self, name, _as_text(getattr(self, name)))
        self.unusual_tokens = [str(t) for t in self.unusual_tokens]
        self.drafted = set(self.drafted)
        self.confirmed = set(self.confirmed)
        unknown = (self.drafted | self.confirmed) - set(SYMPTOM_FIELDS)
        if unknown:
            raise ValueError(f"not symptom fields: {sorted(unknown)}")

    def is_empty(self) -> bool:
        """True when no field holds anything."""
        return not self.unusual_tokens and all(not getattr(self, n).strip() for n in SYMPTOM_FIELDS[:-1])


@dataclass
class Hypothesis:
    """§2: one candidate cause, its rank (1 = most likely) and the panels that support it."""

    rank: int | None
    text: str
    panels: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.panels = [int(p) for p in self.panels]


@dataclass
class Evidence:
    """§3: one observation on one panel, the hypothesis rank it favours and the ranks it rules out."""

    panel: int | None
    observation: str
    favours: int | None = None
    rules_out: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rules_out = [int(r) for r in self.rules_out]


@dataclass
class Expectation:
    """§6: one numeric expectation, e.g. ("max loss after step 300", "<", "2.6"); value kept as typed."""

    metric: str
    comparator: str
    value: str

    def __post_init__(self) -> None:
        self.value = _as_text(self.value)


@dataclass
class Verification:
    """§6: rerun with this seed to step T; the expectations must hold within tolerance ε."""

    seed: str = ""
    tolerance: str = ""
    step: str = ""
    expectations: list[Expectation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.seed = _as_text(self.seed)
        self.tolerance = _as_text(self.tolerance)
        self.step = _as_text(self.step)
        self.expectations = list(self.expectations)

    def is_empty(self) -> bool:
        """True when no field holds anything."""
        return not self.expectations and not (self.seed.strip() or self.tolerance.strip() or self.step.strip())


@dataclass
class PostMortem:
    """A whole loss-spike post-mortem: a header (run id, date) and the seven sections."""

    run_id: str
    date: str
    symptoms: Symptoms = field(default_factory=Symptoms)
    hypotheses: list[Hypothesis] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    root_cause: str = ""
    remediation: str = ""
    verification: Verification = field(default_factory=Verification)
    lesson: str = ""


@dataclass(frozen=True)
class Problem:
    """One thing the validator refuses: the section (0 = header), the field, and why."""

    section: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"§{self.section}" if self.section else "header"
        return f"{where} {self.field}: {self.message}" if self.field else f"{where} {self.message}"


# --------------------------------------------------------------------------- small parsers


def parse_int_list(text: str) -> list[int]:
    """"3, 5" -> [3, 5]; "" -> []. Raises ValueError naming the first item that is not a whole number."""
    items = [part.strip() for part in re.split(r"[,\s]+", text.strip()) if part.strip()]
    out = []
    for item in items:
        number = parse_number(item, integer=True)
        if number is None:
            raise ValueError(f"{item!r} is not a whole number; write numbers like 3, 5")
        out.append(number)
    return out


def format_int_list(values: Iterable[int]) -> str:
    """[3, 5] -> "3, 5" (the inverse of `parse_int_list`)."""
    return ", ".join(str(v) for v in values)


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences, robust to "e.g.", "vs.", decimals ("2.5"), "1e-8" and initials.

    A sentence ends at ".", "!" or "?" (plus closing quotes or brackets) followed by white
    space, unless the word before the period is a known abbreviation or a single letter.
    """
    flat = " ".join(text.split())
    if not flat:
        return []
    sentences, start = [], 0
    for match in re.finditer(r"[.!?]+[\"'”’)\]]*(?=\s)", flat):
        if flat[match.start()] == "." and match.group().count(".") == 1:
            before = re.search(r"(\S+)$", flat[start:match.start()])
            word = before.group(1).lstrip("(\"'“‘[").lower() if before else ""
            if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
        sentences.append(flat[start:match.end()].strip())
        start = match.end()
    tail = flat[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _normal_dtype(text: str) -> str:
    t = text.strip().lower()
    return t[len("torch."):] if t.startswith("torch.") else t


def _is_recovery_word(text: str) -> str | None:
    """The canonical recovery word ("did not recover" / "NaN") that `text` spells, else None."""
    t = " ".join(text.strip().lower().split())
    for word in RECOVERY_WORDS:
        if t == word.lower():
            return word
    return None


# --------------------------------------------------------------------------- validation


def _empty(section: int) -> Problem:
    return Problem(section, "", f"{SECTION_TITLES[section]} is empty: {SECTION_WHY[section]}")


def _check_header(pm: PostMortem) -> list[Problem]:
    out = []
    if not _RUN_ID_RE.fullmatch(pm.run_id):
        out.append(Problem(0, "run_id", f"{pm.run_id!r} is not a run id (letters, digits, '.', '_', '-'; "
                                        "not ending like a kept version, .v2)"))
    if not _DATE_RE.fullmatch(pm.date):
        out.append(Problem(0, "date", f"{pm.date!r} is not a date written YYYY-MM-DD"))
    return out


def _check_symptoms(s: Symptoms) -> list[Problem]:
    if s.is_empty():
        return [_empty(1)]
    out = []
    values: dict[str, float | int | None] = {}
    for name in INTEGER_FIELDS + FLOAT_FIELDS:
        text = getattr(s, name).strip()
        if not text:
            out.append(Problem(1, name, f"empty: write {SYMPTOM_HINTS[name]}"))
            continue
        if name == "recovery_loss" and _is_recovery_word(text):
            continue
        integer = name in INTEGER_FIELDS
        number = parse_number(text, integer=integer, allow_nonfinite=name in NONFINITE_OK_FIELDS)
        if number is None:
            comma = comma_error(text, integer=integer)   # a number written with the wrong comma
            extra = " or the words 'did not recover' / 'NaN'" if name == "recovery_loss" else ""
            out.append(Problem(1, name, comma or f"numbers only{extra}: {text!r} is not {SYMPTOM_HINTS[name]}"))
            continue
        values[name] = number
        if name in INTEGER_FIELDS and number < 0:
            out.append(Problem(1, name, f"{text} is negative; steps and batch indices start at 0"))
        if name in ("grad_norm_preclip", "lr_at_spike") and number < 0:
            out.append(Problem(1, name, f"{text} is negative; a norm or a learning rate is not"))
    dtype = s.dtype.strip()
    if not dtype:
        out.append(Problem(1, "dtype", f"empty: write {SYMPTOM_HINTS['dtype']}"))
    elif _normal_dtype(dtype) not in DTYPES:
        out.append(Problem(1, "dtype", f"{dtype!r} is not one of {', '.join(DTYPES)}"))
    for i, token in enumerate(s.unusual_tokens, start=1):
        if token == "":
            out.append(Problem(1, "unusual_tokens", f"token {i} is empty"))
    ema, peak = values.get("pre_spike_ema"), values.get("peak_loss")
    if ema is not None and peak is not None and math.isfinite(ema) and math.isfinite(peak) and peak <= ema:
        out.append(Problem(1, "peak_loss", f"{s.peak_loss.strip()} is not above the pre-spike EMA "
                                           f"{s.pre_spike_ema.strip()}: a spike's peak lies above its baseline"))
    for name in SYMPTOM_FIELDS:
        if name in s.drafted and name not in s.confirmed:
            out.append(Problem(1, name, "drafted from the run log, not yet confirmed: "
                                        "check it against the dashboard, then confirm it"))
    return out


def _check_panels(section: int, where: str, panels: Iterable[int | None]) -> list[Problem]:
    return [Problem(section, where, f"panel {p} does not exist (the dashboard has panels 1-8)")
            for p in panels if p is not None and p not in PANELS]


def _check_hypotheses(hyps: list[Hypothesis]) -> list[Problem]:
    if not hyps:
        return [_empty(2)]
    out = []
    if len(hyps) < MIN_HYPOTHESES:
        out.append(Problem(2, "", f"only {len(hyps)} hypothes{'is' if len(hyps) == 1 else 'es'}: "
                                  f"rank at least {MIN_HYPOTHESES}, or the first idea wins by default"))
    ranks = [h.rank for h in hyps]
    for i, h in enumerate(hyps, start=1):
        where = f"row {i}"
        if h.rank is None:
            out.append(Problem(2, where, "has no rank"))
        if not h.text.strip():
            out.append(Problem(2, where, "has no hypothesis text"))
        if not h.panels:
            out.append(Problem(2, where, "cites no dashboard panel: name the panel(s) that support it"))
        out += _check_panels(2, where, h.panels)
    given = [r for r in ranks if r is not None]
    for rank, count in sorted(Counter(given).items()):
        if count > 1:
            out.append(Problem(2, "ranks", f"rank {rank} is used {count} times: each rank once"))
    wanted = set(range(1, len(hyps) + 1))
    outside = sorted(set(given) - wanted)
    missing = sorted(wanted - set(given))
    if outside:
        out.append(Problem(2, "ranks", f"rank(s) {format_int_list(outside)} outside 1..{len(hyps)}"))
    if missing:
        out.append(Problem(2, "ranks", f"ranks must run 1..{len(hyps)} without gaps: "
                                       f"missing {format_int_list(missing)}"))
    return out


def _check_evidence(rows: list[Evidence], hyps: list[Hypothesis]) -> list[Problem]:
    if not rows:
        return [_empty(3)]
    out = []
    known = {h.rank for h in hyps if h.rank is not None}
    for i, row in enumerate(rows, start=1):
        where = f"row {i}"
        if row.panel is None:
            out.append(Problem(3, where, "names no panel"))
        out += _check_panels(3, where, [row.panel])
        if not row.observation.strip():
            out.append(Problem(3, where, "has no observation"))
        if row.favours is None:
            out.append(Problem(3, where, "does not say which hypothesis (rank) it favours"))
        elif known and row.favours not in known:
            out.append(Problem(3, where, f"favours rank {row.favours}, but no hypothesis has that rank"))
        if not row.rules_out:
            out.append(Problem(3, where, "rules nothing out: evidence that rules out no hypothesis "
                                         "does not discriminate"))
        for r in row.rules_out:
            if known and r not in known:
                out.append(Problem(3, where, f"rules out rank {r}, but no hypothesis has that rank"))
        if row.favours is not None and row.favours in row.rules_out:
            out.append(Problem(3, where, f"both favours and rules out rank {row.favours}"))
    if known:
        ruled_out = {r for row in rows for r in row.rules_out}
        favoured = {row.favours for row in rows}
        if 1 in known and 1 in ruled_out:
            out.append(Problem(3, "", "the evidence rules out your rank-1 hypothesis: re-rank §2"))
        elif 1 in known and 1 not in favoured:
            out.append(Problem(3, "", "no row favours your rank-1 hypothesis"))
        standing = sorted(r for r in known - ruled_out if r != 1)
        if standing:
            out.append(Problem(3, "", f"rank(s) {format_int_list(standing)} never ruled out: find the panel "
                                      "that separates them from rank 1"))
    return out


def _check_root_cause(text: str) -> list[Problem]:
    if not text.strip():
        return [_empty(4)]
    sentences = split_sentences(text)
    if len(sentences) != 1:
        quoted = " | ".join(repr(s) for s in sentences)
        return [Problem(4, "", f"{len(sentences)} sentences found: {quoted}; the root cause is one sentence")]
    return []


def _check_remediation(text: str) -> list[Problem]:
    if not text.strip():
        return [_empty(5)]
    words = len(text.split())
    if words > REMEDIATION_MAX_WORDS:
        return [Problem(5, "", f"{words} words: the smallest change fits in {REMEDIATION_MAX_WORDS} words "
                               "(one change, not a plan)")]
    return []


def _check_verification(v: Verification, symptoms: Symptoms,
                        run: postmortem_run.RunFacts = postmortem_run.RunFacts()) -> list[Problem]:
    if v.is_empty():
        return [_empty(6)]
    out = []
    seed = parse_number(v.seed, integer=True)
    if seed is None:
        out.append(Problem(6, "seed", f"{number_error(v.seed, integer=True)}: numbers only, the seed of the rerun"))
    tol = parse_number(v.tolerance)
    if tol is None:
        out.append(Problem(6, "tolerance", f"{number_error(v.tolerance)}: numbers only, the tolerance ε"))
    elif not tol > 0:
        out.append(Problem(6, "tolerance", f"ε = {v.tolerance.strip()} must be above 0"))
    step = parse_number(v.step, integer=True)
    if step is None:
        out.append(Problem(6, "step", f"{number_error(v.step, integer=True)}: numbers only, "
                                      "the step T where the check runs"))
    else:
        spike = parse_number(symptoms.spike_step, integer=True)
        if spike is not None and step <= spike:
            out.append(Problem(6, "step", f"T = {step} is not after the spike (step {spike}): "
                                          "the rerun must pass the spike to show it is gone"))
        elif step < 1:
            out.append(Problem(6, "step", f"T = {step}: the check needs at least one step"))
        past_end = postmortem_run.step_problem(step, run.steps)
        if past_end:
            out.append(Problem(6, "step", past_end))
    if not v.expectations:
        out.append(Problem(6, "expectations", "none: name at least one metric, a comparator and a value"))
    for i, e in enumerate(v.expectations, start=1):
        where = f"expectation {i}"
        if not e.metric.strip():
            out.append(Problem(6, where, "names no metric"))
        unknown = postmortem_run.metric_problem(e.metric, run.metrics, RECOVERY_WORDS)
        if unknown:
            out.append(Problem(6, where, unknown))
        if e.comparator not in COMPARATORS:
            out.append(Problem(6, where, f"comparator {e.comparator!r} is not one of {' '.join(COMPARATORS)}"))
        if parse_number(e.value) is None:
            out.append(Problem(6, where, f"value {number_error(e.value)}: numbers only"))
    return out


def _check_lesson(text: str) -> list[Problem]:
    if not text.strip():
        return [_empty(7)]
    lines = text.strip().splitlines()
    if len(lines) != 1:
        return [Problem(7, "", f"{len(lines)} lines: a lesson is exactly one line")]
    return []


def validate(pm: PostMortem, sections: Iterable[int] | None = None, *, run_log: RunLog | None = None,
             reference: dict | None = None) -> list[Problem]:
    """Every problem of `pm`, in section order (header first). An empty list means complete.

    `sections` restricts the check to some sections (0 = header), e.g. `sections=[3]` for the
    evidence form; the other sections still serve as context (the ranks evidence refers to).
    With the run the post-mortem is about (its `run_log`, and/or `reference`, its symptoms as
    ``utils.spikelab.symptoms.compute`` returns them), §6 also refuses a metric that is not one of the
    run's and a step T past the end of the run log (`utils.postmortem.run`).
    """
    chosen = set(range(0, 8)) if sections is None else set(sections)
    run = postmortem_run.run_facts(run_log, reference) if 6 in chosen else postmortem_run.RunFacts()
    checks = {
        0: lambda: _check_header(pm),
        1: lambda: _check_symptoms(pm.symptoms),
        2: lambda: _check_hypotheses(pm.hypotheses),
        3: lambda: _check_evidence(pm.evidence, pm.hypotheses),
        4: lambda: _check_root_cause(pm.root_cause),
        5: lambda: _check_remediation(pm.remediation),
        6: lambda: _check_verification(pm.verification, pm.symptoms, run),
        7: lambda: _check_lesson(pm.lesson),
    }
    out: list[Problem] = []
    for n in sorted(chosen):
        out += checks[n]()
    return out


def format_problems(problems: list[Problem]) -> str:
    """Problems as text, one per line (for an Output widget or a print)."""
    return "\n".join(str(p) for p in problems)


# --------------------------------------------------------------------------- symptoms vs run log


@dataclass(frozen=True)
class Tolerance:
    """How far a typed symptom may be from the run log: kind "abs", "rel" or "exact"."""

    kind: str
    amount: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("abs", "rel", "exact"):
            raise ValueError(f"tolerance kind must be abs, rel or exact, not {self.kind!r}")

    def describe(self) -> str:
        """"±1", "5 %" or "exact"."""
        if self.kind == "abs":
            return f"±{_fmt(self.amount)}"
        if self.kind == "rel":
            return f"{_pct(self.amount)} %"
        return "exact"


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
        return "did not recover"
    if isinstance(value, str):
        word = _is_recovery_word(value)
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
        kind = "a whole number" if integer else "a number"
        what = "empty" if not typed_text.strip() else (
            comma_error(typed_text, integer=integer) or f"you typed {typed_text.strip()!r}, which is not {kind}")
        msg = f"{name}: {what}; the run log says {exp_text} (tolerance {tol.describe()}) — not ok"
        return SymptomCheck(name, typed_text, exp_text, None, None, tol, False, msg)
    # a decimal comma is shown as read, so that a thousands separator read as a decimal is seen
    read_as = f" (read as {typed_number:g})" if read_with_comma(typed_text) else ""
    head = f"{name}: you typed {typed_text.strip()}{read_as}, the run log says {exp_text}"
    if not (math.isfinite(typed_number) and math.isfinite(expected)):
        ok = _same_nonfinite(float(typed_number), float(expected))
        msg = f"{head} (tolerance {tol.describe()}) — {'ok' if ok else 'not ok'}"
        return SymptomCheck(name, typed_text, exp_text, None, None, tol, ok, msg)
    off = abs(typed_number - expected)
    rel = off / abs(expected) if expected != 0 else (0.0 if off == 0 else math.inf)
    limit = off if tol.kind == "abs" else rel
    ok = limit <= tol.amount * (1 + 1e-9) + 1e-12
    msg = f"{head} (off by {_fmt(off) if isinstance(off, int) else f'{off:.3g}'}, {_pct(rel)} %; " \
          f"tolerance {tol.describe()}) — {'ok' if ok else 'not ok'}"
    if not ok and name == "spike_step" and peak_step is not None and typed_number == peak_step:
        msg += f" — {peak_step} is the step of the peak; the spike began earlier"
    return SymptomCheck(name, typed_text, exp_text, off, rel, tol, ok, msg)


def _merge_tolerances(tolerances: dict | None) -> dict[str, Tolerance]:
    merged = dict(DEFAULT_TOLERANCES)
    for name, tol in (tolerances or {}).items():
        if name not in merged:
            raise ValueError(f"no symptom field {name!r}; fields are {', '.join(SYMPTOM_FIELDS)}")
        merged[name] = tol if isinstance(tol, Tolerance) else Tolerance(merged[name].kind, float(tol))
    return merged


def compare_symptoms(pm_symptoms: Symptoms, reference: dict, tolerances: dict | None = None) -> list[SymptomCheck]:
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
            typed, expected = pm_symptoms.dtype.strip(), _normal_dtype(str(value))
            ok = _normal_dtype(typed) == expected
            msg = f"dtype: you typed {typed or '(nothing)'}, the run log says {expected} " \
                  f"(tolerance exact) — {'ok' if ok else 'not ok'}"
            checks.append(SymptomCheck(name, pm_symptoms.dtype, expected, None, None, tol, ok, msg))
        elif name == "recovery_loss":
            checks.append(_compare_recovery(pm_symptoms.recovery_loss, _ref_recovery(value), tol))
        else:
            expected = _ref_number(name, value)
            if expected is None:
                raise ValueError(f"run log value for {name} is not a number: {value!r}")
            checks.append(_compare_number(name, getattr(pm_symptoms, name), expected, tol, peak_step))
    return checks


def _compare_recovery(typed: str, expected: str | float | None, tol: Tolerance) -> SymptomCheck:
    name = "recovery_loss"
    typed_word = _is_recovery_word(typed)
    if isinstance(expected, str) or typed_word:
        exp_text = expected if isinstance(expected, str) else _fmt(expected)
        typed_canon = typed_word or typed.strip()
        ok = typed_word is not None and typed_word == expected
        if not ok and isinstance(expected, str) and expected == "NaN":
            number = parse_number(typed, allow_nonfinite=True)
            ok = isinstance(number, float) and math.isnan(number)
        msg = f"{name}: you typed {typed_canon or '(nothing)'}, the run log says {exp_text} " \
              f"(tolerance exact for words) — {'ok' if ok else 'not ok'}"
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
        details.append("missing " + ", ".join(repr(t) for t in missing))
    if extra:
        details.append("not in the log " + ", ".join(repr(t) for t in extra))
    detail = "; ".join(details) + "; " if details else ""
    msg = (f"unusual_tokens: you typed {len(typed)} token(s), the run log lists {len(expected)} "
           f"({detail}off by {off}; tolerance {tol.describe()}) — {'ok' if ok else 'not ok'}")
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
        return f"{len(self.checks)} symptoms within tolerance"


def check_symptoms(pm_symptoms: Symptoms, reference: dict, tolerances: dict | None = None) -> SymptomsReport:
    """`compare_symptoms` as one report (`.ok`, `.wrong`, `.summary()`).

    `reference` is `utils.spikelab.symptoms.compute(log)` of the run log §1 was read from: the one saved
    with the post-mortem (`load_saved_run_log`), not a run of the machine that checks it.
    """
    return SymptomsReport(compare_symptoms(pm_symptoms, reference, tolerances))


def draft_symptoms(reference: dict) -> Symptoms:
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
            s.dtype = _normal_dtype(str(value))
        elif name == "recovery_loss" and isinstance(_ref_recovery(value), str):
            s.recovery_loss = _ref_recovery(value)
        else:
            number = _ref_number(name, value)
            if number is None:
                raise ValueError(f"run log value for {name} is not a number: {value!r}")
            text = str(number) if isinstance(number, int) else f"{number:.4g}"
            setattr(s, name, text)
        s.drafted.add(name)
    return s


# --------------------------------------------------------------------------- markdown


TITLE = "# Loss spike post-mortem"
SEP = " — "
_SOURCES = {
    (False, False): "typed",
    (False, True): "typed, confirmed",
    (True, False): "drafted",
    (True, True): "drafted, confirmed",
}
_SOURCE_FLAGS = {v: k for k, v in _SOURCES.items()}


def _has_control(text: str, allowed: str = "") -> bool:
    return any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in text)


def _encode(text: str, *, multiline: bool = False, forbid: tuple[str, ...] = ()) -> str:
    """Text as written in the file: as is when safe, else as a JSON string literal.

    Unsafe: leading/trailing white space, a leading '"', control characters (newlines are
    allowed in multi-line prose), a line starting with '#' (a heading), or a `forbid` string.
    """
    unsafe = (
        text != text.strip()
        or text.startswith('"')
        or _has_control(text, "\n" if multiline else "")
        or any(line.startswith("#") for line in text.split("\n"))
        or any(f in text for f in forbid)
    )
    return json.dumps(text, ensure_ascii=False) if unsafe else text


def _decode(written: str) -> str:
    return json.loads(written) if written.startswith('"') else written


def _cell(text: str) -> str:
    return _encode(text).replace("|", "\\|")


def _uncell(cell: str) -> str:
    return _decode(cell.strip().replace("\\|", "|"))


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(header), "|" + "---|" * len(header)] + [_row(r) for r in rows]


def _opt_int(value: int | None) -> str:
    return "" if value is None else str(value)


def render_markdown(pm: PostMortem) -> str:
    """The post-mortem as markdown, in the course's fixed format (`parse_markdown` reads it back)."""
    s = pm.symptoms
    lines = [TITLE + SEP + _encode(pm.date, forbid=("—",)) + SEP + _encode(pm.run_id), ""]

    lines += [SECTION_HEADINGS[1], ""]
    rows = []
    for name in SYMPTOM_FIELDS:
        value = json.dumps(s.unusual_tokens, ensure_ascii=False) if name == "unusual_tokens" else getattr(s, name)
        source = _SOURCES[(name in s.drafted, name in s.confirmed)]
        rows.append([name, value.replace("|", "\\|") if name == "unusual_tokens" else _cell(value), source])
    lines += _table(["Field", "Value", "Source"], rows) + [""]

    lines += [SECTION_HEADINGS[2], ""]
    rows = [[_opt_int(h.rank), _cell(h.text), format_int_list(h.panels)] for h in pm.hypotheses]
    lines += _table(["Rank", "Hypothesis", "Panels"], rows) + [""]

    lines += [SECTION_HEADINGS[3], ""]
    rows = [[_opt_int(e.panel), _cell(e.observation), _opt_int(e.favours), format_int_list(e.rules_out)]
            for e in pm.evidence]
    lines += _table(["Panel", "Observation", "Favours", "Rules out"], rows) + [""]

    for n, text in ((4, pm.root_cause), (5, pm.remediation)):
        lines += [SECTION_HEADINGS[n], ""] + ([_encode(text, multiline=True), ""] if text else [])

    v = pm.verification
    lines += [SECTION_HEADINGS[6], ""]
    for label, value in (("Seed", v.seed), ("Tolerance ε", v.tolerance), ("Step T", v.step)):
        lines.append(f"- {label}: {_encode(value)}".rstrip(" "))
    lines.append("")
    rows = [[_cell(e.metric), _cell(e.comparator), _cell(e.value)] for e in v.expectations]
    lines += _table(["Metric", "Comparator", "Value"], rows) + [""]

    lines += [SECTION_HEADINGS[7], ""] + ([_encode(pm.lesson, multiline=True), ""] if pm.lesson else [])
    return "\n".join(lines)


def _split_row(line: str) -> list[str]:
    parts = re.split(r"(?<!\\)\|", line)
    if len(parts) < 3 or parts[0].strip() or parts[-1].strip():
        raise ValueError(f"not a table row: {line!r}")
    return parts[1:-1]


def _table_rows(body: list[str], width: int) -> list[list[str]]:
    table = [line for line in body if line.startswith("|")]
    if len(table) < 2:
        raise ValueError("a section's table is missing")
    rows = [_split_row(line) for line in table[2:]]
    for r in rows:
        if len(r) != width:
            raise ValueError(f"expected {width} cells, found {len(r)}: {r!r}")
    return rows


def _int_or_none(cell: str) -> int | None:
    t = cell.strip()
    return None if not t else int(t)


def _prose(body: list[str]) -> str:
    return _decode("\n".join(body).strip("\n"))


def parse_markdown(text: str) -> PostMortem:
    """Read a post-mortem written by `render_markdown` (exactly: parse(render(pm)) == pm).

    Raises ValueError naming what is missing when `text` is not in the course's format.
    """
    lines = text.split("\n")
    head = lines[0].rstrip("\r")
    if not head.startswith(TITLE + SEP):
        raise ValueError(f"first line must start with {TITLE + SEP!r}")
    rest = head[len(TITLE + SEP):]
    if rest.startswith('"'):
        decoder = json.JSONDecoder()
        date, end = decoder.raw_decode(rest)
        rest = rest[end:]
    else:
        date, sep, after = rest.partition(SEP)
        rest = sep + after
    if not rest.startswith(SEP):
        raise ValueError("first line must read '# Loss spike post-mortem — <date> — <run-id>'")
    run_id = _decode(rest[len(SEP):])

    starts = {}
    for n, heading in SECTION_HEADINGS.items():
        try:
            starts[n] = lines.index(heading, starts.get(n - 1, 0) + 1)
        except ValueError:
            raise ValueError(f"not a post-mortem: heading {heading!r} is missing or out of order") from None
    bodies = {n: lines[starts[n] + 1: starts[n + 1] if n < 7 else len(lines)] for n in starts}

    values, drafted, confirmed, tokens = {}, set(), set(), []
    for name_cell, value_cell, source_cell in _table_rows(bodies[1], 3):
        name = name_cell.strip()
        if name not in SYMPTOM_FIELDS:
            raise ValueError(f"unknown symptom field {name!r}")
        if name == "unusual_tokens":
            tokens = json.loads(value_cell.strip().replace("\\|", "|"))
        else:
            values[name] = _uncell(value_cell)
        is_drafted, is_confirmed = _SOURCE_FLAGS[source_cell.strip()]
        if is_drafted:
            drafted.add(name)
        if is_confirmed:
            confirmed.add(name)
    symptoms = Symptoms(**values, unusual_tokens=tokens, drafted=drafted, confirmed=confirmed)

    hypotheses = [Hypothesis(_int_or_none(r), _uncell(t), parse_int_list(p))
                  for r, t, p in _table_rows(bodies[2], 3)]
    evidence = [Evidence(_int_or_none(p), _uncell(o), _int_or_none(f), parse_int_list(r))
                for p, o, f, r in _table_rows(bodies[3], 4)]

    fields = {}
    for label, key in (("Seed", "seed"), ("Tolerance ε", "tolerance"), ("Step T", "step")):
        prefix = f"- {label}:"
        found = [line for line in bodies[6] if line.startswith(prefix)]
        if len(found) != 1:
            raise ValueError(f"§6 needs one line starting {prefix!r}")
        fields[key] = _decode(found[0][len(prefix):].removeprefix(" "))
    expectations = [Expectation(_uncell(m), _uncell(c), _uncell(v)) for m, c, v in _table_rows(bodies[6], 3)]

    return PostMortem(
        run_id=run_id,
        date=date,
        symptoms=symptoms,
        hypotheses=hypotheses,
        evidence=evidence,
        root_cause=_prose(bodies[4]),
        remediation=_prose(bodies[5]),
        verification=Verification(**fields, expectations=expectations),
        lesson=_prose(bodies[7]),
    )


# --------------------------------------------------------------------------- saving (through utils.course.notes)


def _check_run_id(run_id: str) -> None:
    if not _RUN_ID_RE.fullmatch(run_id):
        raise ValueError(f"{run_id!r} cannot name a file: use letters, digits, '.', '_' and '-' "
                         "(and do not end it like a kept version, .v2)")


def postmortem_relpath(run_id: str) -> str:
    """Where a run's post-mortem lives inside the phase-19 notes folder."""
    _check_run_id(run_id)
    return f"{POSTMORTEM_FOLDER}/{run_id}.md"


def run_log_relpath(run_id: str, compressed: bool = True) -> str:
    """Where the run log of a run's post-mortem lives inside the phase-19 notes folder:
    ``run-logs/<run-id>.json.gz`` (``compressed``) or ``run-logs/<run-id>.json``."""
    _check_run_id(run_id)
    return f"{RUN_LOG_FOLDER}/{run_id}.json{'.gz' if compressed else ''}"


def run_log_file(notes_folder: Path, run_id: str) -> Path | None:
    """The run log saved for `run_id` in a phase-19 notes folder (``.json.gz`` or ``.json``), or None.

    Raises ValueError when both are there: which one goes with the post-mortem cannot be told
    (`save_run_log` never writes the second one).
    """
    found = [Path(notes_folder) / run_log_relpath(run_id, c) for c in (True, False)]
    found = [path for path in found if path.is_file()]
    if len(found) > 1:
        raise ValueError(f"two run logs are saved for {run_id} ({found[0].name} and {found[1].name}); "
                         "keep the one your §1 was read from")
    return found[0] if found else None


def _as_saved(log: RunLog) -> RunLog:
    """The run log as `save_run_log` keeps it: the same run, without `RUN_LOG_UNSAVED_META`."""
    meta = {k: v for k, v in log.meta.items() if k not in RUN_LOG_UNSAVED_META}
    return RunLog(meta=meta, steps=log.steps, heldout=log.heldout, events=log.events)


def save_run_log(log: RunLog, learner: str | None = None) -> Path:
    """Save the run log §1 is read from beside the learner's notes; returns its path.

    ``learners/<name>/phase-19/notes/run-logs/<run-id>.json``, gzip-compressed as
    ``<run-id>.json.gz`` when its JSON is over `RUN_LOG_GZIP_ABOVE` bytes (a run keeps the form of
    its first save). As every note: never overwritten (a different log saved later keeps the
    earlier one as ``<run-id>.json.v1.gz``, ...), written atomically, and saving the same run again
    changes nothing. The time the run took (`RUN_LOG_UNSAVED_META`) is left out.
    """
    from utils.course.notes import save_note

    kept = _as_saved(log)
    data = kept.to_bytes()
    existing = saved_run_log_path(log.run_id, learner=learner)
    if existing is not None:
        compressed = existing.name.endswith(".gz")
    else:
        compressed = len(data) > RUN_LOG_GZIP_ABOVE
    relpath = run_log_relpath(log.run_id, compressed)
    if not compressed:
        return save_note(PHASE, relpath, data.decode("utf-8"), learner=learner)
    if existing is not None:
        try:
            if RunLog.load(existing).to_bytes() == data:   # the same run (compressed bytes may differ by zlib)
                return existing
        except ValueError:
            pass                                            # damaged: kept as a version below
    return save_note(PHASE, relpath, kept.to_bytes(compressed=True), learner=learner)


def saved_run_log_path(run_id: str, learner: str | None = None) -> Path | None:
    """Where the run log of `run_id`'s post-mortem is saved (`save_run_log`), or None when it is not."""
    from utils.course.notes import notes_dir

    return run_log_file(notes_dir(PHASE, learner), run_id)


def load_saved_run_log(run_id: str, learner: str | None = None) -> RunLog | None:
    """The run log saved with the post-mortem of `run_id` (`save_run_log`), or None when none was saved.
    Raises ValueError when it cannot be read."""
    path = saved_run_log_path(run_id, learner=learner)
    return None if path is None else RunLog.load(path)


def same_run_log(a: RunLog, b: RunLog) -> bool:
    """True when `a` and `b` are the same run as `save_run_log` keeps it (the same numbers at every step)."""
    return _as_saved(a).to_bytes() == _as_saved(b).to_bytes()


def run_log_versions(run_id: str, learner: str | None = None) -> list[Path]:
    """The earlier run logs of `run_id` that `save_run_log` kept (``<run-id>.json.v1.gz``, ...), oldest first."""
    from utils.course.notes import note_versions

    path = saved_run_log_path(run_id, learner=learner)
    compressed = path is None or path.name.endswith(".gz")
    return note_versions(PHASE, run_log_relpath(run_id, compressed), learner=learner)


def _check_same_run(pm: PostMortem, run_log: RunLog | None) -> None:
    if run_log is not None and run_log.run_id != pm.run_id:
        raise ValueError(f"the run log is of run {run_log.run_id!r}, the post-mortem of run {pm.run_id!r}")


def save(pm: PostMortem, learner: str | None = None, run_log: RunLog | None = None) -> Path:
    """Save the post-mortem as markdown to learners/<name>/phase-19/notes/postmortems/<run-id>.md.

    With `run_log` (the run §1 was read from, of the same run id), that log is saved first, beside
    the notes (`save_run_log`): §1 is checked against it, on any machine. Saving is allowed with
    problems left (work in progress); `utils.course.notes.save_note` never overwrites, so an earlier
    version is kept beside the new one. Returns the post-mortem's path.
    """
    from utils.course.notes import save_note

    relpath = postmortem_relpath(pm.run_id)
    _check_same_run(pm, run_log)
    if run_log is not None:
        save_run_log(run_log, learner=learner)
    return save_note(PHASE, relpath, render_markdown(pm), learner=learner)


def load_saved(run_id: str, learner: str | None = None) -> PostMortem | None:
    """The latest saved post-mortem of `run_id`, or None when there is none yet."""
    from utils.course.notes import notes_dir

    path = notes_dir(PHASE, learner=learner) / postmortem_relpath(run_id)
    if not path.is_file():
        return None
    return parse_markdown(path.read_text(encoding="utf-8"))


def kept_versions(run_id: str, learner: str | None = None) -> list[Path]:
    """The earlier versions of a run's post-mortem that `save` kept (``<run-id>.v1.md``, ...), oldest first."""
    from utils.course.notes import note_versions

    return note_versions(PHASE, postmortem_relpath(run_id), learner=learner)


def _lesson_date(pm: PostMortem):
    """The post-mortem's own date for its lesson line (today when the header date is not YYYY-MM-DD)."""
    import datetime

    try:
        return datetime.date.fromisoformat(pm.date) if _DATE_RE.fullmatch(pm.date) else None
    except ValueError:
        return None


def save_with_lesson(pm: PostMortem, learner: str | None = None,
                     run_log: RunLog | None = None) -> tuple[Path, str]:
    """Save the post-mortem (with its `run_log`, as `save` does) and append its one-line lesson
    to the learner's lessons.

    The lesson line carries the post-mortem's date (``- 2026-11-23 · phase 19 · run <id> · <lesson>``),
    so saving the same post-mortem again neither changes the file nor repeats the line: a line
    already in ``lessons.md`` is not appended twice.
    Raises ValueError (before saving anything) when §7 is not exactly one line.
    Returns (path of the saved post-mortem, the lesson line as it stands in lessons.md).
    """
    from utils.course.notes import append_lesson, read_lessons

    problems = validate(pm, sections=[7])
    if problems:
        raise ValueError(format_problems(problems))
    _check_same_run(pm, run_log)
    path = save(pm, learner=learner, run_log=run_log)
    date = _lesson_date(pm)
    if date is not None:
        line = f"- {date.isoformat()} · phase {PHASE} · run {pm.run_id} · {pm.lesson.strip()}"
        if line in read_lessons(PHASE, learner=learner):
            return path, line
    line = append_lesson(PHASE, pm.lesson.strip(), run_id=pm.run_id, learner=learner, today=date)
    return path, line
