"""``RobustZDetector``: a modified z-score with median and MAD (robust to heavy-tailed noise)."""

from __future__ import annotations

import bisect
import math
from collections import deque
from typing import Any

from utils.recovery.detectors.base import Detection, Detector
from utils.text import say


class RobustZDetector(Detector):
    """Fires when the modified z-score 0.6745 (x - median) / MAD of the last ``window`` accepted
    values exceeds ``z`` (Iglewicz and Hoaglin's rule; 0.6745 makes MAD comparable to a standard
    deviation for Gaussian noise). One-sided: only upward jumps count.

    Median and MAD ignore a few wild values, so heavy-tailed noise does not inflate the scale.
    Cost per update: the window is kept twice, in arrival order (deque) and sorted (a list kept
    sorted with ``bisect``): the median is O(1), inserting O(log w) search + O(w) shift, removing
    the oldest value the same. The MAD needs the median of |x - median|, which is done by sorting
    w numbers: O(w log w) per update. For the default w = 50 that is a few microseconds - fine
    for a once-per-step check, but it is the one detector here that is not O(1).
    A MAD below 1e-6 x |median| (a constant window: MAD 0) is replaced by ``min_rel_scale`` (0.1 %)
    x |median|, the noise floor CUSUM uses too: at a constant 2.0, 2.0001 is not a spike, 2.02 is.
    Works for any real values, negative ones included (median and MAD do not care about sign).
    No detection before ``warmup`` accepted values (default: a full window).
    """

    min_rel_scale = 1e-3

    def __init__(self, window: int = 50, z: float = 3.5, warmup: int | None = None):
        if window < 3:
            raise ValueError(say("window must be >= 3", "window debe ser >= 3"))
        self.window = int(window)
        self.z = float(z)
        self.warmup = self.window if warmup is None else int(warmup)
        self.values: deque[float] = deque()
        self.sorted_values: list[float] = []
        self.n_accepted = 0

    def reference(self) -> float:
        return _median_of_sorted(self.sorted_values) if self.sorted_values else math.nan

    def _check_and_update(self, value: float, step: int) -> Detection | None:
        if self.n_accepted >= self.warmup and len(self.sorted_values) >= 3:
            median = _median_of_sorted(self.sorted_values)
            mad = _median_of_sorted(sorted(abs(v - median) for v in self.sorted_values))
            if mad < 1e-6 * abs(median):       # (nearly) constant window: MAD says nothing
                mad = max(self.min_rel_scale * abs(median), 1e-12)
            mad = max(mad, 1e-12)
            score = 0.6745 * (value - median) / mad
            if score > self.z:
                return Detection(step, value, median, score, "robust-z")
        if len(self.values) == self.window:
            oldest = self.values.popleft()
            del self.sorted_values[bisect.bisect_left(self.sorted_values, oldest)]
        self.values.append(value)
        bisect.insort(self.sorted_values, value)
        self.n_accepted += 1
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "RobustZDetector", "window": self.window, "z": self.z,
                "warmup": self.warmup, "values": list(self.values), "n_accepted": self.n_accepted}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_kind(state)
        self.window = int(state["window"])
        self.z = float(state["z"])
        self.warmup = int(state["warmup"])
        self.values = deque(float(v) for v in state["values"])
        self.sorted_values = sorted(self.values)
        self.n_accepted = int(state["n_accepted"])


def _median_of_sorted(values: list[float]) -> float:
    n = len(values)
    mid = n // 2
    return values[mid] if n % 2 else 0.5 * (values[mid - 1] + values[mid])

