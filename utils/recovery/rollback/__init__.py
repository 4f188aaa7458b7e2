"""Automatic recovery in a plain PyTorch loop (Phase 20): detect, roll back, quarantine, replay.

    trainer = RollbackTrainer(config_for("broken"), RollbackPolicy(skip_next=14), "ckpt/")
    result = trainer.train()          # a RollbackResult: .log, .status, .reason, .retries, ...
    result.log.events                 # every rollback / quarantine / give-up, with its step
    result = run_with_rollback("broken", policy=COURSE_POLICY)      # a named variant, shared

Where each part lives (everything is importable from here):

- ``policy``: what the loop does and what it ended with (``RollbackPolicy``, ``COURSE_POLICY``,
  ``RollbackResult``, ``RecoveryFailed``, ``result_from_log``);
- ``trainer``: the loop, ``RollbackTrainer`` (its docstring says what it does step by step), and
  ``symptoms_at``, the post-mortem draft each rollback event carries;
- ``runs``: the recovery runs the course quotes (``RUNS``, ``run_with_rollback``, ``facts``).

The snapshot a checkpoint holds is ``utils.recovery.checkpoint.capture_training_state``; the
detectors are ``utils.recovery.detectors``.
"""
from __future__ import annotations

from utils.recovery.detectors import default_loss_detector
from utils.recovery.rollback.policy import (COURSE_POLICY, RecoveryFailed, RollbackPolicy, RollbackResult,
                                            policy_loss_detector, result_from_log)
from utils.recovery.rollback.runs import RUNS, facts, recovery_code_hash, run_with_rollback
from utils.recovery.rollback.trainer import RollbackTrainer, symptoms_at

__all__ = ["COURSE_POLICY", "RUNS", "RecoveryFailed", "RollbackPolicy", "RollbackResult", "RollbackTrainer",
           "default_loss_detector", "facts", "policy_loss_detector", "recovery_code_hash", "result_from_log",
           "run_with_rollback", "symptoms_at"]
