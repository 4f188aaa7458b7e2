"""The real runs Phase 19 reads: any spike or pattern variant, trained once per process.

``patterns`` (the failure patterns and the facts the texts quote) and ``stability_check``'s
command line both read runs through here, so a run trained for one is shared with the other.
"""
from __future__ import annotations

from utils.spikelab.runlog import RunLog
from utils.spikelab.train import run_variant


def run_pattern(name: str, seed: int = 42, steps: int | None = None) -> RunLog:
    """Train a spike variant (config.VARIANTS) or a pattern variant (config.PATTERN_VARIANTS)
    for real and return its run log. ``steps`` stops it earlier than its config says. Inside a
    test session (``COURSE_RUN_CACHE`` set) a run trained earlier in the session is reused
    (utils.spikelab.runstore)."""
    return run_variant(name, seed=seed, **({} if steps is None else {"steps": steps}))


_LOGS: dict[tuple[str, int], RunLog] = {}


def cached_run(name: str, seed: int = 42) -> RunLog:
    """``run_pattern(name, seed)``, trained once per process and shared (do not modify it)."""
    if (name, seed) not in _LOGS:
        _LOGS[(name, seed)] = run_pattern(name, seed=seed)
    return _LOGS[(name, seed)]
