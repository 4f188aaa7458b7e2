"""Running a graded copy under nbval, in a subprocess and a temporary folder of its own.

The copy runs as ``pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=T --junitxml=...``
with the working directory a temporary folder, ``LEARNER=<name>`` and ``COURSE_LEARNERS_DIR``
pointing at a temporary *copy* of that learner's folder, so graded code never writes to (or
deletes) the real notes. A cell that runs longer than T seconds is interrupted (the notebook
goes on), a notebook that runs longer than its own limit is stopped (with every process it
left), and a kernel that dies is reported at once by the plugin ``utils.course.grading.dead_kernel``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from utils.course.exercises import GRADING_ENV
from utils.course.grading.junit import CellOutcome, clean, parse_junit
from utils.course.grading.results import short
from utils.course.learner import repo_root
from utils.text import say

DEFAULT_CELL_TIMEOUT_S = 300
DEFAULT_NOTEBOOK_TIMEOUT_S = 1800
KERNEL_STARTUP_TIMEOUT_S = 60


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
              cell_timeout: float, notebook_timeout: float, env: dict | None = None,
              run_cache: Path | None = None) -> Run:
    """Run a graded copy under nbval in a temporary folder; never raises for the notebook's sake.

    The temporary folder holds ``work/<rel>`` (the graded copy; the kernel starts in its
    folder), ``learners/<learner>/`` (a copy of ``learner_folder``, the only learners folder
    the graded code sees through ``COURSE_LEARNERS_DIR``), ``runs/`` (a run cache of its own,
    ``COURSE_RUN_CACHE``: a run trained twice in the notebook is trained once) and the junit XML. ``env`` is the
    environment to start from (default: ``os.environ``). ``run_cache``: a trusted folder of finished runs
    (``utils.spikelab.runstore``, e.g. the session cache of ``scripts/test.sh``) whose logs are *copied*
    into that private cache first, so the notebook reuses them and cannot change the folder itself.
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
        for cached in sorted(Path(run_cache).glob("*.json")) if run_cache is not None else []:
            if cached.is_file() and not cached.is_symlink():
                shutil.copyfile(cached, root / "runs" / cached.name)
        env = dict(os.environ if env is None else env)
        # Graded on JupyterHub from the instructor's server: the graded learner is LEARNER, not the hub login
        # (utils.course.learner refuses a LEARNER other than $JUPYTERHUB_USER), and no course home but the copy.
        for key in [k for k in env if k.startswith("JUPYTERHUB_") or k == "COURSE_HOME"]:
            del env[key]
        # the plugin utils.course.grading.dead_kernel is imported from the repository, wherever pytest runs
        python_path = [str(repo_root())] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        # The run cache (utils.spikelab.runstore) is private to this notebook: graded code could write
        # anything into a shared one, and other learners' checks would then read it.
        # GRADING_ENV: an unfilled exercise fails its cell (it only waits politely in the learner's JupyterLab)
        env.update({GRADING_ENV: "1"})
        env.update(LEARNER=learner, COURSE_LEARNERS_DIR=str(root / "learners"), MPLBACKEND="Agg",
                   PYTHONDONTWRITEBYTECODE="1", COURSE_RUN_CACHE=str(root / "runs"),
                   PYTHONPATH=os.pathsep.join(python_path))
        command = [
            sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
            f"--nbval-cell-timeout={cell_timeout:g}",
            f"--nbval-kernel-startup-timeout={KERNEL_STARTUP_TIMEOUT_S}",
            "-p", "no:cacheprovider", "-p", "utils.course.grading.dead_kernel",   # a dead kernel is reported at once
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
                return Run({}, stopped=True, error=say(
                    f"the notebook ran longer than {notebook_timeout:g} s in all and was stopped",
                    f"el cuaderno se ejecutó más de {notebook_timeout:g} s en total y se detuvo"))
            _kill_tree(proc)  # graded code may have left processes behind
        cells = parse_junit(junit, tmp) if junit.is_file() else {}
        if not cells:
            tail = clean(log.read_text(encoding="utf-8", errors="replace"), tmp).strip().splitlines()
            return Run({}, error=say("nbval did not run the notebook: ", "nbval no ejecutó el cuaderno: ")
                       + short(" / ".join(tail[-3:])))
        return Run(cells)
