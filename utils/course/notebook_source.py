"""The percent-format sources of the course notebooks, read through jupytext.

A source ``notebooks/**/<name>.py`` is a jupytext percent-format notebook::

    # ---
    # jupyter:
    #   course:
    #     nbval: strict           <- optional header: how scripts/test.sh checks it (default lax)
    # ---

    # %% [markdown]
    # # A title
    # %% tags=["nbval-check-output"]
    print("a code cell whose output nbval compares")
    # %% tags=["stub"] exercise="ema-50"
    ema = exercise_todo("ema-50", "...")
    # %% tags=["solution"] exercise="ema-50"
    ema = ...
    # %% tags=["check"] exercise="ema-50"
    assert ...

Cell tags are the Jupyter convention: a role tag (``solution``, ``stub``, ``check``) with the
cell's ``exercise`` id marks an exercise cell; nbval's tags (``nbval-check-output``,
``nbval-ignore-output``, ...) say how nbval treats the cell. A ``solution`` runs in the
master notebook (CI checks it); its ``stub`` twin replaces it in learner copies; a ``check``
cell is hidden from learners and re-inserted by the grader after the learner's cell.

Reading refuses what the course would silently misread (a typo in a tag, an old-style
marker, an empty cell, text outside a cell), with the line number where it can.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jupytext

ROLES = ("solution", "stub", "check")
NBVAL_TAGS = ("nbval-check-output", "nbval-ignore-output", "nbval-skip", "nbval-raises-exception",
              "raises-exception")
NBVAL_MODES = ("strict", "lax")
CELL_MARKER = re.compile(r"# %%(.*)$")
EXERCISE_ID = re.compile(r"[a-z0-9][a-z0-9-]*$")
HEADER_FENCE = "# ---"
# jupytext's notes on blank lines around a cell: layout of the text file, not cell metadata
LAYOUT_KEYS = ("lines_to_next_cell", "lines_to_end_of_cell_marker")


class SourceError(ValueError):
    """A percent-format source that cannot be turned into a notebook."""


@dataclass(frozen=True)
class SourceCell:
    """One cell of a source: its type, text, tags, and exercise role and id (None when not one)."""

    cell_type: str
    source: str
    tags: tuple[str, ...] = ()
    role: str | None = None
    exercise: str | None = None


def _trim_blank_lines(text: str) -> str:
    """Drop blank lines at the start and end of a cell."""
    lines = text.splitlines()
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end])


def _check_layout(lines: list[str], name: str) -> None:
    """Line-level rules jupytext does not enforce: nothing outside a cell, markdown commented out."""
    number = 0
    if lines and lines[0].rstrip() == HEADER_FENCE:
        closing = [i for i, line in enumerate(lines[1:], start=1) if line.rstrip() == HEADER_FENCE]
        if not closing:
            raise SourceError(f"{name}:1: the '# ---' header is never closed")
        number = closing[0] + 1
    in_markdown = seen_cell = False
    for number, line in enumerate(lines[number:], start=number + 1):
        marker = CELL_MARKER.match(line)
        if marker:
            seen_cell = True
            in_markdown = marker.group(1).strip().startswith("[markdown]")
        elif not seen_cell and line.strip():
            raise SourceError(f"{name}:{number}: text before the first '# %%' cell marker")
        elif in_markdown and line.strip() and not (line == "#" or line.startswith("# ")):
            raise SourceError(f"{name}:{number}: a markdown line must start with '# ' (got {line!r})")


def _nbval_mode(metadata: dict, name: str) -> str:
    """The notebook's nbval mode from its header (``course: nbval:``), default lax."""
    course = metadata.get("course", {})
    if not isinstance(course, dict) or set(course) - {"nbval"}:
        raise SourceError(f"{name}: the header's 'course' may only hold 'nbval' (got {course!r})")
    mode = course.get("nbval", "lax")
    if mode not in NBVAL_MODES:
        raise SourceError(f"{name}: nbval mode must be 'strict' or 'lax', not {mode!r}")
    return mode


def _cell(cell, index: int, name: str) -> SourceCell:
    """A jupytext cell as a SourceCell, refusing metadata the course does not use."""
    where = f"{name}: cell {index}"
    if cell.cell_type not in ("code", "markdown"):
        raise SourceError(f"{where}: a cell starts with '# %%' or '# %% [markdown]', not a {cell.cell_type} cell")
    meta = {k: v for k, v in cell.metadata.items() if k not in LAYOUT_KEYS}
    unknown = set(meta) - {"tags", "exercise"}
    if unknown:
        raise SourceError(f"{where}: a cell marker may carry only tags=[...] and exercise=\"id\" "
                          f"(got {sorted(unknown)}: an old '[solution] id=x' marker? write "
                          "tags=[\"solution\"] exercise=\"x\")")
    tags = meta.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise SourceError(f"{where}: tags must be a list of strings")
    wrong = [t for t in tags if t not in ROLES + NBVAL_TAGS]
    if wrong:
        raise SourceError(f"{where}: unknown tag(s) {wrong} (known: {', '.join(ROLES + NBVAL_TAGS)})")
    roles = [t for t in tags if t in ROLES]
    exercise = meta.get("exercise")
    if len(roles) > 1:
        raise SourceError(f"{where}: one role tag per cell, not {roles}")
    if roles and cell.cell_type != "code":
        raise SourceError(f"{where}: only a code cell can be a {roles[0]} cell")
    if bool(roles) != (exercise is not None):
        raise SourceError(f"{where}: a {'/'.join(ROLES)} tag and exercise=\"id\" go together")
    if exercise is not None and not (isinstance(exercise, str) and EXERCISE_ID.match(exercise)):
        raise SourceError(f"{where}: exercise id {exercise!r} must be lowercase letters, digits and '-'")
    source = _trim_blank_lines(cell.source)
    if not source:
        raise SourceError(f"{where}: empty cell")
    return SourceCell(cell.cell_type, source, tuple(tags), roles[0] if roles else None, exercise)


def read_source(text: str, name: str = "<source>") -> tuple[str, list[SourceCell]]:
    """(nbval mode, every cell in order) of a percent-format source; raises SourceError."""
    _check_layout(text.splitlines(), name)
    nb = jupytext.reads(text, fmt="py:percent")
    mode = _nbval_mode(nb.metadata, name)
    cells = [_cell(cell, index, name) for index, cell in enumerate(nb.cells, start=1)]
    if not cells:
        raise SourceError(f"{name}: no '# %%' cells found")
    solutions = {c.exercise for c in cells if c.role == "solution"}
    stubs = {c.exercise for c in cells if c.role == "stub"}
    if solutions != stubs:
        raise SourceError(f"{name}: every solution cell needs a stub cell with the same exercise id "
                          f"(unpaired: {sorted(solutions ^ stubs)})")
    return mode, cells


def read_source_file(path: Path, name: str | None = None) -> tuple[str, list[SourceCell]]:
    """``read_source`` of a file (``name`` is how messages show it, default the file name)."""
    return read_source(Path(path).read_text(encoding="utf-8"), name or Path(path).name)


def find_sources(root: Path) -> list[Path]:
    """Every percent-format source under ``root`` (a .py with a '# %%' line), sorted."""
    found = []
    for path in sorted(Path(root).rglob("*.py")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        if any(CELL_MARKER.match(line) for line in path.read_text(encoding="utf-8").splitlines()):
            found.append(path)
    return found
