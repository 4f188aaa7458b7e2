"""The notes checks: the lesson of each notebook handed in, and each post-mortem against the run log
saved with it.

For every course notebook handed in (``phase-NN/MM-<name>.ipynb``), the phase's ``lessons.md`` must
hold its lesson: a line tagged ``notebook NN.MM``, as the lesson box at the end of the notebook
writes it, or for ``phase-19/04-post-mortem`` the post-mortem's §7 lesson (``utils.course.lessons``
is that rule, shared with the lesson boxes). Once phase 19 is handed in (or any post-mortem
exists), every post-mortem ``phase-19/notes/postmortems/<run-id>.md`` must parse
(``utils.postmortem.parse_markdown``), have no problems in any section
(``utils.postmortem.validate``, §6 against that run log: its metric names and length),
and its §1 symptoms must match the run log saved with it,
``phase-19/notes/run-logs/<run-id>.json.gz`` (or ``.json``; the post-mortem notebook saves it
with the post-mortem): every symptom of ``utils.spikelab.symptoms.compute(log)`` within the
stated tolerances (``utils.postmortem.check_symptoms``, the same comparison as the
form's Compare button). The runs are chaotic in the last bits of arithmetic: another machine
gives the same spike with other numbers, so the grader never compares §1 with a run of its own
(it trains nothing). A post-mortem without its run log fails that check with a line saying
what to do.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from utils.course.grading.results import Check, short
from utils.course.lessons import ExpectedLesson, lesson_lines, lessons_expected
from utils.course.notes import read_lessons
from utils import postmortem
from utils.spikelab import symptoms
from utils.spikelab.runlog import RunLog
from utils.text import say

POSTMORTEM_PHASE = 19
POSTMORTEM_NOTEBOOK = "04-post-mortem.ipynb"   # the notebook that writes the post-mortem and saves its run log
_KEPT_VERSION = re.compile(r"\.v\d+$")


@contextmanager
def _learners_root(root: Path) -> Iterator[None]:
    """Point ``utils.course.notes`` at ``root`` for the duration of the block (main thread only)."""
    old = os.environ.get("COURSE_LEARNERS_DIR")
    os.environ["COURSE_LEARNERS_DIR"] = str(root)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COURSE_LEARNERS_DIR", None)
        else:
            os.environ["COURSE_LEARNERS_DIR"] = old


def postmortem_files(folder: Path) -> list[Path]:
    """The learner's post-mortems (latest versions; kept ``.vN`` versions are left out)."""
    pm_dir = folder / f"phase-{POSTMORTEM_PHASE:02d}" / "notes" / "postmortems"
    if not pm_dir.is_dir():
        return []
    return [p for p in sorted(pm_dir.glob("*.md"))
            if p.is_file() and not _KEPT_VERSION.search(p.stem) and not p.name.startswith(".")]


def section1_check_name(postmortem_file: Path) -> str:
    """The name of the §1 check of one post-mortem in the report."""
    return say(f"post-mortem {postmortem_file.name}: §1 vs its saved run log",
               f"post-mortem {postmortem_file.name}: §1 frente a su registro guardado")


def missing_run_log_message(run_id: str) -> str:
    """The one line a learner reads when no run log was saved with their post-mortem."""
    return say(f"no run log saved with it (phase-19/notes/run-logs/{run_id}.json.gz): re-run "
               f"{POSTMORTEM_NOTEBOOK} from its training cell and save the post-mortem again, which "
               "saves your run beside it",
               f"no tiene registro guardado (phase-19/notes/run-logs/{run_id}.json.gz): vuelve a ejecutar "
               f"{POSTMORTEM_NOTEBOOK} desde su celda de entrenamiento y guarda otra vez el post-mortem, "
               "que guarda tu ejecución a su lado")


@dataclass
class SavedRun:
    """The run log saved with a post-mortem and its symptoms, or why they cannot be had (``why``)."""

    log: RunLog | None = None
    reference: dict | None = None
    why: str = ""


def saved_run(postmortem_file: Path, pm) -> SavedRun:
    """The run log saved with the post-mortem in ``postmortem_file`` (``run-logs/<run-id>.json.gz``
    or ``.json`` in the same notes folder, ``<run-id>`` being the file name) and its symptoms
    (``utils.spikelab.symptoms.compute``); ``why`` says, in one line, why there are none."""
    run_id = postmortem_file.stem
    try:
        path = postmortem.run_log_file(postmortem_file.parent.parent, run_id)
        if path is None:
            return SavedRun(why=missing_run_log_message(run_id))
        log = RunLog.load(path)
    except ValueError as err:
        return SavedRun(why=short(say(f"its run log cannot be read: {err}", f"su registro no se puede leer: {err}")))
    shown = f"run-logs/{path.name}"
    if log.meta.get("run_id") != pm.run_id:
        return SavedRun(why=short(say(f"the run log saved as {shown} is of run {log.meta.get('run_id')!r}, "
                                      f"this post-mortem of run {pm.run_id!r}",
                                      f"el registro guardado como {shown} es de la ejecución "
                                      f"{log.meta.get('run_id')!r}, este post-mortem de la ejecución {pm.run_id!r}")))
    try:
        reference = symptoms.compute(log)
    except Exception as err:  # a damaged or hand-edited log: reported, the grading goes on
        return SavedRun(why=short(say(f"no symptoms can be read from {shown}: {type(err).__name__}: {err}",
                                      f"no se pueden leer síntomas de {shown}: {type(err).__name__}: {err}")))
    return SavedRun(log, reference)


def check_section1(postmortem_file: Path, pm, run: SavedRun | None = None) -> Check:
    """§1 of the post-mortem in ``postmortem_file`` against the run log saved with it.

    The run log is ``run-logs/<run-id>.json.gz`` (or ``.json``) in the same notes folder, where
    ``<run-id>`` is the post-mortem's file name; its symptoms (``utils.spikelab.symptoms.compute``) are
    compared with §1 within the stated tolerances (``utils.postmortem.check_symptoms``). Nothing is
    trained: the numbers of another machine's run are checked against that run. ``run``: that
    run log already read (`saved_run`).
    """
    name = section1_check_name(postmortem_file)
    run = saved_run(postmortem_file, pm) if run is None else run
    if run.reference is None:
        return Check(name, False, run.why)
    report = postmortem.check_symptoms(pm.symptoms, run.reference)
    return Check(name, report.ok, short(report.summary()))


def lesson_check_name(expected: ExpectedLesson) -> str:
    """The name of the check of one notebook's lesson in the report."""
    return say(f"lesson of {expected.notebook}", f"lección de {expected.notebook}")


def check_lesson(expected: ExpectedLesson, lines: list[str]) -> Check:
    """The lesson of one notebook handed in, among the lines of its phase's ``lessons.md``."""
    name = lesson_check_name(expected)
    mine = lesson_lines(expected, lines)
    if mine:
        return Check(name, True, say(f"{len(mine)} lesson line(s) of notebook {expected.key}",
                                     f"{len(mine)} línea(s) de lección del cuaderno {expected.key}"))
    stem = Path(expected.notebook).stem
    if not lines:
        other = ""
    elif expected.from_postmortem:
        other = say(f" (none of its {len(lines)} line(s) is a post-mortem's lesson)",
                    f" (ninguna de sus {len(lines)} línea(s) es la lección de un post-mortem)")
    else:
        other = say(f" (none of its {len(lines)} line(s) is tagged 'notebook {expected.key}')",
                    f" (ninguna de sus {len(lines)} línea(s) lleva la etiqueta 'notebook {expected.key}')")
    return Check(name, False, say(f"no lesson of {stem} in phase-{expected.phase:02d}/notes/lessons.md{other}: "
                                  f"{expected.how_to_write}",
                                  f"no hay lección de {stem} en phase-{expected.phase:02d}/notes/lessons.md{other}: "
                                  f"{expected.how_to_write}"))


def grade_notes(learner: str, snapshot_root: Path, handed_in: list[str]) -> list[Check]:
    """The notes checks of one learner, read from ``snapshot_root/<learner>/``.

    ``handed_in``: the submitted notebooks (``phase-NN/<name>.ipynb``); each course notebook among
    them owes one lesson (``utils.course.lessons.lessons_expected``). Each post-mortem's §1 is checked
    against the run log saved with it (``check_section1``), and its §6 against that run's metric
    names and length (when the run log can be read).
    """
    checks = []
    folder = snapshot_root / learner
    with _learners_root(snapshot_root):
        for expected in lessons_expected(handed_in):
            checks.append(check_lesson(expected, read_lessons(expected.phase, learner=learner)))
    phases_done = {int(rel[6:8]) for rel in handed_in if re.match(r"phase-\d{2}/", rel)}
    files = postmortem_files(folder)
    if not files and POSTMORTEM_PHASE in phases_done:
        checks.append(Check(say("phase-19 post-mortem", "post-mortem de la fase 19"), False,
                            say("no post-mortem in phase-19/notes/postmortems/",
                                "no hay ningún post-mortem en phase-19/notes/postmortems/")))
    for path in files:
        label = f"post-mortem {path.name}"
        try:
            pm = postmortem.parse_markdown(path.read_text(encoding="utf-8"))
        except (ValueError, KeyError, UnicodeDecodeError) as err:
            checks.append(Check(say(f"{label}: format", f"{label}: formato"), False,
                                short(say(f"not in the course's format: {err}", f"no sigue el formato del curso: {err}"))))
            continue
        checks.append(Check(say(f"{label}: format", f"{label}: formato"), True))
        run = saved_run(path, pm)
        for section in range(0, 8):
            title = say("header", "encabezado") if section == 0 else f"§{section} {postmortem.SECTION_TITLES[section]}"
            problems = postmortem.validate(pm, sections=[section], run_log=run.log, reference=run.reference)
            checks.append(Check(f"{label}: {title}", not problems,
                                short("; ".join(str(p) for p in problems))))
        checks.append(check_section1(path, pm, run))
    return checks
