"""The grading reports: ``<learner>.md`` per learner (notebook -> check -> pass/FAIL with the
message; notes -> check -> pass/FAIL) and the class summary ``summary.md`` and ``summary.csv``.
Reports hold no timings and no absolute paths, so the same grading gives the same files."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from utils.course.grading.results import Check, LearnerGrade, short
from utils.text import say, speaking


def _md(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return short(text).replace("\\", "\\\\").replace("|", "\\|")


def _table(rows: list[Check]) -> list[str]:
    lines = [say("| Check | Result | Message |", "| Comprobación | Resultado | Mensaje |"), "|---|---|---|"]
    for c in rows:
        result = say("pass", "correcto") if c.passed else say("FAIL", "FALLO")
        lines.append(f"| {_md(c.name)} | {result} | {_md(c.message)} |")
    return lines


def learner_report(grade_: LearnerGrade) -> str:
    """The per-learner report in markdown (deterministic: no timings, no absolute paths), in the
    current language (``write_reports`` writes each in its learner's)."""
    n = grade_.counts()
    lines = [say(f"# Grading report: {grade_.learner}", f"# Informe de corrección: {grade_.learner}"), "",
             say(f"- Notebook checks passed: {n['checks_passed']}/{n['checks_total']} in {n['notebooks']} notebook(s)",
                 f"- Comprobaciones de cuadernos superadas: {n['checks_passed']}/{n['checks_total']} en "
                 f"{n['notebooks']} cuaderno(s)"),
             say(f"- Notes checks passed: {n['notes_passed']}/{n['notes_total']}",
                 f"- Comprobaciones de notas superadas: {n['notes_passed']}/{n['notes_total']}"), ""]
    lines += [say("## Notebooks", "## Cuadernos"), ""]
    if not grade_.notebooks:
        lines += [say("No notebook handed in.", "Ningún cuaderno entregado."), ""]
    for nb in grade_.notebooks:
        lines += [f"### {nb.notebook} ({_status(nb.status)})", ""]
        if nb.note:
            lines += [say(f"Note: {short(nb.note)}", f"Nota: {short(nb.note)}"), ""]
        lines += (_table(nb.checks) if nb.checks else [say("No checks in this notebook.",
                                                           "Ninguna comprobación en este cuaderno.")]) + [""]
        if nb.other_failures:
            lines += [say("Other cells that failed:", "Otras celdas que fallaron:"), ""] \
                + [f"- {short(o)}" for o in nb.other_failures] + [""]
    if grade_.not_submitted:
        lines += [say("### Not handed in", "### No entregado"), ""] + [f"- {rel}" for rel in grade_.not_submitted] + [""]
    lines += [say("## Notes", "## Notas"), ""]
    lines += (_table(grade_.notes) if grade_.notes else [say("No notes to check yet.",
                                                             "Todavía no hay notas que comprobar.")]) + [""]
    return "\n".join(lines)


def _status(status: str) -> str:
    """A notebook's status (``NotebookGrade.status``, kept English in the data) as the report says it."""
    return {
        "ran": say("ran", "ejecutado"),
        "stopped": say("stopped", "detenido"),
        "error": say("error", "fallo del corrector"),
        "not graded": say("not graded", "sin corregir"),
        "cell timed out": say("cell timed out", "una celda agotó su tiempo"),
        "kernel died": say("kernel died", "el kernel murió"),
    }.get(status, status)


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
    lines = [say("# Class summary", "# Resumen de la clase"), "",
             say("| Learner | Notebooks | Checks passed | Notes passed | Timed out | Not graded | Not handed in |",
                 "| Alumno | Cuadernos | Comprobaciones superadas | Notas superadas | Tiempo agotado | Sin corregir "
                 "| No entregado |"),
             "|---|---|---|---|---|---|---|"]
    for g in grades:
        n = g.counts()
        lines.append(f"| {_md(g.learner)} | {n['notebooks']} | {n['checks_passed']}/{n['checks_total']} | "
                     f"{n['notes_passed']}/{n['notes_total']} | {n['timed_out']} | {n['not_graded']} | "
                     f"{n['not_submitted']} |")
    if skipped:
        lines += ["", say("## Folders not graded", "## Carpetas sin corregir"), ""] + [f"- {short(line)}" for line in skipped]
    return "\n".join(lines) + "\n"


def write_reports(grades: list[LearnerGrade], out: Path, skipped: list[str] | None = None) -> list[Path]:
    """Write ``<learner>.md`` for each learner and ``summary.md`` / ``summary.csv``; the paths.
    ``skipped``: one line per folder left out (`skipped_folders`), listed in ``summary.md``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for g in grades:
        path = out / f"{g.learner}.md"
        with speaking(g.language):   # each learner reads their report in their own language
            path.write_text(learner_report(g), encoding="utf-8")
        written.append(path)
    for name, text in (("summary.md", summary_markdown(grades, skipped)), ("summary.csv", summary_csv(grades))):
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written
