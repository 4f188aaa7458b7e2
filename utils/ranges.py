"""The measured ranges that prose quotes: each quantity over several seeds and CPU kernel paths.

A training run is chaotic in the last bits of floating-point arithmetic, so the same seed on two
CPUs gives two samples of the same chaos. Prose therefore never quotes one run's number; it
quotes the range a quantity took over seeds 42-46 on every kernel path PyTorch offers on the
measuring machine (``ATEN_CPU_CAPABILITY`` = default, avx2, avx512 where the CPU has them).

    python -m utils.claims --measure     # re-measure every quoted quantity (writes TABLE)
    python -m utils.claims --fix         # rewrite the spans' texts from the table

``TABLE`` (theory/ranges.json) holds, for each quoted ``run|key``, every sample as
``"<seed>/<path>": value``, and how it was measured. ``range_text`` turns samples into the text a
span shows ("3.9–4.6", or "312" when every sample agrees); ``holds`` says whether a fresh run's
value lies in that range, which ``tests/test_claims.py`` checks on whatever machine runs the suite.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "theory" / "ranges.json"
SEEDS = (42, 43, 44, 45, 46)
# ATEN_CPU_CAPABILITY values, narrowest first; a CPU offers those up to its own capability.
_LADDER = ["default", "avx2", "avx512"]


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


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fmt(v, fmt: str) -> str:
    return format(v, fmt) if fmt and _is_number(v) else str(v)


def range_text(values: list, fmt: str = "") -> str:
    """What a span shows for these samples: "lo–hi" for numbers, "lo" when they all round alike,
    the distinct values joined with " or " otherwise (e.g. "positive or negative")."""
    if not values:
        return "(not measured)"
    if all(_is_number(v) for v in values):
        lo, hi = _fmt(min(values), fmt), _fmt(max(values), fmt)
        return lo if lo == hi else f"{lo}–{hi}"
    distinct = sorted({_fmt(v, fmt) for v in values})
    return " or ".join(distinct)


def holds(value, values: list, fmt: str = "") -> bool:
    """Does a fresh run's ``value`` lie in the measured range of ``values`` (at the span's rounding)?"""
    if not values:
        return False
    if _is_number(value) and all(_is_number(v) for v in values):
        if min(values) <= value <= max(values):
            return True
        shown = _fmt(value, fmt)
        return shown in (_fmt(min(values), fmt), _fmt(max(values), fmt))
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
    through a private run cache."""
    import tempfile
    paths = paths or kernel_paths()
    todo = [(p, s) for p in paths for s in seeds]
    cache = tempfile.mkdtemp(prefix="course-ranges-")

    def work(job: tuple[str, int]) -> tuple[str, int, dict]:
        kpath, seed = job
        wanted = sorted({r for r, _, s in pairs if s is None or s == seed})
        env = {**os.environ, "ATEN_CPU_CAPABILITY": kpath, "COURSE_RUN_CACHE": cache}
        done = subprocess.run([sys.executable, "-m", "utils.claims", "--worker", str(seed)], cwd=ROOT, env=env,
                              input=json.dumps(wanted), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"worker {kpath}/{seed} failed:\n{done.stderr[-3000:]}")
        print(f"[ranges] {kpath} seed {seed} measured", flush=True)
        return kpath, seed, json.loads(done.stdout.strip().splitlines()[-1])

    out: dict[str, dict] = {}
    with ThreadPoolExecutor(jobs) as pool:
        for kpath, seed, values in pool.map(work, todo):
            for name, v in values.items():
                out.setdefault(name, {})[f"{seed}/{kpath}"] = v
    quoted = {f"{r}|{k}" for r, k, _ in pairs}
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
