"""The course's training runs, trained once per grading instead of once per learner.

Every learner's notebooks train the same runs (the canonical spike, its controls, the Phase 20
recovery runs) with the instructor's code: a run's numbers depend only on its config and on
``utils/spikelab`` (``utils.spikelab.runstore`` keys it so), never on what a learner typed. So the
grader trains them once, with its own code, into a temporary folder of finished runs that nobody
else writes (``trained_once``); each graded notebook then starts from a *copy* of it
(``runner.run_nbval``), and trains only what its own code asks for that is not there. A learner's
notebook that changes a run (another config, its own loop) still trains it, in its own kernel.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from utils.course.warm_runs import warm


@contextmanager
def trained_once(jobs: int = 2, progress=None) -> Iterator[Path]:
    """A temporary folder holding every course run (``utils.course.warm_runs``), trained ``jobs`` at a
    time; removed afterwards. ``progress(message)`` hears when training starts and ends."""
    with tempfile.TemporaryDirectory(prefix="grading-runs-", ignore_cleanup_errors=True) as folder:
        before = os.environ.get("COURSE_RUN_CACHE")
        os.environ["COURSE_RUN_CACHE"] = folder      # warm() and its worker processes write here
        try:
            if progress:
                progress(f"training the course's runs once for this grading ({jobs} at a time) ...")
            count = warm(jobs)
            if progress:
                progress(f"{count} runs ready; every graded notebook starts from a copy of them")
        finally:
            if before is None:
                del os.environ["COURSE_RUN_CACHE"]
            else:
                os.environ["COURSE_RUN_CACHE"] = before
        yield Path(folder)
