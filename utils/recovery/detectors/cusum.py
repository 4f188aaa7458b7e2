"""``CUSUMDetector``: a cumulative sum of standardised log-residuals; it also sees slow drifts."""

from __future__ import annotations

import math
from typing import Any

from utils.recovery.detectors.base import Detection, Detector


class CUSUMDetector(Detector):
    """One-sided CUSUM on standardised log-residuals; fires when the sum S exceeds ``h``.

    Per step, with ``level`` a bias-corrected EMA of log(value) and ``scale`` a bias-corrected EMA
    of |residual| (times sqrt(pi/2), so that it estimates a standard deviation for Gaussian noise;
    mean absolute deviation is less thrown by outliers than a mean square):

        residual = log(value) - level          (log: loss noise is roughly multiplicative)
        r = residual / max(scale, min_scale)
        S = max(0, S + r - k)                  detection when S > h, then S is reset to 0

    ``k`` is the slack per step (drifts smaller than k sigma never accumulate); ``h`` the alarm
    level. A single jump of (h + k) sigma fires at once; a sustained shift of d sigma (d > k) fires
    after about h / (d - k) steps, which is what a plain threshold cannot see. ``min_scale``
    (0.001 = 0.1 % relative noise) avoids dividing by zero on a perfectly flat trace.
    Values must be positive (a negative one raises ValueError; 0 is taken as 1e-300). O(1).
    No detection (and S stays 0) for the first ``warmup`` values.
    """

    def __init__(self, k: float = 0.5, h: float = 5.0, alpha: float = 2 / 51, warmup: int = 20,
                 min_scale: float = 1e-3):
        self.k = float(k)
        self.h = float(h)
        self.alpha = float(alpha)
        self.warmup = int(warmup)
        self.min_scale = float(min_scale)
        self.level_m = 0.0      # raw EMA of log(value)
        self.scale_m = 0.0      # raw EMA of |residual|
        self.n_accepted = 0     # values folded into level
        self.n_residuals = 0    # residuals folded into scale (one fewer than n_accepted)
        self.s = 0.0

    def _level(self) -> float:
        return self.level_m / (1.0 - (1.0 - self.alpha) ** self.n_accepted)

    def _scale(self) -> float:
        if self.n_residuals == 0:
            return self.min_scale
        mad = self.scale_m / (1.0 - (1.0 - self.alpha) ** self.n_residuals)
        return max(math.sqrt(math.pi / 2) * mad, self.min_scale)

    def reference(self) -> float:
        return math.exp(self._level()) if self.n_accepted else math.nan

    def _check_and_update(self, value: float, step: int) -> Detection | None:
        self._refuse_negative(value, step)
        log_value = math.log(max(value, 1e-300))
        if self.n_accepted > 0:
            residual = log_value - self._level()
            if self.n_accepted >= self.warmup:
                s = max(0.0, self.s + residual / self._scale() - self.k)
                if s > self.h:
                    self.s = 0.0
                    return Detection(step, value, self.reference(), s, "cusum")
                self.s = s
            self.scale_m = (1.0 - self.alpha) * self.scale_m + self.alpha * abs(residual)
            self.n_residuals += 1
        self.level_m = (1.0 - self.alpha) * self.level_m + self.alpha * log_value
        self.n_accepted += 1
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "CUSUMDetector", "k": self.k, "h": self.h, "alpha": self.alpha,
                "warmup": self.warmup, "min_scale": self.min_scale, "level_m": self.level_m,
                "scale_m": self.scale_m, "n_accepted": self.n_accepted,
                "n_residuals": self.n_residuals, "s": self.s}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_kind(state)
        for key in ("k", "h", "alpha", "min_scale", "level_m", "scale_m", "s"):
            setattr(self, key, float(state[key]))
        for key in ("warmup", "n_accepted", "n_residuals"):
            setattr(self, key, int(state[key]))
