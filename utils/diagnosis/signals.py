"""What the stability check reads off the dashboard's panels: one reader per signal.

Each reader takes a run log and returns the numbers behind one answer of the check (a dict, so
the check can quote them as evidence). The quantities themselves (a gradient norm's baseline, the
rare rows' share, the held-out noise) come from ``utils.spikelab.metrics``; the bars they are held
against are in ``utils.spikelab.thresholds`` and are applied by ``stability_check``, not here.
"""
from __future__ import annotations

import math

from utils.spikelab.metrics import (ema, finite, first_nonfinite as first_nonfinite_value, grad_baseline,
                                    heldout_noise, heldout_window, rare_share, rise_sigma)
from utils.spikelab.runlog import RunLog
from utils.spikelab.thresholds import BASELINE_STEPS, EVENT_WINDOW, HELDOUT_AFTER, HELDOUT_BEFORE


def first_nonfinite(log: RunLog) -> dict:
    """First step at which the loss, the pre-clip gradient norm, the parameters (after that
    step's update, panel 8) are non-finite; None where never."""
    return {"loss": first_nonfinite_value(log.steps["loss"]),
            "grads": first_nonfinite_value(log.steps["grad_norm_preclip"]),
            "params": next((s for s, n in enumerate(log.steps["nonfinite_params"]) if n is not None and n > 0),
                           None)}


def hash_frozen_from(log: RunLog) -> int | None:
    """First step from which the parameter hash (panel 8) never changes again, if that happens
    before the last step: the weights stopped moving (for instance all of them are nan)."""
    h = log.steps["param_hash"]
    if len(h) < 2 or h[-1] != h[-2]:
        return None
    s = len(h) - 1
    while s > 0 and h[s - 1] == h[-1]:
        s -= 1
    return s


def prefix(log: RunLog, n: int) -> RunLog:
    """A copy of the first ``n`` steps of a log (used to read a run up to its first nan)."""
    keep = [i for i, s in enumerate(log.heldout["step"]) if s < n]
    return RunLog(meta=log.meta, steps={c: list(v[:n]) for c, v in log.steps.items()},
                  heldout={k: [v[i] for i in keep] for k, v in log.heldout.items()}, events=[])


def lr_jump(log: RunLog) -> dict:
    """Largest one-step LR ratio (panel 2), counting only steps that change the LR by at least
    10 % of its peak (so that warmup's first steps, 1× → 2× of a tiny LR, do not count)."""
    lr = log.steps["lr"]
    peak = max(lr) if lr else 0.0
    best = {"step": None, "factor": 1.0, "lr_before": None, "lr_after": None}
    for s in range(1, len(lr)):
        if lr[s - 1] > 0 and abs(lr[s] - lr[s - 1]) >= 0.1 * peak:
            f = lr[s] / lr[s - 1]
            if f > best["factor"]:
                best = {"step": s, "factor": f, "lr_before": lr[s - 1], "lr_after": lr[s]}
    return best


def moment_drop(log: RunLog) -> dict:
    """Largest one-step drop factor of the Adam second-moment norm (panel 5), with the first
    moment's drop at the same step."""
    v, m = log.steps["adam_v_norm"], log.steps["adam_m_norm"]
    best = {"step": None, "v_factor": 1.0, "m_factor": None, "v_before": None, "v_after": None,
            "m_before": None, "m_after": None}
    for s in range(1, len(v)):
        if finite(v[s - 1]) and finite(v[s]) and v[s] > 0 and v[s - 1] / v[s] > best["v_factor"]:
            best = {"step": s, "v_factor": v[s - 1] / v[s], "m_factor": m[s - 1] / m[s] if m[s] else None,
                    "v_before": v[s - 1], "v_after": v[s], "m_before": m[s - 1], "m_after": m[s]}
    return best


def grad_spike(log: RunLog) -> dict:
    """Largest pre-clip gradient norm ÷ median of the 50 steps before it, after warmup (panel 3),
    and the share of that step's squared gradient norm in the rare pieces' embedding rows (as
    the dashboard's step summary reports it: squared norms add up, norms do not)."""
    g = log.steps["grad_norm_preclip"]
    warmup = log.meta["config"]["warmup"]
    best = {"step": None, "ratio": 0.0, "grad_norm": None, "baseline": None, "rare_share": None}
    for s in range(max(warmup, BASELINE_STEPS), len(g)):
        if not finite(g[s]):
            continue
        base = grad_baseline(g, s)
        if base and g[s] / base > best["ratio"]:
            best = {"step": s, "ratio": g[s] / base, "grad_norm": g[s], "baseline": base,
                    "rare_share": rare_share(log, s)}
    return best


def same_kind_run(log: RunLog) -> dict:
    """Longest run of consecutive batches made only of examples of the rare kind (panel 6:
    the examples the run log's meta marks as holding a rare participle)."""
    rare = set(log.meta.get("rare_example_ids") or [])
    best = {"length": 0, "start": None, "end": None}
    start = None
    ids = log.steps["batch_ids"]
    for s, batch in enumerate(ids + [[]]):
        kind = bool(batch) and bool(rare) and all(i in rare for i in batch)
        if kind and start is None:
            start = s
        if not kind and start is not None:
            if s - start > best["length"]:
                best = {"length": s - start, "start": start, "end": s - 1}
            start = None
    return best


def heldout_rise(log: RunLog, at: int | None) -> dict:
    """Held-out loss around step ``at`` (panel 1): mean and noise (std) of the evaluations in
    the 60 steps before, the peak in the 80 steps from it, and the rise in σ."""
    if at is None:
        return {"at": None, "before": None, "noise": None, "peak": None, "peak_step": None, "sigma": 0.0}
    before = [v for _, v in heldout_window(log, at - HELDOUT_BEFORE, at) if math.isfinite(v)]
    after = [(s, v) for s, v in heldout_window(log, at, at + HELDOUT_AFTER + 1) if math.isfinite(v)]
    if len(before) < 2 or not after:
        return {"at": at, "before": None, "noise": None, "peak": None, "peak_step": None, "sigma": 0.0}
    level, noise = heldout_noise(before)
    peak_step, peak = max(after, key=lambda sv: sv[1])
    sigma = rise_sigma(peak, level, noise)
    return {"at": at, "before": level, "noise": noise, "peak": peak, "peak_step": peak_step,
            "sigma": 0.0 if sigma is None else sigma}


def loss_rise_after(log: RunLog, at: int, window: int = EVENT_WINDOW) -> dict:
    """Largest loss ÷ EMA(previous step) in the ``window`` steps from ``at`` (panel 1)."""
    loss = log.steps["loss"]
    e = ema(loss)
    pairs = [(loss[s] / e[s - 1], s) for s in range(max(1, at), min(len(loss), at + window))
             if math.isfinite(loss[s]) and e[s - 1] and math.isfinite(e[s - 1])]
    if not pairs:
        return {"ratio": None, "step": None}
    ratio, step = max(pairs)
    return {"ratio": ratio, "step": step}
