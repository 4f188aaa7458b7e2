"""Per-update cost of the course's spike detectors vs Lightning's SpikeDetection (CPU).

Each detector gets the same N values of a noisy decaying loss (no spikes injected, so Lightning
never raises). Ours are fed Python floats through ``update(value, step)``; Lightning's callback is
fed 0-d float32 tensors through its real per-batch hook, ``SpikeDetection.on_train_batch_end``,
with a minimal stand-in trainer (a no-op barrier and reduce, as in a single-process run).
Tensor creation is done before timing. Ours: best of ``--repeat`` runs of ``--n`` updates, each
on a fresh detector; Lightning (about 0.2 ms per batch on CPU, most of it in torchmetrics'
``Running.compute``, which re-reduces the whole window every batch) runs ``--lightning-n``
updates once, to keep the script under a minute. Prints ns/update and the ratio to Lightning's
per-batch check. Timings vary with the machine; no assertions.

    python benchmarks/bench_detectors.py [--n 100000] [--lightning-n 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import random
import time
from types import SimpleNamespace

import torch

from utils.detectors import (HeldoutProbeDetector, LightningSpikeAdapter, all_detectors,
                             make_grad_norm_detector)


def noisy_loss(n: int, seed: int = 0) -> list[float]:
    """A decaying loss with 3 % multiplicative Gaussian noise (synthetic, no spikes)."""
    rng = random.Random(seed)
    return [(2.0 + 4.0 * math.exp(-t / 5000)) * math.exp(0.03 * rng.gauss(0.0, 1.0))
            for t in range(n)]


def ns_per_update(update, values) -> float:
    start = time.perf_counter_ns()
    for step, value in enumerate(values):
        update(value, step)
    return (time.perf_counter_ns() - start) / len(values)


def lightning_ns_per_update(values: list[float]) -> float:
    """Lightning's SpikeDetection.on_train_batch_end, driven with a stand-in trainer."""
    from pytorch_lightning.callbacks.spike import SpikeDetection

    callback = SpikeDetection()  # its defaults: window=10, warmup=1, rtol=2.0, mode="min"
    strategy = SimpleNamespace(root_device=torch.device("cpu"), barrier=lambda *a, **k: None,
                               reduce_boolean_decision=lambda decision, all=True: decision)
    trainer = SimpleNamespace(strategy=strategy, global_rank=0, default_root_dir=".")
    losses = [torch.tensor(v, dtype=torch.float32) for v in values]
    start = time.perf_counter_ns()
    for batch_idx, loss in enumerate(losses):
        callback.on_train_batch_end(trainer, None, loss, None, batch_idx)
    return (time.perf_counter_ns() - start) / len(losses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="updates per run of ours")
    parser.add_argument("--lightning-n", type=int, default=20_000, help="updates for Lightning")
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours; the best counts")
    args = parser.parse_args()
    torch.set_num_threads(1)
    values = noisy_loss(args.n)
    lightning_values = values[: args.lightning_n]

    def best(make):
        return min(ns_per_update(make().update, values) for _ in range(args.repeat))

    reference = lightning_ns_per_update(lightning_values)
    rows = {name: best(lambda name=name: all_detectors()[name]) for name in all_detectors()}
    rows["grad-norm (cusum h=10)"] = best(make_grad_norm_detector)
    rows["heldout-probe (ema)"] = best(HeldoutProbeDetector)
    rows["lightning adapter (evaluate)"] = ns_per_update(LightningSpikeAdapter().update,
                                                        lightning_values)

    print(f"ours: best of {args.repeat} x {args.n} updates; Lightning: {args.lightning_n} "
          f"updates; CPU, torch {torch.__version__}")
    print(f"{'detector':<30}{'ns/update':>12}{'x Lightning':>14}")
    print(f"{'lightning on_train_batch_end':<30}{reference:>12.0f}{1.0:>14.4f}")
    for name, ns in rows.items():
        print(f"{name:<30}{ns:>12.0f}{ns / reference:>14.4f}")


if __name__ == "__main__":
    main()
