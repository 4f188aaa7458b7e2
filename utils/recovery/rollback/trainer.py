"""The recovery loop itself (Phase 20): ``RollbackTrainer`` detects, rolls back, quarantines, replays.

    trainer = RollbackTrainer(config_for("broken"), RollbackPolicy(skip_next=14), "ckpt/")
    result = trainer.train()          # a RollbackResult: .log, .status, .reason, .retries, ...
    result.log.events                 # every rollback / quarantine / give-up, with its step

What the loop does, step by step (``RollbackTrainer.train``):

1. Every ``checkpoint_every`` (K) steps, before training that step, it saves a checkpoint through
   ``utils.recovery.checkpoint.CheckpointManager`` (atomic, sha256 manifest, the last ``keep_last`` kept):
   the shared snapshot of ``capture_training_state`` (model, AdamW state, RNG states, every
   detector's state) plus the data position (global step, the batch cursor, the global
   batch index of every step trained so far, the quarantine list) and ``lr_scale``. The LR schedule is a pure function of the global step (``utils.spikelab.schedule``), so
   restoring the step restores the LR; there is no scheduler object to save.
2. It trains one step on the next batch of the run's data order that is not quarantined, and
   records that batch's global index (``log.meta["batch_indices"]``, one entry per step).
3. It asks the detectors: a non-finite loss or gradient norm is always a detection; then the
   loss detector (default ``default_loss_detector()``; ``RollbackPolicy(loss_detector="budget")``
   for the detector told a false-alarm budget instead of a threshold), optionally a gradient-norm
   detector (``utils.recovery.detectors.make_grad_norm_detector``), and optionally a held-out probe
   detector fed every ``probe_every`` steps with the loss of ``probe_size`` held-out sentences.
4. On a detection at step d it quarantines the suspect batches by global batch index - the batch
   of step d and of step d - 1 (for a probe detection: every batch since the last probe that
   passed, that one included) - plus the ``skip_next`` batches that follow in the data order
   (PaLM, section 5.1, restarted about 100 steps before a spike and skipped 200-500 batches),
   restores the newest checkpoint that verifies and is finite and was taken before the first
   suspect step, rewinds the run log, optionally multiplies the LR by ``lr_scale`` for
   ``cooldown_steps`` steps, and replays: the same batches in the same order, minus the
   quarantined ones. Replay is bit-for-bit deterministic (one thread, no dropout, restored RNG).
5. A retry budget bounds it. An incident is a run of detections, each less than
   ``checkpoint_every`` steps after the previous one (training that gets that far past its latest
   detection has recovered). At most ``max_retries`` roll-backs per incident: at the next
   detection the loop stops with status ``"gave-up"``, a reason, and a ``give-up`` event.

Each rollback event carries a post-mortem section-1 draft (``symptoms_at``): the numbers around
the detection, read from the telemetry before it is rewound; ``utils.postmortem.draft_symptoms``
turns it into a form.
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from utils.recovery.checkpoint import CheckpointManager, capture_training_state, restore_training_state
from utils.recovery.detectors import Detection, Detector, HeldoutProbeDetector, make_grad_norm_detector
from utils.recovery.rollback.policy import (RollbackPolicy, RollbackResult, give_up_reason, policy_loss_detector,
                                            result_from_log)
from utils.spikelab import corpus, data_order
from utils.spikelab.config import RunConfig
from utils.spikelab.metrics import ema, grad_baseline, grad_ratio, heldout_window, unusual_tokens
from utils.spikelab.runlog import RunLog
from utils.spikelab.train import TrainingRun, rows_to_tensors
from utils.text import say, speaking


def symptoms_at(log: RunLog, step: int, batch_index: int) -> dict:
    """A post-mortem section-1 draft for a detection at ``step``, from the telemetry so far.

    Same definitions as ``utils.spikelab.symptoms`` (the quantities of ``utils.spikelab.metrics``)
    where they can be read at detection time: ``pre_spike_ema`` is the 50-step EMA of the loss at
    step - 1; ``peak_loss`` is the loss at the detection (the roll-back stops the spike, so there
    is no later peak); ``grad_norm_ratio`` is the pre-clip norm over its median of the 50 steps
    before (None when either is not a finite number); ``unusual_tokens`` are the pieces of this
    batch that no earlier batch of the run contained; ``batch_index`` is the GLOBAL index of the
    batch in the run's data order (not the step). No ``recovery_loss``: the run was rolled back.
    """
    loss, grad = log.steps["loss"], log.steps["grad_norm_preclip"]
    pre_ema = ema(loss)[step - 1] if step > 0 else float("nan")
    held = heldout_window(log, 0, step)
    return {
        "spike_step": step, "batch_index": batch_index,
        "pre_spike_ema": pre_ema, "peak_loss": loss[step],
        "loss_ratio": loss[step] / pre_ema if pre_ema else float("nan"),
        "grad_norm_preclip": grad[step], "grad_norm_baseline": grad_baseline(grad, step),
        "grad_norm_ratio": grad_ratio(grad, step),
        "lr_at_spike": log.steps["lr"][step], "dtype": log.meta["dtype"],
        "unusual_tokens": unusual_tokens(log, step),
        "batch_example_ids": list(log.steps["batch_ids"][step]),
        "heldout_loss_last": held[-1][1] if held else None,
    }


class RollbackTrainer:
    """A ``utils.spikelab.train.TrainingRun`` driven by the detect / roll back / quarantine / replay loop.

    ``loss_detector``, ``grad_detector`` and ``probe_detector`` may be given as Detector
    instances; by default they follow ``policy`` (None = that detector is off).
    """

    def __init__(self, cfg: RunConfig, policy: RollbackPolicy | None = None,
                 directory: str | Path | None = None, *,
                 loss_detector: Detector | None = None, grad_detector: Detector | None = None,
                 probe_detector: HeldoutProbeDetector | None = None):
        self.cfg = cfg
        self.policy = policy or RollbackPolicy()
        p = self.policy
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="rollback-")
            directory = self._tmp.name
        self.manager = CheckpointManager(directory, keep_last=p.keep_last)
        self.run = TrainingRun(cfg)
        # The data order, extended so that skipped batches can be made up at the end: the same
        # order asked for more steps. Used only if its first cfg.steps batches are the run's
        # (true for the plain, late-shard, one-batch and mixed orders); otherwise the run's own
        # batches, and a run that skips too many of them stops with an error at the end.
        extra = 64 + 4 * p.skip_next + 16 * p.max_retries
        longer = data_order.batches_for(replace(cfg, steps=cfg.steps + extra), self.run.examples)
        prefix_stable = longer[: len(self.run.batches)] == self.run.batches
        self.batches = longer if prefix_stable else list(self.run.batches)
        self.detectors: dict[str, Detector] = {}
        if loss_detector is not None or p.loss_detector:
            self.detectors["loss"] = loss_detector or policy_loss_detector(p)
        if grad_detector is not None or p.grad_detector:
            self.detectors["grad_norm"] = grad_detector or make_grad_norm_detector()
        if probe_detector is not None or p.probe:
            self.detectors["probe"] = probe_detector or HeldoutProbeDetector(every=p.probe_every)
        held = corpus.heldout()[: p.probe_size]          # the first sentences of the held-out set
        self.probe_x, self.probe_y = rows_to_tensors([tuple(self.run.tok.encode(t)) for t in held])
        self.cursor = 0                     # next global batch index to consider
        self.quarantine: set[int] = set()
        self.cooldown_from = self.cooldown_until = -1   # lr_scale applies to these steps
        self.last_probe_ok = -1             # step of the last probe that passed
        self.retries = 0                          # roll-backs in the current incident
        self.incident_step: int | None = None    # latest detection of the current incident
        self.incident_start: int | None = None   # its first detection
        self.restored_step: int | None = None
        self.rollbacks = 0
        self.steps_trained = 0
        self.checkpoint_seconds = 0.0
        self.probe_seconds = 0.0
        self.status, self.reason = "running", ""
        log = self.run.log
        log.meta["batch_indices"] = []
        log.meta["probe"] = {"step": [], "loss": [], "size": p.probe_size}
        log.meta["rollback_policy"] = p.to_dict()
        log.meta["detectors"] = {k: type(d).__name__ for k, d in sorted(self.detectors.items())}

    # ------------------------------------------------------------------ checkpoints

    def _state(self) -> dict[str, Any]:
        """The shared snapshot (model, AdamW, scaler, detectors, RNG: ``capture_training_state``)
        plus where the data order is and the loop's own settings."""
        run = self.run
        state = capture_training_state(run.model, [run.opt], scaler=run.scaler, detectors=self.detectors)
        state.update({
            "data": {"global_step": run.step_index, "batch_cursor": self.cursor,
                     "batch_indices": list(run.log.meta["batch_indices"]),
                     "quarantine": sorted(self.quarantine)},
            "lr_scale": run.lr_scale, "cooldown": [self.cooldown_from, self.cooldown_until],
            "last_probe_ok": self.last_probe_ok,
        })
        return state

    def save_checkpoint(self) -> Path:
        """Checkpoint the state before the current step (what a roll-back restores)."""
        t0 = time.perf_counter()
        path = self.manager.save(self.run.step_index, self._state())
        self.checkpoint_seconds += time.perf_counter() - t0
        return path

    def _restore(self, state: dict[str, Any]) -> int:
        run = self.run
        restore_training_state(state, run.model, [run.opt], scaler=run.scaler, detectors=self.detectors)
        data = state["data"]
        step = int(data["global_step"])
        run.step_index = step
        self.cursor = int(data["batch_cursor"])
        log = run.log
        log.truncate(step)
        for column in log.steps.values():          # extra columns some variants add
            del column[step:]
        log.meta["batch_indices"] = [int(b) for b in data["batch_indices"]]
        probe = log.meta["probe"]
        keep = sum(1 for s in probe["step"] if s < step)
        probe["step"], probe["loss"] = probe["step"][:keep], probe["loss"][:keep]
        run.lr_scale = float(state["lr_scale"])
        self.cooldown_from, self.cooldown_until = (int(x) for x in state["cooldown"])
        self.last_probe_ok = int(state["last_probe_ok"])
        return step

    # ------------------------------------------------------------------ one step

    def _next_batch(self) -> int:
        while self.cursor in self.quarantine:
            self.cursor += 1
        if self.cursor >= len(self.batches):
            raise RuntimeError(say("ran out of batches: the skips used up the extended data order",
                                   "no quedan batches: los saltos han agotado el orden de datos ampliado"))
        return self.cursor

    @torch.no_grad()
    def probe_loss(self) -> float:
        """Loss of the model on the probe sentences (a forward pass, no gradient)."""
        self.run._acts.clear()
        loss, _ = self.run._forward_loss(self.probe_x, self.probe_y)
        self.run._acts.clear()
        return float(loss)

    def _detect(self, record: dict, step: int) -> tuple[str, Detection] | None:
        loss, grad = record["loss"], record["grad_norm_preclip"]
        if not math.isfinite(loss):
            return "loss", Detection(step, loss, math.nan, math.inf, "non-finite")
        if not math.isfinite(grad):
            return "grad_norm", Detection(step, grad, math.nan, math.inf, "non-finite")
        found = None
        for name, value in (("loss", loss), ("grad_norm", grad)):
            if name in self.detectors:
                d = self.detectors[name].update(value, step)
                found = found or (d and (name, d))
        probe = self.detectors.get("probe")
        if probe is not None and probe.due(step) and found is None:
            t0 = time.perf_counter()
            value = self.probe_loss()
            self.probe_seconds += time.perf_counter() - t0
            self.run.log.meta["probe"]["step"].append(step)
            self.run.log.meta["probe"]["loss"].append(value)
            d = probe.update(value, step)
            if d is None:
                self.last_probe_ok = step
            found = d and ("probe", d)
        return found

    def step(self) -> dict:
        """Checkpoint if due, train one step, and handle a detection; returns the step record."""
        run, p = self.run, self.policy
        s = run.step_index
        if s % p.checkpoint_every == 0 and s != self.restored_step:
            self.save_checkpoint()
        self.restored_step = None
        run.lr_scale = p.lr_scale if self.cooldown_from <= s < self.cooldown_until else 1.0
        b = self._next_batch()
        record = run.step(self.batches[b])
        self.steps_trained += 1
        run.log.meta["batch_indices"].append(b)
        self.cursor = b + 1
        if self.incident_step is not None and s >= self.incident_step + p.checkpoint_every:
            self.retries, self.incident_step = 0, None       # the recovery has held
        found = self._detect(record, s)
        if found is not None:
            self._handle(*found, s)
        return record

    # ------------------------------------------------------------------ recovery

    def _give_up(self, step: int, detection: Detection, **why) -> None:
        """Stop: the model is left as it is (after the bad step); the event names the newest good
        checkpoint on disk, the one to resume from once the cause is fixed, and why (``why``: the
        ``cause`` and its numbers, which ``give_up_reason`` says in the learner's language; the
        event's ``reason`` is that text in English, as the run log keeps every text)."""
        good = self.manager.latest_good(before_step=step)
        event = {"step": step, "kind": "give-up", **why, "detection": detection.to_dict(), "retries": self.retries,
                 "last_good_checkpoint": good[0] if good else None}
        with speaking("en"):
            event["reason"] = give_up_reason(event)
        self.status, self.reason = "gave-up", event["reason"]
        self.run.log.events.append(event)

    def _handle(self, series: str, detection: Detection, step: int) -> None:
        p, log = self.policy, self.run.log
        indices = log.meta["batch_indices"]
        if self.retries >= p.max_retries:
            began = self.incident_start if self.incident_start is not None else step
            self._give_up(step, detection, cause="retries", series=series, incident_start=began)
            return
        if series == "probe":
            first = max(self.last_probe_ok, 0)
        else:
            first = max(step - 1, 0)
        suspect_steps = list(range(first, step + 1))
        suspects = [indices[t] for t in suspect_steps]
        skipped = [b for b in range(indices[step] + 1, indices[step] + 1 + p.skip_next)
                   if b not in self.quarantine]
        draft = symptoms_at(log, step, indices[step])
        found = self.manager.latest_good(before_step=first)
        if found is None:
            self._give_up(step, detection, cause="no-checkpoint", before_step=first)
            return
        good_step, state = found
        discarded = step + 1 - good_step
        self.quarantine.update(suspects + skipped)
        restored = self._restore(state)
        if p.cooldown_steps and p.lr_scale != 1.0:
            self.cooldown_from, self.cooldown_until = first, first + p.cooldown_steps
        if self.incident_step is None:
            self.retries, self.incident_start = 1, step
        else:
            self.retries += 1
        self.incident_step = step
        self.rollbacks += 1
        self.restored_step = restored
        log.events.append({
            "step": step, "kind": "rollback", "series": series, "detection": detection.to_dict(),
            "restored_step": restored, "discarded_steps": discarded, "retry": self.retries,
            "lr_scale": p.lr_scale if self.cooldown_until > first else 1.0,
            "cooldown": [self.cooldown_from, self.cooldown_until], "symptoms": draft,
        })
        log.events.append({"step": step, "kind": "quarantine", "suspect_steps": suspect_steps,
                           "suspect_batches": suspects, "skipped_batches": skipped,
                           "quarantined": sorted(self.quarantine)})

    def train(self, steps: int | None = None) -> RollbackResult:
        """Train until ``steps`` (default ``cfg.steps``) optimizer steps are kept, or give up."""
        end = self.cfg.steps if steps is None else steps
        t0 = time.perf_counter()
        self.status = "running"
        while self.run.step_index < end and self.status == "running":
            self.step()
        if self.status == "running":
            self.status = "completed"
        log = self.run.log
        log.meta["rollback"] = {
            "status": self.status, "reason": self.reason, "rollbacks": self.rollbacks,
            "retries": self.retries, "quarantined": sorted(self.quarantine),
            "steps_trained": self.steps_trained, "steps_discarded": self.steps_trained - len(log),
            # timings vary from machine to machine: never print them in a notebook unrounded
            "checkpoint_seconds": self.checkpoint_seconds, "probe_seconds": self.probe_seconds,
            "train_seconds": time.perf_counter() - t0}
        return result_from_log(log)
