"""``EMADetector``: a value above a multiple of its exponential moving average is a spike (the
course's default loss detector)."""

from __future__ import annotations

import math
from typing import Any

from utils.recovery.detectors.base import Detection, Detector, ratio
from utils.text import say


class EMADetector(Detector):
    """Fires when value > ``rel_threshold`` x exponential moving average (EMA) of past values.

    The EMA is bias-corrected like Adam's moments: m <- (1 - alpha) m + alpha x and the
    reference is m / (1 - (1 - alpha)^n) after n accepted values, so it is a proper weighted mean
    from the first value on. alpha = 2/(N+1) gives roughly the memory of an N-step average
    (default 2/51 ~ 50 steps). No detection before ``warmup`` accepted values. O(1).
    Values must be >= 0 (a negative one raises ValueError); above an EMA of exactly 0 any positive
    value fires, with score inf.
    """

    reason = "above-ema"

    def __init__(self, alpha: float = 2 / 51, rel_threshold: float = 1.5, warmup: int = 20):
        if not 0.0 < alpha <= 1.0:
            raise ValueError(say("alpha must be in (0, 1]", "alpha debe estar en (0, 1]"))
        self.alpha = float(alpha)
        self.rel_threshold = float(rel_threshold)
        self.warmup = int(warmup)
        self.m = 0.0
        self.n_accepted = 0

    def reference(self) -> float:
        if self.n_accepted == 0:
            return math.nan
        return self.m / (1.0 - (1.0 - self.alpha) ** self.n_accepted)

    def _check_and_update(self, value: float, step: int) -> Detection | None:
        self._refuse_negative(value, step)
        if self.n_accepted >= max(self.warmup, 1):
            ema = self.reference()
            if value > self.rel_threshold * ema:
                return Detection(step, value, ema, ratio(value, ema), self.reason)
        self.m = (1.0 - self.alpha) * self.m + self.alpha * value
        self.n_accepted += 1
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, "alpha": self.alpha,
                "rel_threshold": self.rel_threshold, "warmup": self.warmup,
                "m": self.m, "n_accepted": self.n_accepted}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_kind(state)
        self.alpha = float(state["alpha"])
        self.rel_threshold = float(state["rel_threshold"])
        self.warmup = int(state["warmup"])
        self.m = float(state["m"])
        self.n_accepted = int(state["n_accepted"])
