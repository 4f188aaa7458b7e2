"""``LightningSpikeAdapter``: Lightning's own ``SpikeDetection`` callback, fed one value at a time, so
that it can be scored like the course's detectors (for comparison only).

Where it lives (pytorch-lightning 2.6.6): ``pytorch_lightning.callbacks.spike.SpikeDetection``
(``lightning.pytorch.callbacks.spike`` in the unified ``lightning`` package, not installed here), a
thin Callback around ``lightning_fabric.utilities.spike.SpikeDetection``.
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

The adapter calls the callback's public hook, ``on_train_batch_end``, with ``step`` as batch_idx and
a one-process stand-in for the trainer (the four things the hook reads of it: ``default_root_dir``,
``global_rank``, and the strategy's ``root_device``, ``barrier`` and ``reduce_boolean_decision``).
A ``TrainingSpikeException`` becomes a Detection; the skip file goes to a temporary folder of this
process. It bypasses our non-finite rule, so Lightning's own handling is what gets measured. No
state_dict (see above).

Lightning's callback takes about 0.2 ms a value (torchmetrics' running mean), so scoring it on the
60,000 synthetic calibration steps takes seconds every time. ``fires_on`` of a fresh adapter
therefore remembers where it fired on a series: in this process, and in the run store when
``COURSE_RUN_CACHE`` is set (``runstore.memo_path``, keyed by the values, the settings and the
versions of Lightning and torchmetrics). The fires are Lightning's own, computed once.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import math
import shutil
import struct
import tempfile
import warnings
from functools import lru_cache
from typing import Any

from utils.recovery.detectors.base import Detection, Detector
from utils.spikelab.atomic import atomic_write
from utils.spikelab.runstore import memo_path

_REMEMBERED: dict[bytes, list[int]] = {}     # fires of fresh adapters, by memo key (this process)


@lru_cache(maxsize=1)
def _skip_file_folder() -> str:
    """Where Lightning's callback writes its skip_batches.json: one temporary folder per process."""
    folder = tempfile.mkdtemp(prefix="lightning-spike-")
    atexit.register(shutil.rmtree, folder, True)
    return folder


class _Strategy:
    """What ``SpikeDetection.on_train_batch_end`` asks of a strategy, for one CPU process."""

    def __init__(self, device: Any):
        self.root_device = device

    def barrier(self, *args: Any, **kwargs: Any) -> None:
        """One process: nobody to wait for."""

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        return decision                                  # one process decides alone


class _OneProcessTrainer:
    """What ``SpikeDetection.on_train_batch_end`` reads of a trainer."""

    global_rank = 0

    def __init__(self, device: Any, default_root_dir: str):
        self.strategy = _Strategy(device)
        self.default_root_dir = default_root_dir


class LightningSpikeAdapter(Detector):
    """Lightning's ``SpikeDetection`` as a Detector (see the module docstring); ``kwargs`` go to
    ``SpikeDetection``."""

    def __init__(self, **kwargs: Any):
        # Imported here: importing pytorch_lightning takes seconds, and only this adapter needs it.
        import torch
        from pytorch_lightning.callbacks.spike import SpikeDetection

        self.settings = dict(sorted(kwargs.items()))          # what the fires depend on, for the memo
        kwargs.setdefault("exclude_batches_path", f"{_skip_file_folder()}/skip_batches.json")
        self.callback = SpikeDetection(**kwargs)
        self.trainer = _OneProcessTrainer(torch.device("cpu"), _skip_file_folder())
        self.fed = False              # True once a value went in (or fires_on read the fires from memory)
        self.spent = False            # True when fires_on read them from memory: the window was not fed

    def reference(self) -> float:
        with warnings.catch_warnings():                  # torchmetrics warns before its first value
            warnings.simplefilter("ignore")
            return float(self.callback.running_mean.compute())

    def update(self, value: float, step: int) -> Detection | None:
        import torch
        from lightning_fabric.utilities.spike import TrainingSpikeException

        if self.spent:
            raise RuntimeError("this adapter's fires were read from memory, so its running window is empty: "
                               "make a new LightningSpikeAdapter to feed it values")
        self.fed = True
        loss = torch.tensor(float(value), dtype=torch.float32)
        try:
            self.callback.on_train_batch_end(self.trainer, None, loss, None, step)
        except TrainingSpikeException:
            reference = self.reference()
            score = float(value) / reference if reference else math.inf
            return Detection(step, float(value), reference, score, "lightning-spike")
        return None

    def fires_on(self, values: list[float], steps: list[int]) -> list[int]:
        """The steps at which this adapter fires on ``values`` (see the module docstring). A fresh
        adapter's fires are remembered; one already fed is simply fed the values."""
        if self.fed:
            return [s for s, v in zip(steps, values) if self.update(v, s) is not None]
        key = self._memo_key(values, steps)
        path = memo_path("lightning-fires", key)
        fired = _REMEMBERED.get(key)
        if fired is None and path is not None and path.exists():
            try:
                fired = [int(s) for s in json.loads(path.read_text())]
            except (ValueError, TypeError):
                fired = None                                # a damaged file: compute again
        if fired is None:
            fired = [s for s, v in zip(steps, values) if self.update(v, s) is not None]
            if path is not None:
                atomic_write(path, json.dumps(fired))
        else:
            self.spent = True
        _REMEMBERED[key] = fired
        self.fed = True
        return list(fired)

    def _memo_key(self, values: list[float], steps: list[int]) -> bytes:
        import pytorch_lightning
        import torchmetrics

        h = hashlib.sha256(json.dumps([self.settings, pytorch_lightning.__version__, torchmetrics.__version__],
                                      sort_keys=True, default=str).encode())
        h.update(struct.pack(f"<{len(values)}d", *map(float, values)))
        h.update(struct.pack(f"<{len(steps)}q", *steps))
        return h.digest()

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError("Lightning's SpikeDetection cannot save its running window")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError("Lightning's SpikeDetection cannot restore its running window")
