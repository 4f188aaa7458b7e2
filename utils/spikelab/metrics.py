"""Every quantity the course derives from a run log, computed here and only here.

The dashboard, the stability check, the symptoms, the roll-back loop and the detectors'
calibration all call these functions; the bars they are judged by are in ``thresholds``.
"""
from __future__ import annotations

import math
import statistics
from typing import Sequence

from utils.spikelab.runlog import RunLog
from utils.spikelab.thresholds import BASELINE_STEPS, EMA_SPAN, NOISE_SIGMA


def finite(x) -> bool:
    """A number that is neither None, NaN nor ±inf."""
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def significant(v, digits: int = 4):
    """A float rounded to ``digits`` significant digits for display; anything else (None, NaN, text) unchanged."""
    if isinstance(v, float) and math.isfinite(v):
        return float(f"{v:.{digits}g}")
    return v


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def ema(values: Sequence[float], span: int = EMA_SPAN) -> list[float]:
    """Exponential moving average with alpha = 2 / (span + 1), seeded by the first value.
    Non-finite values are skipped (the EMA keeps its last finite value)."""
    alpha = 2.0 / (span + 1)
    out, m = [], None
    for v in values:
        if finite(v):
            m = v if m is None else alpha * v + (1 - alpha) * m
        out.append(m if m is not None else float("nan"))
    return out


def first_nonfinite(values: Sequence[float | None]) -> int | None:
    """Index of the first NaN or ±inf in ``values`` (None entries are steps not measured)."""
    return next((s for s, v in enumerate(values) if v is not None and not math.isfinite(v)), None)


def first_nonfinite_step(log: RunLog) -> int | None:
    """First step whose loss is non-finite or after which a parameter is (panel 8): the run diverged."""
    params = log.steps["nonfinite_params"]
    bad_param = next((s for s, n in enumerate(params) if n is not None and n > 0), None)
    bad_loss = first_nonfinite(log.steps["loss"])
    steps = [s for s in (bad_param, bad_loss) if s is not None]
    return min(steps) if steps else None


def grad_baseline(grad: Sequence[float], step: int, window: int = BASELINE_STEPS) -> float | None:
    """Median of the finite pre-clip gradient norms of the ``window`` steps before ``step``."""
    before = [g for g in grad[max(0, step - window): step] if finite(g)]
    return statistics.median(before) if before else None


def grad_ratio(grad: Sequence[float], step: int, window: int = BASELINE_STEPS) -> float | None:
    """Pre-clip gradient norm at ``step`` over its median of the ``window`` steps before (panel 3)."""
    base = grad_baseline(grad, step, window)
    return grad[step] / base if base and finite(grad[step]) else None


def rare_share(log: RunLog, step: int) -> float | None:
    """Share of the step's squared pre-clip gradient norm in the rare pieces' embedding rows
    (squared norms add up, norms do not)."""
    g, rare = log.steps["grad_norm_preclip"][step], log.steps["grad_norm_rare_rows"][step]
    return (rare / g) ** 2 if finite(rare) and finite(g) and g > 0 else None


def unusual_tokens(log: RunLog, step: int) -> list[str]:
    """Pieces of the step's batch that no earlier batch of the run contained, rarest first."""
    seen: set[int] = set()
    for ids in log.steps["token_ids"][:step]:
        seen.update(ids or [])
    pieces = log.meta["pieces"]
    counts = {int(k): v for k, v in log.meta["piece_counts"].items()}
    batch = log.steps["token_ids"][step] or []
    new = sorted({t for t in batch if t not in seen}, key=lambda t: (counts.get(t, 0), pieces[t]))
    return [pieces[t] for t in new]


def heldout_window(log: RunLog, start: int, end: int) -> list[tuple[int, float]]:
    """(step, held-out loss) of the evaluations at steps start ≤ s < end."""
    return [(s, v) for s, v in zip(log.heldout["step"], log.heldout["loss"]) if start <= s < end]


def heldout_noise(values: Sequence[float]) -> tuple[float, float]:
    """(level, noise) of held-out evaluations: their mean and population standard deviation."""
    level = mean(values)
    return level, statistics.pstdev(values) if len(values) > 1 else float("nan")


def rise_sigma(value: float, level: float, noise: float) -> float | None:
    """How far ``value`` is above ``level``, in units of ``noise`` (None when the noise is unknown)."""
    return (value - level) / noise if finite(noise) and noise > 0 and finite(value) else None


def recovered(value: float, level: float, noise: float) -> bool:
    """Back within NOISE_SIGMA σ of the level it had before."""
    return abs(value - level) <= NOISE_SIGMA * noise
