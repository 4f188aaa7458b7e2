"""Learner copies of the course notebooks: stubs instead of solutions, no hidden checks.

The master notebooks in ``notebooks/phase-NN-<theme>/`` run the solutions and the hidden checks
(CI runs them). A learner works in a copy of their own::

    learners/<name>/phase-NN/<notebook>.ipynb

made from the same percent-format source (``utils.course.notebook_build.notebook_from_source(path,
audience="learner")``): each ``solution`` cell is replaced by its ``stub`` twin (tag ``stub``,
metadata ``course.role = "stub"``, ``course.exercise = <id>``) and the ``check`` cells are left out. Copies are written unexecuted. An existing learner notebook
is never overwritten (it is the learner's work): it is kept, and the result says so.

Each copy records which version of its master it was made from: ``course.made_from`` in the
notebook's metadata, a hash of the copy as it was written (JupyterLab keeps it when the learner
saves). When the master has changed since, making the copies again writes a new copy *beside*
the old one, ``<notebook>.v2.ipynb`` (then ``.v3``, ...), and never touches the old one.

The phase comes from the source's folder name (``phase-19-diagnosis`` -> ``phase-19``).
Only sources inside such a phase folder get learner copies (``notebooks/00-start-here``
is opened from ``notebooks/`` itself).

    python -m utils.learner_copies --learner José              # every phase
    python -m utils.learner_copies --learner José --phase 19   # one phase (repeatable)
    python -m utils.learner_copies --examples                   # refresh the example learners

``--examples`` (re)writes the submitted notebooks of the two example learners,
``learners/example-complete/`` (every exercise solved: the master's solution typed into the
stub cell) and ``learners/example-mistakes/`` (typical mistakes, see
``example_mistakes_notebooks``). It overwrites only those two folders' notebooks; they are
generated, not kept in the repository (the tests and ``scripts/test.sh`` make them). When
example-mistakes has no post-mortem yet, it also writes that learner's notes, and it appends each
example learner's lesson of a notebook that its ``lessons.md`` lacks
(``utils.course.example_learners``); notes are never overwritten.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from utils.course.example_learners import (EXAMPLE_COMPLETE, EXAMPLE_MISTAKES, write_example_answers,
                                           write_example_lessons, write_example_mistakes_notes)
from utils.course.learner import learners_dir, validate_learner_name
from utils.course.profile import learner_language
from utils.course.notebook_build import notebook_from_source, notebook_text, notebooks_dir
from utils.course.notebook_source import find_sources, read_source_file
from utils.spikelab.atomic import atomic_write
from utils.text import say, speaking

PHASE_FOLDER = re.compile(r"phase-(\d{2})(?:-[A-Za-z0-9_-]+)?$")
MADE_FROM = "made_from"      # notebook metadata course.made_from: the hash of the copy as first written
COPY_VERSION = re.compile(r"^(?P<stem>.+)\.v(?P<number>\d+)$")   # 02-dashboard.v2 -> 02-dashboard, 2
# What the example-mistakes learner typed into the exercise cell that hangs.
HANG_SOURCE = "# I will make it converge... eventually\nwhile True:\n    pass"  # i18n: not shown (code the example typed)


def phase_of(source: Path) -> int | None:
    """The phase of a source from its folder name (``.../phase-19-diagnosis/x.py`` -> 19), else None."""
    match = PHASE_FOLDER.match(Path(source).parent.name)
    return int(match.group(1)) if match else None


def phase_sources(notebooks_root: Path | None = None, phases: list[int] | None = None) -> list[tuple[int, Path]]:
    """Every (phase, source) under ``notebooks_root`` in a ``phase-NN[-theme]`` folder, sorted.

    ``phases`` keeps only those phases (None: all).
    """
    root = notebooks_dir() if notebooks_root is None else Path(notebooks_root)
    found = []
    for source in find_sources(root):
        phase = phase_of(source)
        if phase is not None and (phases is None or phase in phases):
            found.append((phase, source))
    return sorted(found, key=lambda ps: (ps[0], ps[1].name))


@dataclass(frozen=True)
class Exercise:
    """One exercise of a source: its id, the stub, the solution and the hidden check cells."""

    id: str
    stub: str
    solution: str
    checks: tuple[str, ...]


def exercises_of(source: Path) -> dict[str, Exercise]:
    """The exercises of a percent-format source by id, in the order they appear."""
    _, cells = read_source_file(Path(source))
    parts: dict[str, dict] = {}
    for cell in cells:
        if cell.role is None:
            continue
        entry = parts.setdefault(cell.exercise, {"stub": "", "solution": "", "checks": []})
        if cell.role == "check":
            entry["checks"].append(cell.source)
        else:
            entry[cell.role] = cell.source
    return {
        ex_id: Exercise(ex_id, p["stub"], p["solution"], tuple(p["checks"]))
        for ex_id, p in parts.items()
    }


def learner_notebook(source: Path) -> nbformat.NotebookNode:
    """The unexecuted learner copy of one source (stubs, no checks)."""
    return notebook_from_source(Path(source), audience="learner")


def solved_notebook(source: Path) -> nbformat.NotebookNode:
    """A learner copy in which every stub cell holds the master's solution.

    This is what a learner who solved every exercise submits: the stub cell keeps its
    metadata (``course.role = "stub"``, ``course.exercise``) and its text is the solution.
    """
    nb = learner_notebook(source)
    exercises = exercises_of(source)
    for cell in nb.cells:
        ex_id = cell.metadata.get("course", {}).get("exercise")
        if ex_id is not None:
            cell.source = exercises[ex_id].solution
    return nb


@dataclass(frozen=True)
class CopyResult:
    """What happened to one learner notebook.

    ``written``: a first copy; ``kept``: the copy exists and its master has not changed (``path`` is
    the newest copy); ``new copy``: the master changed since ``earlier`` was made, so a new copy
    ``path`` was written beside it (``earlier`` is left as it is)."""

    path: Path
    status: str
    earlier: Path | None = None


def stamped_copy(source: Path) -> tuple[str, str]:
    """(the text of the learner copy of ``source``, with ``course.made_from`` set; that hash)."""
    nb = learner_notebook(source)
    digest = hashlib.sha256(notebook_text(nb).encode("utf-8")).hexdigest()[:16]
    nb.metadata["course"][MADE_FROM] = digest
    return notebook_text(nb), digest


def made_from(path: Path) -> str | None:
    """The ``course.made_from`` hash of a learner copy, or None (no hash, or not a readable notebook)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))["metadata"]["course"][MADE_FROM]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def copy_versions(first: Path) -> list[Path]:
    """The learner's copies of one notebook, oldest first: ``first`` (``02-dashboard.ipynb``) when it
    exists, then ``02-dashboard.v2.ipynb``, ``.v3``, ... in number order."""
    found = [(1, first)] if first.is_file() else []
    for path in first.parent.glob(f"{first.stem}.v*.ipynb") if first.parent.is_dir() else []:
        match = COPY_VERSION.match(path.stem)
        if match and match.group("stem") == first.stem and path.is_file() and int(match.group("number")) >= 2:
            found.append((int(match.group("number")), path))
    return [path for _, path in sorted(found)]


def make_learner_copies(
    learner: str,
    phases: list[int] | None = None,
    notebooks_root: Path | None = None,
    learners_root: Path | None = None,
) -> list[CopyResult]:
    """Write the learner copies of every phase notebook into ``learners/<learner>/phase-NN/``.

    ``phases`` restricts to some phases (None: every phase). ``learners_root`` defaults to
    ``utils.course.learner.learners_dir()`` (``$COURSE_LEARNERS_DIR`` or ``learners/``). A notebook
    that exists already is the learner's work and is never overwritten: it is kept (status ``kept``)
    when it was made from the master as it is now, or when it does not say what it was made from;
    when the master has changed since, a new copy is written beside the newest one
    (``<notebook>.vN.ipynb``, status ``new copy``).
    """
    name = validate_learner_name(learner)
    root = learners_dir() if learners_root is None else Path(learners_root)
    results = []
    for phase, source in phase_sources(notebooks_root, phases):
        first = root / name / f"phase-{phase:02d}" / source.with_suffix(".ipynb").name
        text, digest = stamped_copy(source)
        versions = copy_versions(first)
        if not versions and atomic_write(first, text, exclusive=True):
            results.append(CopyResult(first, "written"))
            continue
        versions = versions or copy_versions(first)         # written meanwhile by another process
        newest = versions[-1]
        if made_from(newest) in (digest, None):
            results.append(CopyResult(newest, "kept"))
            continue
        number = len(versions) + 1
        while True:
            new = first.with_name(f"{first.stem}.v{number}.ipynb")
            if atomic_write(new, text, exclusive=True):
                break
            number += 1
        results.append(CopyResult(new, "new copy", earlier=newest))  # i18n: not shown (a status code)
    return results


def _checked(source: Path) -> list[str]:
    """The ids of the exercises of ``source`` that have hidden check cells, in order."""
    return [ex_id for ex_id, ex in exercises_of(source).items() if ex.checks]


def example_mistakes_notebooks(notebooks_root: Path | None = None) -> dict[Path, nbformat.NotebookNode]:
    """The submitted notebooks of ``example-mistakes``: solved copies with two typical mistakes.

    Among the phase sources that have exercises with hidden checks (sorted by phase, then name): in
    the first, the first such exercise is left as the stub (not done); in the last, the last one's cell
    holds an endless loop (the notebook hangs). Every other exercise is solved. Keys are
    paths relative to the learner's folder (``phase-NN/<name>.ipynb``).
    """
    # (only exercises with hidden checks: a choice question's answer is graded from the notes)
    with_exercises = [(p, s) for p, s in phase_sources(notebooks_root) if _checked(s)]
    out: dict[Path, nbformat.NotebookNode] = {}
    for phase, source in phase_sources(notebooks_root):
        out[Path(f"phase-{phase:02d}") / source.with_suffix(".ipynb").name] = solved_notebook(source)
    if not with_exercises:
        return out
    (first_phase, first), (last_phase, last) = with_exercises[0], with_exercises[-1]
    first_id, last_id = _checked(first)[0], _checked(last)[-1]
    stubs = {c.metadata["course"]["exercise"]: c.source for c in learner_notebook(first).cells
             if "course" in c.metadata}
    for phase, source, ex_id, text in ((first_phase, first, first_id, stubs[first_id]),
                                       (last_phase, last, last_id, HANG_SOURCE)):
        nb = out[Path(f"phase-{phase:02d}") / source.with_suffix(".ipynb").name]
        for cell in nb.cells:
            if cell.metadata.get("course", {}).get("exercise") == ex_id:
                cell.source = text
    return out


def make_example_submissions(
    notebooks_root: Path | None = None, learners_root: Path | None = None
) -> list[Path]:
    """(Re)write the submitted notebooks of the two example learners; returns the paths.

    ``example-complete``: ``solved_notebook`` of every phase source. ``example-mistakes``:
    ``example_mistakes_notebooks``. Notebooks of those two learners whose source is gone are
    removed; their notes are never touched.
    """
    root = learners_dir() if learners_root is None else Path(learners_root)
    wanted: dict[Path, str] = {}
    for phase, source in phase_sources(notebooks_root):
        rel = Path(f"phase-{phase:02d}") / source.with_suffix(".ipynb").name
        wanted[root / EXAMPLE_COMPLETE / rel] = notebook_text(solved_notebook(source))
    for rel, nb in example_mistakes_notebooks(notebooks_root).items():
        wanted[root / EXAMPLE_MISTAKES / rel] = notebook_text(nb)
    for name in (EXAMPLE_COMPLETE, EXAMPLE_MISTAKES):
        for old in sorted((root / name).glob("phase-*/*.ipynb")):
            if old not in wanted:
                old.unlink()
    for path, text in sorted(wanted.items()):
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            atomic_write(path, text)
    return sorted(wanted)


def _shown(path: Path, root: Path) -> str:
    """``learners/<name>/...`` for a path inside the learners folder (never absolute)."""
    try:
        return (Path("learners") / path.relative_to(root)).as_posix()
    except ValueError:
        return f".../{path.name}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.learner_copies",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--learner", help="the learner's name (their folder under learners/)")
    parser.add_argument("--phase", type=int, action="append", help="only this phase (repeatable)")
    parser.add_argument("--examples", action="store_true",
                        help="rewrite the notebooks of learners/example-complete and example-mistakes")
    args = parser.parse_args(argv)
    if bool(args.learner) == args.examples:
        parser.error("give either --learner NAME or --examples")  # i18n: not shown (the command's usage)
    root = learners_dir()
    if args.examples:
        for path in make_example_submissions(learners_root=root):
            print(f"wrote {_shown(path, root)}")
        if not (root / EXAMPLE_MISTAKES / "phase-19" / "notes" / "postmortems").is_dir():
            print("training the broken run once for the example-mistakes post-mortem ...",  # i18n: not shown (--examples: the instructor's)
                  flush=True)
            for line in write_example_mistakes_notes(learners_root=root):
                print(f"wrote {line}")
        for line in write_example_lessons(learners_root=root):     # those missing only: lessons are never rewritten
            print(f"wrote {line}")
        for line in write_example_answers([s for _, s in phase_sources()], learners_root=root):   # missing only
            print(f"wrote {line}")
        return 0
    with speaking(learner_language(args.learner, root)):      # the learner reads these lines in their language
        try:
            results = make_learner_copies(args.learner, phases=args.phase, learners_root=root)
        except ValueError as err:
            parser.error(str(err))
        if not results:
            print(say("no phase notebooks found", "no se ha encontrado ningún cuaderno de fase")
                  + (say(f" for phase(s) {args.phase}", f" para la(s) fase(s) {args.phase}") if args.phase else ""))
        for result in results:
            shown = _shown(result.path, root)
            if result.status == "written":
                print(say(f"wrote {shown}", f"creado {shown}"))
            elif result.status == "new copy":
                earlier = _shown(result.earlier, root)
                print(say(f"wrote {shown} (the course changed this notebook since {earlier} was made; that one "
                          "is kept as it is)",
                          f"creado {shown} (el curso cambió este cuaderno después de crear {earlier}; esa copia "
                          "se queda tal como está)"))
            else:
                print(say(f"kept  {shown} (it exists: it is your work, not overwritten)",
                          f"conservado {shown} (ya existe: es tu trabajo, no se sobrescribe)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
