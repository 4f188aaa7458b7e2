"""What grading produces: one check, one notebook's grade, one learner's grade, and the one-line
messages they carry."""

from __future__ import annotations

from dataclasses import dataclass, field

MESSAGE_MAX_CHARS = 800    # room for §6's problems, which list the run's metric names


def short(text: str) -> str:
    """One line, at most MESSAGE_MAX_CHARS characters."""
    one = " ".join(text.split())
    return one if len(one) <= MESSAGE_MAX_CHARS else one[: MESSAGE_MAX_CHARS - 1] + "…"


@dataclass
class Check:
    """One graded item: its name, whether it passed, and the message to show the learner."""

    name: str
    passed: bool
    message: str = ""


@dataclass
class NotebookGrade:
    """The grading of one submitted notebook.

    ``status``: ``ran``; ``cell timed out`` (a cell hit the per-cell limit, the rest ran);
    ``stopped`` (the whole notebook hit its limit); ``kernel died`` (a cell ended the kernel's
    process; the cells after it did not run); ``not graded`` (no master source, or the file is
    not a notebook); ``error`` (nbval could not run it).
    """

    notebook: str
    status: str
    checks: list[Check] = field(default_factory=list)
    other_failures: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class LearnerGrade:
    """Everything graded for one learner."""

    learner: str
    notebooks: list[NotebookGrade] = field(default_factory=list)
    notes: list[Check] = field(default_factory=list)
    not_submitted: list[str] = field(default_factory=list)
    language: str = "en"     # the learner's language (utils.course.profile): the report and its messages use it

    def counts(self) -> dict[str, int]:
        """Passed/total of the notebook checks and of the notes checks, and problem counts."""
        checks = [c for nb in self.notebooks for c in nb.checks]
        return {
            "notebooks": len(self.notebooks),
            "checks_passed": sum(c.passed for c in checks),
            "checks_total": len(checks),
            "notes_passed": sum(c.passed for c in self.notes),
            "notes_total": len(self.notes),
            "timed_out": sum(nb.status in ("cell timed out", "stopped") for nb in self.notebooks),
            "not_graded": sum(nb.status in ("not graded", "error") for nb in self.notebooks),
            "not_submitted": len(self.not_submitted),
        }
