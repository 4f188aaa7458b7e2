"""Checkpoints you can roll back to (Phase 20): atomic, checksummed, finite-checked, rotated.

A roll-back after a loss spike needs a checkpoint that (1) was written completely, (2) has not
been damaged since, (3) does not already contain nan/inf weights, and (4) restores EVERYTHING the
next steps depend on, so that training from it replays exactly. ``CheckpointManager`` takes care
of 1-3; ``capture_training_state`` / ``restore_training_state`` are the one snapshot and restore
of 4 that both roll-back loops use (the plain one, ``utils.recovery.rollback``, and the Lightning
callback, ``utils.recovery.lightning_rollback``); the caller adds what only it knows::

    state = capture_training_state(model, [optimizer], [scheduler], detectors=detectors)
    state["data"] = {"global_step": step, "sampler_indices": indices}   # where the data order is
    manager.save(step, state)
    ...
    found = manager.latest_good(before_step=spike_step)
    if found is not None:
        good_step, state = found
        restore_training_state(state, model, [optimizer], [scheduler], detectors=detectors)

On disk, in ``directory``, each checkpoint is two files:

- ``step_00001200.pt``   the state, written with ``torch.save``;
- ``step_00001200.json`` its manifest: step, file name, size, sha256 of the .pt file, and
  ``finite`` (true when every floating-point tensor in the state is free of nan/inf; the paths
  of the first non-finite tensors are listed under ``nonfinite``).

Both are written atomically (``utils.spikelab.atomic.atomic_write``: a temporary file in the same
directory, flushed and fsync'ed, then renamed over the final name: a reader sees the old file or
the new one, never half of one). The manifest is written after the .pt file, so a crash in between leaves a .pt without a manifest, which is not listed. Only steps
with a manifest exist for ``list``, ``load`` and ``latest_good``.

Loading checks size and sha256 before unpickling, then uses ``torch.load(weights_only=True)``,
which refuses arbitrary Python objects. So ``save`` refuses them too, up front, with a
``TypeError`` naming the offending entry: numpy arrays and numpy scalars must be converted
(``torch.from_numpy(a)``, ``float(x)``) - better at save time than at roll-back time.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import os
import random
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from utils.spikelab.atomic import atomic_write
from utils.text import say

logger = logging.getLogger(__name__)

_SCALAR_TYPES = (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device)


class CorruptCheckpointError(RuntimeError):
    """A checkpoint that must not be used: missing manifest, wrong size or checksum, unreadable."""


def capture_rng_state() -> dict[str, Any]:
    """The state of every random number generator the training loop uses, weights_only-safe.

    torch (CPU, and each CUDA device if available) as uint8 tensors; Python's ``random`` and
    numpy's global generator converted to plain ints, lists and floats (numpy arrays cannot be
    loaded with weights_only=True).
    """
    python_version, python_state, gauss_next = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": {"version": python_version, "state": list(python_state), "gauss_next": gauss_next},
        "numpy": {"name": str(np_name), "keys": [int(k) for k in np_keys], "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_cached)},
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put every generator back to what ``capture_rng_state`` recorded."""
    torch.set_rng_state(state["torch"].cpu())
    if state["torch_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["torch_cuda"]])
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
    npy = state["numpy"]
    np.random.set_state((npy["name"], np.array(npy["keys"], dtype=np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached_gaussian"]))


def check_state(state: Any, path: str = "state") -> list[str]:
    """Walk a state dict: raise TypeError on anything ``torch.load(weights_only=True)`` would
    refuse; return the paths of floating-point tensors that contain nan or inf."""
    if isinstance(state, torch.Tensor):
        if (state.is_floating_point() or state.is_complex()) and not bool(torch.isfinite(state).all()):
            return [path]
        return []
    if type(state) in _SCALAR_TYPES or type(state) is torch.Size:
        return []
    if type(state) in (dict, OrderedDict):
        nonfinite = []
        for key, value in state.items():
            if type(key) not in _SCALAR_TYPES:
                raise TypeError(say(f"{path}: key {key!r} of type {type(key).__name__} cannot be "
                                    "loaded with weights_only=True",
                                    f"{path}: la clave {key!r}, de tipo {type(key).__name__}, no se puede "
                                    "cargar con weights_only=True"))
            nonfinite += check_state(value, f"{path}.{key}")
        return nonfinite
    if type(state) in (list, tuple, set, frozenset):
        nonfinite = []
        for index, value in enumerate(state):
            nonfinite += check_state(value, f"{path}[{index}]")
        return nonfinite
    hint = say(" (convert numpy: torch.from_numpy(a), float(x), int(x))",
               " (convierte numpy: torch.from_numpy(a), float(x), int(x))") \
        if type(state).__module__.startswith("numpy") else ""
    kind = f"{type(state).__module__}.{type(state).__name__}"
    raise TypeError(say(f"{path}: {kind} cannot be loaded with weights_only=True{hint}",
                        f"{path}: {kind} no se puede cargar con weights_only=True{hint}"))


def capture_training_state(model: torch.nn.Module, optimizers: Sequence[torch.optim.Optimizer],
                           schedulers: Sequence[Any] = (), *, scaler: Any = None,
                           detectors: Mapping[str, Any] | None = None, rng: bool = True) -> dict[str, Any]:
    """The state the next training steps depend on, as one dict: ``model``, ``optimizers`` (AdamW's
    moments and step counts, the LR in its param groups) and ``schedulers``, each by position
    ({0: ..., 1: ...}), the grad ``scaler``, ``detectors`` (their ``state_dict()``, by name) and,
    with ``rng``, every generator's state.

    The tensors are the live ones (``state_dict()`` does not copy): save the dict right away, or
    keep ``cpu_copy(state)``."""
    state: dict[str, Any] = {
        "model": model.state_dict(),
        "optimizers": {i: optimizer.state_dict() for i, optimizer in enumerate(optimizers)},
        "schedulers": {i: scheduler.state_dict() for i, scheduler in enumerate(schedulers)},
        "scaler": scaler.state_dict() if scaler is not None else {},
        "detectors": {name: d.state_dict() for name, d in sorted((detectors or {}).items())},
    }
    if rng:
        state["rng"] = capture_rng_state()
    return state


def restore_training_state(state: dict[str, Any], model: torch.nn.Module,
                           optimizers: Sequence[torch.optim.Optimizer], schedulers: Sequence[Any] = (), *,
                           scaler: Any = None, detectors: Mapping[str, Any] | None = None) -> None:
    """Put back what ``capture_training_state`` recorded, into the same objects (the model's
    parameters are copied into, so optimizers keep pointing at them); the generators too when the
    state holds them."""
    for kind, objects in (("optimizers", optimizers), ("schedulers", schedulers)):
        if len(objects) != len(state[kind]):
            raise ValueError(say(f"the state holds {len(state[kind])} {kind}, {len(objects)} were given",
                                 f"el estado guarda {len(state[kind])} "
                                 f"{'optimizadores' if kind == 'optimizers' else 'schedulers'} y se han pasado "
                                 f"{len(objects)}"))
    model.load_state_dict(state["model"])
    for i, optimizer in enumerate(optimizers):
        optimizer.load_state_dict(state["optimizers"][i])
    for i, scheduler in enumerate(schedulers):
        scheduler.load_state_dict(state["schedulers"][i])
    if scaler is not None and state["scaler"]:
        scaler.load_state_dict(state["scaler"])
    for name, detector in (detectors or {}).items():
        detector.load_state_dict(state["detectors"][name])
    if "rng" in state:
        restore_rng_state(state["rng"])


def cpu_copy(obj: Any) -> Any:
    """A deep copy with every tensor cloned to the CPU (a snapshot the training cannot touch)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):                           # dict or OrderedDict: keep the type
        return type(obj)((k, cpu_copy(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


class CheckpointManager:
    """Saves numbered checkpoints in ``directory`` and finds the newest one safe to roll back to.

    ``keep_last`` checkpoints are kept; older ones are deleted after each save. One exception, on
    purpose: the newest checkpoint that ``latest_good`` could return (finite state, and its file
    still verifies against the manifest: size and sha256) is never deleted, even when it is older
    than the last ``keep_last`` - otherwise a run that keeps saving nan weights, or whose newest
    finite file was damaged on disk, would rotate away its only way back. One writer per directory.
    """

    def __init__(self, directory: str | os.PathLike, keep_last: int = 3):
        if keep_last < 1:
            raise ValueError(say("keep_last must be >= 1", "keep_last debe ser >= 1"))
        self.directory = Path(directory)
        self.keep_last = int(keep_last)
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob(".step_*.tmp"):  # left by a crash during a save
            stale.unlink()

    def path_for(self, step: int) -> Path:
        """The .pt file of the checkpoint at ``step`` (whether or not it exists)."""
        return self.directory / f"step_{int(step):08d}.pt"

    def _manifest_path(self, checkpoint: Path) -> Path:
        return checkpoint.with_suffix(".json")

    def list(self) -> list[int]:
        """Steps of the checkpoints that have a manifest, oldest first."""
        steps = []
        for manifest in self.directory.glob("step_*.json"):
            try:
                steps.append(int(manifest.stem.removeprefix("step_")))
            except ValueError:
                continue
        return sorted(steps)

    def manifest(self, step: int) -> dict[str, Any]:
        """The manifest of the checkpoint at ``step`` (CorruptCheckpointError if unreadable)."""
        path = self._manifest_path(self.path_for(step))
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CorruptCheckpointError(say(f"{path}: manifest unreadable ({error})",
                                             f"{path}: no se puede leer el manifiesto ({error})")) from error

    def save(self, step: int, state: dict[str, Any]) -> Path:
        """Write ``state`` as the checkpoint of ``step``; return the path of its .pt file.

        Raises TypeError (before writing anything) if the state holds objects that
        ``torch.load(weights_only=True)`` would refuse.
        """
        nonfinite = check_state(state)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
        path = self.path_for(step)
        manifest_path = self._manifest_path(path)
        if manifest_path.exists():  # re-saving a step: unlist the old one before replacing it
            manifest_path.unlink()
        atomic_write(path, data)
        manifest = {"step": int(step), "file": path.name, "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(), "finite": not nonfinite,
                    "nonfinite": nonfinite[:10]}
        atomic_write(manifest_path, json.dumps(manifest, indent=1) + "\n")
        self._prune(just_saved=int(step) if not nonfinite else None)
        return path

    def verifies(self, step: int) -> bool:
        """True when the checkpoint at ``step`` is one ``latest_good`` can use: its manifest says
        finite and its file has the manifest's size and sha256 (read and hashed, not unpickled)."""
        path = self.path_for(step)
        try:
            manifest = self.manifest(step)
            data = path.read_bytes()
        except (CorruptCheckpointError, OSError):
            return False
        return bool(manifest.get("finite")) and len(data) == manifest.get("bytes") \
            and hashlib.sha256(data).hexdigest() == manifest.get("sha256")

    def _prune(self, just_saved: int | None = None) -> None:
        """Delete all but the last ``keep_last``, never the newest checkpoint that verifies.
        ``just_saved``: a finite step this process has just written (trusted without re-reading,
        so a normal save costs no extra I/O); older ones are verified by size and sha256, since a
        manifest that says finite does not mean the file behind it is still intact."""
        steps = self.list()
        keep = set(steps[-self.keep_last:])
        for step in reversed(steps):
            if step == just_saved or self.verifies(step):
                keep.add(step)
                break
        for step in steps:
            if step not in keep:
                path = self.path_for(step)
                self._manifest_path(path).unlink(missing_ok=True)  # unlist first, then delete
                path.unlink(missing_ok=True)

    def load(self, path: str | os.PathLike, map_location: Any = None) -> dict[str, Any]:
        """Verify the checkpoint at ``path`` against its manifest, then load it (weights_only).

        Raises CorruptCheckpointError when the manifest is missing or unreadable, the size or
        sha256 differs (truncated or altered file), or torch cannot read it.
        """
        path = Path(path)
        manifest_path = self._manifest_path(path)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            data = path.read_bytes()
        except (OSError, ValueError) as error:
            raise CorruptCheckpointError(say(f"{path}: cannot read checkpoint or manifest ({error})",
                                             f"{path}: no se puede leer el checkpoint o su manifiesto ({error})")) \
                from error
        if len(data) != manifest.get("bytes"):
            raise CorruptCheckpointError(say(f"{path}: {len(data)} bytes, manifest says {manifest.get('bytes')} "
                                             "(truncated?)",
                                             f"{path}: {len(data)} bytes, el manifiesto dice {manifest.get('bytes')} "
                                             "(¿truncado?)"))
        if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
            raise CorruptCheckpointError(say(f"{path}: sha256 does not match the manifest",
                                             f"{path}: el sha256 no coincide con el del manifiesto"))
        try:
            return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
        except Exception as error:  # unpickling errors come in many types
            raise CorruptCheckpointError(say(f"{path}: torch.load failed ({error})",
                                             f"{path}: torch.load ha fallado ({error})")) from error

    def latest_good(self, before_step: int | None = None,
                    map_location: Any = None) -> tuple[int, dict[str, Any]] | None:
        """(step, state) of the newest checkpoint taken before ``before_step`` (all, if None)
        whose state was finite and which verifies; None if there is none.

        Non-finite checkpoints are skipped using the manifest (no loading); corrupted ones are
        skipped with a logged warning, and the search goes on to the previous one.
        """
        for step in reversed(self.list()):
            if before_step is not None and step >= before_step:
                continue
            try:
                if not self.manifest(step).get("finite"):
                    logger.info(say("checkpoint at step %d skipped: not finite",
                                    "se descarta el checkpoint del paso %d: no es finito"), step)
                    continue
                return step, self.load(self.path_for(step), map_location=map_location)
            except CorruptCheckpointError as error:
                logger.warning(say("checkpoint at step %d skipped: %s",
                                   "se descarta el checkpoint del paso %d: %s"), step, error)
        return None
