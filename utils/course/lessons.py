"""Which lessons a learner owes: one per notebook handed in. The one rule that the lesson boxes
and the grader share, so the notebooks and the grading always agree.

- Every course notebook ``phase-NN/MM-<name>.ipynb`` ends with a lesson box
  (``utils.course.lesson_box.lesson_box("NN.MM")``) that appends one line tagged with that notebook
  to ``learners/<you>/phase-NN/notes/lessons.md``::

      - 2026-12-06 · phase 19 · notebook 19.02 dashboard · <the lesson>

- Except the post-mortem notebook ``phase-19/04-post-mortem``: its lesson is the post-mortem's §7,
  appended by ``utils.course.postmortem_notes.save_with_lesson`` as a line with the run it is about::

      - 2026-11-23 · phase 19 · run 19-spike-001 · <§7>

``lessons_expected(notebooks)`` lists the lessons owed for some notebooks (``phase-NN/MM-name.ipynb``,
as the grader finds them handed in); ``lesson_lines(expected, lines)`` picks the lines of
``lessons.md`` that count for one of them; ``lesson_for("19.02")`` is the same for the box at the
end of a master notebook, found from its number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from utils.course.learner import repo_root
from utils.course.notes import parse_lesson
from utils.text import say

POSTMORTEM_LESSON_NOTEBOOK = "phase-19/04-post-mortem.ipynb"   # its lesson is the post-mortem's §7
_NOTEBOOK = re.compile(r"phase-(\d{2})/(\d{2})-([A-Za-z0-9_-]+)\.ipynb")
_KEY = re.compile(r"(\d{2})\.(\d{2})")


@dataclass(frozen=True)
class ExpectedLesson:
    """The lesson one notebook asks for: ``notebook`` ``phase-19/02-dashboard.ipynb`` has ``key``
    ``19.02`` and ``name`` ``dashboard``."""

    notebook: str
    phase: int
    key: str
    name: str

    @property
    def from_postmortem(self) -> bool:
        """True for the post-mortem notebook, whose lesson is the post-mortem's §7."""
        return self.notebook == POSTMORTEM_LESSON_NOTEBOOK

    @property
    def tag(self) -> str:
        """The notebook part of its lesson line, after ``notebook ``: ``19.02 dashboard``."""
        return f"{self.key} {self.name}"

    @property
    def how_to_write(self) -> str:
        """What the learner does to record this lesson, for messages."""
        stem = Path(self.notebook).stem
        if self.from_postmortem:
            return say(f"write §7 of the post-mortem in {stem} and save the post-mortem with its lesson "
                       "(the line names its run)",
                       f"escribe el §7 del post-mortem en {stem} y guarda el post-mortem con su lección "
                       "(la línea nombra su ejecución)")
        return say(f"write it in the lesson box at the end of {stem} and press 'Save lesson'",
                   f"escríbela en el cuadro de lección al final de {stem} y pulsa 'Guardar lección'")


def expected_lesson(notebook: str) -> ExpectedLesson | None:
    """The lesson owed for ``phase-NN/MM-<name>.ipynb``; None for a notebook not named like a
    course notebook (a learner's own ``phase-19/scratch.ipynb`` owes none)."""
    match = _NOTEBOOK.fullmatch(notebook)
    if match is None:
        return None
    phase, number, name = match.groups()
    return ExpectedLesson(notebook, int(phase), f"{phase}.{number}", name)


def lessons_expected(notebooks: Iterable[str]) -> list[ExpectedLesson]:
    """The lessons owed for the notebooks handed in (``phase-NN/MM-<name>.ipynb``), one per
    course notebook, sorted by key."""
    found = {e.notebook: e for e in map(expected_lesson, notebooks) if e is not None}
    return sorted(found.values(), key=lambda e: (e.key, e.notebook))


def lesson_lines(expected: ExpectedLesson, lines: Iterable[str]) -> list[str]:
    """The lines of the phase's ``lessons.md`` that count as ``expected``'s lesson: those tagged
    ``notebook <key>``; for the post-mortem notebook also those of a post-mortem (with a run part)."""
    counted = []
    for line in lines:
        parsed = parse_lesson(line)
        if parsed is None or parsed.phase != expected.phase:
            continue
        if parsed.notebook == expected.key or (expected.from_postmortem and parsed.run is not None):
            counted.append(line)
    return counted


def lesson_for(key: str, notebooks_root: Path | None = None) -> ExpectedLesson:
    """The lesson of the course notebook numbered ``key`` (``"19.02"``: the master
    ``notebooks/phase-19-<theme>/02-<name>.py``). Raises ValueError when no single notebook has
    that number, and for the post-mortem notebook, whose lesson is its §7."""
    match = _KEY.fullmatch(key) if isinstance(key, str) else None
    if match is None:
        raise ValueError(f"{key!r} is not a notebook number; numbers look like '19.02' (phase 19, notebook 02).")  # i18n: not shown (a course author's mistake: a wrong key in lesson_box)
    phase, number = match.groups()
    root = repo_root() / "notebooks" if notebooks_root is None else Path(notebooks_root)
    sources = sorted(p for folder in root.glob(f"phase-{phase}*") if folder.is_dir()
                     for p in folder.glob(f"{number}-*.py"))
    if len(sources) != 1:
        raise ValueError(f"notebook {key}: expected one notebook notebooks/phase-{phase}-*/{number}-*.py, "  # i18n: not shown (a course author's mistake: a wrong key in lesson_box)
                         f"found {len(sources)}")
    expected = expected_lesson(f"phase-{phase}/{sources[0].stem}.ipynb")
    if expected is None:
        raise ValueError(f"notebook {key}: {sources[0].name} is not named like a course notebook (NN-name.py)")  # i18n: not shown (a course author's mistake: a wrong key in lesson_box)
    if expected.from_postmortem:
        raise ValueError(f"notebook {key} records its lesson in §7 of the post-mortem, not in a lesson box")  # i18n: not shown (a course author's mistake: a wrong key in lesson_box)
    return expected
