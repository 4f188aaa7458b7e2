"""Bad input loses nothing: a full disk, odd names. Each failure says what happened."""
from __future__ import annotations

import errno
import math
import os
import stat

import pytest

from utils.course import notes
from utils.course.learner import LearnerNameError, validate_learner_name
from utils.spikelab.runlog import STEP_COLUMNS, RunLog


def _full_disk_after(monkeypatch, module_os, n_bytes: int):
    """Make ``os.write`` take ``n_bytes`` then fail with ENOSPC, as a full disk does."""
    real = module_os.write
    budget = {"left": n_bytes}

    def write(fd, data):
        if budget["left"] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        take = min(len(data), budget["left"])
        budget["left"] -= take
        return real(fd, data[:take])
    monkeypatch.setattr(module_os, "write", write)


def test_a_failed_lesson_append_leaves_the_file_as_it_was(learners, monkeypatch):
    notes.append_lesson(19, "first lesson")
    path = notes.notes_dir(19) / notes.LESSONS_FILE
    before = path.read_bytes()
    with monkeypatch.context() as m:
        _full_disk_after(m, notes.os, 9)                 # "- 2026-12-" and then the disk is full
        with pytest.raises(notes.NoteNotSaved, match="not saved.*unchanged"):
            notes.append_lesson(19, "second lesson")
    assert path.read_bytes() == before
    assert notes.read_lessons(19) == [before.decode().strip()]


def test_a_failed_save_keeps_every_version_whole(learners, monkeypatch):
    notes.save_note(19, "postmortems/r.md", "version one\n" * 100)
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync(fd):                                        # the disk fills while the new content is synced
        calls["n"] += stat.S_ISREG(os.fstat(fd).st_mode)  # (folders are synced too; count files only)
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)
    with monkeypatch.context() as m:
        m.setattr(notes.os, "fsync", fsync)
        with pytest.raises(notes.NoteNotSaved, match="not saved"):
            notes.save_note(19, "postmortems/r.md", "version two\n")
    folder = notes.notes_dir(19) / "postmortems"
    assert (folder / "r.md").read_text() == "version one\n" * 100
    for kept in notes.note_versions(19, "postmortems/r.md"):
        assert kept.read_text() == "version one\n" * 100      # a kept version is whole, never torn
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_version_that_fails_to_write_leaves_no_torn_copy(learners, monkeypatch):
    notes.save_note(19, "a.md", "one")
    real = notes.os.fdopen

    class Full:
        def __init__(self, handle):
            self.handle = handle
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.handle.close()
        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        def __getattr__(self, name):
            return getattr(self.handle, name)
    with monkeypatch.context() as m:
        m.setattr(notes.os, "fdopen", lambda fd, mode: Full(real(fd, mode)))
        with pytest.raises(notes.NoteNotSaved):
            notes.save_note(19, "a.md", "two")
    assert notes.note_versions(19, "a.md") == []
    assert (notes.notes_dir(19) / "a.md").read_text() == "one"


@pytest.mark.parametrize("name", ["o'brien", "D’Angelo", "José", "Ana María", "李雷"])
def test_legitimate_names_are_accepted(name):
    assert validate_learner_name(name) == name


@pytest.mark.parametrize("name", ["name\n", "\tname", "na\u0000me", "../x", "a/b", ".hidden", "x" * 65, "", "a*b"])
def test_unsafe_names_are_refused_with_a_reason(name):
    with pytest.raises(LearnerNameError) as err:
        validate_learner_name(name)
    assert "Allowed:" in str(err.value) or "not a name" in str(err.value)


def test_a_trailing_newline_is_named_in_the_message():
    with pytest.raises(LearnerNameError, match="U\\+000A"):
        validate_learner_name("name\n")


def test_a_decimal_comma_is_taken_and_kept_as_typed(learners):
    """"2,31" (Spanish) is 2.31; the post-mortem keeps it as typed, and saving loses nothing."""
    from utils import postmortem
    from utils.course import postmortem_notes

    pm = postmortem.PostMortem("r-1", "2026-11-23", symptoms=postmortem.Symptoms(
        pre_spike_ema="1,037", peak_loss="4,577", recovery_loss="1,061", grad_norm_preclip="214,5",
        lr_at_spike="0,002909"))
    assert [p.field for p in postmortem.validate(pm, sections=[1])
            if p.field in ("pre_spike_ema", "peak_loss", "recovery_loss", "grad_norm_preclip", "lr_at_spike")] == []
    postmortem_notes.save(pm)
    assert postmortem_notes.load_saved("r-1") == pm
    check = postmortem.check_symptoms(pm.symptoms, {"peak_loss": 4.577}).checks[0]
    assert check.ok and "you typed 4,577 (read as 4.577)" in check.message


@pytest.mark.parametrize("typed, says", [("1,234,5", "has 2 commas"), ("1.234,5", "has both '.' and ','")])
def test_a_comma_that_could_be_a_thousands_separator_is_named_as_the_problem(learners, typed, says):
    from utils import postmortem
    from utils.course import postmortem_notes

    pm = postmortem.PostMortem("r-1", "2026-11-23", symptoms=postmortem.Symptoms(peak_loss=typed))
    (problem,) = [p for p in postmortem.validate(pm, sections=[1]) if p.field == "peak_loss"]
    assert says in problem.message and "numbers only" not in problem.message and "\n" not in str(problem)
    postmortem_notes.save(pm)                            # work in progress is saved as typed
    assert postmortem_notes.load_saved("r-1").symptoms.peak_loss == typed


def test_a_run_named_nan_reads_back_as_text_and_its_nan_losses_as_numbers():
    """Non-finite floats are stored as the strings 'nan'/'inf'; a string that reads the same (the run
    id of the ``nan`` pattern) must not come back as a float."""
    log = RunLog(meta={"run_id": "nan", "variant": "-inf", "note": "text:kept"})
    log.append({c: None for c in STEP_COLUMNS} | {"loss": math.nan, "grad_norm_preclip": math.inf})
    back = RunLog.from_bytes(log.to_bytes(compressed=True))
    assert back.meta == {"run_id": "nan", "variant": "-inf", "note": "text:kept"}
    assert math.isnan(back.steps["loss"][0]) and back.steps["grad_norm_preclip"][0] == math.inf
