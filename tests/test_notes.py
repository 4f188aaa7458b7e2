"""utils.course.notes: the notes folder, atomic lesson appends, versioned saves, printable paths."""

from __future__ import annotations

import datetime
import multiprocessing
import re

import pytest

from utils.course import learner, notes
from utils.course.learner import LearnerNameError
from utils.course.notes import (
    append_lesson,
    display_path,
    note_versions,
    notes_dir,
    read_lessons,
    save_note,
)

DAY = datetime.date(2026, 11, 23)


@pytest.fixture
def learners(tmp_path, monkeypatch):
    """A temporary learners folder and current learner 'ana'."""
    folder = tmp_path / "learners-elsewhere"
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(folder))
    monkeypatch.setenv("LEARNER", "ana")
    return folder


def test_notes_dir_is_created_per_learner_and_phase(learners):
    path = notes_dir(19)
    assert path == learners / "ana" / "phase-19" / "notes"
    assert path.is_dir()
    assert notes_dir(7, learner="José") == learners / "José" / "phase-07" / "notes"


@pytest.mark.parametrize("phase", [-1, 100, 1.0, "19", True])
def test_notes_dir_refuses_bad_phases(learners, phase):
    with pytest.raises(ValueError, match="phase"):
        notes_dir(phase)


def test_notes_dir_refuses_bad_learner_names(learners):
    with pytest.raises(LearnerNameError, match="contains '/'"):
        notes_dir(19, learner="../bob")
    assert not (learners.parent / "bob").exists()


def test_append_lesson_writes_one_line_in_the_course_format(learners):
    line = append_lesson(19, "warmup too short for lr 3e-3", run_id="19-spike-001", today=DAY)
    assert line == "- 2026-11-23 · phase 19 · run 19-spike-001 · warmup too short for lr 3e-3"
    other = append_lesson(19, "  clip at 1.0  ", today=DAY)
    assert other == "- 2026-11-23 · phase 19 · clip at 1.0"
    path = learners / "ana" / "phase-19" / "notes" / "lessons.md"
    assert path.read_text(encoding="utf-8") == line + "\n" + other + "\n"
    assert read_lessons(19) == [line, other]


def test_append_lesson_uses_today_by_default(learners):
    line = append_lesson(18, "x")
    assert line.startswith(f"- {datetime.date.today().isoformat()} · phase 18 · ")


@pytest.mark.parametrize(
    "text, problem",
    [("", "empty"), ("   ", "empty"), ("two\nlines", "line break"), ("a\rb", "line break"),
     ("a\u2028b", "line break"), ("tab\there", "control character"), ("nul\x00", "control character")],
)
def test_append_lesson_refuses_empty_or_multiline_text(learners, text, problem):
    with pytest.raises(ValueError, match=problem):
        append_lesson(19, text, today=DAY)
    assert read_lessons(19) == []


def test_append_lesson_refuses_a_bad_run_id(learners):
    with pytest.raises(ValueError, match="run id"):
        append_lesson(19, "ok", run_id="19 spike", today=DAY)
    with pytest.raises(ValueError, match="run id"):
        append_lesson(19, "ok", run_id="19\nspike", today=DAY)


def test_no_earlier_line_is_merged_when_the_newline_is_missing(learners):
    path = notes_dir(19) / "lessons.md"
    path.write_bytes("- typed by hand, no newline at the end ünïcode".encode("utf-8"))
    line = append_lesson(19, "next lesson", today=DAY)
    assert path.read_text(encoding="utf-8") == (
        "- typed by hand, no newline at the end ünïcode\n" + line + "\n"
    )
    append_lesson(19, "third", today=DAY)
    assert read_lessons(19)[0] == "- typed by hand, no newline at the end ünïcode"
    assert len(read_lessons(19)) == 3


def test_read_lessons_of_a_phase_without_notes_is_empty_and_creates_nothing(learners):
    assert read_lessons(20) == []
    assert not (learners / "ana" / "phase-20").exists()


def _run_at_once(target, workers: int, count: int) -> None:
    """Run ``target(worker, count)`` in ``workers`` separate processes at once; each must exit cleanly."""
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=target, args=(w, count)) for w in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * workers


def _append_many(worker: int, count: int) -> None:
    """Run in a separate process: append ``count`` lessons numbered in order."""
    for index in range(count):
        append_lesson(19, f"worker {worker} lesson {index:04d} " + "é" * 40, run_id=f"w{worker}", today=DAY)


def test_concurrent_appends_keep_every_line_intact_and_in_order(learners):
    workers, count = 6, 200
    _run_at_once(_append_many, workers, count)

    raw = (learners / "ana" / "phase-19" / "notes" / "lessons.md").read_text(encoding="utf-8")
    assert raw.endswith("\n")
    lines = raw.split("\n")[:-1]
    assert len(lines) == workers * count
    pattern = re.compile(r"- 2026-11-23 · phase 19 · run w(\d) · worker (\d) lesson (\d{4}) (é{40})")
    seen: dict[int, list[int]] = {w: [] for w in range(workers)}
    for line in lines:
        match = pattern.fullmatch(line)
        assert match, f"damaged line: {line!r}"
        assert match.group(1) == match.group(2)
        seen[int(match.group(2))].append(int(match.group(3)))
    for worker in range(workers):
        assert seen[worker] == list(range(count)), f"worker {worker}'s lines out of order or missing"


def test_save_note_keeps_every_old_version(learners):
    first = save_note(19, "postmortems/19-spike-001.md", "# draft 1\n")
    assert first == learners / "ana" / "phase-19" / "notes" / "postmortems" / "19-spike-001.md"
    assert first.read_text(encoding="utf-8") == "# draft 1\n"
    assert note_versions(19, "postmortems/19-spike-001.md") == []

    save_note(19, "postmortems/19-spike-001.md", "# draft 2\n")
    save_note(19, "postmortems/19-spike-001.md", "# draft 3\n")
    kept = note_versions(19, "postmortems/19-spike-001.md")
    assert [p.name for p in kept] == ["19-spike-001.v1.md", "19-spike-001.v2.md"]
    assert [p.read_text(encoding="utf-8") for p in kept] == ["# draft 1\n", "# draft 2\n"]
    assert first.read_text(encoding="utf-8") == "# draft 3\n"
    leftovers = [p.name for p in first.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_save_note_identical_content_is_a_no_op(learners):
    path = save_note(19, "checklist.md", "same\n")
    before = path.stat().st_mtime_ns, path.stat().st_ino
    assert save_note(19, "checklist.md", "same\n") == path
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before
    assert note_versions(19, "checklist.md") == []


def test_save_note_takes_the_next_free_version_number(learners):
    save_note(19, "a.md", "one")
    save_note(19, "a.md", "two")  # one -> a.v1.md
    (notes_dir(19) / "a.v1.md").unlink()  # a learner deleted v1 by hand
    (notes_dir(19) / "a.v5.md").write_text("five", encoding="utf-8")
    save_note(19, "a.md", "three")  # two -> a.v6.md, never over a.v5.md
    assert [p.name for p in note_versions(19, "a.md")] == ["a.v5.md", "a.v6.md"]
    assert (notes_dir(19) / "a.v6.md").read_text(encoding="utf-8") == "two"
    assert (notes_dir(19) / "a.v5.md").read_text(encoding="utf-8") == "five"


def test_save_note_without_suffix_and_per_learner(learners):
    save_note(17, "plain", "x", learner="Zoë")
    save_note(17, "plain", "y", learner="Zoë")
    folder = learners / "Zoë" / "phase-17" / "notes"
    assert (folder / "plain").read_text(encoding="utf-8") == "y"
    assert (folder / "plain.v1").read_text(encoding="utf-8") == "x"


@pytest.mark.parametrize(
    "relpath, problem",
    [
        ("/etc/passwd", "absolute"),
        ("C:/x.md", "absolute"),
        ("../escape.md", "'..'"),
        ("postmortems/../../escape.md", "'..'"),
        ("a//b.md", "empty part"),
        ("a/", "empty part"),
        ("./a.md", "'.'"),
        ("", "empty"),
        ("a\\b.md", "'\\\\'"),
        (".notes.lock", "dot"),
        ("a.v2.md", "kept version"),
    ],
)
def test_save_note_refuses_paths_leaving_the_notes_folder(learners, relpath, problem):
    with pytest.raises(ValueError, match=problem):
        save_note(19, relpath, "x")
    outside = [p for p in learners.parent.rglob("*") if p.is_file() and "notes" not in p.parts]
    assert outside == []


def test_display_path_is_never_absolute(learners, tmp_path, monkeypatch):
    path = save_note(19, "postmortems/x.md", "x", learner="José")
    assert display_path(path) == "learners/José/phase-19/notes/postmortems/x.md"
    assert display_path(notes_dir(19)) == "learners/ana/phase-19/notes"
    assert display_path(learner.repo_root() / "notebooks" / "a.ipynb") == "notebooks/a.ipynb"
    assert display_path(tmp_path / "far" / "away.txt") == ".../away.txt"
    monkeypatch.delenv("COURSE_LEARNERS_DIR")
    assert display_path(learner.repo_root() / "learners" / "ana") == "learners/ana"


def test_notes_need_a_learner(tmp_path, monkeypatch):
    monkeypatch.setattr(learner, "repo_root", lambda: tmp_path)
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(tmp_path / "learners"))
    monkeypatch.delenv("LEARNER", raising=False)
    with pytest.raises(LearnerNameError, match="00-start-here"):
        notes.notes_dir(19)


def _save_many(worker: int, count: int) -> None:
    """Run in a separate process: save ``count`` different versions of one shared note."""
    for index in range(count):
        save_note(19, "postmortems/shared.md", f"worker {worker} version {index}\n")


def test_concurrent_saves_lose_no_version(learners):
    workers, count = 4, 25
    _run_at_once(_save_many, workers, count)

    current = notes_dir(19) / "postmortems" / "shared.md"
    kept = note_versions(19, "postmortems/shared.md")
    contents = [p.read_text(encoding="utf-8") for p in kept + [current]]
    expected = {f"worker {w} version {i}\n" for w in range(workers) for i in range(count)}
    assert len(contents) == workers * count
    assert set(contents) == expected
    assert [p.name for p in kept] == [f"shared.v{n}.md" for n in range(1, workers * count)]
    for worker in range(workers):  # each worker's versions were kept in the order it saved them
        order = [int(c.split()[-1]) for c in contents if c.startswith(f"worker {worker} ")]
        assert order == list(range(count))
