"""Learning-rate schedules: linear warmup then cosine decay (Phase 18).

``lr_at`` is the one schedule every run uses. ``lr_with_jump`` is the deliberately broken
variant of the LR-discontinuity pattern (Phase 19): warmup ends below the peak and the
schedule jumps to it in one step.
"""
from __future__ import annotations

import math


def lr_at(step: int, peak: float, warmup: int, total: int) -> float:
    """Linear warmup to ``peak`` over ``warmup`` steps, then cosine to 0 at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_with_jump(step: int, peak: float, warmup: int, total: int, warmup_target: float) -> float:
    """Warmup climbs only to ``warmup_target`` × peak, then the cosine starts at the full peak."""
    if step < warmup:
        return peak * warmup_target * (step + 1) / warmup
    return lr_at(step, peak, warmup, total)
