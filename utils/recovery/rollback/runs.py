"""The recovery runs the course quotes: train a variant under the recovery loop once, share its log.

    result = run_with_rollback("broken", policy=COURSE_POLICY)     # a RollbackResult
    facts("rollback-broken")                                         # numbers for claim spans
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

from utils.recovery.rollback.policy import COURSE_POLICY, RollbackPolicy, RollbackResult, result_from_log
from utils.recovery.rollback.trainer import RollbackTrainer
from utils.spikelab import runstore, symptoms
from utils.spikelab.config import RunConfig, config_for
from utils.spikelab.runlog import RunLog

RECOVERY_CODE = Path(__file__).resolve().parents[1]       # utils/recovery, subpackages included

# The recovery runs the notebooks and theory texts quote (claim spans data-run="<name>").
RUNS: dict[str, tuple[str, RollbackPolicy]] = {
    "rollback-broken": ("broken", COURSE_POLICY),
    "rollback-broken-1.5x": ("broken", replace(COURSE_POLICY, loss_threshold=1.5)),
    "rollback-broken-skip-only": ("broken", replace(COURSE_POLICY, lr_scale=1.0, cooldown_steps=0)),
    "rollback-broken-quarantine-only": ("broken", replace(COURSE_POLICY, skip_next=0)),
    "rollback-broken-retries": ("broken", replace(COURSE_POLICY, skip_next=0, max_retries=30)),
    "rollback-broken-grad": ("broken", replace(COURSE_POLICY, grad_detector=True, max_retries=5)),
    "rollback-no-rare-loss": ("control-no-rare-piece", COURSE_POLICY),
    "rollback-no-rare-probe": ("control-no-rare-piece",
                               replace(COURSE_POLICY, loss_detector=False, probe=True)),
}


def recovery_code_hash(folder: Path = RECOVERY_CODE) -> str:
    """A hash of every module under ``folder`` (sorted, subfolders included, each by its path
    relative to ``folder``): changing any detector or the loop gives another key."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        h.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return h.hexdigest()[:16]


def _cache_path(cfg: RunConfig, policy: RollbackPolicy) -> Path | None:
    """Inside a test session (COURSE_RUN_CACHE set, see utils/spikelab/runstore.py): where this recovery
    run's log is shared between tests and notebook kernels; None otherwise. The key holds the
    policy, the variant's own cache key (config, training code and CPU kernels)
    and the code of the recovery modules."""
    variant_path = runstore.cache_path(cfg)
    if variant_path is None:
        return None
    h = hashlib.sha256(json.dumps(policy.to_dict(), sort_keys=True).encode())
    h.update(variant_path.name.encode())
    h.update(recovery_code_hash().encode())
    return variant_path.parent / f"rollback-{cfg.run_id}-{h.hexdigest()[:20]}.json"


def run_with_rollback(variant: str, seed: int = 42, policy: RollbackPolicy | None = None,
                      directory: str | Path | None = None, **overrides) -> RollbackResult:
    """Train a named variant under the recovery loop (checkpoints in a temporary folder unless
    ``directory`` is given). Inside a test session the run is shared like ``run_variant``'s."""
    cfg = config_for(variant, seed=seed, **overrides)
    policy = policy or RollbackPolicy()
    path = _cache_path(cfg, policy) if directory is None else None
    if path is not None and path.exists():
        try:
            return result_from_log(RunLog.load(path))
        except (ValueError, KeyError):
            pass                      # damaged cache file: train again
    result = RollbackTrainer(cfg, policy, directory).train()
    if path is not None:
        result.log.save(path)
    return result


_FACTS: dict[tuple[str, int], dict] = {}


def facts(name: str, seed: int = 42) -> dict:
    """Numbers of one named recovery run (``RUNS``) for claim spans (``data-run="<name>"``).

    The ``utils.spikelab.symptoms`` keys of its run log (held-out loss before, noise, peak, ...) when the
    run completed, plus: status, rollbacks, steps_trained, steps_discarded, quarantined (count),
    first_detection_step / first_restored_step / first_detection_series / first_detection_value,
    last_detection_step (of the last roll-back), give_up_step, max_grad_norm_after_event (largest pre-clip gradient norm of the kept
    steps from the event step on). ``heldout_rise_sigma`` is the held-out peak minus before, in
    units of its noise, as in ``utils.spikelab.symptoms``.
    """
    if (name, seed) in _FACTS:
        return _FACTS[(name, seed)]
    variant, policy = RUNS[name]
    result = run_with_rollback(variant, seed=seed, policy=policy)
    log = result.log
    out: dict = {}
    if result.status == "completed":
        out.update(symptoms.compute(log))
        out["max_grad_norm_after_event"] = max(log.steps["grad_norm_preclip"][out["event_step"]:])
    rollbacks = [e for e in log.events if e["kind"] == "rollback"]
    out.update({
        "status": result.status, "rollbacks": result.rollbacks,
        "steps_trained": result.steps_trained, "steps_discarded": result.steps_discarded,
        "quarantined": len(result.quarantined),
    })
    if rollbacks:
        first = rollbacks[0]
        out.update({"first_detection_step": first["step"], "first_restored_step": first["restored_step"],
                    "first_detection_series": first["series"],
                    "first_detection_value": first["detection"]["value"],
                    "last_detection_step": rollbacks[-1]["step"]})
    gave_up = [e for e in log.events if e["kind"] == "give-up"]
    if gave_up:
        out["give_up_step"] = gave_up[0]["step"]
    _FACTS[(name, seed)] = out
    return out
