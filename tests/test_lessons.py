"""One lesson per notebook: the line format (utils.course.notes), the rule (utils.course.lessons), the
lesson box at the end of each notebook (utils.course.lesson_box), the notebooks and the example learners
agreeing with the rule, and the grader checking it (utils.course.grading.notes_checks)."""

from __future__ import annotations

import ast
import datetime
import shutil
from pathlib import Path

import pytest

from utils.course import grading, notes
from utils.course.example_lessons import EXAMPLE_COMPLETE_LESSONS, EXAMPLE_MISTAKES_LESSONS
from utils.course.lesson_box import LessonRefused, lesson_box, save_lesson
from utils.course.lessons import (POSTMORTEM_LESSON_NOTEBOOK, expected_lesson, lesson_for, lesson_lines,
                                  lessons_expected)
from utils.course.learner_copies import phase_sources
from utils.course.notebook_source import read_source_file
from utils.text import speaking

REPO = Path(__file__).resolve().parent.parent
DAY = datetime.date(2026, 12, 6)
ALL_NOTEBOOKS = [f"phase-{phase:02d}/{source.stem}.ipynb" for phase, source in phase_sources()]


# --------------------------------------------------------------------------- the line format


def test_a_notebook_lesson_line_is_dated_and_tagged_with_its_notebook(learners):
    line = notes.append_lesson(19, "  read panel 6 first ", notebook="19.02 dashboard", today=DAY)
    assert line == "- 2026-12-06 · phase 19 · notebook 19.02 dashboard · read panel 6 first"
    both = notes.append_lesson(19, "x", run_id="19-spike-001", notebook="19.04", today=DAY)
    assert both == "- 2026-12-06 · phase 19 · run 19-spike-001 · notebook 19.04 · x"
    assert notes.read_lessons(19) == [line, both]
    assert notes.parse_lesson(line) == notes.LessonLine("2026-12-06", 19, None, "19.02", "read panel 6 first")
    assert notes.parse_lesson(both) == notes.LessonLine("2026-12-06", 19, "19-spike-001", "19.04", "x")
    # the older forms read back too: a post-mortem's lesson, a lesson with neither part
    assert notes.parse_lesson("- 2026-11-23 · phase 19 · run 19-spike-001 · a · b") == \
        notes.LessonLine("2026-11-23", 19, "19-spike-001", None, "a · b")
    assert notes.parse_lesson("- 2026-11-23 · phase 17 · tten") == notes.LessonLine("2026-11-23", 17, None, None, "tten")
    for other in ["- 2026-12-", "typed by hand", "- 2026-11-23 · phase 19 · "]:
        assert notes.parse_lesson(other) is None


@pytest.mark.parametrize("tag", ["19.2", "dashboard", "19.02 · x", "19.02\n", "19.02 two words", ""])
def test_append_lesson_refuses_a_bad_notebook_tag(learners, tag):
    with pytest.raises(ValueError, match="not a notebook tag"):
        notes.append_lesson(19, "ok", notebook=tag, today=DAY)
    assert notes.read_lessons(19) == []


# --------------------------------------------------------------------------- the rule


def test_every_course_notebook_owes_one_lesson_the_post_mortem_its_section_7():
    expected = lessons_expected(ALL_NOTEBOOKS + ["phase-19/my-own.ipynb", "phase-19/02-dashboard.ipynb"])
    assert [e.notebook for e in expected] == sorted(ALL_NOTEBOOKS, key=lambda rel: (rel[6:8], rel[9:11]))
    assert len(expected) == len(ALL_NOTEBOOKS) == 12
    assert [e.notebook for e in expected if e.from_postmortem] == [POSTMORTEM_LESSON_NOTEBOOK]
    dashboard = expected_lesson("phase-19/02-dashboard.ipynb")
    assert (dashboard.phase, dashboard.key, dashboard.name, dashboard.tag) == (19, "19.02", "dashboard",
                                                                             "19.02 dashboard")
    assert expected_lesson("phase-19/scratch.ipynb") is None and expected_lesson("02-dashboard.ipynb") is None


def test_which_lines_count_for_a_notebook():
    dashboard, postmortem_ = expected_lesson("phase-19/02-dashboard.ipynb"), expected_lesson(POSTMORTEM_LESSON_NOTEBOOK)
    tagged = "- 2026-12-06 · phase 19 · notebook 19.02 dashboard · read panel 6 first"
    section7 = "- 2026-11-23 · phase 19 · run 19-spike-001 · a gradient spike is not the damage"
    lines = [tagged, section7, "- 2026-12-06 · phase 19 · notebook 19.03 failure-patterns · read the path",
             "- 2026-12-06 · phase 19 · untagged", "hand-typed · notebook 19.02 · x",
             "- 2026-12-06 · phase 18 · notebook 19.02 dashboard · wrong phase"]
    assert lesson_lines(dashboard, lines) == [tagged]
    assert lesson_lines(postmortem_, lines) == [section7]
    assert lesson_lines(dashboard, [section7]) == []


def test_lesson_for_finds_the_master_notebook_by_its_number():
    assert lesson_for("19.02").notebook == "phase-19/02-dashboard.ipynb"
    assert lesson_for("20.03").tag == "20.03 lightning-callback"
    for bad, message in [("19.2", "not a notebook number"), ("19.09", "found 0"), ("99.01", "found 0"),
                         ("19.04", "§7 of the post-mortem")]:
        with pytest.raises(ValueError, match=message):
            lesson_for(bad)


def _last_code_cell(source: Path):
    _, cells = read_source_file(source)
    return cells[-2], cells[-1]


@pytest.mark.parametrize("phase, source", phase_sources(), ids=lambda v: getattr(v, "name", str(v)))
def test_each_notebook_ends_with_the_lesson_box_the_rule_expects(phase, source):
    """Rule and notebooks agree: every notebook but the post-mortem ends with a markdown cell and the lesson
    box of its own number; the post-mortem notebook has none (its lesson is §7)."""
    expected = expected_lesson(f"phase-{phase:02d}/{source.stem}.ipynb")
    text = source.read_text(encoding="utf-8")
    if expected.from_postmortem:
        assert "lesson_box(" not in text and "save_with_lesson" in text
        return
    markdown, code = _last_code_cell(source)
    assert markdown.cell_type == "markdown" and f"`notebook {expected.key}`" in markdown.source
    assert "**Español.**" in markdown.source and f"phase-{phase:02d}/notes/lessons.md" in markdown.source
    assert code.cell_type == "code" and "nbval-ignore-output" in code.tags
    calls = [node for node in ast.walk(ast.parse(code.source))
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lesson_box"]
    assert [ast.literal_eval(c.args[0]) for c in calls] == [expected.key]
    assert text.count("lesson_box(") == 1
    assert lesson_for(expected.key) == expected


# --------------------------------------------------------------------------- the lesson box


def test_save_lesson_appends_once_and_tags_the_notebook(learners):
    line, added = save_lesson("19.02", "  Next time I read panel 6 before the gradient panel ", today=DAY)
    assert added and line == ("- 2026-12-06 · phase 19 · notebook 19.02 dashboard · "
                              "Next time I read panel 6 before the gradient panel")
    again, added = save_lesson("19.02", "Next time I read  panel 6 before the gradient panel",
                               today=DAY + datetime.timedelta(days=1))
    assert (again, added) == (line, False)
    other, added = save_lesson("19.03", "Next time I read panel 6 before the gradient panel", today=DAY)
    assert added and "notebook 19.03 failure-patterns" in other
    assert notes.read_lessons(19) == [line, other]
    assert lesson_lines(lesson_for("19.02"), notes.read_lessons(19)) == [line]


@pytest.mark.parametrize("text, problem", [
    ("", "the lesson is empty"),
    ("   \t ", "the lesson is empty"),
    ("first line\nsecond line", "a lesson is exactly one line"),
    ("one\r\ntwo", "a lesson is exactly one line"),
    (EXAMPLE_COMPLETE_LESSONS["19.02"], "one of the course's example lessons"),
    ("  " + EXAMPLE_COMPLETE_LESSONS["17.01"].upper().rstrip(".") + "  ", "one of the course's example lessons"),
    (EXAMPLE_MISTAKES_LESSONS["20.01"], "one of the course's example lessons"),
])
def test_the_lesson_box_refuses_with_a_clear_message_and_writes_nothing(learners, text, problem):
    with pytest.raises(LessonRefused, match=problem) as err:
        save_lesson("17.01", text, today=DAY)
    assert "No guardada" not in str(err.value)      # one language at a time (utils.text): English here
    with speaking("es"), pytest.raises(LessonRefused, match="No guardada") as err:   # and in Spanish
        save_lesson("17.01", text, today=DAY)
    assert "Not saved" not in str(err.value)
    assert notes.read_lessons(17) == [] and not (learners / "ana").exists()


def test_the_lesson_box_refuses_the_worked_post_mortems_lesson(learners):
    shutil.copytree(REPO / "learners" / "example-complete", learners / "example-complete")
    line = notes.read_lessons(19, learner="example-complete")[0]
    section7 = notes.parse_lesson(line)
    assert section7.run == "19-spike-001"
    with pytest.raises(LessonRefused, match="example lessons"):
        save_lesson("19.05", section7.text, today=DAY)


def test_the_widget_saves_on_click_and_says_what_happened(learners):
    box = lesson_box("18.02")
    title, row, message = box.children
    text, button = row.children
    assert "one line" in title.value and "18.02 warmup-cosine" in title.value
    with speaking("es"):
        assert "una línea" in lesson_box("18.02").children[0].value     # the same box in Spanish
    button.click()
    assert "the lesson is empty" in message.value and notes.read_lessons(18) == []
    text.value = EXAMPLE_COMPLETE_LESSONS["18.02"]
    button.click()
    assert "example lessons" in message.value and notes.read_lessons(18) == []
    text.value = "Next time I plot the LR of the run beside its loss"
    button.click()
    assert message.value.count("Saved to learners/ana/phase-18/notes/lessons.md") == 1
    button.click()
    assert "not added twice" in message.value and len(notes.read_lessons(18)) == 1


def test_the_widget_without_a_learner_name_says_where_to_type_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(tmp_path / "learners"))
    monkeypatch.delenv("LEARNER", raising=False)
    monkeypatch.setattr("utils.course.learner.repo_root", lambda: tmp_path)
    box = lesson_box("17.02")
    box.children[1].children[0].value = "Next time I keep the healthy curve"
    box.children[1].children[1].click()
    assert "No learner name yet" in box.children[2].value
    assert not (tmp_path / "learners").exists()


# --------------------------------------------------------------------------- the example learners


@pytest.mark.parametrize("learner, lessons, skipped", [
    ("example-complete", EXAMPLE_COMPLETE_LESSONS, []),
    ("example-mistakes", EXAMPLE_MISTAKES_LESSONS, ["phase-19/02-dashboard.ipynb", POSTMORTEM_LESSON_NOTEBOOK]),
])
def test_example_learners_hold_one_lesson_per_notebook_except_their_mistakes(learner, lessons, skipped,
                                                                                monkeypatch):
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(REPO / "learners"))
    missing = []
    for expected in lessons_expected(ALL_NOTEBOOKS):
        found = lesson_lines(expected, notes.read_lessons(expected.phase, learner=learner))
        if not found:
            missing.append(expected.notebook)
            continue
        assert len(found) == 1, f"{learner}: {expected.notebook} has {len(found)} lessons"
        if not expected.from_postmortem:
            assert notes.parse_lesson(found[0]).text == lessons[expected.key]
            assert f"· notebook {expected.tag} ·" in found[0]
    assert missing == skipped


def test_writing_the_example_lessons_again_adds_nothing(tmp_path):
    from utils.course.example_learners import write_example_lessons

    for name in ("example-complete", "example-mistakes"):
        shutil.copytree(REPO / "learners" / name, tmp_path / name)
    assert write_example_lessons(learners_root=tmp_path) == []
    (tmp_path / "example-complete" / "phase-17" / "notes" / "lessons.md").unlink()
    assert write_example_lessons(learners_root=tmp_path) == [
        "example-complete lesson of notebook 17.01 corpus-and-bpe",
        "example-complete lesson of notebook 17.02 mini-gpt-baseline"]
    assert (tmp_path / "example-complete" / "phase-17" / "notes" / "lessons.md").read_bytes() == \
        (REPO / "learners" / "example-complete" / "phase-17" / "notes" / "lessons.md").read_bytes()


# --------------------------------------------------------------------------- the grader


def test_the_grader_checks_one_lesson_per_notebook_handed_in(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(tmp_path))
    notes.append_lesson(19, "read panel 6 first", learner="lia", notebook="19.02 dashboard", today=DAY)
    notes.append_lesson(19, "untagged, typed by an old notebook", learner="lia", today=DAY)
    handed_in = ["phase-19/02-dashboard.ipynb", "phase-19/03-failure-patterns.ipynb", POSTMORTEM_LESSON_NOTEBOOK,
                 "phase-19/scratch.ipynb", "phase-20/01-detectors-calibration.ipynb"]
    checks = [(c.name, c.passed, c.message) for c in grading.grade_notes("lia", tmp_path, handed_in)]
    assert checks == [
        ("lesson of phase-19/02-dashboard.ipynb", True, "1 lesson line(s) of notebook 19.02"),
        ("lesson of phase-19/03-failure-patterns.ipynb", False,
         "no lesson of 03-failure-patterns in phase-19/notes/lessons.md (none of its 2 line(s) is tagged "
         "'notebook 19.03'): write it in the lesson box at the end of 03-failure-patterns and press 'Save lesson'"),
        ("lesson of phase-19/04-post-mortem.ipynb", False,
         "no lesson of 04-post-mortem in phase-19/notes/lessons.md (none of its 2 line(s) is a post-mortem's "
         "lesson): write §7 of the post-mortem in 04-post-mortem and save the post-mortem with its lesson "
         "(the line names its run)"),
        ("lesson of phase-20/01-detectors-calibration.ipynb", False,
         "no lesson of 01-detectors-calibration in phase-20/notes/lessons.md: write it in the lesson box at the "
         "end of 01-detectors-calibration and press 'Save lesson'"),
        ("phase-19 post-mortem", False, "no post-mortem in phase-19/notes/postmortems/"),
    ]


def test_a_learner_who_saved_nothing_gets_one_line_per_missing_note(tmp_path):
    (tmp_path / "nobody").mkdir()
    checks = grading.grade_notes("nobody", tmp_path, ALL_NOTEBOOKS)
    assert all(not c.passed for c in checks)
    assert [c.name for c in checks] == [grading.lesson_check_name(e) for e in lessons_expected(ALL_NOTEBOOKS)] \
        + ["phase-19 post-mortem"]
    assert all(c.message and "\n" not in c.message for c in checks)
    assert len({c.message for c in checks}) == len(checks), "each missing note is named"
