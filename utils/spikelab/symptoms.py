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
  digits, ``utils.spikelab.train.param_fingerprint``): two logs with the same one ended with the same
  weights.

The §1 symptoms are read at the spike step (or the event step when no spike is found). The
event metrics (loss_ratio, grad_norm_ratio, post_event_ratio, heldout_*) are read at the
run's designed event step (312 for every §A13 variant) so that variants compare like with
like; a run with no designed event uses its spike step, and a run with neither (a run shorter
than its designed event, without a spike: ``nan-stable-softmax``, the ``nan`` run rolled back)
its largest loss rise (``largest_rise_step``), which stays below the spike bar. Held-out
evaluations that overflowed (NaN) are left out of the held-out level and its noise.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from utils.spikelab.metrics import (ema, finite, grad_baseline, heldout_noise, heldout_window, mean, significant,
                                    recovered, rise_sigma, unusual_tokens)
from utils.spikelab.runlog import RunLog
from utils.spikelab.thresholds import EVENT_WINDOW, HELDOUT_AFTER, HELDOUT_BEFORE, SPIKE_RATIO


@dataclass(frozen=True)
class RunSymptoms(Mapping):
    """A run's symptoms and event metrics. Read them as attributes (``s.spike_step``) or by the
    names ``python -m utils.spike --json`` prints (``s["spike_step"]``: a post-mortem's §6 names
    its metrics that way)."""
    run_id: str
    variant: str | None
    seed: int | None
    spike_found: bool
    spike_step: int | None
    event_step: int
    pre_spike_ema: float
    peak_loss: float
    peak_step: int
    loss_ratio: float
    recovery_loss: float | str
    grad_norm_preclip: float
    grad_norm_baseline: float | None
    grad_norm_ratio: float
    lr_at_spike: float
    dtype: str
    batch_index: int
    batch_example_ids: list
    unusual_tokens: list
    rare_piece: str
    rare_piece_nll: float | None
    post_event_ratio: float | None
    heldout_loss_before: float
    heldout_loss_noise: float
    heldout_loss_peak: float
    heldout_peak_step: int | None
    heldout_rise_sigma: float | None
    heldout_loss_at_80: float | None
    heldout_recovered_by_80: bool | None
    clip: float | None
    param_hash: str | None

    def __getitem__(self, name: str):
        if name not in _NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self):
        return iter(_NAMES)

    def __len__(self) -> int:
        return len(_NAMES)

    def as_dict(self) -> dict:
        return asdict(self)


_NAMES = [f.name for f in fields(RunSymptoms)]


def _rises(loss, e, warmup: int) -> list[tuple[float, int]]:
    """(loss / EMA(previous step), step) for every step after warmup."""
    return [(loss[s] / e[s - 1], s) for s in range(max(1, warmup), len(loss))]


def largest_rise_step(log: RunLog) -> int:
    """After warmup, the step with the largest ratio loss / EMA(previous step), whatever its size
    (the last step when the run is not longer than its warmup): where a run without a spike
    comes closest to one."""
    loss = log.steps["loss"]
    ratios = _rises(loss, ema(loss), log.meta["config"]["warmup"])
    return max(ratios)[1] if ratios else len(loss) - 1


def find_spike(log: RunLog, warmup: int | None = None) -> int | None:
    """Step where the spike began (see module docstring), or None for a healthy run."""
    loss = log.steps["loss"]
    for s, v in enumerate(loss):
        if not math.isfinite(v):
            return s
    warmup = log.meta["config"]["warmup"] if warmup is None else warmup
    e = ema(loss)
    ratios = _rises(loss, e, warmup)
    if not ratios:
        return None
    best, step = max(ratios)
    if best < SPIKE_RATIO:
        return None
    while step - 1 >= max(1, warmup) and loss[step - 1] / e[step - 2] >= SPIKE_RATIO:
        step -= 1          # walk back to where the rise began
    return step


def compute(log: RunLog) -> RunSymptoms:
    """All §1 symptoms plus the event metrics of ``python -m utils.spike --json``."""
    loss, grad, lr = log.steps["loss"], log.steps["grad_norm_preclip"], log.steps["lr"]
    spike = find_spike(log)
    event = log.meta.get("event_step")
    if event is None:
        event = spike if spike is not None else log.meta["config"]["event_step"]
    if event >= len(loss):
        event = largest_rise_step(log)     # a short run with neither a spike nor its designed event
    at = spike if spike is not None else event
    e = ema(loss)
    window = range(at, min(len(loss), at + EVENT_WINDOW))
    peak_step = max(window, key=lambda s: loss[s] if math.isfinite(loss[s]) else math.inf)
    after = loss[peak_step + 50: peak_step + 60]
    if len(after) < 10:
        recovery: float | str = "run too short"
    elif all(math.isfinite(v) for v in after):
        recovery = mean(after)
    else:
        recovery = "did not recover"
    event_window = range(event, min(len(loss), event + EVENT_WINDOW))
    pieces = log.meta["pieces"]
    head = pieces.index(log.meta["headline_piece"])
    batch_tokens = log.steps["token_ids"][at] or []
    nll = [l for t, l in zip(batch_tokens, log.steps["token_losses"][at] or []) if t == head]
    event_end = log.meta.get("event_end") or event + 1
    ordinary = list(range(event_end, min(len(loss), event_end + 10)))
    event_ema = e[event - 1]
    # an evaluation that overflowed (NaN) is not noise: the level is read from the finite ones
    level, noise = heldout_noise([v for _, v in heldout_window(log, event - HELDOUT_BEFORE, event) if finite(v)])
    hold_after = heldout_window(log, event, event + HELDOUT_AFTER + 1)
    h_peak_step, h_peak = max(hold_after, key=lambda sv: sv[1]) if hold_after else (None, float("nan"))
    h_80 = [v for s, v in hold_after if s <= event + HELDOUT_AFTER]
    return RunSymptoms(
        run_id=log.run_id, variant=log.meta.get("variant"), seed=log.meta.get("seed"),
        spike_found=spike is not None, spike_step=spike, event_step=event,
        pre_spike_ema=e[at - 1],
        peak_loss=loss[peak_step], peak_step=peak_step,
        loss_ratio=loss[event] / event_ema,
        recovery_loss=recovery,
        grad_norm_preclip=grad[at], grad_norm_baseline=grad_baseline(grad, at),
        grad_norm_ratio=max(grad[s] for s in event_window) / grad_baseline(grad, event),
        lr_at_spike=lr[at], dtype=log.meta["dtype"],
        batch_index=at, batch_example_ids=log.steps["batch_ids"][at],
        unusual_tokens=unusual_tokens(log, at),
        rare_piece=log.meta["headline_piece"],
        rare_piece_nll=max(nll) if nll else None,
        post_event_ratio=mean([loss[s] for s in ordinary]) / event_ema if ordinary else None,
        heldout_loss_before=level, heldout_loss_noise=noise,
        heldout_loss_peak=h_peak, heldout_peak_step=h_peak_step,
        heldout_rise_sigma=rise_sigma(h_peak, level, noise),
        heldout_loss_at_80=h_80[-1] if h_80 else None,
        heldout_recovered_by_80=recovered(h_80[-1], level, noise) if h_80 else None,
        clip=log.meta.get("clip"),
        param_hash=next((h for h in reversed(log.steps["param_hash"]) if h is not None), None),
    )


def rounded(symptoms: Mapping, digits: int = 4) -> dict:
    """The symptoms as a dict with floats rounded to ``digits`` significant digits, keys sorted."""
    return {k: significant(v, digits) for k, v in sorted(dict(symptoms).items())}
