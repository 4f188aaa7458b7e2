"""The run log: everything one training run recorded, step by step.

The dashboard, the stability check, the post-mortem and the detectors all read this one
format. It is plain JSON (``runs/<run-id>.json``): ``meta`` describes the run, ``steps``
holds one list per metric (index = step), ``heldout`` the held-out evaluations, and
``events`` the actions a recovery loop took (rollbacks, skips). A path ending in ``.gz``
(``<run-id>.json.gz``) holds the same JSON gzip-compressed, about a third of the size: the
post-mortem keeps a learner's run log that way beside their notes (``utils.course.postmortem_notes``).
"""
from __future__ import annotations

import gzip
import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from utils.spikelab.atomic import atomic_write
from utils.text import say

# Per-step columns, in the order the dashboard panels use them.
STEP_COLUMNS = [
    "loss",                 # panel 1
    "lr",                   # panel 2
    "grad_norm_preclip",    # panel 3
    "grad_norm_postclip",
    "grad_norm_rare_rows",  # norm of the rare pieces' input-embedding gradient (pre-clip)
    "act_mean_abs",         # panel 4: list per layer (meta["layers"])
    "adam_m_norm", "adam_v_norm", "adam_m_rare", "adam_v_rare",  # panel 5
    "emb_norm_rare",
    "batch_ids", "batch_hash", "rare_count",                     # panel 6
    "token_ids", "token_losses",                                 # panel 7 (targets, real tokens)
    "param_hash", "nonfinite_params",                            # panel 8
]


@dataclass
class RunLog:
    meta: dict
    steps: dict[str, list] = field(default_factory=lambda: {c: [] for c in STEP_COLUMNS})
    heldout: dict[str, list] = field(default_factory=lambda: {"step": [], "loss": []})
    events: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.steps["loss"])

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    def column(self, name: str) -> list:
        return self.steps[name]

    def append(self, record: dict) -> None:
        """Add one step's record (every column present)."""
        missing = [c for c in STEP_COLUMNS if c not in record]
        if missing:
            raise KeyError(f"step record lacks {missing}")
        for c in STEP_COLUMNS:
            self.steps[c].append(record[c])

    def truncate(self, n: int) -> None:
        """Keep only the first ``n`` steps (a rollback rewinds the log too; events stay)."""
        for c in STEP_COLUMNS:
            del self.steps[c][n:]
        keep = [i for i, s in enumerate(self.heldout["step"]) if s < n]
        for k in self.heldout:
            self.heldout[k] = [self.heldout[k][i] for i in keep]

    def to_dict(self) -> dict:
        return {"meta": self.meta, "steps": self.steps, "heldout": self.heldout, "events": self.events}

    def to_bytes(self, compressed: bool = False) -> bytes:
        """The log as written to a file: JSON (non-finite floats as strings), gzip-compressed
        when ``compressed`` (the same log always gives the same bytes: no time in the header)."""
        data = json.dumps(_encode(self.to_dict())).encode("utf-8")
        return gzip.compress(data, compresslevel=9, mtime=0) if compressed else data

    @classmethod
    def from_bytes(cls, data: bytes, source: object = "run log") -> "RunLog":
        """Read what ``to_bytes`` wrote (compressed or not: gzip is recognised by its first
        bytes); ValueError naming ``source`` when it is not a run log."""
        try:
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            d = _decode(json.loads(data.decode("utf-8")))
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(say(f"cannot read run log {source}: {e}",
                                 f"no se puede leer el registro de ejecución {source}: {e}")) from e
        if not isinstance(d, dict) or not {"meta", "steps"} <= d.keys():
            raise ValueError(say(f"{source} is not a run log (needs 'meta' and 'steps')",
                                 f"{source} no es un registro de ejecución (necesita 'meta' y 'steps')"))
        return cls(meta=d["meta"], steps=d["steps"], heldout=d.get("heldout", {"step": [], "loss": []}),
                   events=d.get("events", []))

    def save(self, path: Path) -> Path:
        """Write atomically (temp file + rename); non-finite floats are stored as strings.
        A path ending in ``.gz`` is written gzip-compressed."""
        path = Path(path)
        atomic_write(path, self.to_bytes(compressed=path.name.endswith(".gz")))
        return path

    @classmethod
    def load(cls, path: Path) -> "RunLog":
        """Read a run log written by ``save`` (``.json`` or ``.json.gz``)."""
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ValueError(say(f"cannot read run log {path}: {e}",
                                 f"no se puede leer el registro de ejecución {path}: {e}")) from e
        return cls.from_bytes(data, path)


NONFINITE = ("nan", "inf", "-inf")
TEXT_MARK = "text:"   # a string that reads like a non-finite float (the run id "nan") is stored marked


def _encode(x):
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)        # 'nan', 'inf', '-inf'
    if isinstance(x, str) and (x in NONFINITE or x.startswith(TEXT_MARK)):
        return TEXT_MARK + x
    if isinstance(x, dict):
        return {k: _encode(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_encode(v) for v in x]
    return x


def _decode(x):
    if isinstance(x, str):
        return float(x) if x in NONFINITE else x.removeprefix(TEXT_MARK)
    if isinstance(x, dict):
        return {k: _decode(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode(v) for v in x]
    return x
