"""Loss-spike detectors (Phase 20): small online tests that say "this step looks like a spike".

Every detector has the same three methods::

    detection = detector.update(value, step)   # -> Detection | None, O(1) (robust-z: O(window))
    state = detector.state_dict()              # plain ints/floats/lists/str: JSON- and
    detector.load_state_dict(state)            # torch.load(weights_only=True)-safe

``value`` is one number per training step (the training loss, a gradient norm, or a held-out
probe loss) and ``step`` is the step it belongs to. The detectors assume positive values (losses
and norms), because most of them compare against a multiple of a baseline. Two rules hold for
every detector (``base``): a non-finite value is always a detection, and neither it nor a detected
spike is ever folded into the baseline.

One detector per module, from crude to careful:

- ``threshold``        ``ThresholdDetector``      value > a fixed number.
- ``moving_average``   ``MovingAverageDetector``  value > rel_threshold x mean of the last ``window`` values.
- ``ema``              ``EMADetector``            value > rel_threshold x exponential moving average.
- ``cusum``            ``CUSUMDetector``          cumulative sum of standardised log-residuals (also sees slow drifts).
- ``robust_z``         ``RobustZDetector``        modified z-score with median and MAD (robust to heavy tails).
- ``heldout_probe``    ``HeldoutProbeDetector``   an EMA detector for a probe loss measured every few steps.
- ``budget``           ``BudgetDetector``         told a false-alarm budget instead of a threshold; it
                                                  measures the noise and sets its own bar.
- ``lightning_spike``  ``LightningSpikeAdapter``  Lightning's own ``SpikeDetection`` callback, fed one
                                                  value at a time (for comparison only).

``defaults`` holds the course's settings: ``all_detectors()``, ``detector_from_name("budget:0.5")``,
``default_loss_detector()`` (the roll-back loop's) and ``make_grad_norm_detector()`` (a CUSUM with
h = 10 for gradient norms). ``evaluate`` scores detectors on labelled traces (recall, false alarms
per 10k steps, median delay) and is the command line; the traces themselves (SYNTHETIC generators
and the trace-file reader) are in ``utils.recovery.traces``::

    python -m utils.detectors synthetic --n 20 --length 3000 --seed 0 > traces.json
    python -m utils.detectors evaluate traces.json [--json] [--tolerance 10]

Every name is importable from here: ``from utils.recovery.detectors import EMADetector, evaluate``.
"""

from __future__ import annotations

from utils.recovery.detectors.base import Detection, Detector, ratio
from utils.recovery.detectors.budget import BudgetDetector
from utils.recovery.detectors.cusum import CUSUMDetector
from utils.recovery.detectors.defaults import (all_detectors, default_loss_detector, detector_from_name,
                                               make_grad_norm_detector, uniform_guess_loss)
from utils.recovery.detectors.ema import EMADetector
from utils.recovery.detectors.evaluate import (TOLERANCE, counts, evaluate, fires, format_table, main,
                                               tally)
from utils.recovery.detectors.heldout_probe import HeldoutProbeDetector
from utils.recovery.detectors.lightning_spike import LightningSpikeAdapter
from utils.recovery.detectors.moving_average import MovingAverageDetector
from utils.recovery.detectors.robust_z import RobustZDetector
from utils.recovery.detectors.threshold import ThresholdDetector
from utils.recovery.traces import synthetic_traces

__all__ = [
    "TOLERANCE", "BudgetDetector", "CUSUMDetector", "Detection", "Detector", "EMADetector",
    "HeldoutProbeDetector", "LightningSpikeAdapter", "MovingAverageDetector", "RobustZDetector",
    "ThresholdDetector", "all_detectors", "counts", "default_loss_detector", "detector_from_name",
    "evaluate", "fires", "format_table", "main", "make_grad_norm_detector", "ratio", "synthetic_traces",
    "tally", "uniform_guess_loss",
]
