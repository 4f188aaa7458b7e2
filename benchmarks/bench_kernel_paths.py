"""Benchmark: one seed, several CPU kernel paths, several sets of numbers (theory/why-runs-differ.md).

    python benchmarks/bench_kernel_paths.py [--variant broken] [--seed 42]

Trains the same run once per ``ATEN_CPU_CAPABILITY`` this CPU offers (``utils.course.ranges.kernel_paths()``:
default, avx2, avx512 where available), each in a fresh process (the variable is read once, at the
first tensor operation; one thread, no run cache), and prints for each path the pre-clip
gradient-norm ratio and the loss ratio at the event, the held-out rise in σ of its noise, and the
milliseconds per training step (held-out evaluations included). The same seed gives different
numbers on each path: the story is the same, the samples of its chaos are not.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utils.course.ranges import kernel_paths  # noqa: E402

CHILD = """
import json, sys, time
import torch
from utils.spikelab import symptoms
from utils.spikelab.config import config_for
from utils.spikelab.train import TrainingRun
cfg = config_for(sys.argv[1], seed=int(sys.argv[2]))
t0 = time.perf_counter()
log = TrainingRun(cfg).train()
seconds = time.perf_counter() - t0
s = symptoms.compute(log)
print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "steps": cfg.steps,
                  "ms_per_step": 1e3 * seconds / cfg.steps, "grad_norm_ratio": s["grad_norm_ratio"],
                  "loss_ratio": s["loss_ratio"], "heldout_rise_sigma": s["heldout_rise_sigma"]}))
"""


def run_on(path: str, variant: str, seed: int) -> dict:
    """Train ``variant`` with ``seed`` in a fresh process whose kernels are ``path``."""
    env = {k: v for k, v in os.environ.items() if k != "COURSE_RUN_CACHE"}
    env["ATEN_CPU_CAPABILITY"] = path
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", CHILD, variant, str(seed)],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the run on kernel path {path} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _num(v, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="broken")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    paths = kernel_paths()
    print(f"{args.variant}, seed {args.seed}, one thread; kernel paths on this CPU: {', '.join(paths)}")
    print(f"{'ATEN_CPU_CAPABILITY':20s} {'torch uses':>10s} {'grad ratio':>10s} {'loss ratio':>10s} "
          f"{'held-out rise':>13s} {'ms/step':>8s}")
    for path in paths:
        r = run_on(path, args.variant, args.seed)
        print(f"{path:20s} {r['capability']:>10s} {_num(r['grad_norm_ratio'], '9.1f')}× "
              f"{_num(r['loss_ratio'], '9.2f')}× {_num(r['heldout_rise_sigma'], '11.1f')} σ "
              f"{_num(r['ms_per_step'], '8.1f')}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
