"""Grading a class: the learners' folders, what each handed in, and the grading of them all.

``learners/<name>/`` holds what a learner hands in: notebooks ``phase-NN/*.ipynb`` (their
copies, see ``utils.course.learner_copies``) and notes ``phase-NN/notes/`` (see
``utils.course.notes``). Each learner's folder is first copied to a temporary snapshot, so
nothing the graded code does can change what is graded; the notebooks run ``jobs`` at a time
while the notes are checked. ``--all`` grades every folder whose name is a valid learner name;
``skipped_folders`` says why each other folder is left out.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from utils.course.grading.answers import grade_answers
from utils.course.grading.notebook import grade_notebook
from utils.course.grading.notes_checks import grade_notes
from utils.course.grading.results import LearnerGrade, NotebookGrade, short
from utils.course.grading.runner import DEFAULT_CELL_TIMEOUT_S, DEFAULT_NOTEBOOK_TIMEOUT_S
from utils.course.learner import LearnerNameError, learners_dir, validate_learner_name
from utils.course.learner_copies import COPY_VERSION, exercises_of, notebooks_dir, phase_sources
from utils.course.profile import learner_language
from utils.text import say, speaking

_PHASE_DIR = re.compile(r"phase-(\d{2})$")


def submitted_notebooks(folder: Path) -> dict[str, Path]:
    """``phase-NN/<name>.ipynb`` -> path, for every notebook the learner handed in."""
    found = {}
    for phase_dir in sorted(folder.iterdir()) if folder.is_dir() else []:
        if phase_dir.is_dir() and _PHASE_DIR.match(phase_dir.name):
            for nb in sorted(phase_dir.glob("*.ipynb")):
                if nb.is_file() and not nb.name.startswith("."):
                    found[f"{phase_dir.name}/{nb.name}"] = nb
    return found


def master_source(rel: str, notebooks_root: Path) -> Path | None:
    """The master source of ``phase-NN/<name>.ipynb``: ``notebooks/phase-NN[-theme]/<name>.py``.

    A newer copy ``<name>.v2.ipynb`` (made when the master changed, ``utils.course.learner_copies``)
    has the same master."""
    phase, name = int(rel[6:8]), Path(rel).stem
    version = COPY_VERSION.match(name)
    name = version.group("stem") if version else name
    found = [s for _, s in phase_sources(notebooks_root, [phase]) if s.stem == name]
    return found[0] if len(found) == 1 else None


def learner_folders(root: Path) -> tuple[list[str], list[str]]:
    """(the learner names of the folders under ``root``, one line per other folder saying why it is
    not a learner's). Hidden folders (``.ipynb_checkpoints``) are neither."""
    names, skipped = [], []
    for child in sorted(root.iterdir()) if root.is_dir() else []:
        if not child.is_dir() or child.name.startswith("."):
            continue
        shown = ascii(child.name)[1:-1] if not child.name.isprintable() else child.name  # a newline stays visible
        try:
            name = validate_learner_name(child.name)
        except LearnerNameError as err:
            skipped.append(  # i18n: not shown (the instructor's console and class summary)
                f"learners/{shown}/: not graded, its name is not a learner name: {err}")
            continue
        if name != child.name:      # "ana " or another Unicode form: the folder of 'ana' is not this one
            skipped.append(  # i18n: not shown (the instructor's console and class summary)
                f"learners/{shown}/: not graded, the folder name is not written as the learner "
                f"name {name!r} (spaces around it or another Unicode form): rename it {name!r}")
            continue
        names.append(name)
    return names, skipped


def all_learners(root: Path | None = None) -> list[str]:
    """Every learner folder under the learners folder (valid names only), sorted
    (`skipped_folders` says why each other folder is left out)."""
    return learner_folders(learners_dir() if root is None else Path(root))[0]


def skipped_folders(root: Path | None = None) -> list[str]:
    """One line per folder under the learners folder that ``--all`` does not grade, saying why."""
    return learner_folders(learners_dir() if root is None else Path(root))[1]


def grade(learners: list[str], learners_root: Path | None = None, notebooks_root: Path | None = None,
          jobs: int = 1, cell_timeout: float = DEFAULT_CELL_TIMEOUT_S,
          notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT_S, progress=None,
          run_cache: Path | None = None) -> list[LearnerGrade]:
    """Grade the learners' notebooks (``jobs`` nbval runs at a time) and notes; one result each.

    Each learner's folder is first copied to a temporary snapshot: the notes are checked on
    it and the notebooks are taken from it, so nothing the graded code does can change what
    is graded. Each post-mortem's §1 is checked against the run log saved with it (nothing is
    trained for it). ``progress(message)`` is called as notebooks finish. ``run_cache``: a trusted folder
    of finished runs copied into each notebook's own run cache (``runner.run_nbval``), so the graded
    notebooks do not train them again.
    """
    root = learners_dir() if learners_root is None else Path(learners_root)
    nb_root = notebooks_dir() if notebooks_root is None else Path(notebooks_root)
    names = [validate_learner_name(n) for n in learners]
    for name in names:
        if not (root / name).is_dir():
            raise FileNotFoundError(f"no folder learners/{name}/")  # i18n: not shown (instructor's console)
    base_env = dict(os.environ)  # read once, here: grade_notes changes os.environ for a moment
    with tempfile.TemporaryDirectory(prefix="grading-snapshot-", ignore_cleanup_errors=True) as snap:
        snapshot = Path(snap)
        for name in names:
            shutil.copytree(root / name, snapshot / name, symlinks=True)
        # each learner is graded and reported in their own language (their profile; COURSE_LANG wins)
        results = {name: LearnerGrade(name, language=learner_language(name, root)) for name in names}
        tasks, handed_in = [], {}
        for name in names:
            submitted = submitted_notebooks(snapshot / name)
            handed_in[name] = sorted(submitted)
            started = {int(d.name[6:8]) for d in (snapshot / name).iterdir()
                       if d.is_dir() and _PHASE_DIR.match(d.name)}
            for phase, source in phase_sources(nb_root, sorted(started)):
                rel = f"phase-{phase:02d}/{source.stem}.ipynb"
                if rel not in submitted and any(ex.checks for ex in exercises_of(source).values()):
                    results[name].not_submitted.append(rel)
            for rel, path in submitted.items():
                tasks.append((name, rel, path, master_source(rel, nb_root)))

        def one(task):
            name, rel, path, source = task
            try:
                with speaking(results[name].language):
                    graded = grade_notebook(path, rel, name, snapshot / name, source, cell_timeout,
                                            notebook_timeout, base_env, run_cache=run_cache)
            except Exception as err:  # the grader's own failure on one notebook stops nothing else
                graded = NotebookGrade(rel, "error", note=short(say(f"grader error: {type(err).__name__}: {err}",
                                                                    f"fallo del corrector: {type(err).__name__}: {err}")))
            if progress:
                progress(f"{name}: {rel}: {graded.status}")
            return graded

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(one, task) for task in tasks]
            # Meanwhile, in this thread: the notes.
            for name in names:
                with speaking(results[name].language):
                    results[name].notes = grade_notes(name, snapshot, handed_in[name]) + grade_answers(
                    name, snapshot, {rel: master_source(rel, nb_root) for rel in handed_in[name]})
            for (name, *_), future in zip(tasks, futures):
                results[name].notebooks.append(future.result())
    return [results[name] for name in names]
