"""Learner copies of the course notebooks: stubs instead of solutions, no hidden checks.

The master notebooks in ``notebooks/phase-NN-<theme>/`` run the solutions and the hidden checks
(CI runs them). A learner works in a copy of their own::

    learners/<name>/phase-NN/<notebook>.ipynb

made from the same percent-format source by ``scripts/build_notebooks.py``
(``notebook_from_source(path, audience="learner")``): each ``[solution]`` cell is replaced
by its ``[stub]`` twin (metadata ``course.role = "stub"``, ``course.exercise = <id>``) and the
``[check]`` cells are left out. Copies are written unexecuted. An existing learner notebook
is never overwritten (it is the learner's work): it is kept, and the result says so.

The phase comes from the source's folder name (``phase-19-diagnosis`` -> ``phase-19``).
Only sources inside such a phase folder get learner copies (``notebooks/00-start-here``
is opened from ``notebooks/`` itself).

    python -m utils.learner_copies --learner José              # every phase
    python -m utils.learner_copies --learner José --phase 19   # one phase (repeatable)
    python -m utils.learner_copies --examples                   # refresh the example learners

``--examples`` (re)writes the submitted notebooks of the two example learners,
``learners/example-complete/`` (every exercise solved: the master's solution typed into the
stub cell) and ``learners/example-mistakes/`` (typical mistakes, see
``example_mistakes_notebooks``). It overwrites only those two folders' notebooks. When
example-mistakes has no post-mortem yet, it also writes that learner's notes
(``write_example_mistakes_notes``: it trains the broken run once, a few seconds, and saves its
run log beside the post-mortem, as the post-mortem notebook does); notes are never overwritten.
(example-complete's notes are written by running ``notebooks/phase-19-diagnosis/04-post-mortem``
as that learner, see ``scripts/build_notebooks.py``.)
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import nbformat

from utils.course.learner import learners_dir, repo_root, validate_learner_name

PHASE_FOLDER = re.compile(r"phase-(\d{2})(?:-[A-Za-z0-9_-]+)?$")
EXAMPLE_COMPLETE = "example-complete"
EXAMPLE_MISTAKES = "example-mistakes"
# What the example-mistakes learner typed into the exercise cell that hangs.
HANG_SOURCE = "# I will make it converge... eventually\nwhile True:\n    pass"


@lru_cache(maxsize=1)
def builder() -> ModuleType:
    """``scripts/build_notebooks.py`` as a module (it is a script, not part of ``utils``)."""
    path = repo_root() / "scripts" / "build_notebooks.py"
    spec = importlib.util.spec_from_file_location("build_notebooks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebooks_dir() -> Path:
    """The folder of the master notebooks and their sources: ``<repo>/notebooks``."""
    return repo_root() / "notebooks"


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
    for source in builder().find_sources(root):
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
    _, cells = builder().parse_cells(Path(source).read_text(encoding="utf-8"), Path(source).name)
    parts: dict[str, dict] = {}
    for _, text, role, ex_id in cells:
        if role is None:
            continue
        entry = parts.setdefault(ex_id, {"stub": "", "solution": "", "checks": []})
        if role == "check":
            entry["checks"].append(text)
        else:
            entry[role] = text
    return {
        ex_id: Exercise(ex_id, p["stub"], p["solution"], tuple(p["checks"]))
        for ex_id, p in parts.items()
    }


def learner_notebook(source: Path) -> nbformat.NotebookNode:
    """The unexecuted learner copy of one source (stubs, no checks)."""
    return builder().notebook_from_source(Path(source), audience="learner")


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


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The notebook as the text written to disk (validated, ending with a newline)."""
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def write_new(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` only if nothing is there yet; True when written.

    The file is written beside its target and then hard-linked into place, which fails when
    the target exists: a learner's notebook can never be replaced, even by a race.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, replacing what is there (example learners only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class CopyResult:
    """What happened to one learner notebook: ``written`` or ``kept`` (it existed already)."""

    path: Path
    status: str


def make_learner_copies(
    learner: str,
    phases: list[int] | None = None,
    notebooks_root: Path | None = None,
    learners_root: Path | None = None,
) -> list[CopyResult]:
    """Write the learner copies of every phase notebook into ``learners/<learner>/phase-NN/``.

    ``phases`` restricts to some phases (None: every phase). ``learners_root`` defaults to
    ``utils.course.learner.learners_dir()`` (``$COURSE_LEARNERS_DIR`` or ``learners/``). A notebook
    that exists already is the learner's work: it is kept as it is (status ``kept``).
    """
    name = validate_learner_name(learner)
    root = learners_dir() if learners_root is None else Path(learners_root)
    results = []
    for phase, source in phase_sources(notebooks_root, phases):
        target = root / name / f"phase-{phase:02d}" / source.with_suffix(".ipynb").name
        written = write_new(target, notebook_text(learner_notebook(source)))
        results.append(CopyResult(target, "written" if written else "kept"))
    return results


def example_mistakes_notebooks(notebooks_root: Path | None = None) -> dict[Path, nbformat.NotebookNode]:
    """The submitted notebooks of ``example-mistakes``: solved copies with two typical mistakes.

    Among the phase sources that have exercises (sorted by phase, then name): in the first,
    the first exercise is left as the stub (not done); in the last, the last exercise's cell
    holds an endless loop (the notebook hangs). Every other exercise is solved. Keys are
    paths relative to the learner's folder (``phase-NN/<name>.ipynb``).
    """
    with_exercises = [(p, s) for p, s in phase_sources(notebooks_root) if exercises_of(s)]
    out: dict[Path, nbformat.NotebookNode] = {}
    for phase, source in phase_sources(notebooks_root):
        out[Path(f"phase-{phase:02d}") / source.with_suffix(".ipynb").name] = solved_notebook(source)
    if not with_exercises:
        return out
    (first_phase, first), (last_phase, last) = with_exercises[0], with_exercises[-1]
    first_id = next(iter(exercises_of(first)))
    last_id = list(exercises_of(last))[-1]
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
            _replace(path, text)
    return sorted(wanted)


MISTAKES_WRONG_SPIKE_STEP = "328"  # the held-out peak step, typed where the spike step belongs
MISTAKES_LESSONS = {
    17: "a rare piece like tten gets an embedding row that almost never trains",
    18: "warmup and the peak learning rate set how far one bad batch can push the weights",
    20: "a detector that watches only for NaN misses a finite loss spike",
}


def example_mistakes_postmortem(reference: dict):
    """The example-mistakes post-mortem of run 19-spike-001: complete except for two mistakes.

    §1 is drafted from ``reference`` (``utils.spikelab.symptoms.compute`` of the broken run whose log is
    saved with it) and confirmed,
    except ``spike_step``, typed as 328: the step of the held-out loss peak, not the step where
    the training loss spiked (a wrong symptom). §3 (discriminating evidence) is left empty (a
    missing section). Everything else is valid.
    """
    from utils.spikelab.config import CANONICAL
    from utils.postmortem.template import Expectation, Hypothesis, PostMortem, Verification, draft_symptoms

    symptoms = draft_symptoms(reference)
    symptoms.confirmed = set(symptoms.drafted) - {"spike_step"}
    symptoms.drafted.discard("spike_step")
    symptoms.spike_step = MISTAKES_WRONG_SPIKE_STEP
    limit = reference["heldout_loss_before"] + 3 * reference["heldout_loss_noise"]
    return PostMortem(
        run_id=reference["run_id"],
        date="2026-11-23",
        symptoms=symptoms,
        hypotheses=[
            Hypothesis(1, "The late shard's consecutive batches of rare-participle sentences made the "
                          "model forget ordinary sentences", [1, 6]),
            Hypothesis(2, "The rare piece tten's untrained embedding rows gave a gradient spike that "
                          "damaged the shared weights", [3, 7]),
            Hypothesis(3, "The learning rate jumped at the spike step", [2]),
        ],
        evidence=[],
        root_cause=("Feeding the late shard as consecutive batches of the same rare-participle sentences "
                    "made the model forget ordinary sentences for a while."),
        remediation="Shuffle the shard's sentences into the training stream instead of feeding them as one block.",
        verification=Verification(
            seed=str(reference["seed"]), tolerance="0.05", step=str(CANONICAL.steps),
            expectations=[Expectation("heldout_loss_peak", "<", f"{limit:.3g}")]),
        lesson="Check panel 6 for runs of same-kind batches before blaming the gradient spike.",
    )


MISTAKES_VARIANT, MISTAKES_SEED = "broken", 42    # the run example-mistakes writes its post-mortem about


def write_example_mistakes_notes(run_log=None, learners_root: Path | None = None) -> list[str]:
    """Write example-mistakes' notes through ``utils.course.notes`` (never overwriting); what was written.

    The post-mortem ``example_mistakes_postmortem`` of ``run_log`` (saved without its lesson, with
    its run log beside it, as the post-mortem notebook saves them: ``utils.postmortem.template.save``) and
    one lesson line for phases 17, 18 and 20 (``MISTAKES_LESSONS``), none for phase 19: a third
    mistake. ``run_log`` defaults to a run of the broken variant (seed 42) on this machine.
    """
    from utils.postmortem import template as postmortem
    from utils.spikelab import symptoms
    from utils.course.notes import append_lesson, display_path, read_lessons

    if run_log is None:
        from utils.spikelab.train import run_variant

        run_log = run_variant(MISTAKES_VARIANT, seed=MISTAKES_SEED)
    pm = example_mistakes_postmortem(symptoms.compute(run_log))
    old = os.environ.get("COURSE_LEARNERS_DIR")
    if learners_root is not None:
        os.environ["COURSE_LEARNERS_DIR"] = str(learners_root)
    try:
        written = [display_path(postmortem.save(pm, learner=EXAMPLE_MISTAKES, run_log=run_log))]
        written.append(display_path(postmortem.saved_run_log_path(pm.run_id, learner=EXAMPLE_MISTAKES)))
        for day, (phase, text) in enumerate(sorted(MISTAKES_LESSONS.items()), start=20):
            if not read_lessons(phase, learner=EXAMPLE_MISTAKES):
                append_lesson(phase, text, learner=EXAMPLE_MISTAKES, today=datetime.date(2026, 11, day))
                written.append(f"{EXAMPLE_MISTAKES} phase {phase} lesson")
    finally:
        if learners_root is not None:
            if old is None:
                os.environ.pop("COURSE_LEARNERS_DIR", None)
            else:
                os.environ["COURSE_LEARNERS_DIR"] = old
    return written


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
        parser.error("give either --learner NAME or --examples")
    root = learners_dir()
    if args.examples:
        for path in make_example_submissions(learners_root=root):
            print(f"wrote {_shown(path, root)}")
        if not (root / EXAMPLE_MISTAKES / "phase-19" / "notes" / "postmortems").is_dir():
            print("training the broken run once for the example-mistakes post-mortem ...", flush=True)
            for line in write_example_mistakes_notes(learners_root=root):
                print(f"wrote {line}")
        return 0
    try:
        results = make_learner_copies(args.learner, phases=args.phase, learners_root=root)
    except ValueError as err:
        parser.error(str(err))
    if not results:
        print("no phase notebooks found" + (f" for phase(s) {args.phase}" if args.phase else ""))
    for result in results:
        if result.status == "written":
            print(f"wrote {_shown(result.path, root)}")
        else:
            print(f"kept  {_shown(result.path, root)} (it exists: it is your work, not overwritten)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
