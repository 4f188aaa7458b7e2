"""The course's detectors with their default settings, and a detector from a short name.

    all_detectors()                 # {"threshold", "moving-average", "ema", "cusum", "robust-z"}
    detector_from_name("budget:0.5")
    default_loss_detector()         # what the roll-back loop watches the loss with
    make_grad_norm_detector()       # what it watches the gradient norm with
"""

from __future__ import annotations

import math

from utils.recovery.detectors.base import Detector
from utils.recovery.detectors.budget import BudgetDetector
from utils.recovery.detectors.cusum import CUSUMDetector
from utils.recovery.detectors.ema import EMADetector
from utils.recovery.detectors.moving_average import MovingAverageDetector
from utils.recovery.detectors.robust_z import RobustZDetector
from utils.recovery.detectors.threshold import ThresholdDetector
from utils.spikelab.data_order import tokenizer
from utils.text import say


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
    return math.log(len(tokenizer().vocab) if vocab_size is None else vocab_size)


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
            raise ValueError(say(f"{name!r}: the budget after 'budget:' must be a number of false "
                                 "alarms per 10,000 steps in (0, 10000), e.g. 'budget:0.5'",
                                 f"{name!r}: el presupuesto tras 'budget:' debe ser un número de falsas alarmas "
                                 "por cada 10.000 pasos en (0, 10000), p. ej. 'budget:0.5'")) from None
    if name == "threshold":
        return ThresholdDetector(uniform_guess_loss())
    detectors = _relative_detectors()
    if name not in detectors:
        raise ValueError(say(f"unknown detector {name!r}; one of {sorted(detectors) + ['threshold']}, "
                             "'budget' or 'budget:<false alarms per 10k>'",
                             f"detector desconocido {name!r}; uno de {sorted(detectors) + ['threshold']}, "
                             "'budget' o 'budget:<falsas alarmas por cada 10k>'"))
    return detectors[name]


def default_loss_detector(rel_threshold: float = 1.5) -> Detector:
    """The loss detector the recovery loop uses unless told otherwise: an EMA detector, value >
    ``rel_threshold`` x its 50-step EMA (1.5: the default recommended by the Phase 20 calibration
    notebook; the course's recovery policy uses 2, see ``utils.recovery.rollback.COURSE_POLICY``)."""
    return EMADetector(alpha=2 / 51, rel_threshold=rel_threshold, warmup=20)
