"""The graded copy of a submitted notebook: the learner's cells, outputs cleared, with the
instructor's hidden check cells of the master source inserted after the learner's cell of the
same exercise (the cell whose metadata says ``course.exercise = <id>``)."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import nbformat

from utils.course.learner_copies import Exercise
from utils.text import say


def _exercise_of(cell) -> str | None:
    """The exercise id in a cell's metadata (``course.exercise``), or None."""
    course = cell.get("metadata", {}).get("course")
    if isinstance(course, dict) and isinstance(course.get("exercise"), str):
        return course["exercise"]
    return None


@dataclass
class GradedCopy:
    """A graded notebook and what each of its code cells is (nbval numbers code cells 0, 1, ...).

    ``roles[k]`` is ``("check", id, n)`` for the n-th check cell of exercise ``id``,
    ``("exercise", id, 0)`` for a learner's exercise cell, ``("cell", None, 0)`` otherwise.
    ``where[k]`` says which cell of the submitted notebook code cell k is ("cell 7 (`x = 1`)"),
    for messages about the learner's own cells. ``missing`` lists (id, number of checks) of
    the exercises whose cell was not found.
    """

    notebook: nbformat.NotebookNode
    roles: list[tuple[str, str | None, int]]
    where: list[str]
    missing: list[tuple[str, int]]


def graded_copy(submitted: nbformat.NotebookNode, exercises: dict[str, Exercise]) -> GradedCopy:
    """The learner's cells, outputs cleared, with each exercise's check cells after its cell.

    The learner's cell of an exercise is the last cell whose metadata says
    ``course.exercise = <id>``; failing that, the last code cell still calling
    ``exercise_todo("<id>", ...)``. Exercises whose cell is not found get no check cell and
    are listed in ``missing``.
    """
    nb = copy.deepcopy(submitted)
    cells = [c for c in nb.cells if c.get("cell_type") in ("code", "markdown", "raw")]
    anchor: dict[str, int] = {}
    for index, cell in enumerate(cells):
        ex_id = _exercise_of(cell)
        if ex_id in exercises and cell.cell_type == "code":
            anchor[ex_id] = index
    for ex_id in exercises:
        if ex_id in anchor:
            continue
        call = re.compile(r"exercise_todo\(\s*['\"]" + re.escape(ex_id) + r"['\"]")
        for index, cell in enumerate(cells):
            if cell.cell_type == "code" and call.search(cell.source):
                anchor[ex_id] = index
    out, roles, where = [], [], []
    for index, cell in enumerate(cells):
        anchored = [e for e, i in anchor.items() if i == index]
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            own = anchored[0] if anchored else _exercise_of(cell)
            roles.append(("exercise", own, 0) if own in exercises else ("cell", None, 0))
            first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
            first = first if len(first) <= 40 else first[:39] + "…"
            cell_n = say(f"cell {index + 1}", f"celda {index + 1}")
            where.append(f"{cell_n} (`{first}`)" if first else cell_n)
        out.append(cell)
        for ex_id in anchored:
            for n, text in enumerate(exercises[ex_id].checks):
                check = nbformat.v4.new_code_cell(text)
                check.metadata["course"] = {"role": "check", "exercise": ex_id}
                out.append(check)
                roles.append(("check", ex_id, n))
                where.append(say(f"check {ex_id}", f"comprobación {ex_id}"))
    nb.cells = out
    for number, cell in enumerate(nb.cells):
        cell["id"] = f"graded-{number}"  # unique ids, whatever the learner's notebook held
    missing = [(e, len(ex.checks)) for e, ex in exercises.items() if ex.checks and e not in anchor]
    return GradedCopy(nb, roles, where, missing)
