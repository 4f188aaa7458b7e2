"""Loss-spike detectors (Phase 20): small online tests that say "this step looks like a spike".

Every detector has the same three methods::

    detection = detector.update(value, step)   # -> Detection | None, O(1) (robust-z: O(window))
    state = detector.state_dict()              # plain ints/floats/lists/str: JSON- and
    detector.load_state_dict(state)            # torch.load(weights_only=True)-safe

``value`` is one number per training step (the training loss, a gradient norm, or a held-out
probe loss) and ``step`` is the step it belongs to. The detectors assume positive values (losses
and norms), because most of them compare against a multiple of a baseline.

Two rules hold for every detector, and they are implemented once, in ``Detector.update``:

1. A non-finite value (nan, +inf, -inf) is ALWAYS a detection, with reason ``"non-finite"``, and
   it leaves the detector's state exactly as it was: it is never folded into a baseline, so the
   next normal value is judged against the same baseline as before.
2. A value that is detected as a spike is NOT folded into the baseline either (we skip the
   baseline update on a detected step). A spike therefore cannot raise the bar for the steps
   after it. The price: if the loss really moved to a new, higher level for good, the detector
   keeps firing. In this course a detection triggers a rollback, which restores the detector's
   state (saved in the checkpoint with ``state_dict()``) together with the model.

The detectors, from crude to careful:

- ``ThresholdDetector``       value > a fixed number.
- ``MovingAverageDetector``   value > rel_threshold x mean of the last ``window`` values.
- ``EMADetector``             value > rel_threshold x exponential moving average.
- ``CUSUMDetector``           cumulative sum of standardised log-residuals (also sees slow drifts).
- ``RobustZDetector``         modified z-score with median and MAD (robust to heavy tails).
- ``HeldoutProbeDetector``    an EMA detector for a probe loss measured every few steps.
- ``make_grad_norm_detector`` the default detector for gradient norms (a CUSUM with h = 10).
- ``BudgetDetector``          (``utils.recovery.budget_detector``) told a false-alarm budget instead of a
                              threshold; it measures the noise and sets its own bar.
- ``LightningSpikeAdapter``   Lightning's own ``SpikeDetection`` callback, fed one value at a time
                              (for comparison only).

``evaluate`` scores detectors on labelled traces (recall, false alarms per 10k steps, median
delay); ``detector_from_name("budget:0.5")`` builds one from a short name; ``synthetic_traces``
makes labelled SYNTHETIC calibration traces (a noise model with injected spikes, not a training
run). Command line::

    python -m utils.detectors synthetic --n 20 --length 3000 --seed 0 > traces.json
    python -m utils.detectors evaluate traces.json [--json] [--tolerance 10]
"""

from __future__ import annotations

import argparse
import bisect
import copy
import json
import math
import random
import statistics
import sys
from collections import deque
from typing import Any

from utils.recovery.budget_detector import BudgetDetector
from utils.recovery.detector_base import Detection, Detector, ratio
from utils.recovery.traces import TraceFileError, load_traces


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
            raise ValueError("window must be >= 1")
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
            raise ValueError("alpha must be in (0, 1]")
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
            raise ValueError("window must be >= 3")
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


class HeldoutProbeDetector(EMADetector):
    """Watches a held-out probe loss: a fixed held-out set evaluated (no gradient) every
    ``every`` steps - by default the canonical run's ``heldout_every`` (``utils.spikelab.config``).
    Feed it only on those steps (``if probe.due(step): probe.update(probe_loss, step)``).

    It is an EMA detector with probe-sized defaults. The probe is the same data each time, so
    its loss has no batch-to-batch noise and a tighter ``rel_threshold`` (1.2) is safe; probes
    are rare, so the EMA follows quickly (alpha 0.3) and warms up after 3 probes.
    What it adds: the training loss spikes both when the weights are damaged and when one batch
    is just unusual; the probe loss rises only when the weights are damaged. What it costs: a
    spike is seen only at the next probe, up to ``every`` steps late.
    """

    reason = "probe-above-ema"

    def __init__(self, rel_threshold: float = 1.2, alpha: float = 0.3, warmup: int = 3,
                 every: int | None = None):
        super().__init__(alpha=alpha, rel_threshold=rel_threshold, warmup=warmup)
        if every is None:  # the course run's held-out evaluation interval
            from utils.spikelab.config import CANONICAL

            every = CANONICAL.heldout_every
        self.every = int(every)

    def due(self, step: int) -> bool:
        """True on the steps where the probe loss should be evaluated and fed in."""
        return step % self.every == 0

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "every": self.every}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.every = int(state["every"])


def make_grad_norm_detector() -> Detector:
    """The course's default detector for the global gradient norm (one value per step).

    Gradient norms are heavy-tailed and their noise level differs between runs and phases: a
    norm of twice the usual happens in healthy training, so a loss-sized bar of 1.5x the average
    fires constantly. The CUSUM detector works in log space and divides each residual by the
    noise scale it has measured, so its bar adapts to how noisy this run's norms are; the alarm
    level is doubled (h = 10 instead of 5) because of the heavy tails, and the memory is longer
    (alpha 2/101 ~ 100 steps, 50 warm-up steps). On the synthetic calibration traces this gave
    fewer false alarms at full recall than a fixed ratio (EMA, 3x) or a median/MAD z-score; the
    "grad-norm" row of ``python -m utils.detectors evaluate`` shows its numbers.

    Why the gradient norm moves before the loss: near a minimum, with a displacement d along a
    direction of curvature lam, the loss rises by lam d^2 / 2 but the gradient by lam d. While an
    instability grows (the step size pushing the weights to oscillate along the sharpest
    direction), d is small, so the gradient norm grows linearly and visibly while the loss change
    is still second-order and hidden in the noise. And a step with a huge gradient makes a huge
    update (Adam's second moment lags a sudden jump), whose damage the loss shows only at the
    next forward pass. How many steps earlier it is in this course's run is measured, not assumed.
    """
    return CUSUMDetector(k=0.5, h=10.0, alpha=2 / 101, warmup=50)


def uniform_guess_loss(vocab_size: int | None = None) -> float:
    """ln(vocab_size): the cross-entropy of guessing every token with equal probability.

    Without an argument, the vocabulary of the course tokenizer (``utils.spikelab.data_order``).
    """
    if vocab_size is None:
        from utils.spikelab.data_order import tokenizer  # imported here: only this default needs it

        vocab_size = len(tokenizer().vocab)
    return math.log(vocab_size)


def all_detectors() -> dict[str, Detector]:
    """Fresh instances of the course's loss detectors with their default parameters.

    The fixed threshold is ``uniform_guess_loss()`` (ln of the course vocabulary size).
    """
    return {"threshold": ThresholdDetector(uniform_guess_loss()), **_relative_detectors()}


def _relative_detectors() -> dict[str, Detector]:
    """``all_detectors()`` but the fixed threshold (which needs the course tokenizer)."""
    return {
        "moving-average": MovingAverageDetector(window=50, rel_threshold=1.5),
        "ema": EMADetector(alpha=2 / 51, rel_threshold=1.5, warmup=20),
        "cusum": CUSUMDetector(k=0.5, h=5.0, alpha=2 / 51, warmup=20),
        "robust-z": RobustZDetector(window=50, z=3.5),
    }



def detector_from_name(name: str) -> Detector:
    """A fresh loss detector from a short name, for settings that must stay plain strings (the
    rollback policy, the Lightning callback): a key of ``all_detectors()`` ("ema", "cusum", ...),
    ``"budget"`` (``BudgetDetector()``: 1 false alarm per 10,000 steps) or ``"budget:<n>"``
    (a budget of n false alarms per 10,000 steps, e.g. ``"budget:0.5"``)."""
    kind, _, budget = name.partition(":")
    if kind == "budget":
        try:
            return BudgetDetector(float(budget)) if budget else BudgetDetector()
        except ValueError:
            raise ValueError(f"{name!r}: the budget after 'budget:' must be a number of false "
                             "alarms per 10,000 steps in (0, 10000), e.g. 'budget:0.5'") from None
    if name == "threshold":
        return ThresholdDetector(uniform_guess_loss())
    detectors = _relative_detectors()
    if name not in detectors:
        raise ValueError(f"unknown detector {name!r}; one of {sorted(detectors) + ['threshold']}, "
                         "'budget' or 'budget:<false alarms per 10k>'")
    return detectors[name]

class LightningSpikeAdapter(Detector):
    """Lightning's ``SpikeDetection`` callback, fed one value at a time, for comparison.

    Where it lives (pytorch-lightning 2.6.6): ``pytorch_lightning.callbacks.spike.SpikeDetection``
    (``lightning.pytorch.callbacks.spike`` in the unified ``lightning`` package, not installed
    here), a thin Callback around ``lightning_fabric.utilities.spike.SpikeDetection``.
    Defaults: mode="min", window=10, warmup=1, atol=None, rtol=2.0, finite_only=True.

    How it decides, per batch, in ``on_train_batch_end`` (i.e. AFTER the optimizer step, so the
    spiking batch has already changed the weights):
      - nothing while ``batch_idx < warmup`` (batch_idx restarts at 0 every epoch);
      - non-finite loss -> spike with the default finite_only=True. Its docstring says
        finite_only=False makes non-finite values spikes; in the code, finite_only=False lets nan
        and -inf pass silently (only +inf still trips the rtol test);
      - a loss not above the previous accepted loss is never a spike;
      - otherwise spike iff |loss - mean| >= rtol * mean (and >= atol if set), mean = running mean
        of the last ``window`` accepted losses (torchmetrics ``Running(MeanMetric)``). With
        rtol=2.0 that means loss >= 3x the mean: a 2.5x spike passes unseen;
      - on a spike it appends [batch_idx - 1, batch_idx] (per-epoch indices, so ambiguous across
        epochs) to ``skip_batches.json`` in ``trainer.default_root_dir`` and raises
        ``TrainingSpikeException``: training stops; resuming and skipping is up to you. There is
        no roll-back. A spike is not added to the running mean (like our detectors).
      - its ``state_dict`` does not contain the running window (torchmetrics states are not
        persistent) and in 2.6.6 ``load_state_dict`` raises AttributeError (``self.running``).

    This adapter drives Lightning's own ``_is_spike`` and ``_update_stats`` exactly as the
    single-process path of ``on_train_batch_end`` does, with ``step`` as batch_idx, but instead of
    writing the file and raising it returns a Detection. It bypasses our non-finite rule, so
    Lightning's own handling is what gets measured. No state_dict (see above).
    """

    def __init__(self, **kwargs: Any):
        # Imported here: importing pytorch_lightning takes seconds.
        from pytorch_lightning.callbacks.spike import SpikeDetection

        self.callback = SpikeDetection(**kwargs)

    def reference(self) -> float:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(self.callback.running_mean.compute())

    def update(self, value: float, step: int) -> Detection | None:
        import torch

        loss = torch.tensor(float(value), dtype=torch.float32)
        callback = self.callback
        is_spike = bool(step >= callback.warmup and callback._is_spike(loss))
        if is_spike:
            reference = self.reference()
            score = float(value) / reference if reference else math.inf
            return Detection(step, float(value), reference, score, "lightning-spike")
        if callback.finite_only or bool(torch.isfinite(loss).all()):
            callback._update_stats(loss)
        return None

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError("Lightning's SpikeDetection cannot save its running window")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError("Lightning's SpikeDetection cannot restore its running window")


# ---------------------------------------------------------------------------------------------
# Synthetic calibration traces and evaluation
# ---------------------------------------------------------------------------------------------

def synthetic_traces(n: int, length: int, seed: int) -> list[dict[str, Any]]:
    """``n`` SYNTHETIC labelled traces of ``length`` steps, deterministic for a given ``seed``.

    Calibration data for the detectors, not a training run: every trace carries
    ``"synthetic": True``. Each trace is a noisy decaying loss curve
        loss(t) = floor + (start - floor) * exp(-t / tau), times exp(sigma * N(0, 1)) noise
    (start 4.5-5.3, i.e. just below ln(233) = the uniform-guess loss of the course vocabulary,
    floor 1-2.5, tau 200-1000 steps, sigma 0.02-0.05), and a heavy-tailed gradient
    norm (log-normal noise with Student-t(4) tails around a slowly falling level).
    Spikes are injected at known steps (from step 200, at least 150 steps apart, none in the last
    30 steps): from step s on, both series are multiplied by 1 + (m - 1) exp(-(t - s) / d), with
    m in 2.5-4 for the loss, 4-10 for the gradient norm and d in 1-4 steps. The spike steps are in
    ``"spikes"``. Here the gradient-norm spike starts at the same step as the loss spike; whether
    it leads in a real run is a question for the real run.
    """
    rng = random.Random(seed)
    traces = []
    for index in range(n):
        start, floor = rng.uniform(4.5, 5.3), rng.uniform(1.0, 2.5)
        tau, sigma = rng.uniform(200, 1000), rng.uniform(0.02, 0.05)
        grad_level, grad_sigma = rng.uniform(0.5, 2.0), rng.uniform(0.1, 0.2)
        spikes: list[int] = []
        candidate = 200 + rng.randrange(0, 300)
        while candidate < length - 30:
            spikes.append(candidate)
            candidate += 150 + rng.randrange(0, 1500)
        loss, grad_norm = [], []
        for t in range(length):
            clean = floor + (start - floor) * math.exp(-t / tau)
            loss.append(clean * math.exp(sigma * rng.gauss(0.0, 1.0)))
            t_noise = rng.gauss(0.0, 1.0) / math.sqrt(sum(rng.gauss(0.0, 1.0) ** 2 for _ in range(4)) / 4)
            grad_norm.append(grad_level * (0.6 + 0.4 * math.exp(-t / tau)) * math.exp(grad_sigma * t_noise))
        for s in spikes:
            m_loss, m_grad, d = rng.uniform(2.5, 4.0), rng.uniform(4.0, 10.0), rng.uniform(1.0, 4.0)
            for t in range(s, min(length, s + 40)):
                bump = math.exp(-(t - s) / d)
                loss[t] *= 1.0 + (m_loss - 1.0) * bump
                grad_norm[t] *= 1.0 + (m_grad - 1.0) * bump
        traces.append({"synthetic": True, "seed": seed, "index": index, "spikes": spikes,
                       "loss": [round(v, 6) for v in loss],
                       "grad_norm": [round(v, 6) for v in grad_norm]})
    return traces


def _score(fires: list[int], spikes: list[int], before: int, after: int
           ) -> tuple[int, list[int], int]:
    """(detected spikes, their delays, false alarms) with the window s - before .. s + after."""
    delays = []
    for s in spikes:
        hits = [f - s for f in fires if s - before <= f <= s + after]
        if hits:
            delays.append(min(hits))
    false_alarms = sum(1 for f in fires if not any(s - before <= f <= s + after for s in spikes))
    return len(delays), delays, false_alarms


def evaluate(traces: list[dict], detectors: dict[str, Detector] | None = None,
             tolerance: int = 10) -> dict[str, dict]:
    """Score detectors on labelled traces; returns {name: {recall, false_alarms_per_10k,
    median_delay}} with names sorted.

    Each trace is ``{"loss": [...], "spikes": [step, ...]}`` (steps are list indices), optionally
    with ``"grad_norm": [...]``. Every detector starts fresh on every trace (a deep copy of the
    one given). A spike at step s counts as detected if the detector fires at any step in
    s .. s + tolerance; ``median_delay`` is the median of (first such fire - s) over detected
    spikes (None if none). Fires outside every spike window are false alarms, reported per
    10,000 steps. Several fires inside one window (a spike lasting several steps) are not false
    alarms.

    With ``detectors=None``: ``all_detectors()`` plus ``BudgetDetector()`` ("budget", a budget of
    1 false alarm per 10,000 steps) and Lightning's SpikeDetection
    ("lightning-spike-detection", its defaults) on the loss, and, if traces have "grad_norm",
    ``make_grad_norm_detector()`` on the gradient norm ("grad-norm"). The grad-norm window is
    s - tolerance .. s + tolerance, because a gradient-norm spike is expected to come first; its
    delay is negative when it leads the labelled loss spike.
    """
    loss_detectors = detectors
    grad_detectors: dict[str, Detector] = {}
    if detectors is None:
        loss_detectors = {**all_detectors(), "budget": BudgetDetector(),
                          "lightning-spike-detection": LightningSpikeAdapter()}
        if any("grad_norm" in trace for trace in traces):
            grad_detectors = {"grad-norm": make_grad_norm_detector()}
    jobs = [(name, det, "loss", 0) for name, det in loss_detectors.items()]
    jobs += [(name, det, "grad_norm", tolerance) for name, det in grad_detectors.items()]

    results = {}
    for name, prototype, series, before in jobs:
        n_spikes = n_detected = n_false = n_steps = 0
        delays: list[int] = []
        for trace in traces:
            if series not in trace:
                continue
            detector = copy.deepcopy(prototype)
            fires = [step for step, value in enumerate(trace[series])
                     if detector.update(value, step) is not None]
            detected, trace_delays, false_alarms = _score(fires, list(trace["spikes"]), before,
                                                          tolerance)
            n_spikes += len(trace["spikes"])
            n_detected += detected
            delays += trace_delays
            n_false += false_alarms
            n_steps += len(trace[series])
        results[name] = {
            "recall": round(n_detected / n_spikes, 4) if n_spikes else None,
            "false_alarms_per_10k": round(1e4 * n_false / n_steps, 3) if n_steps else None,
            "median_delay": float(statistics.median(delays)) if delays else None,
        }
    return dict(sorted(results.items()))


def format_table(results: dict[str, dict]) -> str:
    """The results of ``evaluate`` as an aligned text table."""
    lines = [f"{'detector':<28}{'recall':>8}{'false alarms/10k':>18}{'median delay':>14}"]
    for name, row in sorted(results.items()):
        cells = ["-" if row[key] is None else f"{row[key]:g}"
                 for key in ("recall", "false_alarms_per_10k", "median_delay")]
        lines.append(f"{name:<28}{cells[0]:>8}{cells[1]:>18}{cells[2]:>14}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``evaluate TRACES.json [--json] [--tolerance N]`` and ``synthetic``."""
    parser = argparse.ArgumentParser(
        prog="python -m utils.detectors",
        description="Score the course's loss-spike detectors on labelled traces.")
    commands = parser.add_subparsers(dest="command", required=True)
    ev = commands.add_parser("evaluate", help="score detectors on a JSON list of traces")
    ev.add_argument("traces", help='JSON file: a list of {"loss": [...], "spikes": [...]} '
                                   '(optional "grad_norm": [...])')
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ev.add_argument("--tolerance", type=int, default=10,
                    help="a fire at s .. s+tolerance detects the spike at s (default 10)")
    syn = commands.add_parser("synthetic", help="print SYNTHETIC labelled traces as JSON")
    syn.add_argument("--n", type=int, default=20)
    syn.add_argument("--length", type=int, default=3000)
    syn.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.command == "synthetic":
        json.dump(synthetic_traces(args.n, args.length, args.seed), sys.stdout)
        print()
        return 0
    try:
        traces = load_traces(args.traces)
        results = evaluate(traces, tolerance=args.tolerance)
    except (TraceFileError, ValueError) as error:     # ValueError: e.g. a negative loss
        print(f"python -m utils.detectors evaluate: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results, sort_keys=True, indent=2))
    else:
        print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
