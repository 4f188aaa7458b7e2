"""The answers to the course's choice questions: recorded in the learner's notes, found in the masters.

A choice question (``utils.course.choice.Choice``) is written in a master source as one call whose
first two arguments and ``right=`` are plain strings, so the grader can read them without running
the notebook::

    dtype_q = Choice("19.01", "dtype-decides", say("…", "…"), options={...}, right="b")

Each press of its Check button (or ``choose`` in a master) appends one JSON line to the phase's
``learners/<name>/phase-NN/notes/answers.jsonl`` through ``utils.course.notes.append_record``
(append-only, a failed append leaves the file as it was, a torn last line is ignored on reading)::

    {"chosen": "b", "date": "2026-12-06", "notebook": "19.01", "question": "dtype-decides", "right": true}

``record_answer`` writes it (not again when the learner's latest answer to that question is the same),
``latest_answers`` reads the latest answer per question, ``questions_in`` lists the questions of a
master source with their right option (``utils.course.grading.answers`` grades with it).
"""

from __future__ import annotations

import ast
import datetime
import re
from dataclasses import dataclass
from pathlib import Path

from utils.course.notes import append_record, read_records

ANSWERS_FILE = "answers.jsonl"
NOTEBOOK_KEY = re.compile(r"(\d{2})\.(\d{2})")      # "19.02": phase 19, notebook 02
QUESTION_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
CLASS_NAME = "Choice"


def phase_of(notebook: str) -> int:
    """The phase of a notebook key such as ``"19.02"``; ValueError for anything else."""
    match = NOTEBOOK_KEY.fullmatch(notebook) if isinstance(notebook, str) else None
    if match is None:
        raise ValueError(  # i18n: not shown (a course author's mistake in a master source)
            f"{notebook!r} is not a notebook number; numbers look like '19.02' (phase 19, notebook 02).")
    return int(match.group(1))


@dataclass(frozen=True)
class QuestionSpec:
    """A question as the master source writes it: its notebook key, id, right option and option keys."""

    notebook: str
    question: str
    right: str
    options: tuple[str, ...]


def record_answer(notebook: str, question: str, chosen: str, right: bool, learner: str | None = None,
                  today: datetime.date | None = None) -> bool:
    """Record one answer in the learner's ``answers.jsonl`` (``learner`` default: whose notes this
    notebook writes, the example learner in a master). Returns False, writing nothing, when the
    latest answer to this question is already ``chosen``. Raises ``utils.course.notes.NoteNotSaved``
    when the disk refuses (the file is left as it was)."""
    phase = phase_of(notebook)
    latest = latest_answers(phase, learner).get((notebook, question))
    if latest is not None and latest.get("chosen") == chosen:
        return False
    append_record(phase, ANSWERS_FILE, {"date": (today or datetime.date.today()).isoformat(), "notebook": notebook,
                                        "question": question, "chosen": chosen, "right": bool(right)},
                  learner=learner)
    return True


def latest_answers(phase: int, learner: str | None = None) -> dict[tuple[str, str], dict]:
    """(notebook key, question id) -> the latest record of it in the phase's ``answers.jsonl``.
    Records without a text ``notebook``, ``question`` and ``chosen`` are left out."""
    latest = {}
    for record in read_records(phase, ANSWERS_FILE, learner=learner):
        parts = (record.get("notebook"), record.get("question"), record.get("chosen"))
        if all(isinstance(part, str) for part in parts):
            latest[parts[0], parts[1]] = record
    return latest


def _text(node: ast.AST | None) -> str | None:
    """The value of a string literal node, else None."""
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def questions_in(source: Path | str) -> list[QuestionSpec]:
    """Every ``Choice(...)`` question of a master source (a path, or its text), in order.

    Raises ValueError naming the line of a ``Choice`` call whose notebook, id, ``right=`` or option
    keys are not plain strings (the grader could not read it)."""
    text = Path(source).read_text(encoding="utf-8") if isinstance(source, Path) else source
    found = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        if name != CLASS_NAME:
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        notebook = _text(node.args[0]) if node.args else None
        question = _text(node.args[1]) if len(node.args) > 1 else None
        right = _text(keywords.get("right"))
        options = keywords.get("options", node.args[3] if len(node.args) > 3 else None)
        keys = tuple(_text(k) for k in options.keys) if isinstance(options, ast.Dict) else ()
        if None in (notebook, question, right) or not keys or None in keys:
            raise ValueError(  # i18n: not shown (a course author's mistake in a master source)
                f"line {node.lineno}: write Choice(\"NN.MM\", \"question-id\", text, options={{\"a\": "
                "(...), ...}, right=\"a\") with plain strings, so the grader can read it")
        found.append((node.lineno, QuestionSpec(notebook, question, right, keys)))
    return [spec for _, spec in sorted(found, key=lambda item: item[0])]
