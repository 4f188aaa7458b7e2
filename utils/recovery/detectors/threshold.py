"""``ThresholdDetector``: a value above a fixed number is a spike (the crude baseline)."""

from __future__ import annotations

from typing import Any

from utils.recovery.detectors.base import Detection, Detector, ratio


class ThresholdDetector(Detector):
    """Fires when the value exceeds a fixed absolute ``threshold``. No state, O(1).

    The crude baseline of the course: on a decaying loss a fixed number is either too high for
    late training (misses spikes) or too low for early training (fires all the time). The
    course's number is ``uniform_guess_loss()``: a loss above it is worse than not having
    learned anything.

    Any real values work (a threshold <= 0 included; the score is then value - threshold instead
    of the ratio).
    """

    def __init__(self, threshold: float):
        self.threshold = float(threshold)

    def reference(self) -> float:
        return self.threshold

    def _check_and_update(self, value: float, step: int) -> Detection | None:
        if value > self.threshold:
            score = ratio(value, self.threshold) if self.threshold > 0 else value - self.threshold
            return Detection(step, value, self.threshold, score, "above-threshold")
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "ThresholdDetector", "threshold": self.threshold}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_kind(state)
        self.threshold = float(state["threshold"])

