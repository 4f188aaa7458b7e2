"""What automatic recovery costs (Phase 20): checkpoints every K steps, the held-out probe, and
the steps a roll-back throws away. CPU, the course model (mini-GPT, 456k parameters).

1. Checkpoint overhead: the time ``RollbackTrainer`` spends saving checkpoints (state dict ->
   torch.save -> sha256 -> atomic write + fsync, rotation) divided by the rest of the training
   time, for K = 10, 50, 100, on the ``healthy`` variant (no detection, so nothing but saving
   differs). Two denominators: the course's instrumented loop (what every run of the course
   does: per-step telemetry and a 200-sentence held-out loss every 8 steps) and a bare step
   (forward, backward, clip, AdamW; ``TrainingRun.step(instrument=False)``), timed separately.
   Target: <= 5 % at K = 50.
2. Probe cost: the held-out probe detector's forward pass (``probe_size`` sentences every
   ``probe_every`` steps) per training step, measured the same two ways.
3. Recovery cost: on ``broken`` with ``COURSE_POLICY``, optimizer steps run vs kept, and the
   wall time against the same variant trained without the recovery loop.

Prints ratios (timings vary with the machine and its load; no assertions)::

    python benchmarks/bench_checkpointing.py [--steps 300] [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from utils.spikelab.config import config_for
from utils.recovery.rollback import COURSE_POLICY, RollbackPolicy, RollbackTrainer
from utils.spikelab.train import TrainingRun


def bare_step_seconds(steps: int) -> float:
    """Median seconds of an uninstrumented training step (forward, backward, clip, AdamW)."""
    run = TrainingRun(config_for("healthy"))
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        run.step(instrument=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[10:])


def checkpoint_run(k: int, steps: int, probe: bool = False) -> dict:
    """Train ``healthy`` for ``steps`` steps under the recovery loop; split the time."""
    policy = RollbackPolicy(checkpoint_every=k, probe=probe)
    with tempfile.TemporaryDirectory() as folder:
        trainer = RollbackTrainer(config_for("healthy"), policy, folder)
        result = trainer.train(steps=steps)
        saves = steps // k + (1 if steps % k else 0)
        size = trainer.manager.path_for(trainer.manager.list()[-1]).stat().st_size
    other = result.train_seconds - result.checkpoint_seconds - result.probe_seconds
    return {"saves": saves, "bytes": size, "save_s": result.checkpoint_seconds / saves,
            "checkpoint_s": result.checkpoint_seconds, "probe_s": result.probe_seconds,
            "probes": len(result.log.meta["probe"]["step"]), "other_s": other, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps per timed run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per K (median reported)")
    args = parser.parse_args()

    bare = bare_step_seconds(min(args.steps, 200))
    print(f"bare training step (forward+backward+clip+AdamW): {1e3 * bare:.1f} ms")
    print("\n1. checkpoint overhead (healthy, no detections)")
    print(f"{'K':>5}{'MB/ckpt':>9}{'ms/save':>9}{'vs instrumented loop':>22}{'vs bare steps':>15}")
    for k in (10, 50, 100):
        runs = [checkpoint_run(k, args.steps) for _ in range(args.repeat)]
        save = statistics.median(r["save_s"] for r in runs)
        loop = statistics.median(r["checkpoint_s"] / r["other_s"] for r in runs)
        vs_bare = save / (k * bare)
        print(f"{k:>5}{runs[0]['bytes'] / 1e6:>9.2f}{1e3 * save:>9.1f}{100 * loop:>21.2f}%"
              f"{100 * vs_bare:>14.2f}%")

    print(f"\n2. held-out probe ({COURSE_POLICY.probe_size} sentences every "
          f"{COURSE_POLICY.probe_every} steps), K = 50")
    runs = [checkpoint_run(50, args.steps, probe=True) for _ in range(args.repeat)]
    per_probe = statistics.median(r["probe_s"] / r["probes"] for r in runs)
    loop = statistics.median(r["probe_s"] / r["other_s"] for r in runs)
    print(f"one probe forward: {1e3 * per_probe:.1f} ms = {per_probe / bare:.2f} bare training steps")
    print(f"probe cost: {100 * loop:.2f}% of the instrumented loop, "
          f"{100 * per_probe / (COURSE_POLICY.probe_every * bare):.2f}% of bare steps")

    print("\n3. recovery cost on broken (COURSE_POLICY)")
    run = TrainingRun(config_for("broken"))           # construction (data, model) not timed
    t0 = time.perf_counter()
    plain = run.train()
    plain_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as folder:
        result = RollbackTrainer(config_for("broken"), COURSE_POLICY, folder).train()  # train() timed
    kept = len(result.log)
    print(f"status {result.status}, rollbacks {result.rollbacks}, steps run {result.steps_trained}, "
          f"kept {kept}, thrown away {result.steps_discarded} "
          f"({100 * result.steps_discarded / kept:.1f}% extra steps)")
    print(f"wall time with recovery / without: {result.train_seconds / plain_s:.2f} "
          f"({result.train_seconds:.1f} s / {plain_s:.1f} s; plain run {len(plain)} steps)")


if __name__ == "__main__":
    main()
