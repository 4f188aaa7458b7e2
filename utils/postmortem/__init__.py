"""The 7-section loss-spike post-mortem of Phase 19: its template, validator, markdown file, the
check of §1 against the run log it was read from, and the verification of a remediation.

    from utils import postmortem
    pm = postmortem.PostMortem("19-spike-001", "2026-11-23", symptoms=postmortem.draft_symptoms(sym))
    print(postmortem.format_problems(postmortem.validate(pm, run_log=log)))
    text = postmortem.render_markdown(pm)          # postmortem.parse_markdown(text) == pm

What is where:

- ``model``          the sections as dataclasses (`PostMortem`, `Symptoms`, ...) and their fixed
                     words (`SECTION_HEADINGS`, `SECTION_WHY`, `PANELS`, `SYMPTOM_FIELDS`, ...);
- ``validation``     `validate(pm)` -> every `Problem` (`format_problems` prints them);
- ``nonrecovery``    the template's rules for a spike that does not recover (a NaN run: §1, §2, §5);
- ``symptom_check``  §1 against its run log: `compare_symptoms`, `check_symptoms`, `draft_symptoms`;
- ``markdown``       `render_markdown` / `parse_markdown`, an exact round trip;
- ``files``          where a post-mortem and its run log live in a notes folder (`run_log_file`);
- ``typed_numbers``  numbers as typed into a form ("2,31" is 2.31), `parse_number`;
- ``run``            what §6 is checked against: the run's metric names and length;
- ``verification``   §6 against a rerun: `check_expectations`, `format_table`, ...;
- ``forms``          the ipywidgets workbook (`PostMortemWorkbook`), imported on its own.

Saving into a learner's notes folder is the course's tooling: ``utils.course.postmortem_notes``.
"""

from utils.postmortem.files import (
    PHASE,
    postmortem_relpath,
    run_log_file,
    run_log_relpath,
    same_run_log,
)
from utils.postmortem.markdown import parse_markdown, render_markdown
from utils.postmortem.model import (
    COMPARATORS,
    DTYPES,
    MIN_HYPOTHESES,
    PANELS,
    RECOVERY_WORDS,
    SECTION_HEADINGS,
    SECTION_TITLES,
    SECTION_WHY,
    SYMPTOM_FIELDS,
    SYMPTOM_HINTS,
    Evidence,
    Expectation,
    Hypothesis,
    PostMortem,
    Problem,
    Symptoms,
    Verification,
)
from utils.postmortem.symptom_check import (
    DEFAULT_TOLERANCES,
    SymptomCheck,
    SymptomsReport,
    Tolerance,
    check_symptoms,
    compare_symptoms,
    draft_symptoms,
)
from utils.postmortem.typed_numbers import parse_number
from utils.postmortem.validation import format_problems, validate

__all__ = [
    "COMPARATORS", "DEFAULT_TOLERANCES", "DTYPES", "MIN_HYPOTHESES", "PANELS", "PHASE", "RECOVERY_WORDS",
    "SECTION_HEADINGS", "SECTION_TITLES", "SECTION_WHY", "SYMPTOM_FIELDS", "SYMPTOM_HINTS",
    "Evidence", "Expectation", "Hypothesis", "PostMortem", "Problem", "SymptomCheck", "Symptoms",
    "SymptomsReport", "Tolerance", "Verification",
    "check_symptoms", "compare_symptoms", "draft_symptoms", "format_problems", "parse_markdown", "parse_number",
    "postmortem_relpath", "render_markdown", "run_log_file", "run_log_relpath", "same_run_log", "validate",
]
