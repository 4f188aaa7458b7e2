"""Grading the real thing: the two example learners, built from the course's own notebooks of every
phase (17, 18, 19, 20) by ``python -m utils.learner_copies --examples``, graded once for the whole file.

The complete example passes every check; the mistakes example fails exactly the checks its mistakes
should fail (listed below); a learner who saved nothing gets one clear line per missing note.

The complete example hands in every notebook of the course; the mistakes example hands in only the
notebooks where its mistakes are (``MISTAKES_HANDED_IN``): its other notebooks are checked to be the
complete example's, cell for cell, so grading them again would test nothing new (and cost minutes).
Each graded notebook starts from a copy of the session's run cache (``COURSE_RUN_CACHE``, which
scripts/test.sh fills first), so it does not train the course's runs again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from utils.course import grading
from utils.course.answers import questions_in
from utils.course.learner_copies import (EXAMPLE_COMPLETE, EXAMPLE_MISTAKES, exercises_of, phase_sources)
from utils.course.lessons import POSTMORTEM_LESSON_NOTEBOOK, lessons_expected
from utils.postmortem import SECTION_TITLES

REPO = Path(__file__).resolve().parent.parent
REAL_LEARNERS = REPO / "learners"
CELL_TIMEOUT = 60           # the longest cell with a warm run cache takes about 16 s; the hang is cut here
NOTEBOOK_TIMEOUT = 1200
NOTEBOOKS = [f"phase-{phase:02d}/{source.stem}.ipynb" for phase, source in phase_sources()]
PM = "post-mortem 19-spike-001.md"
SECTION1 = f"{PM}: §1 vs its saved run log"
NAN_PM = "post-mortem nan.md"


def _with_exercises() -> list[tuple[str, list[str]]]:
    """(notebook, its exercise ids with hidden checks) of every course notebook that has such exercises, in the
    course's order (a choice question's exercise has no check cell: its answer is graded from the notes)."""
    checked = [(f"phase-{phase:02d}/{source.stem}.ipynb", [e for e, ex in exercises_of(source).items() if ex.checks])
               for phase, source in phase_sources()]
    return [(rel, ids) for rel, ids in checked if ids]


def _answer_checks() -> list[str]:
    """The names of the answer checks, in the grader's order: each choice question of each notebook."""
    return [grading.answer_check_name(f"phase-{phase:02d}/{source.stem}.ipynb", spec.question)
            for phase, source in sorted(phase_sources(), key=lambda ps: f"phase-{ps[0]:02d}/{ps[1].stem}.ipynb")
            for spec in questions_in(source)]


# The mistakes of example-mistakes (utils.course.learner_copies.example_mistakes_notebooks and
# utils.course.example_learners): the first exercise of the first notebook left as its stub, the
# last exercise of the last notebook hanging; no lesson from the box of 19.02, the post-mortem saved
# without its lesson (so none for 19.04), its §3 empty and its spike step typed as the peak's step.
FIRST_NOTEBOOK, FIRST_EXERCISE = _with_exercises()[0][0], _with_exercises()[0][1][0]
LAST_NOTEBOOK, LAST_EXERCISE = _with_exercises()[-1][0], _with_exercises()[-1][1][-1]
# A later exercise of the first notebook whose own cell uses `tok`, made by the cell that replays the
# merges with the stubbed merge_step (so it never ran): it fails too, and the learner is told why.
CASCADE = ("phase-17/01-corpus-and-bpe.ipynb", "pieces-under-10")
MISTAKES_FAILED_CHECKS = {(FIRST_NOTEBOOK, FIRST_EXERCISE), CASCADE, (LAST_NOTEBOOK, LAST_EXERCISE)}
# ... and it answered the course's first choice question wrong (utils.course.example_learners.write_example_answers)
FIRST_QUESTION = _answer_checks()[0]
MISTAKES_FAILED_NOTES = {
    FIRST_QUESTION,
    "lesson of phase-19/02-dashboard.ipynb",
    f"lesson of {POSTMORTEM_LESSON_NOTEBOOK}",
    f"{PM}: §3 Discriminating evidence",
    SECTION1,
}


# example-mistakes hands in the notebooks of its mistakes: the exercises (first and last notebook),
# the missing lesson (19.02) and the post-mortem with its lesson missing (19.04).
MISTAKES_HANDED_IN = sorted({FIRST_NOTEBOOK, CASCADE[0], LAST_NOTEBOOK, "phase-19/02-dashboard.ipynb",
                             POSTMORTEM_LESSON_NOTEBOOK, FIRST_QUESTION.rsplit(" of ", 1)[1]})


def _code(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Both example learners graded once on the real notebooks: {learner: LearnerGrade}."""
    root = tmp_path_factory.mktemp("learners")
    for name in (EXAMPLE_COMPLETE, EXAMPLE_MISTAKES):
        shutil.copytree(REAL_LEARNERS / name, root / name,
                        ignore=lambda folder, names: [n for n in names if n.endswith(".ipynb")])
    made = subprocess.run([sys.executable, "-m", "utils.learner_copies", "--examples"], cwd=REPO,
                          env=dict(os.environ, COURSE_LEARNERS_DIR=str(root)), capture_output=True, text=True,
                          timeout=300)
    assert made.returncode == 0, made.stderr
    assert "training" not in made.stdout and "lesson" not in made.stdout, "the committed notes are complete"
    for rel in NOTEBOOKS:
        if rel not in MISTAKES_HANDED_IN:       # the same work as example-complete's: not graded twice
            mistakes, complete = root / EXAMPLE_MISTAKES / rel, root / EXAMPLE_COMPLETE / rel
            assert _code(mistakes) == _code(complete), rel
            mistakes.unlink()
    cache = os.environ.get("COURSE_RUN_CACHE", "").strip()
    grades = grading.grade([EXAMPLE_COMPLETE, EXAMPLE_MISTAKES], learners_root=root, jobs=2,
                           cell_timeout=CELL_TIMEOUT, notebook_timeout=NOTEBOOK_TIMEOUT,
                           run_cache=Path(cache) if cache else None)
    return {g.learner: g for g in grades}


def _failed_checks(grade) -> set[tuple[str, str]]:
    return {(nb.notebook, c.name) for nb in grade.notebooks for c in nb.checks if not c.passed}


def test_the_example_learners_hand_in_every_notebook_of_every_phase(graded):
    grade = graded[EXAMPLE_COMPLETE]
    assert [nb.notebook for nb in grade.notebooks] == NOTEBOOKS
    assert {nb[6:8] for nb in NOTEBOOKS} == {"17", "18", "19", "20"}
    assert not grade.not_submitted
    checks = {(nb.notebook, c.name) for nb in grade.notebooks for c in nb.checks}
    assert checks == {(rel, ex_id) for rel, ids in _with_exercises() for ex_id in ids} != set()
    # the mistakes example, as handed in here: every other notebook with exercises is reported missing
    grade = graded[EXAMPLE_MISTAKES]
    assert [nb.notebook for nb in grade.notebooks] == MISTAKES_HANDED_IN
    assert grade.not_submitted == [rel for rel, _ in _with_exercises() if rel not in MISTAKES_HANDED_IN]


def test_the_complete_example_passes_everything(graded):
    grade = graded[EXAMPLE_COMPLETE]
    assert [(nb.notebook, nb.status, nb.note) for nb in grade.notebooks if nb.status != "ran"] == []
    assert [(nb.notebook, f) for nb in grade.notebooks for f in nb.other_failures] == []
    assert [(nb.notebook, c.name, c.message) for nb in grade.notebooks for c in nb.checks if not c.passed] == []
    assert [(c.name, c.message) for c in grade.notes if not c.passed] == []
    names = [c.name for c in grade.notes]
    # both worked examples: the recovered spike and the NaN that never recovers
    per_postmortem = [[f"{pm}: format", f"{pm}: header"] + [f"{pm}: §{n} {SECTION_TITLES[n]}" for n in range(1, 8)]
                      + [f"{pm}: §1 vs its saved run log"] for pm in (PM, NAN_PM)]
    assert names == ([grading.lesson_check_name(e) for e in lessons_expected(NOTEBOOKS)] + sum(per_postmortem, [])
                     + _answer_checks())
    assert len(_answer_checks()) >= 6


def test_the_mistakes_example_fails_exactly_where_it_went_wrong(graded):
    grade = graded[EXAMPLE_MISTAKES]
    assert _failed_checks(grade) == MISTAKES_FAILED_CHECKS
    messages = {(nb.notebook, c.name): c.message for nb in grade.notebooks for c in nb.checks if not c.passed}
    assert messages == {
        (FIRST_NOTEBOOK, FIRST_EXERCISE): "not done: the cell still calls exercise_todo(...)",   # the check calls the stub
        CASCADE: "your cell failed: NameError: name 'tok' is not defined",
        (LAST_NOTEBOOK, LAST_EXERCISE): f"your cell failed: timed out after {CELL_TIMEOUT} s",
    }
    assert {nb.notebook: nb.status for nb in grade.notebooks if nb.status != "ran"} == {LAST_NOTEBOOK: "cell timed out"}
    failed = {c.name: c.message for c in grade.notes if not c.passed}
    assert set(failed) == MISTAKES_FAILED_NOTES
    assert failed["lesson of phase-19/02-dashboard.ipynb"].startswith(
        "no lesson of 02-dashboard in phase-19/notes/lessons.md (none of its 3 line(s) is tagged 'notebook 19.02')")
    assert failed[f"lesson of {POSTMORTEM_LESSON_NOTEBOOK}"].startswith("no lesson of 04-post-mortem in ")
    assert failed[f"{PM}: §3 Discriminating evidence"].startswith("§3 Discriminating evidence is empty")
    assert failed[SECTION1].startswith("spike_step: you typed 328, the run log says 312")
    assert failed[FIRST_QUESTION].startswith("your latest answer, a, is not right")


def test_a_learner_who_saved_nothing_gets_one_clear_line_per_missing_note(tmp_path):
    """Hands in every notebook of example-complete but no notes at all (nothing is run for the notes)."""
    (tmp_path / "ana").mkdir()
    checks = grading.grade_notes("ana", tmp_path, NOTEBOOKS)
    lines = [f"{c.name}: {c.message}" for c in checks if not c.passed]
    assert len(lines) == len(checks) == len(NOTEBOOKS) + 1        # one lesson per notebook, and the post-mortem
    assert lines[-1] == "phase-19 post-mortem: no post-mortem in phase-19/notes/postmortems/"
    for expected, line in zip(lessons_expected(NOTEBOOKS), lines):
        stem = Path(expected.notebook).stem
        assert line.startswith(f"lesson of {expected.notebook}: no lesson of {stem} in "
                               f"phase-{expected.phase:02d}/notes/lessons.md: ")
        assert "\n" not in line and ("§7" in line) == expected.from_postmortem
    # and the report shows each as one row
    report = grading.learner_report(grading.LearnerGrade("ana", notes=checks))
    assert report.count("| FAIL |") == len(checks)
