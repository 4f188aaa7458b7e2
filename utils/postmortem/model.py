"""The loss-spike post-mortem of phase 19: its seven sections as dataclasses, and their fixed words.

A post-mortem has seven sections, always in this order:

1. Symptoms                -- numbers only, read off the dashboard (or drafted from the run log)
2. Hypotheses (ranked)     -- at least three, ranked 1..n, each citing dashboard panels 1-8
3. Discriminating evidence -- which panel favours which hypothesis and rules out which others
4. Root cause              -- exactly one sentence
5. Remediation             -- the smallest change
6. Verification            -- seed, tolerance, step and numeric expectations that prove the fix
7. Lesson                  -- exactly one line

What the learner typed into a numeric field is kept as typed (a string), so that the validator
(`utils.postmortem.validation`), not the form, is the one place that refuses prose such as
"about 3".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from utils.spikelab.thresholds import EMA_SPAN
from utils.text import Phrasebook, say

# The template's titles and headings stay the template's in every language (a Spanish post-mortem
# keeps them, so that it parses like an English one); the messages around them are said.
SECTION_TITLES: dict[int, str] = {  # i18n: not shown (the template's words)
    1: "Symptoms",
    2: "Hypotheses",
    3: "Discriminating evidence",
    4: "Root cause",
    5: "Remediation",
    6: "Verification",
    7: "Lesson",
}

SECTION_HEADINGS: dict[int, str] = {  # i18n: not shown (the template's words)
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
SECTION_WHY: Phrasebook = Phrasebook(lambda: {
    1: say("without numbers nobody can tell whether the next spike is the same one",
           "sin números nadie puede saber si el próximo pico es el mismo"),
    2: say("without rivals the first idea wins by default", "sin rivales la primera idea gana por defecto"),
    3: say("without it the root cause is a guess", "sin ella la causa raíz es una conjetura"),
    4: say("without it the remediation treats a symptom, not the cause",
           "sin ella la corrección trata un síntoma, no la causa"),
    5: say("without it the post-mortem changes nothing", "sin ella el post-mortem no cambia nada"),
    6: say("without it nobody can tell whether the fix worked", "sin ella nadie puede saber si la corrección funcionó"),
    7: say("without it the next run repeats this one", "sin ella la próxima ejecución repite esta"),
})

# The eight panels of the phase-19 dashboard.
PANELS: Phrasebook = Phrasebook(lambda: {
    1: say("loss + EMA", "pérdida + EMA"),
    2: say("learning rate", "learning rate (LR)"),
    3: say("grad norm before clipping", "norma del gradiente antes del clipping"),
    4: say("activations", "activaciones"),
    5: say("Adam moments", "momentos de Adam"),
    6: say("batch composition", "composición del batch"),
    7: say("per-token loss histogram", "histograma de pérdida por token"),
    8: say("parameter hash / non-finite count", "hash de parámetros / recuento no finito"),
})

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

SYMPTOM_HINTS: Phrasebook = Phrasebook(lambda: {
    "spike_step": say("the step where the spike began (a whole number)",
                      "el paso donde empezó el pico (un número entero)"),
    "pre_spike_ema": say(f"the {EMA_SPAN}-step EMA of the loss just before the spike (a number)",
                         f"la EMA de {EMA_SPAN} pasos de la pérdida justo antes del pico (un número)"),
    "peak_loss": say("the highest loss of the spike (a number)", "la pérdida más alta del pico (un número)"),
    "recovery_loss": say("the mean loss 50-59 steps after the peak (a number, 'did not recover' or 'NaN')",
                         "la pérdida media 50-59 pasos después del máximo (un número, 'did not recover' o 'NaN')"),
    "grad_norm_preclip": say("the gradient norm before clipping at the spike (a number)",
                             "la norma del gradiente antes del clipping en el pico (un número)"),
    "lr_at_spike": say("the learning rate at the spike step (a number; 3e-4 style is fine)",
                       "el learning rate en el paso del pico (un número; vale el estilo 3e-4)"),
    "dtype": say("the training dtype (float32, float16 or bfloat16)",
                 "el dtype del entrenamiento (float32, float16 o bfloat16)"),
    "batch_index": say("the index of the batch at the spike step (a whole number)",
                       "el índice del batch en el paso del pico (un número entero)"),
    "unusual_tokens": say("the unusual tokens of that batch (panel 7)", "los tokens inusuales de ese batch (panel 7)"),
})

DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")
# Words allowed instead of a number in recovery_loss ("run too short" is what
# utils.spikelab.symptoms writes when the run ends before peak + 60).
RECOVERY_WORDS: tuple[str, ...] = ("did not recover", "NaN", "run too short")  # i18n: not shown (the template's words)
COMPARATORS: tuple[str, ...] = ("<", "<=", ">", ">=")
MIN_HYPOTHESES = 3
REMEDIATION_MAX_WORDS = 40

# The header's date: YYYY-MM-DD.
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


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


def normal_dtype(text: str) -> str:
    """A dtype as the run log writes it: lower case, without "torch." ("torch.Float32" -> "float32")."""
    t = text.strip().lower()
    return t[len("torch."):] if t.startswith("torch.") else t


def recovery_word(text: str) -> str | None:
    """The canonical recovery word (one of `RECOVERY_WORDS`) that `text` spells, else None."""
    t = " ".join(text.strip().lower().split())
    for word in RECOVERY_WORDS:
        if t == word.lower():
            return word
    return None


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
            raise ValueError(f"not symptom fields: {sorted(unknown)}")  # i18n: not shown (a programming error)

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

    def is_empty(self) -> bool:
        """True when no section holds anything (only the header): there is nothing to save yet."""
        return (self.symptoms.is_empty() and not self.hypotheses and not self.evidence
                and not self.root_cause.strip() and not self.remediation.strip()
                and self.verification.is_empty() and not self.lesson.strip())


# The fields a problem names by a word, as its message shows them (the form's boxes say them in the learner's
# language); a template key (``spike_step``, ``run_id``) is shown as it is, as the form's label shows it.
FIELD_WORDS: Phrasebook = Phrasebook(lambda: {
    "date": say("date", "fecha"),
    "ranks": say("ranks", "rangos"),
    "seed": say("seed", "semilla"),
    "tolerance": say("tolerance", "tolerancia"),
    "step": say("step", "paso T"),
    "expectations": say("expectations", "expectativas"),
})


@dataclass(frozen=True)
class Problem:
    """One thing the validator refuses: the section (0 = header), the field, and why."""

    section: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"§{self.section}" if self.section else say("header", "encabezado")
        field = FIELD_WORDS.get(self.field, self.field)
        return f"{where} {field}: {self.message}" if self.field else f"{where} {self.message}"
