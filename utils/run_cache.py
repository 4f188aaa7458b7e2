"""Share runs within one test session: train a variant once, let every notebook reuse it.

Only active when the environment variable ``COURSE_RUN_CACHE`` names a folder (scripts/test.sh
points it at a fresh temporary folder for each session, so nothing survives the session and every
number is still computed fresh). The key is the run's full config plus a hash of the code that
trains it, so a changed config or a changed module never reuses an old log.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .config import RunConfig
from .runlog import RunLog

TRAINING_MODULES = ["corpus", "bpe", "model", "schedule", "config", "data_order", "train", "runlog"]


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
    key = hashlib.sha256((json.dumps(cfg.to_dict(), sort_keys=True) + _code_hash()).encode()).hexdigest()[:20]
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
