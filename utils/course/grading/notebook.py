"""Grading one submitted notebook: its graded copy run under nbval, and each hidden check's
result with the message the learner reads.

Each check passes when its cell runs without an error; otherwise the message is the check's
assertion message (or, when the learner's own exercise cell failed first, why it failed).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from utils.course.grading.graded_copy import GradedCopy, graded_copy
from utils.course.grading.results import Check, NotebookGrade, short
from utils.course.grading.runner import Run, run_nbval
from utils.course.learner_copies import exercises_of
from utils.text import say


def grade_results(graded: GradedCopy, run: Run) -> tuple[list[Check], list[str]]:
    """Per check: pass/fail with its message; and the learner's other cells that failed."""
    exercise_cells: dict[str, list[int]] = {}
    for k, (role, ex_id, _) in enumerate(graded.roles):
        if role == "exercise" and ex_id is not None:
            exercise_cells.setdefault(ex_id, []).append(k)
    checks, others = [], []
    counts: dict[str, int] = {}
    for role, ex_id, _ in graded.roles:
        if role == "check":
            counts[ex_id] = counts.get(ex_id, 0) + 1
    died = [k for k, o in sorted(run.cells.items()) if o.outcome == "kernel died"]
    for k, (role, ex_id, n) in enumerate(graded.roles):
        outcome = run.cells.get(k)
        if role != "check":
            if outcome is not None and outcome.outcome in ("fail", "timeout", "kernel died") and role == "cell":
                others.append(f"{graded.where[k]}: {outcome.message}")
            continue
        name = ex_id if counts[ex_id] == 1 else f"{ex_id} ({n + 1})"
        if run.error:
            checks.append(Check(name, False, run.error))
            continue
        if outcome is not None and outcome.outcome == "pass":
            checks.append(Check(name, True))
            continue
        own = [run.cells.get(i) for i in exercise_cells.get(ex_id, [])]
        own_failed = [o for o in own if o is not None and o.outcome in ("fail", "timeout", "kernel died")]
        if own_failed:
            checks.append(Check(name, False, say(f"your cell failed: {own_failed[-1].message}",
                                                 f"tu celda falló: {own_failed[-1].message}")))
        elif outcome is None:
            checks.append(Check(name, False, say("the check did not run", "la comprobación no se ejecutó")))
        elif outcome.outcome == "after-death":
            where = say(f" in {graded.where[died[0]]}", f" en {graded.where[died[0]]}") if died else ""
            checks.append(Check(name, False, say(f"not graded: the kernel died{where}, so this check could not run",
                                                 f"sin corregir: el kernel murió{where}, así que esta comprobación "
                                                 "no pudo ejecutarse")))
        elif outcome.outcome == "after-timeout":
            checks.append(Check(name, False, say("not graded: an earlier cell timed out, so this check "
                                                 "ran in an interrupted notebook and failed",
                                                 "sin corregir: una celda anterior agotó su tiempo, así que esta "
                                                 "comprobación se ejecutó en un cuaderno interrumpido y falló")))
        else:
            checks.append(Check(name, False, outcome.message))
    for ex_id, number in graded.missing:
        for n in range(number):
            checks.append(Check(ex_id if number == 1 else f"{ex_id} ({n + 1})", False,
                                say(f"no cell of exercise {ex_id} in the notebook (its cell metadata "
                                    "course.exercise was removed?)",
                                    f"el cuaderno no tiene ninguna celda del ejercicio {ex_id} (¿se borraron los "
                                    "metadatos course.exercise de su celda?)")))
    return checks, others


def grade_notebook(path: Path, rel: str, learner: str, learner_folder: Path, source: Path | None,
                   cell_timeout: float, notebook_timeout: float, env: dict | None = None,
                   run_cache: Path | None = None) -> NotebookGrade:
    """Grade one submitted notebook (``rel`` like ``phase-17/x.ipynb``) against its master source.
    ``run_cache``: finished runs copied into the notebook's own run cache (``runner.run_nbval``)."""
    if source is None:
        return NotebookGrade(rel, "not graded", note=say(  # i18n: not shown ("not graded": the status code)
            f"no master source {Path(rel).stem}.py in a phase-{rel[6:8]} folder of notebooks/",
            f"no hay fuente maestra {Path(rel).stem}.py en ninguna carpeta phase-{rel[6:8]} de notebooks/"))
    exercises = exercises_of(source)
    try:
        submitted = nbformat.read(path, as_version=4)
        graded = graded_copy(submitted, exercises)
    except Exception as err:  # a broken file is the learner's problem, reported, not raised
        checks = [Check(e if len(ex.checks) == 1 else f"{e} ({n + 1})", False,
                        say(f"the notebook could not be read: {short(str(err))}",
                            f"no se pudo leer el cuaderno: {short(str(err))}"))
                  for e, ex in exercises.items() for n in range(len(ex.checks))]
        return NotebookGrade(rel, "not graded", checks, note=say(  # i18n: not shown ("not graded": the status code)
            f"not a readable notebook: {type(err).__name__}", f"no es un cuaderno legible: {type(err).__name__}"))
    run = run_nbval(graded.notebook, rel, learner, learner_folder, cell_timeout, notebook_timeout, env,
                    run_cache=run_cache)
    checks, others = grade_results(graded, run)
    if run.stopped:
        status, note = "stopped", run.error
    elif run.error:
        status, note = "error", run.error
    elif any(c.outcome == "kernel died" for c in run.cells.values()):
        k = min(k for k, c in run.cells.items() if c.outcome == "kernel died")
        where = graded.where[k] if k < len(graded.where) else say(f"code cell {k}", f"celda de código {k}")
        status = "kernel died"  # i18n: not shown (the status code; report.py says it)
        note = say(f"{where} ended the kernel's process; the cells after it did not run",
                   f"{where} terminó el proceso del kernel; las celdas siguientes no se ejecutaron")
    elif any(c.outcome == "timeout" for c in run.cells.values()):
        status = "cell timed out"  # i18n: not shown (the status code; report.py says it)
        note = say(f"a cell ran longer than {cell_timeout:g} s and was interrupted",
                   f"una celda se ejecutó más de {cell_timeout:g} s y se interrumpió")
    else:
        status, note = "ran", ""
    return NotebookGrade(rel, status, checks, others, note)
