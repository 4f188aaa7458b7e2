"""Train every course run into the session's run store before the tests (``python -m utils.run_cache``).

scripts/test.sh calls this with ``COURSE_RUN_CACHE`` pointing at a fresh folder: it trains ``--jobs``
runs at a time (one thread each), and every test and notebook kernel reads them from the store
(``utils/spikelab/runstore.py``) instead of training them again.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import time

from utils.diagnosis.patterns import resume, train_with_rollback
from utils.recovery import calibration
from utils.recovery.rollback import RUNS, run_with_rollback
from utils.spikelab.config import PATTERN_VARIANTS, VARIANTS, RunConfig
from utils.spikelab.runstore import cache_path
from utils.spikelab.train import run_variant

SHAPE_SEEDS = (43, 44, 45, 46)     # the canonical run's other seeds that tests compare against


def course_runs() -> list[tuple[str, str, int]]:
    """Every run the tests and notebooks quote: the spike variants, the shape seeds, the failure
    patterns and the Phase 20 recovery runs, as ("variant" | "rollback", name, seed)."""
    jobs = [("variant", v, 42) for v in [*VARIANTS, *PATTERN_VARIANTS]]
    jobs += [("variant", "broken", seed) for seed in SHAPE_SEEDS]
    return jobs + [("rollback", name, 42) for name in RUNS]


# Results read from those runs, kept in the store once the runs are there (a second round of ``warm``):
# the calibration's numbers (Lightning's detector is slow to replay), the nan run rolled back and the
# healthy run resumed from a checkpoint (Phase 19's notebooks and the grader read them).
DERIVED = [("calibration", "facts", 42), ("nan-rollback", "manual", 42), ("nan-rollback", "none", 42),
           ("resume", "healthy", 42)]


def train_one(job: tuple[str, str, int]) -> str:
    """Train one run into the store (a worker of ``warm``)."""
    kind, name, seed = job
    t0 = time.perf_counter()
    if kind == "calibration":
        calibration.facts(seed=seed)
    elif kind == "nan-rollback" and name == "manual":
        train_with_rollback("nan", every=25, fix="manual", seed=seed)
    elif kind == "resume":
        resume(name, at=300, steps=320, with_optimizer=True, seed=seed)
    elif kind == "nan-rollback":
        train_with_rollback("nan", every=25, fix=None, seed=seed, max_rollbacks=1)
    elif kind == "rollback":
        variant, policy = RUNS[name]
        run_with_rollback(variant, seed=seed, policy=policy)
    else:
        run_variant(name, seed=seed)
    return f"{kind} {name} seed {seed} ({time.perf_counter() - t0:.0f} s)"


def warm(jobs: int = 2) -> int:
    """Train every course run into the store with ``jobs`` processes (one thread each, as always).
    Returns the number of runs."""
    if cache_path(RunConfig()) is None:
        raise SystemExit("COURSE_RUN_CACHE is not set: nothing to warm")
    todo = course_runs()
    with mp.get_context("spawn").Pool(jobs) as pool:
        for round_ in (todo, DERIVED):                 # the derived results read the finished runs
            for done in pool.imap_unordered(train_one, round_):
                print(f"[cache] {done}", flush=True)
    return len(todo)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m utils.run_cache",
                                 description="Train every course run into COURSE_RUN_CACHE.")
    ap.add_argument("--jobs", type=int, default=2)
    n = warm(ap.parse_args(argv).jobs)
    print(f"[cache] {n} runs ready")


if __name__ == "__main__":
    main()
