"""A learner's post-mortems in their phase-19 notes folder, each with the run log its §1 was read from.

    learners/<name>/phase-19/notes/postmortems/<run-id>.md        `save`, `load_saved`, `kept_versions`
    learners/<name>/phase-19/notes/run-logs/<run-id>.json[.gz]     `save_run_log`, `load_saved_run_log`
    learners/<name>/phase-19/notes/lessons.md                      `save_with_lesson` appends §7

Everything goes through ``utils.course.notes``: never overwritten (a different earlier version is
kept as ``<run-id>.v1.md``, ...), written atomically. The paths and the run log's saved form are
``utils.postmortem.files``; the markdown is ``utils.postmortem.markdown``.

`LearnerPostmortems(learner)` is the same for the post-mortem workbook, which is given where to
save: ``PostMortemWorkbook(run_id, run_log=log, notes=LearnerPostmortems())``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from utils.course import notes
from utils.postmortem import (
    PHASE,
    PostMortem,
    format_problems,
    parse_markdown,
    postmortem_relpath,
    render_markdown,
    run_log_file,
    run_log_relpath,
    validate,
)
from utils.postmortem.files import as_saved, check_same_run
from utils.postmortem.model import DATE_RE
from utils.spikelab.runlog import RunLog

# A run log whose JSON is over this many bytes is saved gzip-compressed (the course's 420-step
# runs log about 800 KB of JSON, about 300 KB compressed).
RUN_LOG_GZIP_ABOVE = 300_000


def saved_run_log_path(run_id: str, learner: str | None = None) -> Path | None:
    """Where the run log of `run_id`'s post-mortem is saved (`save_run_log`), or None when it is not."""
    return run_log_file(notes.notes_dir(PHASE, learner), run_id)


def save_run_log(log: RunLog, learner: str | None = None) -> Path:
    """Save the run log §1 is read from beside the learner's notes; returns its path.

    ``learners/<name>/phase-19/notes/run-logs/<run-id>.json``, gzip-compressed as
    ``<run-id>.json.gz`` when its JSON is over `RUN_LOG_GZIP_ABOVE` bytes (a run keeps the form of
    its first save). As every note: never overwritten (a different log saved later keeps the
    earlier one as ``<run-id>.json.v1.gz``, ...), written atomically, and saving the same run again
    changes nothing. The time the run took (``utils.postmortem.files.RUN_LOG_UNSAVED_META``) is left out.
    """
    kept = as_saved(log)
    data = kept.to_bytes()
    existing = saved_run_log_path(log.run_id, learner=learner)
    if existing is not None:
        compressed = existing.name.endswith(".gz")
    else:
        compressed = len(data) > RUN_LOG_GZIP_ABOVE
    relpath = run_log_relpath(log.run_id, compressed)
    if not compressed:
        return notes.save_note(PHASE, relpath, data.decode("utf-8"), learner=learner)
    if existing is not None:
        try:
            if RunLog.load(existing).to_bytes() == data:   # the same run (compressed bytes may differ by zlib)
                return existing
        except ValueError:
            pass                                            # damaged: kept as a version below
    return notes.save_note(PHASE, relpath, kept.to_bytes(compressed=True), learner=learner)


def load_saved_run_log(run_id: str, learner: str | None = None) -> RunLog | None:
    """The run log saved with the post-mortem of `run_id` (`save_run_log`), or None when none was saved.
    Raises ValueError when it cannot be read."""
    path = saved_run_log_path(run_id, learner=learner)
    return None if path is None else RunLog.load(path)


def run_log_versions(run_id: str, learner: str | None = None) -> list[Path]:
    """The earlier run logs of `run_id` that `save_run_log` kept (``<run-id>.json.v1.gz``, ...), oldest first."""
    path = saved_run_log_path(run_id, learner=learner)
    compressed = path is None or path.name.endswith(".gz")
    return notes.note_versions(PHASE, run_log_relpath(run_id, compressed), learner=learner)


def save(pm: PostMortem, learner: str | None = None, run_log: RunLog | None = None) -> Path:
    """Save the post-mortem as markdown to learners/<name>/phase-19/notes/postmortems/<run-id>.md.

    With `run_log` (the run §1 was read from, of the same run id), that log is saved first, beside
    the notes (`save_run_log`): §1 is checked against it, on any machine. Saving is allowed with
    problems left (work in progress); ``utils.course.notes.save_note`` never overwrites, so an earlier
    version is kept beside the new one. Returns the post-mortem's path.
    """
    relpath = postmortem_relpath(pm.run_id)
    check_same_run(pm.run_id, run_log)
    if run_log is not None:
        save_run_log(run_log, learner=learner)
    return notes.save_note(PHASE, relpath, render_markdown(pm), learner=learner)


def load_saved(run_id: str, learner: str | None = None) -> PostMortem | None:
    """The latest saved post-mortem of `run_id`, or None when there is none yet."""
    path = notes.notes_dir(PHASE, learner=learner) / postmortem_relpath(run_id)
    if not path.is_file():
        return None
    return parse_markdown(path.read_text(encoding="utf-8"))


def kept_versions(run_id: str, learner: str | None = None) -> list[Path]:
    """The earlier versions of a run's post-mortem that `save` kept (``<run-id>.v1.md``, ...), oldest first."""
    return notes.note_versions(PHASE, postmortem_relpath(run_id), learner=learner)


def _lesson_date(pm: PostMortem) -> datetime.date | None:
    """The post-mortem's own date for its lesson line (None, i.e. today, when the header date is not YYYY-MM-DD)."""
    try:
        return datetime.date.fromisoformat(pm.date) if DATE_RE.fullmatch(pm.date) else None
    except ValueError:
        return None


def save_with_lesson(pm: PostMortem, learner: str | None = None,
                     run_log: RunLog | None = None) -> tuple[Path, str]:
    """Save the post-mortem (with its `run_log`, as `save` does) and append its one-line lesson
    to the learner's lessons.

    The lesson line carries the post-mortem's date (``- 2026-11-23 · phase 19 · run <id> · <lesson>``),
    so saving the same post-mortem again neither changes the file nor repeats the line: a line
    already in ``lessons.md`` is not appended twice.
    Raises ValueError (before saving anything) when §7 is not exactly one line.
    Returns (path of the saved post-mortem, the lesson line as it stands in lessons.md).
    """
    problems = validate(pm, sections=[7])
    if problems:
        raise ValueError(format_problems(problems))
    check_same_run(pm.run_id, run_log)
    path = save(pm, learner=learner, run_log=run_log)
    date = _lesson_date(pm)
    if date is not None:
        line = f"- {date.isoformat()} · phase {PHASE} · run {pm.run_id} · {pm.lesson.strip()}"
        if line in notes.read_lessons(PHASE, learner=learner):
            return path, line
    line = notes.append_lesson(PHASE, pm.lesson.strip(), run_id=pm.run_id, learner=learner, today=date)
    return path, line


@dataclass(frozen=True)
class LearnerPostmortems:
    """A learner's phase-19 notes folder, as the post-mortem workbook saves to and loads from it
    (``utils.postmortem.forms.PostmortemNotes``). `learner` defaults to the current learner."""

    learner: str | None = None

    def save(self, pm: PostMortem, run_log: RunLog | None = None) -> Path:
        return save(pm, learner=self.learner, run_log=run_log)

    def save_with_lesson(self, pm: PostMortem, run_log: RunLog | None = None) -> tuple[Path, str]:
        return save_with_lesson(pm, learner=self.learner, run_log=run_log)

    def load_saved(self, run_id: str) -> PostMortem | None:
        return load_saved(run_id, learner=self.learner)

    def saved_run_log_path(self, run_id: str) -> Path | None:
        return saved_run_log_path(run_id, learner=self.learner)

    def kept_versions(self, run_id: str) -> list[Path]:
        return kept_versions(run_id, learner=self.learner)

    def run_log_versions(self, run_id: str) -> list[Path]:
        return run_log_versions(run_id, learner=self.learner)

    def lessons(self) -> list[str]:
        return notes.read_lessons(PHASE, learner=self.learner)

    def display_path(self, path: Path) -> str:
        return notes.display_path(path)
