"""Calibrating the loss-spike detectors (Phase 20) on labelled traces: real runs and synthetic noise.

    traces = real_traces()                        # the course runs, with their designed event steps
    table = evaluate(traces)                      # utils.recovery.detectors.evaluate: recall, false alarms, delay
    curve = threshold_curve(traces, "ema")        # precision and recall as the threshold moves
    facts()                                       # the numbers the theory text quotes (claim spans)

How a detector is scored (``fires``, ``counts``, ``evaluate``) is ``utils.recovery.detectors.evaluate``;
this module chooses the traces, their labels and the threshold grids.

How the real traces are labelled: a label is a step where the run's data order was designed to
change something, not a step read off the loss curve:
- ``late-shard`` runs (broken, control-no-rare-piece): the step the shard arrives
  (``event_step``, 312) and the step ordinary data returns (``event_end``, 327), where the damage
  the shard did shows up in the training loss;
- ``one-batch``: the step of the rare batch (312);
- ``plain`` and ``mixed`` orders (healthy, control-mixed-shard): no label; any fire is a false alarm.
The Phase 19 pattern runs (``utils.diagnosis.patterns``) are a second group, labelled the same way:
- ``lr-discontinuity``: the step the schedule jumps from 0.1x to the full peak LR (``warmup``);
- ``optimizer-reset``: the step the model is reloaded without its AdamW state;
- ``fp16-overflow`` and ``nan``: no designed step; the label is the first non-finite loss, and the
  trace is cut right after it (every later loss is NaN too, and a loop stops or rolls back at the
  first one, so they are not further events). Whether such a run goes non-finite within its steps
  at all depends on the seed and the machine (the runs are chaotic); a run that stays finite has no label, and every fire on it counts as a false alarm.
A fire at s .. s + tolerance (10 steps) detects the label at s (``utils.recovery.detectors.evaluate``).
The synthetic traces (``utils.recovery.traces.synthetic_traces``) are labelled by construction: a
noise model with spikes injected at known steps. They are SYNTHETIC, never a training run.
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path

import torch

from utils.diagnosis.runs import cached_run
from utils.recovery.detectors import (TOLERANCE, CUSUMDetector, Detector, EMADetector, HeldoutProbeDetector,
                                      LightningSpikeAdapter, all_detectors, counts, evaluate, fires,
                                      make_grad_norm_detector)
from utils.recovery.traces import synthetic_traces
from utils.spikelab.atomic import atomic_write
from utils.spikelab.metrics import first_nonfinite
from utils.spikelab.runlog import RunLog
from utils.spikelab.train import run_variant

REAL_VARIANTS = ["healthy", "broken", "one-batch", "control-no-rare-piece", "control-mixed-shard"]
QUIET_VARIANTS = ["healthy", "control-mixed-shard"]     # no designed event: every fire is a false alarm
PATTERN_RUNS = ["lr-discontinuity", "optimizer-reset", "fp16-overflow", "nan"]
SYNTHETIC = {"n": 20, "length": 3000, "seed": 0}
RECOMMENDED = "ema"      # the default the calibration notebook recommends (see facts())
THRESHOLDS = {
    "ema": [1.1, 1.2, 1.3, 1.4, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0],
    "cusum": [2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 20.0],
}


def labels_for(log: RunLog) -> list[int]:
    """The designed event steps of a run (see the module docstring)."""
    cfg = log.meta["config"]
    if cfg["order"] == "late-shard":
        return [log.meta["event_step"], log.meta["event_end"]]
    if cfg["order"] == "one-batch":
        return [log.meta["event_step"]]
    if cfg.get("lr_schedule") == "jump":
        return [cfg["warmup"]]
    if cfg.get("reset_optimizer_at") is not None:
        return [cfg["reset_optimizer_at"]]
    first = first_nonfinite(log.steps["loss"])
    return [first] if first is not None else []


def trace_of(name: str, log: RunLog) -> dict:
    """A labelled trace of one run: loss, pre-clip grad norm, held-out loss and its steps (cut
    right after the first non-finite loss, if there is one)."""
    first = first_nonfinite(log.steps["loss"])
    end = len(log) if first is None else first + 1
    held = [(s, v) for s, v in zip(log.heldout["step"], log.heldout["loss"]) if s < end]
    return {"name": name, "synthetic": False, "spikes": labels_for(log),
            "loss": list(log.steps["loss"][:end]), "grad_norm": list(log.steps["grad_norm_preclip"][:end]),
            "heldout_step": [s for s, _ in held], "heldout": [v for _, v in held]}


@lru_cache(maxsize=None)
def _real(seed: int) -> tuple:
    return tuple(trace_of(v, run_variant(v, seed=seed)) for v in REAL_VARIANTS)


def real_traces(seed: int = 42) -> list[dict]:
    """Labelled traces of the course runs in ``REAL_VARIANTS`` (trained once per process and seed)."""
    return copy.deepcopy(list(_real(seed)))


@lru_cache(maxsize=None)
def _patterns(seed: int) -> tuple:
    return tuple(trace_of(name, cached_run(name, seed)) for name in PATTERN_RUNS)


def pattern_traces(seed: int = 42) -> list[dict]:
    """Labelled traces of the Phase 19 pattern runs in ``PATTERN_RUNS``."""
    return copy.deepcopy(list(_patterns(seed)))


@lru_cache(maxsize=1)
def _synthetic() -> tuple:
    return tuple(synthetic_traces(**SYNTHETIC))


def synthetic() -> list[dict]:
    """The SYNTHETIC calibration traces (``SYNTHETIC`` settings of ``traces.synthetic_traces``)."""
    return copy.deepcopy(list(_synthetic()))


def ema_with(rel_threshold: float) -> Detector:
    return EMADetector(alpha=2 / 51, rel_threshold=rel_threshold, warmup=20)


def cusum_with(h: float) -> Detector:
    return CUSUMDetector(k=0.5, h=h, alpha=2 / 51, warmup=20)


def threshold_curve(traces: list[dict], kind: str = "ema") -> list[dict]:
    """Recall, precision and false alarms as the threshold of ``kind`` ("ema": rel_threshold,
    "cusum": h) moves over ``THRESHOLDS[kind]``."""
    make = ema_with if kind == "ema" else cusum_with
    return [{"threshold": x, **counts(traces, make(x))} for x in THRESHOLDS[kind]]


def probe_fires(trace: dict) -> list[int]:
    """Where ``HeldoutProbeDetector`` (defaults) fires on a run's held-out loss (every 8 steps)."""
    return fires(trace["heldout"], HeldoutProbeDetector(), trace["heldout_step"])


@lru_cache(maxsize=None)
def _facts(seed: int) -> dict:
    real, syn, pat = real_traces(seed), synthetic(), pattern_traces(seed)
    out: dict = {}
    for where, traces in (("real", real), ("synthetic", syn), ("patterns", pat)):
        out[f"{where}_labels"] = sum(len(t["spikes"]) for t in traces)
        out[f"{where}_steps"] = sum(len(t["loss"]) for t in traces)
    for where, traces in (("real", real), ("synthetic", syn), ("patterns", pat)):
        for name, row in evaluate(traces, tolerance=TOLERANCE).items():
            for key, value in row.items():
                out[f"{where}_{name}_{key}"] = value
    for where, traces in (("real", real), ("synthetic", syn)):
        for row in threshold_curve(traces, "ema"):
            out[f"{where}_ema_{row['threshold']:g}_recall"] = row["recall"]
            out[f"{where}_ema_{row['threshold']:g}_false_alarms"] = row["false_alarms"]
    full = [r["threshold"] for r in threshold_curve(real, "ema") if r["recall"] == 1.0]
    out["real_ema_full_recall_thresholds"] = ", ".join(f"{x:g}" for x in full)
    out["real_ema_largest_full_recall"] = max(full, default=None)
    out["synthetic_ema_flawless_thresholds"] = ", ".join(
        f"{r['threshold']:g}" for r in threshold_curve(syn, "ema")
        if r["recall"] == 1.0 and r["false_alarms"] == 0)
    quiet = [t for t in real if t["name"] in QUIET_VARIANTS]
    for name, fresh in {**all_detectors(), "lightning": LightningSpikeAdapter()}.items():
        out[f"quiet_{name}_fires"] = sum(len(fires(t["loss"], copy.deepcopy(fresh))) for t in quiet)
    by_name = {t["name"]: t for t in real + pat}
    for name, t in by_name.items():
        short = name.replace("control-", "").replace("-piece", "")
        ema_fires = fires(t["loss"], ema_with(1.5))
        grad_fires = fires(t["grad_norm"], make_grad_norm_detector())
        lightning_fires = fires(t["loss"], LightningSpikeAdapter())
        probe = probe_fires(t)
        out[f"{short}_ema_fires"] = len(ema_fires)
        outside = [s for s in ema_fires if not any(x <= s <= x + TOLERANCE for x in t["spikes"])]
        out[f"{short}_ema_false_alarm_steps"] = ", ".join(map(str, outside)) or "none"
        start = min(t["spikes"], default=300) - TOLERANCE     # fires near the (first) label
        out[f"{short}_label"] = ", ".join(map(str, t["spikes"])) or "none"
        out[f"{short}_ema_first_fire"] = next((s for s in ema_fires if s >= start), None)
        out[f"{short}_grad_fires"] = len(grad_fires)
        out[f"{short}_grad_first_fire"] = next((s for s in grad_fires if s >= start), None)
        out[f"{short}_lightning_first_fire"] = next((s for s in lightning_fires if s >= start), None)
        out[f"{short}_probe_fires"] = len(probe)
        out[f"{short}_probe_first_fire"] = probe[0] if probe else None
    return out


def facts(run: str = "calibration", seed: int = 42) -> dict:
    """Numbers of the calibration for claim spans (``data-run="calibration"``), e.g.
    ``real_ema_recall``, ``synthetic_lightning-spike-detection_recall``,
    ``no-rare_lightning_first_fire`` (first fire from 10 steps before the first label on; from
    step 290 for a run without label), ``broken_probe_first_fire``, ``patterns_ema_recall``,
    ``real_ema_1.75_recall`` (threshold curve), ``real_ema_largest_full_recall`` (the largest
    EMA threshold of the grid with recall 1 on the real runs), ``no-rare_ema_false_alarm_steps``,
    ``quiet_robust-z_fires`` (fires of a detector on the loss of the runs without an event,
    ``QUIET_VARIANTS``; ``quiet_lightning_fires`` for Lightning's default)."""
    if run != "calibration":
        raise KeyError(f"no calibration facts for run {run!r}")
    return _facts(seed)


def write_real(folder: str | Path, seed: int = 42) -> Path:
    """Write the loss of the course's real runs (``REAL_VARIANTS``) with their designed labels,
    rounded to 4 decimals, as ``real-runs.json`` (the file kept in ``tests/traces``): a recorded
    sample from the machine that wrote it."""
    traces = [{"name": t["name"], "synthetic": False, "seed": seed, "torch": torch.__version__,
               "spikes": t["spikes"], "loss": [round(v, 4) for v in t["loss"]]}
              for t in real_traces(seed)]
    path = Path(folder) / "real-runs.json"
    atomic_write(path, json.dumps(traces, separators=(",", ":")) + "\n")
    return path
