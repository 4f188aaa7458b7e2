"""A spike detector whose one parameter is the false-alarm budget, not a threshold (Phase 20).

    detector = BudgetDetector(false_alarms_per_10k=1.0)     # at most ~1 false alarm per 10,000 steps
    detection = detector.update(loss, step)                 # Detection | None, like every detector

Every other detector of ``utils.recovery.detectors`` has a threshold (1.5x the EMA, h = 5, z = 3.5), and
how many false alarms a threshold costs depends on how noisy the run is. This one is told how many
false alarms it may raise, and sets its own bar from the noise it measures. Per step:

1. **Predict** log(loss) robustly from the past: a local level that follows the loss (each step
   moves it by 0.1 x the new deviation, clipped to 3 noise scales, so one wild value barely moves
   it), a trend that is followed only upwards (a slow rise is predicted, so a drift does not look
   like a spike; a fall is never extrapolated, because a loss that falls more slowly than
   predicted would then look like a spike), and the autocorrelation of the noise (phi: how much
   of the last deviation from the level carries over to the next step, estimated online).
2. **Standardise** the residual, log(loss) - prediction, by the noise scale (a running mean of
   |residual|, winsorised at 5 scales): z.
3. **Compare** z with the bar: the (1 - p) quantile of the z values seen so far, p = budget /
   10,000 per step, extrapolated into the tail by ``utils.recovery.tail_fit`` (peaks over threshold with a
   generalised Pareto tail by default; ``tail="student-t"`` or ``"empirical"`` are the measured
   alternatives). Tails may be heavy: the fit estimates how heavy. The bar never goes below the
   (1 - p) quantile of Gaussian noise of the same scale: no loss noise has lighter tails, and
   while the loss falls fast all residuals are negative and the fitted tail is squeezed to 0.
4. **Learn** from values that are not spikes only (rule 2 of ``utils.recovery.detectors.base``): a detected
   value never enters level, trend, scale or tail. After a spike, values that are still elevated
   (z > 1, for up to 20 steps) stay out of the tail too: a spike's aftermath is not noise.

A spike is reported once. While values stay above the bar (a spike decaying over several steps)
the detector does not fire again, unless the loss jumps up again from the previous step by more
than the bar (a second spike a few steps after the first) or the loss has stayed above the bar
for 50 steps (then it reminds you, every 50 steps). A value below the bar ends the incident.
The budget counts alarms, not steps above the bar.

What it handles and what it cannot:

- **First steps.** Nothing is judged before 20 values; until then the bar is unknown. Early on the
  tail fit has few values, so the shape is shrunk towards a heavy tail and a margin is added
  (``utils.recovery.tail_fit``): the bar starts high and comes down as evidence accumulates. A spike in
  the first ~20 steps is not seen; in the first few hundred only a large one is.
- **A fast-falling loss** gives negative residuals (the level lags behind): never a false alarm.
- **A sudden improvement** is a large negative residual: never a spike (one-sided test).
- **A slow drift** is followed by the trend; ``drift()`` reports it separately.
- **A spike smaller than the noise's own (1 - p) quantile** cannot be told from noise at that
  budget, by this or any detector: raise the budget or lower the noise.

``log=False`` works on the values themselves instead of their logarithm (for objectives that can
be negative); with ``log=True`` (default) values must be >= 0, and 0 is taken as 1e-300 (as in
CUSUM: a loss that sits at 0 and then moves is a spike). O(1) per update, plus a refit of the
tail every 32 steps (O(number of occupied histogram bins)).
"""

from __future__ import annotations

import math
from typing import Any

from utils.recovery.detectors.base import Detection, Detector
from utils.recovery.tail_fit import BARS, TAIL_FRACTION, TailHistogram, t_quantile
from utils.text import say


class BudgetDetector(Detector):
    """Fires when log(loss) is further above its robust prediction than the false-alarm budget
    allows (see the module docstring). ``false_alarms_per_10k``: the budget, in false alarms per
    10,000 steps of spike-free training."""

    LEVEL_ALPHA = 0.1         # how far each accepted value moves the level
    TREND_BETA = 0.02         # memory of the trend, ~50 steps
    SCALE_ALPHA = 1 / 64      # memory of the noise scale, ~64 steps
    AR_ALPHA = 1 / 128        # memory of the autocorrelation estimate
    CLIP = 3.0                # a deviation moves the level by at most CLIP noise scales x alpha
    WINSOR = 5.0              # |residual| enters the scale capped at WINSOR scales
    MEMORY = 8192             # the tail histogram's memory, in steps
    SCALE_WARMUP = 5          # residuals before z values are trusted enough to enter the tail
    JUDGE_AFTER = 15          # z values in the tail before anything is judged
    REFIT_EVERY = 32
    AFTERMATH = 20            # after an incident, elevated values stay out of the tail this long
    REPEAT_EVERY = 50         # an incident still above the bar is reported again this often
    ISOLATED = 2.0            # a detection whose next step is within this many scales of what
                              # it predicts was noise: its z enters the tail histogram after all
    NEAR_BAR = 1.5            # ... if it is below NEAR_BAR x bar (far above it: a spike)
    MIN_SCALE = 1e-3          # noise floor: 0.1 % of the loss (log) / of |level| (linear)

    def __init__(self, false_alarms_per_10k: float = 1.0, *, log: bool = True, tail: str = "gpd"):
        if not 0.0 < false_alarms_per_10k < 10_000.0:
            raise ValueError(say("false_alarms_per_10k must be in (0, 10000)",
                                 "false_alarms_per_10k debe estar en (0, 10000)"))
        if tail not in BARS:
            raise ValueError(say(f"tail must be one of {sorted(BARS)}, not {tail!r}",
                                 f"tail debe ser uno de {sorted(BARS)}, no {tail!r}"))
        self.false_alarms_per_10k = float(false_alarms_per_10k)
        self.log = bool(log)
        self.tail = tail
        self.hist = TailHistogram(self.MEMORY)
        self.n = 0                # values accepted
        self.level = self.trend = self.e_prev = 0.0
        self.scale_m = 0.0
        self.n_scale = 0
        self.ar_c1 = self.ar_c0 = 0.0
        self.n_ar = 0
        self.bar = math.inf       # in z units; inf until the tail has been fitted
        self.since_fit = 0
        self.incident = 0         # steps since the current incident was last reported (0: none)
        self.aftermath = 0
        self.last_y = 0.0
        self.pending_z = self.pending_e = 0.0     # a far-out z waiting for the next step
        self.check_above = 3.0    # z above this waits (pending) before entering the tail

    # ------------------------------------------------------------------ estimates
    @property
    def p(self) -> float:
        """The budget as a probability per step."""
        return self.false_alarms_per_10k / 1e4

    def _scale(self) -> float:
        floor = self.MIN_SCALE * (1.0 if self.log else max(abs(self.level), 1e-9))
        if self.n_scale == 0:
            return floor
        return max(self.scale_m / (1.0 - (1.0 - self.SCALE_ALPHA) ** self.n_scale), floor)

    def _phi(self) -> float:
        if self.n_ar < 20 or self.ar_c0 <= 0.0:
            return 0.0
        return min(max(self.ar_c1 / self.ar_c0, 0.0), 0.95)

    def _prediction(self) -> float:
        return self.level + max(self.trend, 0.0) + self._phi() * self.e_prev

    def reference(self) -> float:
        """The predicted loss for the next step (nan before the first value)."""
        if self.n == 0:
            return math.nan
        prediction = self._prediction()
        return math.exp(prediction) if self.log else prediction

    def drift(self) -> dict[str, Any]:
        """The slow movement the detector follows instead of firing on it: ``per_100_steps``, the
        level's trend (in log(loss) for log=True: 0.1 is about +10 % per 100 steps), and
        ``rising``: True when that rise exceeds one noise scale per 100 steps."""
        per_100 = 100.0 * self.trend
        return {"per_100_steps": per_100, "rising": self.n > 0 and per_100 > self._scale()}

    # ------------------------------------------------------------------ one step
    def _check_and_update(self, value: float, step: int) -> Detection | None:
        if self.log and value < 0.0:
            raise ValueError(say(f"BudgetDetector(log=True) needs values >= 0 (it works on log(value)); "
                                 f"got {value!r} at step {step}. Use BudgetDetector(log=False) for an "
                                 "objective that can be negative.",
                                 f"BudgetDetector(log=True) necesita valores >= 0 (trabaja con log(valor)); ha "
                                 f"recibido {value!r} en el paso {step}. Usa BudgetDetector(log=False) para un "
                                 "objetivo que puede ser negativo."))
        y = math.log(max(value, 1e-300)) if self.log else value
        if self.n == 0:
            self.level = self.last_y = y
            self.n = 1
            return None
        s = self._scale()
        pred_level = self.level + max(self.trend, 0.0)
        phi = self._phi()
        r = y - (pred_level + phi * self.e_prev)
        z = r / s
        above = self.hist.count() >= self.JUDGE_AFTER and z > self.bar
        if self.pending_z > 0.0:
            # the previous value was far out: it was noise (and enters the tail) if this value
            # shows no trace of it beyond what the noise's autocorrelation carries over
            if not above and abs(y - (pred_level + phi * self.pending_e)) < self.ISOLATED * s:
                self._count(self.pending_z)
            self.pending_z = 0.0
        if above:
            fresh = y - self.last_y > self.bar * s
            if self.incident == 0 and z < self.NEAR_BAR * self.bar:
                self.pending_z, self.pending_e = z, y - pred_level
            report = self.incident == 0 or fresh or self.incident >= self.REPEAT_EVERY
            self.incident = 1 if report else self.incident + 1
            self.e_prev *= phi
            self.last_y = y
            self.aftermath = self.AFTERMATH
            if not report:
                return None
            reference = math.exp(y - r) if self.log else y - r
            return Detection(step, value, reference, z, "above-budget-bar")
        self.incident = 0
        self._accept(y, r, z, s, pred_level)
        return None

    def _accept(self, y: float, r: float, z: float, s: float, pred_level: float) -> None:
        settled = self.n_scale >= self.SCALE_WARMUP
        e = y - pred_level
        if settled:
            e = min(max(e, -self.CLIP * s), self.CLIP * s)
        if self.n >= 2:                                   # lag-1 autocorrelation of deviations
            a = self.AR_ALPHA
            self.ar_c1 = (1.0 - a) * self.ar_c1 + a * self.e_prev * e
            self.ar_c0 = (1.0 - a) * self.ar_c0 + a * self.e_prev * self.e_prev
            self.n_ar += 1
        old = self.level
        self.level = pred_level + self.LEVEL_ALPHA * e
        self.trend += self.TREND_BETA * ((self.level - old) - self.trend)
        size = min(abs(r), self.WINSOR * s) if settled else abs(r)
        self.scale_m = (1.0 - self.SCALE_ALPHA) * self.scale_m + self.SCALE_ALPHA * size
        self.n_scale += 1
        if settled:
            if self.aftermath > 0 and z > 1.0:
                self.aftermath -= 1
            elif z > self.check_above:
                self.aftermath = 0
                self.pending_z, self.pending_e = z, y - pred_level
            else:
                self.aftermath = 0
                self._count(z)
        self.e_prev = e
        self.last_y = y
        self.n += 1

    def _gaussian_bar(self) -> float:
        """The floor of the bar: the (1 - p) quantile of Gaussian noise, in units of the mean
        |residual| (sqrt(pi/2) sigma). No real loss noise has lighter tails; without the floor,
        a residual histogram squeezed by a fast fall (all residuals negative, the level lagging)
        gives a bar near 0 that the first slower step crosses."""
        return t_quantile(1e6, 1.0 - self.p) * math.sqrt(math.pi / 2.0)

    def _count(self, z: float) -> None:
        """Put one z into the tail histogram; refit the bar when due."""
        self.hist.add(z)
        self.since_fit += 1
        count = self.hist.count()
        if count >= self.JUDGE_AFTER and self.since_fit >= min(self.REFIT_EVERY, count / 8):
            self.bar = max(BARS[self.tail](self.hist, self.p), self._gaussian_bar())
            self.check_above = self.hist.quantile(1.0 - TAIL_FRACTION)
            self.since_fit = 0

    # ------------------------------------------------------------------ state
    _SCALARS = ("false_alarms_per_10k", "level", "trend", "e_prev", "scale_m", "ar_c1", "ar_c0",
                "bar", "last_y", "pending_z", "pending_e", "check_above")
    _INTS = ("n", "n_scale", "n_ar", "since_fit", "incident", "aftermath")

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"kind": "BudgetDetector", "log": self.log, "tail": self.tail,
                                 "hist": self.hist.state_dict()}
        for key in self._SCALARS:
            value = getattr(self, key)
            state[key] = value if math.isfinite(value) else str(value)   # "inf": JSON-safe
        state.update({key: getattr(self, key) for key in self._INTS})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_kind(state)
        self.log, self.tail = bool(state["log"]), str(state["tail"])
        for key in self._SCALARS:
            setattr(self, key, float(state[key]))
        for key in self._INTS:
            setattr(self, key, int(state[key]))
        self.hist.load_state_dict(state["hist"])
