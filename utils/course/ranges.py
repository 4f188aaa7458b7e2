"""The measured ranges that prose quotes: each quantity over several seeds and CPU kernel paths.

A training run is chaotic in the last bits of floating-point arithmetic, so the same seed on two
CPUs gives two samples of the same chaos. Prose therefore never quotes one run's number; it
quotes the range a quantity took over seeds 42-46 on every kernel path PyTorch offers on the
measuring machine (``ATEN_CPU_CAPABILITY`` = default, avx2, avx512 where the CPU has them).

    python -m utils.claims --measure     # re-measure every quoted quantity (writes TABLE)
    python -m utils.claims --fix         # rewrite the spans' texts from the table

``TABLE`` (theory/ranges.json) holds, for each quoted ``run|key``, every sample as
``"<seed>/<path>": value``, and how it was measured. ``range_text`` turns samples into the text a
span shows ("3.7–4.8", or "312" when every sample agrees): the measured range widened by half its
spread on each side (``bounds``), because a machine we never measured gives one more sample of
the chaos. ``holds`` says whether a fresh run's value lies in that range, which
``tests/test_claims.py`` checks on whatever machine runs the suite.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "theory" / "ranges.json"
SEEDS = (42, 43, 44, 45, 46)
# ATEN_CPU_CAPABILITY values, narrowest first; a CPU offers those up to its own capability.
_LADDER = ["default", "avx2", "avx512"]
# How far a quoted range reaches past the measured samples, as a share of their spread on each
# side (see ``bounds``).
MARGIN = 0.5


def kernel_paths() -> list[str]:
    """The ``ATEN_CPU_CAPABILITY`` values this machine can run (e.g. ["default", "avx2"])."""
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    top = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip().lower()
    if top not in _LADDER:
        return ["default"] if top == "default" else ["default", top]
    return _LADDER[: _LADDER.index(top) + 1]


def load(path: Path = TABLE) -> dict:
    if not path.exists():
        return {"how": {}, "samples": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def samples(table: dict, run: str, key: str, seed: int | None = None) -> list:
    """The measured values of ``run|key`` (only ``seed``'s when given); [] when never measured."""
    found = table["samples"].get(f"{run}|{key}", {})
    return [v for tag, v in sorted(found.items()) if seed is None or tag.split("/")[0] == str(seed)]


UNQUOTABLE = object()     # what ``quotable`` returns for a value no span can show (a dict, an array)


def quotable(v):
    """A run's value as the table stores it: scalars (None included: "it never happened") as they
    are, a one-element list as its element, a longer list as "a, b, c"; ``UNQUOTABLE`` otherwise."""
    if isinstance(v, (list, tuple)) and len(v) == 1:
        v = v[0]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return UNQUOTABLE


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fmt(v, fmt: str) -> str:
    """A value as a span shows it: with the span's format, else 3 significant digits for a float."""
    if _is_number(v) and (fmt or isinstance(v, float)):
        return format(v, fmt or ".3g")
    return str(v)


def bounds(values: list) -> tuple[float, float] | None:
    """The range a quoted number promises for these numeric samples, or None for words.

    The measured min and max, widened by ``MARGIN`` of their spread on each side: a few seeds
    on a few kernel paths are a small sample of the chaos, and a run on a machine we never measured is one more. The
    spread is taken as a ratio (hi/lo) when every sample is positive, and a quantity whose
    samples are never negative never gets a negative bound, nor one whose samples all lie in [0, 1] a bound
    above 1 (a recall, a share); integers (steps, counts) stay integers. Samples that all agree
    (a step fixed by the data order) are not widened."""
    if not values or not all(_is_number(v) for v in values):
        return None
    lo, hi = min(values), max(values)
    if lo == hi:
        return lo, hi
    if all(isinstance(v, int) for v in values):
        pad = math.ceil(MARGIN * (hi - lo))
        return (max(lo - pad, 0) if lo >= 0 else lo - pad), hi + pad
    if lo > 0:
        factor = (hi / lo) ** MARGIN
        top = hi * factor
        return lo / factor, (min(top, 1.0) if hi <= 1.0 else top)   # a share stays a share
    pad = MARGIN * (hi - lo)
    return (0.0 if lo == 0 else lo - pad), hi + pad     # a quantity that is never negative stays so


def range_text(values: list, fmt: str = "") -> str:
    """What a span shows for these samples: "lo–hi" (``bounds``) for numbers, "lo" when they all
    round alike, the distinct values joined with " or " otherwise (e.g. "positive or negative")."""
    if not values:
        return "(not measured)"
    span = bounds(values)
    if span is not None:
        lo, hi = _fmt(span[0], fmt), _fmt(span[1], fmt)
        return lo if lo == hi else f"{lo}–{hi}"
    distinct = sorted({_fmt(v, fmt) for v in values})
    return " or ".join(distinct)


CHAOTIC = 10.0   # a range whose top is more than 10 × its bottom says little: quote one side of it


def too_chaotic(values: list) -> bool:
    """Is the range of these samples too wide to be worth quoting both ends (top > CHAOTIC × bottom)?"""
    span = bounds(values)
    return span is not None and span[0] > 0 and span[1] / span[0] > CHAOTIC


def _nice(v: float, side: str) -> float:
    """``v`` rounded to 2 significant digits, down for a lower bound ("min"), up for an upper one."""
    if v == 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(abs(v))) - 1)
    return (math.floor if side == "min" else math.ceil)(v / scale) * scale


def bound_value(values: list, side: str) -> float | None:
    """The one side of the range a span with ``data-bound`` promises: a nice number at or below the
    widened bottom ("min") or at or above the widened top ("max"); None for words."""
    span = bounds(values)
    if span is None:
        return None
    return _nice(span[0] if side == "min" else span[1], side)


def bound_text(values: list, side: str) -> str:
    """What a one-sided span shows: "> 30" or "< 14" (the symbols read the same in English and Spanish)."""
    v = bound_value(values, side)
    if v is None:
        return "(not measured)"
    shown = f"{v:.0f}" if abs(v) >= 10 else f"{v:.2g}"
    return f"{'>' if side == 'min' else '<'} {shown}"


def holds(value, values: list, fmt: str = "", side: str = "") -> bool:
    """Does a fresh run's ``value`` lie in the range a span shows for ``values`` (at its rounding)?
    ``side`` "min" / "max": only above / below the one bound the span shows."""
    if not values:
        return False
    if side:
        bound = bound_value(values, side)
        return _is_number(value) and bound is not None and (value >= bound if side == "min" else value <= bound)
    span = bounds(values)
    if _is_number(value) and span is not None:
        if span[0] <= value <= span[1]:
            return True
        shown = _fmt(value, fmt)
        return shown in (_fmt(span[0], fmt), _fmt(span[1], fmt))
    return _fmt(value, fmt) in {_fmt(v, fmt) for v in values}


def spread(values: list) -> float | None:
    """max / min of positive numeric samples (how chaotic a quantity is), else None."""
    nums = [v for v in values if _is_number(v)]
    if len(nums) != len(values) or not nums or min(nums) <= 0:
        return None
    return max(nums) / min(nums)


def measure(pairs: list[tuple[str, str, int | None]], jobs: int = 2, seeds=SEEDS,
            paths: list[str] | None = None, path: Path = TABLE) -> dict:
    """Measure every (run, key, seed-or-None) over ``seeds`` × kernel ``paths``; write the table.

    Each (path, seed) is one worker process (``python -m utils.claims --worker SEED`` with that
    ``ATEN_CPU_CAPABILITY``, one thread), ``jobs`` at a time; runs are shared within a worker
    through a run cache of its own (``COURSE_RANGES_CACHE`` names one to reuse across restarts;
    else a fresh temporary folder), never the learner's."""
    paths = paths or kernel_paths()
    todo = [(p, s) for p in paths for s in seeds]
    cache = os.environ.get("COURSE_RANGES_CACHE") or tempfile.mkdtemp(prefix="course-ranges-")

    def work(job: tuple[str, int]) -> tuple[str, int, dict]:
        kpath, seed = job
        wanted = sorted({r for r, _, s in pairs if s is None or s == seed})
        done_file = Path(cache) / f"values-{kpath}-{seed}.json"     # a restarted measure reuses it
        if done_file.exists():
            kept = json.loads(done_file.read_text(encoding="utf-8"))
            if kept["runs"] == wanted:
                return kpath, seed, kept["values"]
        env = {**os.environ, "ATEN_CPU_CAPABILITY": kpath, "COURSE_RUN_CACHE": cache}
        done = subprocess.run([sys.executable, "-m", "utils.course.claims", "--worker", str(seed)], cwd=ROOT, env=env,
                              input=json.dumps(wanted), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"worker {kpath}/{seed} failed:\n{done.stderr[-3000:]}")
        print(f"[ranges] {kpath} seed {seed} measured", flush=True)
        values = json.loads(done.stdout.strip().splitlines()[-1])
        done_file.write_text(json.dumps({"runs": wanted, "values": values}), encoding="utf-8")
        return kpath, seed, values

    out: dict[str, dict] = {}
    with ThreadPoolExecutor(jobs) as pool:
        for kpath, seed, values in pool.map(work, todo):
            for name, v in values.items():
                out.setdefault(name, {})[f"{seed}/{kpath}"] = v
    quoted = {f"{r}|{k}" for r, k, _ in pairs}
    out = {k: v for k, v in out.items() if k in quoted}
    missing = sorted(quoted - set(out))
    if missing:
        raise RuntimeError(f"quoted quantities no run produced: {missing}")
    table = {"how": {
        "seeds": list(seeds), "kernel_paths": paths, "threads": 1,
        "torch": torch.__version__.split("+")[0], "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu": _cpu_name(), "date": datetime.date.today().isoformat(),
        "command": "python -m utils.claims --measure"},
        "samples": {k: out[k] for k in sorted(out)}}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return table


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
