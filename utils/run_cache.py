"""Share runs within one test session: train a variant once, let every notebook reuse it.

Only active when the environment variable ``COURSE_RUN_CACHE`` names a folder (scripts/test.sh
points it at a fresh temporary folder for each session, so nothing survives the session and every
number is still computed fresh). The key is the run's full config, a hash of the code that
trains it, the kernel capability torch uses and ``MKL_CBWR``, so a changed config, a changed
module or other CPU kernels never reuse an old log.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from .config import RunConfig
from .runlog import RunLog

# The code a run's numbers depend on. (utils/config.py is not listed: the key
# holds the run's full config itself, so editing one variant's entry does not invalidate every other run.)
TRAINING_MODULES = ["corpus", "bpe", "model", "schedule", "data_order", "train", "runlog"]


def _code_hash() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in TRAINING_MODULES:
        h.update((here / f"{name}.py").read_bytes())
    return h.hexdigest()[:16]


def cache_path(cfg: RunConfig) -> Path | None:
    """Where this run's log is cached, or None when caching is off."""
    folder = os.environ.get("COURSE_RUN_CACHE")
    if not folder:
        return None
    kernels = "|".join([torch.backends.cpu.get_cpu_capability(), os.environ.get("MKL_CBWR", "")])
    key = hashlib.sha256((json.dumps(cfg.to_dict(), sort_keys=True) + _code_hash() + kernels)
                         .encode()).hexdigest()[:20]
    return Path(folder) / f"{cfg.run_id}-{key}.json"


def load(cfg: RunConfig) -> RunLog | None:
    path = cache_path(cfg)
    if path is None or not path.exists():
        return None
    try:
        return RunLog.load(path)
    except ValueError:
        return None          # a half-written or damaged file: train again


def store(cfg: RunConfig, log: RunLog) -> None:
    path = cache_path(cfg)
    if path is not None:
        log.save(path)       # atomic: temp file + rename


def _train_one(job: tuple[str, str, int]) -> str:
    """Train one run into the cache (a worker of ``warm``): ("variant" | "rollback", name, seed)."""
    import time
    kind, name, seed = job
    t0 = time.perf_counter()
    if kind == "rollback":
        from .rollback import RUNS, run_with_rollback
        variant, policy = RUNS[name]
        run_with_rollback(variant, seed=seed, policy=policy)
    else:
        from .train import run_variant
        run_variant(name, seed=seed)
    return f"{kind} {name} seed {seed} ({time.perf_counter() - t0:.0f} s)"


def course_runs() -> list[tuple[str, str, int]]:
    """Every run the tests and notebooks quote: the spike variants, the shape seeds, the failure
    patterns and the Phase 20 recovery runs."""
    from .config import PATTERN_VARIANTS, VARIANTS
    from .rollback import RUNS
    jobs = [("variant", v, 42) for v in [*VARIANTS, *PATTERN_VARIANTS]]
    jobs += [("variant", "broken", seed) for seed in (43, 44, 45, 46)]
    return jobs + [("rollback", name, 42) for name in RUNS]


def warm(jobs: int = 2) -> int:
    """Train every course run into the cache with ``jobs`` processes (one thread each, as always).
    Returns the number of runs. Used by scripts/test.sh before the tests, so that a 2-core machine
    trains two runs at a time instead of one."""
    import multiprocessing as mp
    if cache_path(RunConfig()) is None:
        raise SystemExit("COURSE_RUN_CACHE is not set: nothing to warm")
    todo = course_runs()
    with mp.get_context("spawn").Pool(jobs) as pool:
        for done in pool.imap_unordered(_train_one, todo):
            print(f"[cache] {done}", flush=True)
    return len(todo)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(prog="python -m utils.run_cache", description="Train every course run into COURSE_RUN_CACHE.")
    ap.add_argument("--jobs", type=int, default=2)
    n = warm(ap.parse_args().jobs)
    print(f"[cache] {n} runs ready")
