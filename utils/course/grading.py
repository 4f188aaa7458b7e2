"""Instructor grading: run each learner's notebooks with the hidden checks, and check their notes.

    python -m utils.grading --learner José            # one learner (repeatable)
    python -m utils.grading --all                     # every folder under learners/
        [--out grading-out] [--jobs 2] [--timeout 300] [--notebook-timeout 1800]
        [--notebooks notebooks]                       # where the master sources are

``learners/<name>/`` holds what a learner hands in: notebooks ``phase-NN/*.ipynb`` (their
copies, see ``utils.course.learner_copies``) and notes ``phase-NN/notes/`` (see ``utils.course.notes``).

Notebooks. For each submitted notebook the grader builds a *graded copy*: the learner's cells
(outputs cleared) with the instructor's hidden ``[check]`` cells of the master source
``notebooks/phase-NN-<theme>/<name>.py`` inserted right after the learner's cell of the same
exercise (the cell whose metadata says ``course.exercise = <id>``). The copy runs under nbval
(``pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=T --junitxml=...``) in a
subprocess whose working directory is a temporary folder, with ``LEARNER=<name>`` and
``COURSE_LEARNERS_DIR`` pointing at a temporary *copy* of that learner's folder, so graded
code never writes to (or deletes) the real notes. A cell that runs longer than T seconds is
interrupted (the notebook goes on), a notebook that runs longer than ``--notebook-timeout``
is stopped, and one whose kernel dies (``os._exit``, a crash, out of memory) is reported as such
at once (``utils.course.grading_kernel``): none of this stops the grading of the others.
Each check passes when its cell runs without an error; otherwise the message is the check's
assertion message (or, when the learner's own exercise cell failed first, why it failed).

Notes. For every phase with a submitted notebook, ``lessons.md`` must hold at least one
lesson line of that phase (``utils.course.notes.read_lessons``). Once phase 19 is handed in (or any
post-mortem exists), every post-mortem ``phase-19/notes/postmortems/<run-id>.md`` must parse
(``utils.postmortem.template.parse_markdown``), have no problems in any section
(``utils.postmortem.template.validate``, §6 against that run log: its metric names and length), and its
§1 symptoms must match the run log saved with it,
``phase-19/notes/run-logs/<run-id>.json.gz`` (or ``.json``; the post-mortem notebook saves it
with the post-mortem): every symptom of ``utils.spikelab.symptoms.compute(log)`` within the stated
tolerances (``utils.postmortem.template.check_symptoms``, the same comparison as the form's Compare
button). The runs are chaotic in the last bits of arithmetic: another machine gives the same
spike with other numbers, so the grader never compares §1 with a run of its own (it trains
nothing). A post-mortem without its run log fails that check with a line saying what to do.

Output (``--out``, default ``grading-out/``, which git ignores): ``<learner>.md`` per learner
(notebook -> check -> pass/FAIL with the message; notes -> check -> pass/FAIL) and the class
summary ``summary.md`` and ``summary.csv``. Reports hold no timings and no absolute paths.
``--all`` grades every folder whose name is a valid learner name; each other folder is listed
in ``summary.md`` (and printed), one line saying why it was skipped.

Graded code is untrusted: it runs with the grader's permissions. Run the grader in a sandbox
or container (see learners/README.md, "Grading").
"""

from __future__ import annotations

import argparse
import copy
import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import nbformat

from utils.course.grading_kernel import DIED
from utils.course.learner import LearnerNameError, learners_dir, repo_root, validate_learner_name
from utils.course.learner_copies import Exercise, exercises_of, notebooks_dir, phase_sources
from utils.spikelab.runlog import RunLog

DEFAULT_OUT = "grading-out"
DEFAULT_CELL_TIMEOUT_S = 300
DEFAULT_NOTEBOOK_TIMEOUT_S = 1800
KERNEL_STARTUP_TIMEOUT_S = 60
POSTMORTEM_PHASE = 19
POSTMORTEM_NOTEBOOK = "04-post-mortem.ipynb"   # the notebook that writes the post-mortem and saves its run log
MESSAGE_MAX_CHARS = 800    # room for §6's problems, which list the run's metric names
_PHASE_DIR = re.compile(r"phase-(\d{2})$")
_KEPT_VERSION = re.compile(r"\.v\d+$")
_ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]")
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")
_EXCEPTION_NAME = re.compile(r"(Error|Exception|NotDone|Interrupt|Exit|Warning)$")
_TIMEOUT = re.compile(r"Timeout of ([\d.]+) seconds exceeded")
_CELL = re.compile(r"^Cell (\d+)$")
_DEAD_KERNEL = re.compile(re.escape(DIED) + r"[^\n]*")   # utils.course.grading_kernel's DeadKernelError message
_DEAD_ON_START = "Kernel dead on test start"   # nbval's error for each cell after the kernel died


# --------------------------------------------------------------------------- results


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


# --------------------------------------------------------------------------- the graded copy


def _exercise_of(cell) -> str | None:
    """The exercise id in a cell's metadata (``course.exercise``), or None."""
    course = cell.get("metadata", {}).get("course")
    if isinstance(course, dict) and isinstance(course.get("exercise"), str):
        return course["exercise"]
    return None


@dataclass
class GradedCopy:
    """A graded notebook and what each of its code cells is (nbval numbers code cells 0, 1, ...).

    ``roles[k]`` is ``("check", id, n)`` for the n-th check cell of exercise ``id``,
    ``("exercise", id, 0)`` for a learner's exercise cell, ``("cell", None, 0)`` otherwise.
    ``where[k]`` says which cell of the submitted notebook code cell k is ("cell 7 (`x = 1`)"),
    for messages about the learner's own cells. ``missing`` lists (id, number of checks) of
    the exercises whose cell was not found.
    """

    notebook: nbformat.NotebookNode
    roles: list[tuple[str, str | None, int]]
    where: list[str]
    missing: list[tuple[str, int]]


def graded_copy(submitted: nbformat.NotebookNode, exercises: dict[str, Exercise]) -> GradedCopy:
    """The learner's cells, outputs cleared, with each exercise's check cells after its cell.

    The learner's cell of an exercise is the last cell whose metadata says
    ``course.exercise = <id>``; failing that, the last code cell still calling
    ``exercise_todo("<id>", ...)``. Exercises whose cell is not found get no check cell and
    are listed in ``missing``.
    """
    nb = copy.deepcopy(submitted)
    cells = [c for c in nb.cells if c.get("cell_type") in ("code", "markdown", "raw")]
    anchor: dict[str, int] = {}
    for index, cell in enumerate(cells):
        ex_id = _exercise_of(cell)
        if ex_id in exercises and cell.cell_type == "code":
            anchor[ex_id] = index
    for ex_id in exercises:
        if ex_id in anchor:
            continue
        call = re.compile(r"exercise_todo\(\s*['\"]" + re.escape(ex_id) + r"['\"]")
        for index, cell in enumerate(cells):
            if cell.cell_type == "code" and call.search(cell.source):
                anchor[ex_id] = index
    out, roles, where = [], [], []
    for index, cell in enumerate(cells):
        anchored = [e for e, i in anchor.items() if i == index]
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            own = anchored[0] if anchored else _exercise_of(cell)
            roles.append(("exercise", own, 0) if own in exercises else ("cell", None, 0))
            first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
            first = first if len(first) <= 40 else first[:39] + "…"
            where.append(f"cell {index + 1} (`{first}`)" if first else f"cell {index + 1}")
        out.append(cell)
        for ex_id in anchored:
            for n, text in enumerate(exercises[ex_id].checks):
                check = nbformat.v4.new_code_cell(text)
                check.metadata["course"] = {"role": "check", "exercise": ex_id}
                out.append(check)
                roles.append(("check", ex_id, n))
                where.append(f"check {ex_id}")
    nb.cells = out
    for number, cell in enumerate(nb.cells):
        cell["id"] = f"graded-{number}"  # unique ids, whatever the learner's notebook held
    missing = [(e, len(ex.checks)) for e, ex in exercises.items() if ex.checks and e not in anchor]
    return GradedCopy(nb, roles, where, missing)


# --------------------------------------------------------------------------- running nbval


@dataclass
class CellOutcome:
    """One code cell as nbval saw it: ``pass``, ``fail``, ``timeout``, ``after-timeout``, ``skip``,
    ``kernel died`` (this cell ended the kernel) or ``after-death`` (not run: the kernel was dead)."""

    outcome: str
    message: str = ""


def _clean(text: str, tmp: str | None = None) -> str:
    """ANSI colours removed, the temporary folder hidden (reports hold no absolute paths)."""
    text = _ANSI.sub("", text)
    if tmp:
        text = text.replace(os.path.realpath(tmp), "<tmp>").replace(tmp, "<tmp>")
    return text


def _short(text: str) -> str:
    """One line, at most MESSAGE_MAX_CHARS characters."""
    one = " ".join(text.split())
    return one if len(one) <= MESSAGE_MAX_CHARS else one[: MESSAGE_MAX_CHARS - 1] + "…"


def failure_message(text: str) -> str:
    """The error of a failed cell from nbval's report: ``Name: message`` (last exception line).

    ``AssertionError: <message>`` gives just the assertion message (a check's message starts
    with its exercise id); a timeout gives ``timed out after T s``; the cell that ended the kernel
    gives ``the kernel died while this cell ran ...``, the cells after it ``not run: ...``.
    """
    timeout = _TIMEOUT.search(text)
    if timeout:
        return f"timed out after {float(timeout.group(1)):g} s"
    dead = _DEAD_KERNEL.search(text)
    if dead:
        return _short(dead.group(0))
    if _DEAD_ON_START in text:
        return "not run: the kernel was dead (an earlier cell ended the Python process)"
    if "Kernel dead" in text or "Kernel died" in text:
        return "the kernel was dead: an earlier cell ended the Python process (exit, crash or memory)"
    lines = [line.rstrip() for line in text.strip().splitlines()]
    for start in range(len(lines) - 1, -1, -1):
        match = _EXCEPTION_LINE.match(lines[start])
        if match and _EXCEPTION_NAME.search(match.group(1)):
            name = match.group(1).rsplit(".", 1)[-1]
            rest = " ".join([match.group(2) or ""] + lines[start + 1:]).strip()
            if name == "AssertionError":
                return _short(rest) if rest else "AssertionError (the check failed, no message)"
            if name == "ExerciseNotDone":
                return "not done: the cell still calls exercise_todo(...)"
            return _short(f"{name}: {rest}" if rest else name)
    for line in lines:
        if line.startswith("Cell ") and ":" in line:
            return _short(line.split(":", 1)[1])
    return _short(lines[-1]) if lines else "failed (no message)"


def parse_junit(path: Path, tmp: str | None = None) -> dict[int, CellOutcome]:
    """Per code cell (nbval's ``Cell N``), its outcome from pytest's junit XML."""
    results: dict[int, CellOutcome] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        match = _CELL.match(case.get("name", ""))
        if not match:
            continue
        number = int(match.group(1))
        failed = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if failed is not None:
            text = _clean((failed.text or "") + "\n" + failed.get("message", ""), tmp)
            body = _clean(failed.text or failed.get("message", ""), tmp)
            outcome = ("timeout" if _TIMEOUT.search(text) else "kernel died" if _DEAD_KERNEL.search(text)
                       else "after-death" if _DEAD_ON_START in text else "fail")
            results[number] = CellOutcome(outcome, failure_message(body))
        elif skipped is not None:
            if skipped.get("type") == "pytest.xfail":
                results[number] = CellOutcome("after-timeout", "an earlier cell timed out")
            else:
                results[number] = CellOutcome("skip", _short(skipped.get("message", "skipped")))
        else:
            results[number] = CellOutcome("pass")
    return results


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill a process, its process group and every descendant (kernels run in their own session)."""
    pids = []
    try:
        import psutil

        pids = [child.pid for child in psutil.Process(proc.pid).children(recursive=True)]
    except Exception:  # psutil missing or the process already gone
        pass
    for kill in (lambda: os.killpg(proc.pid, signal.SIGKILL),
                 *[lambda pid=pid: os.kill(pid, signal.SIGKILL) for pid in pids]):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait()


@dataclass
class Run:
    """What one nbval subprocess gave: per-cell outcomes, or why there are none."""

    cells: dict[int, CellOutcome]
    stopped: bool = False
    error: str = ""


def run_nbval(nb: nbformat.NotebookNode, rel: str, learner: str, learner_folder: Path,
              cell_timeout: float, notebook_timeout: float, env: dict | None = None) -> Run:
    """Run a graded copy under nbval in a temporary folder; never raises for the notebook's sake.

    The temporary folder holds ``work/<rel>`` (the graded copy; the kernel starts in its
    folder), ``learners/<learner>/`` (a copy of ``learner_folder``, the only learners folder
    the graded code sees through ``COURSE_LEARNERS_DIR``), ``runs/`` (a run cache of its own,
    ``COURSE_RUN_CACHE``: a run trained twice in the notebook is trained once) and the junit XML. ``env`` is the
    environment to start from (default: ``os.environ``).
    """
    with tempfile.TemporaryDirectory(prefix="grading-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        notes_copy = root / "learners" / learner
        shutil.copytree(learner_folder, notes_copy, symlinks=True)
        target = root / "work" / rel
        target.parent.mkdir(parents=True)
        target.write_text(nbformat.writes(nb), encoding="utf-8")
        (root / "work" / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        junit = root / "junit.xml"
        (root / "runs").mkdir()
        env = dict(os.environ if env is None else env)
        # the plugin utils.course.grading_kernel is imported from the repository, wherever pytest runs
        python_path = [str(repo_root())] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        # The run cache (utils.spikelab.runstore) is private to this notebook: graded code could write
        # anything into a shared one, and other learners' checks would then read it.
        env.update(LEARNER=learner, COURSE_LEARNERS_DIR=str(root / "learners"), MPLBACKEND="Agg",
                   PYTHONDONTWRITEBYTECODE="1", COURSE_RUN_CACHE=str(root / "runs"),
                   PYTHONPATH=os.pathsep.join(python_path))
        command = [
            sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
            f"--nbval-cell-timeout={cell_timeout:g}",
            f"--nbval-kernel-startup-timeout={KERNEL_STARTUP_TIMEOUT_S}",
            "-p", "no:cacheprovider", "-p", "utils.course.grading_kernel",   # a dead kernel is reported at once
            "-q", "--color=no", "-o", "junit_family=xunit2",
            f"--junitxml={junit}", rel,
        ]
        log = root / "pytest.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(command, cwd=root / "work", env=env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            try:
                proc.wait(timeout=notebook_timeout)
            except subprocess.TimeoutExpired:
                _kill_tree(proc)
                return Run({}, stopped=True,
                           error=f"the notebook ran longer than {notebook_timeout:g} s in all and was stopped")
            _kill_tree(proc)  # graded code may have left processes behind
        cells = parse_junit(junit, tmp) if junit.is_file() else {}
        if not cells:
            tail = _clean(log.read_text(encoding="utf-8", errors="replace"), tmp).strip().splitlines()
            return Run({}, error="nbval did not run the notebook: " + _short(" / ".join(tail[-3:])))
        return Run(cells)


# --------------------------------------------------------------------------- grading a notebook


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
            checks.append(Check(name, False, f"your cell failed: {own_failed[-1].message}"))
        elif outcome is None:
            checks.append(Check(name, False, "the check did not run"))
        elif outcome.outcome == "after-death":
            where = f" in {graded.where[died[0]]}" if died else ""
            checks.append(Check(name, False, f"not graded: the kernel died{where}, so this check could not run"))
        elif outcome.outcome == "after-timeout":
            checks.append(Check(name, False, "not graded: an earlier cell timed out, so this check "
                                             "ran in an interrupted notebook and failed"))
        else:
            checks.append(Check(name, False, outcome.message))
    for ex_id, number in graded.missing:
        for n in range(number):
            checks.append(Check(ex_id if number == 1 else f"{ex_id} ({n + 1})", False,
                                f"no cell of exercise {ex_id} in the notebook (its cell metadata "
                                "course.exercise was removed?)"))
    return checks, others


def grade_notebook(path: Path, rel: str, learner: str, learner_folder: Path, source: Path | None,
                   cell_timeout: float, notebook_timeout: float, env: dict | None = None) -> NotebookGrade:
    """Grade one submitted notebook (``rel`` like ``phase-17/x.ipynb``) against its master source."""
    if source is None:
        return NotebookGrade(rel, "not graded", note=f"no master source {Path(rel).stem}.py in a "
                                                     f"phase-{rel[6:8]} folder of notebooks/")
    exercises = exercises_of(source)
    try:
        submitted = nbformat.read(path, as_version=4)
        graded = graded_copy(submitted, exercises)
    except Exception as err:  # a broken file is the learner's problem, reported, not raised
        checks = [Check(e if len(ex.checks) == 1 else f"{e} ({n + 1})", False,
                        f"the notebook could not be read: {_short(str(err))}")
                  for e, ex in exercises.items() for n in range(len(ex.checks))]
        return NotebookGrade(rel, "not graded", checks, note=f"not a readable notebook: {type(err).__name__}")
    run = run_nbval(graded.notebook, rel, learner, learner_folder, cell_timeout, notebook_timeout, env)
    checks, others = grade_results(graded, run)
    if run.stopped:
        status, note = "stopped", run.error
    elif run.error:
        status, note = "error", run.error
    elif any(c.outcome == "kernel died" for c in run.cells.values()):
        k = min(k for k, c in run.cells.items() if c.outcome == "kernel died")
        where = graded.where[k] if k < len(graded.where) else f"code cell {k}"
        status, note = "kernel died", f"{where} ended the kernel's process; the cells after it did not run"
    elif any(c.outcome == "timeout" for c in run.cells.values()):
        status, note = "cell timed out", f"a cell ran longer than {cell_timeout:g} s and was interrupted"
    else:
        status, note = "ran", ""
    return NotebookGrade(rel, status, checks, others, note)


# --------------------------------------------------------------------------- notes


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


def submitted_notebooks(folder: Path) -> dict[str, Path]:
    """``phase-NN/<name>.ipynb`` -> path, for every notebook the learner handed in."""
    found = {}
    for phase_dir in sorted(folder.iterdir()) if folder.is_dir() else []:
        if phase_dir.is_dir() and _PHASE_DIR.match(phase_dir.name):
            for nb in sorted(phase_dir.glob("*.ipynb")):
                if nb.is_file() and not nb.name.startswith("."):
                    found[f"{phase_dir.name}/{nb.name}"] = nb
    return found


def postmortem_files(folder: Path) -> list[Path]:
    """The learner's post-mortems (latest versions; kept ``.vN`` versions are left out)."""
    pm_dir = folder / f"phase-{POSTMORTEM_PHASE:02d}" / "notes" / "postmortems"
    if not pm_dir.is_dir():
        return []
    return [p for p in sorted(pm_dir.glob("*.md"))
            if p.is_file() and not _KEPT_VERSION.search(p.stem) and not p.name.startswith(".")]


def section1_check_name(postmortem_file: Path) -> str:
    """The name of the §1 check of one post-mortem in the report."""
    return f"post-mortem {postmortem_file.name}: §1 vs its saved run log"


def missing_run_log_message(run_id: str) -> str:
    """The one line a learner reads when no run log was saved with their post-mortem."""
    return (f"no run log saved with it (phase-19/notes/run-logs/{run_id}.json.gz): re-run "
            f"{POSTMORTEM_NOTEBOOK} from its training cell and save the post-mortem again, which "
            "saves your run beside it")


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
    from utils.postmortem import template as postmortem
    from utils.spikelab import symptoms

    run_id = postmortem_file.stem
    try:
        path = postmortem.run_log_file(postmortem_file.parent.parent, run_id)
        if path is None:
            return SavedRun(why=missing_run_log_message(run_id))
        log = RunLog.load(path)
    except ValueError as err:
        return SavedRun(why=_short(f"its run log cannot be read: {err}"))
    shown = f"run-logs/{path.name}"
    if log.meta.get("run_id") != pm.run_id:
        return SavedRun(why=_short(f"the run log saved as {shown} is of run {log.meta.get('run_id')!r}, "
                                   f"this post-mortem of run {pm.run_id!r}"))
    try:
        reference = symptoms.compute(log)
    except Exception as err:  # a damaged or hand-edited log: reported, the grading goes on
        return SavedRun(why=_short(f"no symptoms can be read from {shown}: {type(err).__name__}: {err}"))
    return SavedRun(log, reference)


def check_section1(postmortem_file: Path, pm, run: SavedRun | None = None) -> Check:
    """§1 of the post-mortem in ``postmortem_file`` against the run log saved with it.

    The run log is ``run-logs/<run-id>.json.gz`` (or ``.json``) in the same notes folder, where
    ``<run-id>`` is the post-mortem's file name; its symptoms (``utils.spikelab.symptoms.compute``) are
    compared with §1 within the stated tolerances (``utils.postmortem.template.check_symptoms``). Nothing is
    trained: the numbers of another machine's run are checked against that run. ``run``: that
    run log already read (`saved_run`).
    """
    from utils.postmortem import template as postmortem

    name = section1_check_name(postmortem_file)
    run = saved_run(postmortem_file, pm) if run is None else run
    if run.reference is None:
        return Check(name, False, run.why)
    report = postmortem.check_symptoms(pm.symptoms, run.reference)
    return Check(name, report.ok, _short(report.summary()))


def grade_notes(learner: str, snapshot_root: Path, phases_done: list[int]) -> list[Check]:
    """The notes checks of one learner, read from ``snapshot_root/<learner>/``.

    ``phases_done``: the phases with a submitted notebook. Each post-mortem's §1 is checked
    against the run log saved with it (``check_section1``), and its §6 against that run's metric
    names and length (when the run log can be read).
    """
    from utils.postmortem import template as postmortem
    from utils.course.notes import read_lessons

    checks = []
    folder = snapshot_root / learner
    with _learners_root(snapshot_root):
        for phase in phases_done:
            name = f"phase-{phase:02d} lessons.md"
            lines = read_lessons(phase, learner=learner)
            mine = [line for line in lines if re.search(rf"· phase {phase} ·", line)]
            if mine:
                checks.append(Check(name, True, f"{len(mine)} lesson line(s) of phase {phase}"))
            elif lines:
                checks.append(Check(name, False, f"{len(lines)} line(s), none reading '· phase {phase} ·' "
                                                 "(write lessons with utils.course.notes.append_lesson)"))
            else:
                checks.append(Check(name, False, f"no lesson for phase {phase} in "
                                                 f"phase-{phase:02d}/notes/lessons.md"))
    files = postmortem_files(folder)
    if not files and POSTMORTEM_PHASE in phases_done:
        checks.append(Check("phase-19 post-mortem", False,
                            "no post-mortem in phase-19/notes/postmortems/"))
    for path in files:
        label = f"post-mortem {path.name}"
        try:
            pm = postmortem.parse_markdown(path.read_text(encoding="utf-8"))
        except (ValueError, KeyError, UnicodeDecodeError) as err:
            checks.append(Check(f"{label}: format", False, _short(f"not in the course's format: {err}")))
            continue
        checks.append(Check(f"{label}: format", True))
        run = saved_run(path, pm)
        for section in range(0, 8):
            title = "header" if section == 0 else f"§{section} {postmortem.SECTION_TITLES[section]}"
            problems = postmortem.validate(pm, sections=[section], run_log=run.log, reference=run.reference)
            checks.append(Check(f"{label}: {title}", not problems,
                                _short("; ".join(str(p) for p in problems))))
        checks.append(check_section1(path, pm, run))
    return checks


# --------------------------------------------------------------------------- grading learners


def master_source(rel: str, notebooks_root: Path) -> Path | None:
    """The master source of ``phase-NN/<name>.ipynb``: ``notebooks/phase-NN[-theme]/<name>.py``."""
    phase, name = int(rel[6:8]), Path(rel).stem
    found = [s for _, s in phase_sources(notebooks_root, [phase]) if s.stem == name]
    return found[0] if len(found) == 1 else None


def _learner_folders(root: Path) -> tuple[list[str], list[str]]:
    """(the learner names of the folders under ``root``, one line per other folder saying why it is
    not a learner's). Hidden folders (``.ipynb_checkpoints``) are neither."""
    names, skipped = [], []
    for child in sorted(root.iterdir()) if root.is_dir() else []:
        if not child.is_dir() or child.name.startswith("."):
            continue
        shown = ascii(child.name)[1:-1] if not child.name.isprintable() else child.name  # a newline stays visible
        try:
            name = validate_learner_name(child.name)
        except LearnerNameError as err:
            skipped.append(f"learners/{shown}/: not graded, its name is not a learner name: {err}")
            continue
        if name != child.name:      # "ana " or another Unicode form: the folder of 'ana' is not this one
            skipped.append(f"learners/{shown}/: not graded, the folder name is not written as the learner "
                           f"name {name!r} (spaces around it or another Unicode form): rename it {name!r}")
            continue
        names.append(name)
    return names, skipped


def all_learners(root: Path | None = None) -> list[str]:
    """Every learner folder under the learners folder (valid names only), sorted
    (`skipped_folders` says why each other folder is left out)."""
    return _learner_folders(learners_dir() if root is None else Path(root))[0]


def skipped_folders(root: Path | None = None) -> list[str]:
    """One line per folder under the learners folder that ``--all`` does not grade, saying why."""
    return _learner_folders(learners_dir() if root is None else Path(root))[1]


def grade(learners: list[str], learners_root: Path | None = None, notebooks_root: Path | None = None,
          jobs: int = 1, cell_timeout: float = DEFAULT_CELL_TIMEOUT_S,
          notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT_S, progress=None) -> list[LearnerGrade]:
    """Grade the learners' notebooks (``jobs`` nbval runs at a time) and notes; one result each.

    Each learner's folder is first copied to a temporary snapshot: the notes are checked on
    it and the notebooks are taken from it, so nothing the graded code does can change what
    is graded. Each post-mortem's §1 is checked against the run log saved with it (nothing is
    trained for it). ``progress(message)`` is called as notebooks finish.
    """
    root = learners_dir() if learners_root is None else Path(learners_root)
    nb_root = notebooks_dir() if notebooks_root is None else Path(notebooks_root)
    names = [validate_learner_name(n) for n in learners]
    for name in names:
        if not (root / name).is_dir():
            raise FileNotFoundError(f"no folder learners/{name}/")
    base_env = dict(os.environ)  # read once, here: grade_notes changes os.environ for a moment
    with tempfile.TemporaryDirectory(prefix="grading-snapshot-", ignore_cleanup_errors=True) as snap:
        snapshot = Path(snap)
        for name in names:
            shutil.copytree(root / name, snapshot / name, symlinks=True)
        results = {name: LearnerGrade(name) for name in names}
        tasks, done_phases = [], {}
        for name in names:
            submitted = submitted_notebooks(snapshot / name)
            done_phases[name] = sorted({int(rel[6:8]) for rel in submitted})
            started = {int(d.name[6:8]) for d in (snapshot / name).iterdir()
                       if d.is_dir() and _PHASE_DIR.match(d.name)}
            for phase, source in phase_sources(nb_root, sorted(started)):
                rel = f"phase-{phase:02d}/{source.stem}.ipynb"
                if rel not in submitted and any(ex.checks for ex in exercises_of(source).values()):
                    results[name].not_submitted.append(rel)
            for rel, path in submitted.items():
                tasks.append((name, rel, path, master_source(rel, nb_root)))

        def one(task):
            name, rel, path, source = task
            try:
                graded = grade_notebook(path, rel, name, snapshot / name, source, cell_timeout,
                                        notebook_timeout, base_env)
            except Exception as err:  # the grader's own failure on one notebook stops nothing else
                graded = NotebookGrade(rel, "error", note=_short(f"grader error: {type(err).__name__}: {err}"))
            if progress:
                progress(f"{name}: {rel}: {graded.status}")
            return graded

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(one, task) for task in tasks]
            # Meanwhile, in this thread: the notes.
            for name in names:
                results[name].notes = grade_notes(name, snapshot, done_phases[name])
            for (name, *_), future in zip(tasks, futures):
                results[name].notebooks.append(future.result())
    return [results[name] for name in names]


# --------------------------------------------------------------------------- reports


def _md(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return _short(text).replace("\\", "\\\\").replace("|", "\\|")


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
            lines += [f"Note: {_short(nb.note)}", ""]
        lines += (_table(nb.checks) if nb.checks else ["No checks in this notebook."]) + [""]
        if nb.other_failures:
            lines += ["Other cells that failed:", ""] + [f"- {_short(o)}" for o in nb.other_failures] + [""]
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
        lines += ["", "## Folders not graded", ""] + [f"- {_short(line)}" for line in skipped]
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


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(repo_root()).as_posix()
    except ValueError:
        return path.as_posix()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.grading", description=__doc__.split("\n")[0])
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--learner", action="append", help="a learner's name (repeatable)")
    who.add_argument("--all", action="store_true", help="every learner folder under learners/")
    parser.add_argument("--out", type=Path, default=None, help=f"report folder (default {DEFAULT_OUT}/)")
    parser.add_argument("--notebooks", type=Path, default=None,
                        help="folder of the master sources (default notebooks/)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="notebooks graded at once (default: min(2, CPU count))")
    parser.add_argument("--timeout", type=float, default=DEFAULT_CELL_TIMEOUT_S,
                        help=f"seconds per cell (default {DEFAULT_CELL_TIMEOUT_S})")
    parser.add_argument("--notebook-timeout", type=float, default=DEFAULT_NOTEBOOK_TIMEOUT_S,
                        help=f"seconds per notebook in all (default {DEFAULT_NOTEBOOK_TIMEOUT_S})")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.timeout <= 0 or args.notebook_timeout <= 0:
        parser.error("--jobs, --timeout and --notebook-timeout must be positive")
    names, skipped = _learner_folders(learners_dir()) if args.all else (args.learner, [])
    for line in skipped:
        print(f"skipped {line}")
    if not names:
        parser.error("no learner folders found under learners/")
    out = args.out if args.out is not None else repo_root() / DEFAULT_OUT
    started = time.monotonic()
    try:
        grades = grade(names, notebooks_root=args.notebooks, jobs=args.jobs, cell_timeout=args.timeout,
                       notebook_timeout=args.notebook_timeout,
                       progress=None if args.quiet else lambda m: print(f"  {m}", flush=True))
    except (FileNotFoundError, LearnerNameError) as err:
        parser.error(str(err))
    write_reports(grades, out, skipped)
    for g in grades:
        n = g.counts()
        print(f"{g.learner}: checks {n['checks_passed']}/{n['checks_total']}, notes "
              f"{n['notes_passed']}/{n['notes_total']} -> {_shown(out / (g.learner + '.md'))}")
    print(f"class summary: {_shown(out / 'summary.md')}, {_shown(out / 'summary.csv')} "
          f"({len(grades)} learner(s) in {time.monotonic() - started:.1f} s, --jobs {args.jobs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
