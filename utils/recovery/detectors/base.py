"""What every loss-spike detector shares (Phase 20): the ``Detection`` record and the ``Detector``
base class with the rules that hold for all of them.

    detection = detector.update(value, step)   # -> Detection | None
    state = detector.state_dict()              # plain ints/floats/lists/str
    detector.load_state_dict(state)

Each detector of ``utils.recovery.detectors`` lives in its own module of that package and builds on
this one; the package re-exports every name.

Two rules hold for every detector, and they are implemented once, in ``Detector.update``:

1. A non-finite value (nan, +inf, -inf) is ALWAYS a detection, with reason ``"non-finite"``, and
   it leaves the detector's state exactly as it was: it is never folded into a baseline, so the
   next normal value is judged against the same baseline as before.
2. A value that is detected as a spike is NOT folded into the baseline either (each detector skips
   its baseline update on a detected step). A spike therefore cannot raise the bar for the steps
   after it. The price: if the loss really moved to a new, higher level for good, the detector
   keeps firing. In this course a detection triggers a rollback, which restores the detector's
   state (saved in the checkpoint with ``state_dict()``) together with the model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from utils.text import say


@dataclass(frozen=True)
class Detection:
    """One detection: at ``step`` the ``value`` was compared with ``reference`` and failed.

    ``score`` is the detector's own statistic (a ratio value/reference, a z-score, or the CUSUM
    sum) and ``reason`` a short label such as ``"non-finite"`` or ``"above-ema"``.
    """

    step: int
    value: float
    reference: float
    score: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The detection as a plain dict (for logs and notes)."""
        return asdict(self)


class Detector:
    """Base class: the non-finite rule lives here; subclasses implement ``_check_and_update``.

    Subclasses must implement:
      ``_check_and_update(value, step)``  judge a finite value; update the baseline unless it is
                                          a detection; return the Detection or None.
      ``reference()``                     the current baseline (nan while there is none).
      ``state_dict()`` / ``load_state_dict(state)``.
    """

    def update(self, value: float, step: int) -> Detection | None:
        """Feed the value of one step; return a Detection if it looks like a spike, else None."""
        value = float(value)
        if not math.isfinite(value):
            return Detection(step, value, self.reference(), math.inf, "non-finite")
        return self._check_and_update(value, step)

    def reference(self) -> float:
        """The baseline a new value would be compared with now (nan while there is none)."""
        raise NotImplementedError

    def _check_and_update(self, value: float, step: int) -> Detection | None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Parameters and state as plain Python values (JSON- and weights_only-safe)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (parameters included)."""
        raise NotImplementedError

    def _check_kind(self, state: dict[str, Any]) -> None:
        if state.get("kind") != type(self).__name__:
            raise ValueError(say(f"state is for {state.get('kind')!r}, not {type(self).__name__}",
                                 f"el estado es de {state.get('kind')!r}, no de {type(self).__name__}"))

    def _refuse_negative(self, value: float, step: int) -> None:
        """For detectors that compare a value with a multiple of its baseline (or work in log
        space): such a rule only means something for values >= 0, so a negative value is refused
        with a clear message instead of giving nonsense."""
        if value < 0.0:
            name = type(self).__name__
            raise ValueError(say(
                f"{name} needs values >= 0 (it compares each value with a multiple "
                f"of its baseline, or works on log(value)); got {value!r} at step {step}. For an "
                "objective that can be negative use RobustZDetector or BudgetDetector(log=False).",
                f"{name} necesita valores >= 0 (compara cada valor con un múltiplo de su baseline, o trabaja "
                f"con log(valor)); ha recibido {value!r} en el paso {step}. Para un objetivo que puede ser negativo "
                "usa RobustZDetector o BudgetDetector(log=False)."))


def ratio(value: float, reference: float) -> float:
    """value / reference for a positive reference; +inf when the reference is 0 (a value above a
    zero baseline is infinitely many times it), so a zero baseline never divides by zero."""
    return value / reference if reference > 0.0 else math.inf
