"""Where a post-mortem and the run log its §1 was read from are kept inside a phase-19 notes folder.

    <notes>/postmortems/<run-id>.md         the post-mortem (`utils.postmortem.markdown`)
    <notes>/run-logs/<run-id>.json[.gz]      its run log, without `RUN_LOG_UNSAVED_META`

§1 always goes with its own run log. The runs are chaotic in the last bits of floating-point
arithmetic: another machine (another CPU, another PyTorch build) gives the same spike with other
numbers. So a post-mortem's §1 is checked against the run log saved with it, on any machine,
never against a run of whoever checks it.

These are the names and paths only, given a notes folder; writing into a learner's folder is
the course's tooling (``utils.course.postmortem_notes``).
"""

from __future__ import annotations

import re
from pathlib import Path

from utils.spikelab.runlog import RunLog
from utils.text import say

PHASE = 19
POSTMORTEM_FOLDER = "postmortems"
RUN_LOG_FOLDER = "run-logs"
# What a saved run log leaves out of the run's meta: the time it took, which differs every time
# the same run is trained (so saving the same run again would otherwise keep a new version).
RUN_LOG_UNSAVED_META = ("wall_seconds",)

# A run id names a file: letters, digits, '.', '_', '-', not ending like a kept version (.v2).
RUN_ID_RE = re.compile(r"(?![\s\S]*\.v\d+$)[A-Za-z0-9][A-Za-z0-9._-]*")


def check_run_id(run_id: str) -> None:
    """Raise ValueError when `run_id` cannot name a file (see `RUN_ID_RE`)."""
    if not RUN_ID_RE.fullmatch(run_id):
        raise ValueError(say(f"{run_id!r} cannot name a file: use letters, digits, '.', '_' and '-' "
                             "(and do not end it like a kept version, .v2)",
                             f"{run_id!r} no puede ser nombre de archivo: usa letras, cifras, '.', '_' y '-' "
                             "(y no lo termines como una versión guardada, .v2)"))


def postmortem_relpath(run_id: str) -> str:
    """Where a run's post-mortem lives inside the phase-19 notes folder."""
    check_run_id(run_id)
    return f"{POSTMORTEM_FOLDER}/{run_id}.md"


def run_log_relpath(run_id: str, compressed: bool = True) -> str:
    """Where the run log of a run's post-mortem lives inside the phase-19 notes folder:
    ``run-logs/<run-id>.json.gz`` (``compressed``) or ``run-logs/<run-id>.json``."""
    check_run_id(run_id)
    return f"{RUN_LOG_FOLDER}/{run_id}.json{'.gz' if compressed else ''}"


def run_log_file(notes_folder: Path, run_id: str) -> Path | None:
    """The run log saved for `run_id` in a phase-19 notes folder (``.json.gz`` or ``.json``), or None.

    Raises ValueError when both are there: which one goes with the post-mortem cannot be told
    (saving never writes the second one).
    """
    found = [Path(notes_folder) / run_log_relpath(run_id, c) for c in (True, False)]
    found = [path for path in found if path.is_file()]
    if len(found) > 1:
        raise ValueError(say(f"two run logs are saved for {run_id} ({found[0].name} and {found[1].name}); "
                             "keep the one your §1 was read from",
                             f"hay dos registros guardados para {run_id} ({found[0].name} y {found[1].name}); "
                             "conserva aquel del que leíste tu §1"))
    return found[0] if found else None


def as_saved(log: RunLog) -> RunLog:
    """The run log as it is saved with a post-mortem: the same run, without `RUN_LOG_UNSAVED_META`."""
    meta = {k: v for k, v in log.meta.items() if k not in RUN_LOG_UNSAVED_META}
    return RunLog(meta=meta, steps=log.steps, heldout=log.heldout, events=log.events)


def same_run_log(a: RunLog, b: RunLog) -> bool:
    """True when `a` and `b` are the same run as it is saved (the same numbers at every step)."""
    return as_saved(a).to_bytes() == as_saved(b).to_bytes()


def check_same_run(run_id: str, run_log: RunLog | None) -> None:
    """Raise ValueError when `run_log` is of another run than the post-mortem of `run_id`."""
    if run_log is not None and run_log.run_id != run_id:
        raise ValueError(say(f"the run log is of run {run_log.run_id!r}, the post-mortem of run {run_id!r}",
                             f"el registro es de la ejecución {run_log.run_id!r}, el post-mortem de la "
                             f"ejecución {run_id!r}"))
