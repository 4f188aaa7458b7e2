"""``HeldoutProbeDetector``: an EMA detector for a held-out probe loss measured every few steps."""

from __future__ import annotations

from typing import Any

from utils.recovery.detectors.ema import EMADetector
from utils.spikelab.config import CANONICAL


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
        self.every = int(CANONICAL.heldout_every if every is None else every)

    def due(self, step: int) -> bool:
        """True on the steps where the probe loss should be evaluated and fed in."""
        return step % self.every == 0

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "every": self.every}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.every = int(state["every"])

