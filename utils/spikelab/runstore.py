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

from utils.spikelab.config import RunConfig
from utils.spikelab.runlog import RunLog

# The modules a run's numbers depend on. config.py is not listed: the key holds the run's full
# config itself, so editing one variant's entry does not invalidate every other run.
TRAINING_MODULES = ["corpus", "bpe", "model", "schedule", "data_order", "train", "runlog"]


def code_hash(folder: Path = Path(__file__).resolve().parent, names: list[str] | None = TRAINING_MODULES) -> str:
    """A hash of the modules ``names`` of ``folder`` (None: all of them); default, the training code."""
    h = hashlib.sha256()
    paths = sorted(folder.glob("*.py")) if names is None else [folder / f"{n}.py" for n in names]
    for path in paths:
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def cache_path(cfg: RunConfig) -> Path | None:
    """Where this run's log is cached, or None when caching is off."""
    folder = os.environ.get("COURSE_RUN_CACHE")
    if not folder:
        return None
    kernels = "|".join([torch.backends.cpu.get_cpu_capability(), os.environ.get("MKL_CBWR", "")])
    key = hashlib.sha256((json.dumps(cfg.to_dict(), sort_keys=True) + code_hash() + kernels)
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


def memo_path(kind: str, key_text: bytes) -> Path | None:
    """Where a result derived from runs (not a run log: e.g. the steps at which Lightning's detector
    fires on a trace) is kept, keyed by ``key_text`` and the CPU kernels; None when caching is off.
    The caller puts into ``key_text`` everything the result depends on (inputs, settings, versions)."""
    folder = os.environ.get("COURSE_RUN_CACHE")
    if not folder:
        return None
    kernels = "|".join([torch.backends.cpu.get_cpu_capability(), os.environ.get("MKL_CBWR", "")])
    return Path(folder) / f"{kind}-{hashlib.sha256(key_text + kernels.encode()).hexdigest()[:24]}.json"
