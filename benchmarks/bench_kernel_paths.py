"""Benchmark: how much the §A13 spike's numbers depend on the CPU kernel path (utils/cpu_kernels.py).

    python benchmarks/bench_kernel_paths.py [--variant broken] [--steps 330]

Runs the same seed once per kernel path, each in a fresh process (the variables are read once,
at the first tensor operation), and prints the pre-clip gradient norm and loss ratio at the event,
the wall time, and the ratio of each path's time to the pinned one's. The first row is the path
the course pins; the others are what PyTorch and MKL would pick by themselves on this machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from utils.cpu_kernels import PINNED

PATHS = {
    "pinned (default / COMPATIBLE)": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"},
    "machine's own (unpinned)": {"ATEN_CPU_CAPABILITY": "", "MKL_CBWR": ""},
    "avx2 / AVX2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"},
    "avx2 / COMPATIBLE": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"},
}

CHILD = """
import json, sys, time
import utils
from utils import symptoms, cpu_kernels
from utils.config import config_for
from utils.train import TrainingRun
t0 = time.perf_counter()
log = TrainingRun(config_for(sys.argv[1])).train(steps=int(sys.argv[2]))
s = symptoms.compute(log)
print(json.dumps({"capability": cpu_kernels.capability(), "grad": s["grad_norm_preclip"],
                  "loss_ratio": s["loss_ratio"], "seconds": time.perf_counter() - t0}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="broken")
    ap.add_argument("--steps", type=int, default=330)
    args = ap.parse_args()
    rows = []
    for name, env in PATHS.items():
        child_env = {k: v for k, v in os.environ.items() if k not in PINNED}
        child_env.update({k: v for k, v in env.items() if v})
        if not any(env.values()):        # unpinned: keep utils from setting the defaults
            child_env.update({"ATEN_CPU_CAPABILITY": "", "MKL_CBWR": "AUTO", "DNNL_MAX_CPU_ISA": "ALL"})
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", CHILD, args.variant, str(args.steps)],
                             env=child_env, capture_output=True, text=True, check=True)
        rows.append((name, json.loads(out.stdout.strip().splitlines()[-1])))
    base = rows[0][1]["seconds"]
    print(f"{args.variant}, seed 42, {args.steps} steps")
    print(f"{'kernel path':32s} {'torch uses':>10s} {'grad@312':>9s} {'loss ratio':>10s} {'time ratio':>10s}")
    for name, r in rows:
        print(f"{name:32s} {r['capability']:>10s} {r['grad']:9.1f} {r['loss_ratio']:10.3f} {r['seconds'] / base:10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
