"""The post-mortem's §1 symptoms, computed from a run log (never typed by hand).

Definitions (the theory text and the post-mortem form use the same ones):
- spike_step: after warmup, the step with the largest ratio loss / EMA(previous step),
  if that ratio is ≥ 1.5 (else no spike), walked back to the first step of that rise; the
  first non-finite loss wins if there is one.
- pre_spike_ema: 50-step EMA of the loss at the step before the spike.
- peak_loss / peak_step: the largest loss in the 15 steps from the spike on.
- recovery_loss: mean loss over steps peak+50 … peak+59 ("did not recover" if non-finite).
- grad_norm_preclip: at the spike step; grad_norm_baseline: median of the 50 steps before;
  grad_norm_ratio: largest pre-clip norm in the 15 steps from the event step ÷ its baseline.
- unusual_tokens: pieces in the spike's batch that no earlier batch of the run contained.
- post_event_ratio: mean loss of the first 10 ordinary batches after the event (the batches
  of the normal shuffled stream that follow the event window) ÷ pre_spike_ema.
- heldout_*: held-out loss before (mean over the 60 steps before), its noise (std over the
  same evaluations), peak in the 80 steps after, and the value 80 steps after.
- param_hash: the checksum of every parameter after the log's last step (panel 8, 8 hex
  digits, ``utils.train.param_fingerprint``): two logs with the same one ended with the same
  weights.

The §1 symptoms are read at the spike step (or the event step when no spike is found). The
event metrics (loss_ratio, grad_norm_ratio, post_event_ratio, heldout_*) are read at the
run's designed event step (312 for every §A13 variant) so that variants compare like with
like; a run with no designed event uses its spike step.
"""
from __future__ import annotations

import math
import statistics

from .runlog import RunLog, ema

SPIKE_RATIO = 1.5
WINDOW = 15


def find_spike(log: RunLog, warmup: int | None = None) -> int | None:
    """Step where the spike began (see module docstring), or None for a healthy run."""
    loss = log.steps["loss"]
    for s, v in enumerate(loss):
        if not math.isfinite(v):
            return s
    warmup = log.meta["config"]["warmup"] if warmup is None else warmup
    e = ema(loss)
    ratios = [(loss[s] / e[s - 1], s) for s in range(max(1, warmup), len(loss))]
    if not ratios:
        return None
    best, step = max(ratios)
    if best < SPIKE_RATIO:
        return None
    while step - 1 >= max(1, warmup) and loss[step - 1] / e[step - 2] >= SPIKE_RATIO:
        step -= 1          # walk back to where the rise began
    return step


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def heldout_window(log: RunLog, start: int, end: int) -> list[tuple[int, float]]:
    return [(s, v) for s, v in zip(log.heldout["step"], log.heldout["loss"]) if start <= s < end]


def compute(log: RunLog) -> dict:
    """All §1 symptoms plus the extra keys of ``python -m utils.spike --json``."""
    loss, grad, lr = log.steps["loss"], log.steps["grad_norm_preclip"], log.steps["lr"]
    spike = find_spike(log)
    event = log.meta.get("event_step")
    if event is None:
        event = spike if spike is not None else log.meta["config"]["event_step"]
    at = spike if spike is not None else event
    e = ema(loss)
    pre_ema = e[at - 1]
    window = range(at, min(len(loss), at + WINDOW))
    peak_step = max(window, key=lambda s: loss[s] if math.isfinite(loss[s]) else math.inf)
    after = [v for v in loss[peak_step + 50: peak_step + 60]]
    if len(after) < 10:
        recovery: float | str = "run too short"
    elif all(math.isfinite(v) for v in after):
        recovery = _mean(after)
    else:
        recovery = "did not recover"
    baseline = statistics.median(grad[max(0, at - 50): at])
    event_baseline = statistics.median(grad[max(0, event - 50): event])
    event_window = range(event, min(len(loss), event + WINDOW))
    ratio = max(grad[s] for s in event_window) / event_baseline
    # first batch that contains each piece
    seen: set[int] = set()
    for ids in log.steps["token_ids"][:at]:
        seen.update(ids or [])
    pieces = log.meta["pieces"]
    counts = {int(k): v for k, v in log.meta["piece_counts"].items()}
    batch_tokens = log.steps["token_ids"][at] or []
    unusual = sorted({t for t in batch_tokens if t not in seen}, key=lambda t: (counts.get(t, 0), pieces[t]))
    head = pieces.index(log.meta["headline_piece"])
    nll = [l for t, l in zip(batch_tokens, log.steps["token_losses"][at] or []) if t == head]
    event_end = log.meta.get("event_end") or event + 1
    ordinary = list(range(event_end, min(len(loss), event_end + 10)))
    event_ema = e[event - 1]
    before = [v for _, v in heldout_window(log, event - 60, event)]
    hold_after = heldout_window(log, event, event + 81)
    h_peak_step, h_peak = max(hold_after, key=lambda sv: sv[1]) if hold_after else (None, float("nan"))
    h_80 = [v for s, v in hold_after if s <= event + 80]
    noise = statistics.pstdev(before) if len(before) > 1 else float("nan")
    h_before = _mean(before)
    return {
        "run_id": log.run_id, "variant": log.meta.get("variant"), "seed": log.meta.get("seed"),
        "spike_found": spike is not None,
        "spike_step": spike, "event_step": event,
        "pre_spike_ema": pre_ema,
        "peak_loss": loss[peak_step], "peak_step": peak_step,
        "loss_ratio": loss[event] / event_ema,
        "recovery_loss": recovery,
        "grad_norm_preclip": grad[at], "grad_norm_baseline": baseline,
        "grad_norm_ratio": ratio,
        "lr_at_spike": lr[at], "dtype": log.meta["dtype"],
        "batch_index": at, "batch_example_ids": log.steps["batch_ids"][at],
        "unusual_tokens": [pieces[t] for t in unusual],
        "rare_piece": log.meta["headline_piece"],
        "rare_piece_nll": max(nll) if nll else None,
        "post_event_ratio": _mean([loss[s] for s in ordinary]) / event_ema if ordinary else None,
        "heldout_loss_before": h_before, "heldout_loss_noise": noise,
        "heldout_loss_peak": h_peak, "heldout_peak_step": h_peak_step,
        "heldout_rise_sigma": (h_peak - h_before) / noise if noise and noise > 0 else None,
        "heldout_loss_at_80": h_80[-1] if h_80 else None,
        "heldout_recovered_by_80": (abs(h_80[-1] - h_before) <= 3 * noise) if h_80 else None,
        "clip": log.meta.get("clip"),
        "param_hash": next((h for h in reversed(log.steps["param_hash"]) if h is not None), None),
    }


def rounded(symptoms: dict, digits: int = 4) -> dict:
    """The same dict with floats rounded to ``digits`` significant digits, keys sorted."""
    def r(v):
        if isinstance(v, float) and math.isfinite(v):
            return float(f"{v:.{digits}g}")
        return v
    return {k: r(v) for k, v in sorted(symptoms.items())}
