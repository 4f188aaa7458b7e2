"""``MovingAverageDetector``: a value above a multiple of the mean of the last values is a spike."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from utils.recovery.detectors.base import Detection, Detector, ratio
from utils.text import say


class MovingAverageDetector(Detector):
    """Fires when value > ``rel_threshold`` x mean of the last ``window`` accepted values.

    O(1) per update: a deque holds the window and a running sum is kept (add the new value,
    subtract the one that falls out). To stop floating-point drift of the running sum, it is
    re-summed exactly once every ``window`` updates (O(1) amortised).
    No detection before ``warmup`` values were accepted (default: a full window).
    Values must be >= 0 (a negative one raises ValueError: a multiple of a negative mean is no
    bar). Above a mean of exactly 0 any positive value fires, with score inf.
    """

    def __init__(self, window: int = 50, rel_threshold: float = 1.5, warmup: int | None = None):
        if window < 1:
            raise ValueError(say("window must be >= 1", "window debe ser >= 1"))
        self.window = int(window)
        self.rel_threshold = float(rel_threshold)
        self.warmup = self.window if warmup is None else int(warmup)
        self.values: deque[float] = deque(maxlen=self.window)
        self.total = 0.0
        self.n_accepted = 0

    def reference(self) -> float:
        return self.total / len(self.values) if self.values else math.nan

    def _check_and_update(self, value: float, step: int) -> Detection | None:
        self._refuse_negative(value, step)
        if self.n_accepted >= self.warmup and self.values:
            mean = self.total / len(self.values)
            if value > self.rel_threshold * mean:
                return Detection(step, value, mean, ratio(value, mean), "above-moving-average")
        if len(self.values) == self.window:
            self.total -= self.values[0]  # the deque drops it on append
        self.values.append(value)
        self.total += value
        self.n_accepted += 1
        if self.n_accepted % self.window == 0:
            self.total = math.fsum(self.values)
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "MovingAverageDetector", "window": self.window,
                "rel_threshold": self.rel_threshold, "warmup": self.warmup,
                "values": list(self.values), "total": self.total, "n_accepted": self.n_accepted}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_kind(state)
        self.window = int(state["window"])
        self.rel_threshold = float(state["rel_threshold"])
        self.warmup = int(state["warmup"])
        self.values = deque((float(v) for v in state["values"]), maxlen=self.window)
        self.total = float(state["total"])
        self.n_accepted = int(state["n_accepted"])

