"""Choice questions (utils.course.choice): each Check is recorded append-only in the learner's notes,
a master records to the example learner, and the grader takes the latest answer against the master."""
from __future__ import annotations

import datetime
import errno
import json
import os
import re

import pytest

from utils.course import grading, notes
from utils.course.answers import ANSWERS_FILE, latest_answers, questions_in
from utils.course.choice import Choice
from utils.course.example_learners import write_example_answers
from utils.course.learner import EXAMPLE_COMPLETE, masters_dir
from utils.course.learner_copies import exercises_of, phase_sources
from utils.text import say

DAY = datetime.date(2026, 12, 6)
MASTER = '''# %%
from utils.course.choice import Choice
# %%
q1 = Choice("19.02", "first-q", "Which?", options={"a": ("A", "because a"), "b": ("B", "because b")}, right="b")
q2 = Choice("19.02", "second-q", "And?", options={"a": ("A", "why a"), "b": ("B", "why b"), "c": ("C", "c")},
            right="a")
'''


def _question() -> Choice:
    return Choice("19.02", "first-q", say("Which panel?", "¿Qué panel?"),
                  options={"a": (say("Panel 3", "Panel 3"), say("it shows the gradient", "muestra el gradiente")),
                           "b": (say("Panel 1", "Panel 1"), say("the held-out loss rises", "sube la validación"))},
                  right="b")


def _answers(learners, name="ana") -> list[str]:
    path = learners / name / "phase-19" / "notes" / ANSWERS_FILE
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_each_check_is_recorded_once_and_the_latest_answer_counts(learners):
    q = _question()
    assert q.check(None) == ["Choose an option first, then press Check."] and not _answers(learners)
    assert q.check("z")[0].startswith("'z' is not an option") and not _answers(learners)
    wrong = q.check("a", today=DAY)
    assert wrong[0] == "✗ a) Panel 3\nNot right: it shows the gradient"
    assert wrong[1] == "Answer recorded in learners/ana/phase-19/notes/answers.jsonl."
    right = q.check("b", today=DAY)
    assert right[0].startswith("✓ b) Panel 1\nRight: the held-out loss rises")
    assert "a) Panel 3 — it shows the gradient" in right[0]          # once right, why the others are wrong
    q.check("b", today=DAY)                                          # the same answer again adds nothing
    lines = _answers(learners)
    assert [json.loads(line) for line in lines] == [
        {"chosen": "a", "date": "2026-12-06", "notebook": "19.02", "question": "first-q", "right": False},
        {"chosen": "b", "date": "2026-12-06", "notebook": "19.02", "question": "first-q", "right": True}]
    assert latest_answers(19)[("19.02", "first-q")]["chosen"] == "b"


def test_the_widget_records_a_click_and_speaks_the_learners_language(learners, monkeypatch):
    monkeypatch.setenv("COURSE_LANG", "es")
    q = _question()
    title, buttons, check, shown = q.widget.children
    assert check.description == "Comprobar" and "¿Qué panel?" in title.value
    check.click()
    assert "Elige primero una opción" in shown.value and not _answers(learners)
    buttons.value = "a"
    check.click()
    assert "No es correcta: muestra el gradiente" in shown.value
    assert json.loads(_answers(learners)[-1])["chosen"] == "a"


def test_a_torn_last_line_is_ignored_and_the_next_answer_starts_a_new_line(learners):
    q = _question()
    q.check("a", today=DAY)
    path = learners / "ana" / "phase-19" / "notes" / ANSWERS_FILE
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"chosen": "b", "date": "2026-12-06", "notebo')        # a crash in the middle of a line
    assert latest_answers(19)[("19.02", "first-q")]["chosen"] == "a"
    q.check("b", today=DAY)
    lines = _answers(learners)
    assert len(lines) == 3 and lines[1].endswith('"notebo') and json.loads(lines[2])["chosen"] == "b"
    assert latest_answers(19)[("19.02", "first-q")]["chosen"] == "b"


def test_a_failed_append_leaves_the_file_as_it_was(learners, monkeypatch):
    q = _question()
    q.check("a", today=DAY)
    path = learners / "ana" / "phase-19" / "notes" / ANSWERS_FILE
    before = path.read_bytes()
    real_write = os.write

    def half_then_full(fd, data):      # the disk takes a few bytes, then is full
        real_write(fd, data[:7])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(notes.os, "write", half_then_full)
    shown = q.check("b", today=DAY)
    assert shown[-1].startswith("Not recorded: The answer was not saved (No space left on device)")
    assert path.read_bytes() == before


def test_a_master_records_to_the_example_learner(learners, monkeypatch):
    monkeypatch.chdir(masters_dir())                         # a master notebook's kernel starts here
    _question().choose("b")
    assert not _answers(learners, "ana") and json.loads(_answers(learners, EXAMPLE_COMPLETE)[0])["right"] is True
    with pytest.raises(ValueError, match="'c' is not an option of question first-q"):
        _question().choose("c")


def test_the_grader_takes_the_latest_answer_against_the_master(learners, tmp_path):
    master = tmp_path / "02-dashboard.py"
    master.write_text(MASTER, encoding="utf-8")
    rel = "phase-19/02-dashboard.ipynb"
    none = grading.grade_answers("ana", learners, {rel: master})
    assert [(c.name, c.passed) for c in none] == [(f"question first-q of {rel}", False),
                                                  (f"question second-q of {rel}", False)]
    assert none[0].message == ("not answered: choose an option of question first-q in 02-dashboard and "
                               "press Check")
    _question().check("b", today=DAY)
    notes.append_record(19, ANSWERS_FILE, {"notebook": "19.02", "question": "second-q", "chosen": "b",
                                           "right": True})          # a forged flag: the master says a
    checks = {c.name: c for c in grading.grade_answers("ana", learners, {rel: master, "phase-19/x.ipynb": None})}
    assert checks[f"question first-q of {rel}"].passed
    wrong = checks[f"question second-q of {rel}"]
    assert not wrong.passed and wrong.message.startswith("your latest answer, b, is not right")
    assert len(checks) == 2


def test_a_question_the_grader_cannot_read_is_refused():
    with pytest.raises(ValueError, match="line 1: write Choice"):
        questions_in('q = Choice(key, "x", "t", options={"a": (1, 2), "b": (3, 4)}, right="a")')


@pytest.mark.parametrize("phase, source", phase_sources(), ids=lambda v: getattr(v, "name", str(v)))
def test_every_course_question_is_an_exercise_the_master_answers_right(phase, source):
    """Each Choice of a master names its own notebook, is an exercise without check cells (graded from
    the notes), and its solution chooses the right option (so example-complete records it)."""
    exercises = exercises_of(source)
    specs = questions_in(source)
    assert len(specs) == len(re.findall(r"\bChoice\(", source.read_text(encoding="utf-8")))
    for spec in specs:
        assert spec.notebook == f"{phase:02d}.{source.stem[:2]}", spec
        assert spec.question in exercises and not exercises[spec.question].checks, spec
        assert re.search(r"\.choose\(\s*['\"]" + spec.right + r"['\"]", exercises[spec.question].solution), spec


def test_the_example_learners_answers(tmp_path):
    master = tmp_path / "02-dashboard.py"
    master.write_text(MASTER, encoding="utf-8")
    written = write_example_answers([master], learners_root=tmp_path / "learners")
    assert len(written) == 4 and write_example_answers([master], learners_root=tmp_path / "learners") == []
    snap = tmp_path / "learners"
    rel = "phase-19/02-dashboard.ipynb"
    assert all(c.passed for c in grading.grade_answers(EXAMPLE_COMPLETE, snap, {rel: master}))
    assert [c.passed for c in grading.grade_answers("example-mistakes", snap, {rel: master})] == [False, True]
    # a master whose right option changed: the example learners answer again (appended, nothing rewritten)
    master.write_text(MASTER.replace('right="b")', 'right="a")'), encoding="utf-8")
    assert write_example_answers([master], learners_root=snap) == [
        "example-complete answer a to question first-q of notebook 19.02",
        "example-mistakes answer b to question first-q of notebook 19.02"]      # still its one wrong answer
    assert all(c.passed for c in grading.grade_answers(EXAMPLE_COMPLETE, snap, {rel: master}))
    assert [c.passed for c in grading.grade_answers("example-mistakes", snap, {rel: master})] == [False, True]
