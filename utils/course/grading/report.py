"""The grading reports: ``<learner>.md`` per learner (notebook -> check -> pass/FAIL with the
message; notes -> check -> pass/FAIL) and the class summary ``summary.md`` and ``summary.csv``.
Reports hold no timings and no absolute paths, so the same grading gives the same files."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from utils.course.grading.results import Check, LearnerGrade, short


def _md(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return short(text).replace("\\", "\\\\").replace("|", "\\|")


def _table(rows: list[Check]) -> list[str]:
    lines = ["| Check | Result | Message |", "|---|---|---|"]
    for c in rows:
        lines.append(f"| {_md(c.name)} | {'pass' if c.passed else 'FAIL'} | {_md(c.message)} |")
    return lines


def learner_report(grade_: LearnerGrade) -> str:
    """The per-learner report in markdown (deterministic: no timings, no absolute paths)."""
    n = grade_.counts()
    lines = [f"# Grading report: {grade_.learner}", "",
             f"- Notebook checks passed: {n['checks_passed']}/{n['checks_total']} "
             f"in {n['notebooks']} notebook(s)",
             f"- Notes checks passed: {n['notes_passed']}/{n['notes_total']}", ""]
    lines += ["## Notebooks", ""]
    if not grade_.notebooks:
        lines += ["No notebook handed in.", ""]
    for nb in grade_.notebooks:
        lines += [f"### {nb.notebook} ({nb.status})", ""]
        if nb.note:
            lines += [f"Note: {short(nb.note)}", ""]
        lines += (_table(nb.checks) if nb.checks else ["No checks in this notebook."]) + [""]
        if nb.other_failures:
            lines += ["Other cells that failed:", ""] + [f"- {short(o)}" for o in nb.other_failures] + [""]
    if grade_.not_submitted:
        lines += ["### Not handed in", ""] + [f"- {rel}" for rel in grade_.not_submitted] + [""]
    lines += ["## Notes", ""]
    lines += (_table(grade_.notes) if grade_.notes else ["No notes to check yet."]) + [""]
    return "\n".join(lines)


SUMMARY_COLUMNS = ("learner", "notebooks", "checks_passed", "checks_total", "notes_passed",
                   "notes_total", "timed_out", "not_graded", "not_submitted")


def summary_csv(grades: list[LearnerGrade]) -> str:
    """The class summary as CSV, one row per learner (columns ``SUMMARY_COLUMNS``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for g in grades:
        n = g.counts()
        writer.writerow([g.learner] + [n[c] for c in SUMMARY_COLUMNS[1:]])
    return buffer.getvalue()


def summary_markdown(grades: list[LearnerGrade], skipped: list[str] | None = None) -> str:
    """The class summary as a markdown table, then the folders left out (`skipped_folders`), if any."""
    lines = ["# Class summary", "",
             "| Learner | Notebooks | Checks passed | Notes passed | Timed out | Not graded | Not handed in |",
             "|---|---|---|---|---|---|---|"]
    for g in grades:
        n = g.counts()
        lines.append(f"| {_md(g.learner)} | {n['notebooks']} | {n['checks_passed']}/{n['checks_total']} | "
                     f"{n['notes_passed']}/{n['notes_total']} | {n['timed_out']} | {n['not_graded']} | "
                     f"{n['not_submitted']} |")
    if skipped:
        lines += ["", "## Folders not graded", ""] + [f"- {short(line)}" for line in skipped]
    return "\n".join(lines) + "\n"


def write_reports(grades: list[LearnerGrade], out: Path, skipped: list[str] | None = None) -> list[Path]:
    """Write ``<learner>.md`` for each learner and ``summary.md`` / ``summary.csv``; the paths.
    ``skipped``: one line per folder left out (`skipped_folders`), listed in ``summary.md``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for g in grades:
        path = out / f"{g.learner}.md"
        path.write_text(learner_report(g), encoding="utf-8")
        written.append(path)
    for name, text in (("summary.md", summary_markdown(grades, skipped)), ("summary.csv", summary_csv(grades))):
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written
