"""Loss-spike detectors: what the false-alarm-budget detector catches, and what each costs (CPU).

Part 1, detection. SYNTHETIC traces of ``utils.recovery.traces.generate`` (small 1.3-1.5x spikes in
Gaussian and heavy-tailed noise, with and without autocorrelation, long quiet runs, spikes in the
first 150 steps, back-to-back spikes, improvements and drifts), seeds ``--seeds`` (not the seeds
the detector's margin was set on). A fire at s .. s + 10 detects the spike labelled s, as in
``python -m utils.detectors evaluate``. Prints, for ``BudgetDetector``: each category at a budget
of 1 false alarm per 10,000 steps; every missed spike's cause (early: in the first 300 steps,
where the bar is still cautious; below noise: the spike's log peak is under the noise's own
(1 - p) quantile, ``traces.oracle_bar``, so no detector can tell it at that budget; other); a
sweep of budgets with the realised false-alarm rate on the quiet runs; the three tail fits; and
the course's fixed-threshold detectors and Lightning's SpikeDetection on the first seed's traces
(Lightning on the traces with spikes only: it costs about 0.2 ms a step).

Part 2, cost. Each detector gets the same N values of a noisy decaying loss (no spikes, so
Lightning never raises). Ours are fed Python floats through ``update(value, step)``; Lightning's
callback is fed 0-d float32 tensors through its real per-batch hook,
``SpikeDetection.on_train_batch_end``, with a minimal stand-in trainer (a no-op barrier and
reduce, as in a single-process run); tensors are made before timing. Ours: best of ``--repeat``
runs of ``--n`` updates on fresh detectors; Lightning: ``--lightning-n`` updates once.

Part 3, the issue's targets, each with its measured value and "met" or "MISSED". Timings vary
with the machine; nothing is asserted.

    python benchmarks/bench_detectors.py [--seeds 100,101,102,103,104] [--n 100000]
                                         [--lightning-n 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import statistics
import time

import torch

from utils.recovery import traces as T
from utils.recovery.detectors import (BudgetDetector, HeldoutProbeDetector, LightningSpikeAdapter, all_detectors,
                                      make_grad_norm_detector)
from utils.recovery.tail_fit import METHODS

TOLERANCE = 10
EARLY = 300
BUDGETS = [0.3, 0.5, 0.7, 1.0, 3.0, 10.0]


# ------------------------------------------------------------------------- detection
def fire_steps(detector, values) -> list[int]:
    detector = copy.deepcopy(detector)
    return [step for step, v in enumerate(values) if detector.update(v, step) is not None]


def score(detector, traces: list[dict]) -> dict:
    """Recall, false alarms per 10k steps, median delay (as ``evaluate``), plus the misses."""
    labels = steps = false = 0
    delays, misses = [], []
    for trace in traces:
        fires = fire_steps(detector, trace["loss"])
        spikes = trace["spikes"]
        labels += len(spikes)
        steps += len(trace["loss"])
        false += sum(1 for f in fires if not any(s <= f <= s + TOLERANCE for s in spikes))
        for i, s in enumerate(spikes):
            hits = [f - s for f in fires if s <= f <= s + TOLERANCE]
            if hits:
                delays.append(min(hits))
            else:
                misses.append((trace, i))
    return {"recall": (labels - len(misses)) / labels if labels else None,
            "fa": 1e4 * false / steps, "delay": statistics.median(delays) if delays else None,
            "labels": labels, "steps": steps, "misses": misses}


def cause(trace: dict, i: int, p: float) -> str:
    if trace["spikes"][i] < EARLY:
        return "early"
    if math.log(trace["spike_sizes"][i]) < T.oracle_bar(trace["noise"], p):
        return "below noise"
    return "other"


def fmt(x, spec=".3f") -> str:
    return "-" if x is None else format(x, spec)


def detection_part(seeds: list[int]) -> dict:
    traces = [t for s in seeds for t in T.generate(seed=s)]
    quiet = [t for t in traces if t["category"] in T.QUIET]
    print(f"Part 1: SYNTHETIC traces of utils.recovery.traces, seeds {seeds}: {len(traces)} traces, "
          f"{sum(len(t['loss']) for t in traces)} steps, {sum(len(t['spikes']) for t in traces)} "
          f"spikes ({sum(len(t['loss']) for t in quiet)} steps in quiet runs)\n")
    print("BudgetDetector(1.0): 1 false alarm per 10,000 steps asked")
    print(f"{'category':<22}{'spikes':>7}{'steps':>9}{'recall':>8}{'FA/10k':>8}{'delay':>7}")
    for category in T.CATEGORIES:
        row = score(BudgetDetector(1.0), [t for t in traces if t["category"] == category])
        print(f"{category:<22}{row['labels']:>7}{row['steps']:>9}{fmt(row['recall']):>8}"
              f"{row['fa']:>8.2f}{fmt(row['delay'], 'g'):>7}")
    rows = {b: score(BudgetDetector(b), traces) for b in BUDGETS}
    quiet_fa = {b: score(BudgetDetector(b), quiet)["fa"] for b in BUDGETS}
    main = rows[1.0]
    print(f"{'all':<22}{main['labels']:>7}{main['steps']:>9}{fmt(main['recall']):>8}"
          f"{main['fa']:>8.2f}{fmt(main['delay'], 'g'):>7}")
    causes = [cause(t, i, 1e-4) for t, i in main["misses"]]
    print("missed spikes by cause: " + ", ".join(f"{c} {causes.count(c)}" for c in
                                                 ("early", "below noise", "other")))

    print("\nbudget sweep (false alarms per 10,000 steps)")
    print(f"{'budget':>8}{'recall':>8}{'FA/10k all':>12}{'FA/10k quiet':>14}{'quiet/budget':>14}")
    for b in BUDGETS:
        print(f"{b:>8g}{fmt(rows[b]['recall']):>8}{rows[b]['fa']:>12.2f}{quiet_fa[b]:>14.2f}"
              f"{quiet_fa[b] / b:>14.2f}")

    first = [t for t in traces if t["seed"] // 1000 == seeds[0]]
    print(f"\nthe tail fits at budget 1, seed {seeds[0]} only")
    print(f"{'tail':<12}{'recall':>8}{'FA/10k':>8}{'delay':>7}")
    for method in METHODS:
        row = score(BudgetDetector(1.0, tail=method), first)
        print(f"{method:<12}{fmt(row['recall']):>8}{row['fa']:>8.2f}{fmt(row['delay'], 'g'):>7}")

    spiky = [t for t in first if t["spikes"]]
    print(f"\nfixed-threshold detectors, seed {seeds[0]} (Lightning: the {len(spiky)} traces "
          "with spikes only)")
    print(f"{'detector':<28}{'recall':>8}{'FA/10k':>8}{'delay':>7}")
    others = {name: (d, first) for name, d in all_detectors().items() if name != "threshold"}
    others["lightning-spike-detection"] = (LightningSpikeAdapter(), spiky)
    others["budget (1 per 10k)"] = (BudgetDetector(1.0), first)
    for name, (detector, subset) in others.items():
        row = score(detector, subset)
        print(f"{name:<28}{fmt(row['recall']):>8}{row['fa']:>8.2f}{fmt(row['delay'], 'g'):>7}")
    return {"rows": rows, "quiet_fa": quiet_fa, "causes": causes}


# ------------------------------------------------------------------------- cost
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
    """Lightning's SpikeDetection.on_train_batch_end (its defaults: window=10, warmup=1, rtol=2.0,
    mode="min"), driven with the adapter's one-process stand-in for the trainer."""
    adapter = LightningSpikeAdapter()
    callback, trainer = adapter.callback, adapter.trainer
    losses = [torch.tensor(v, dtype=torch.float32) for v in values]
    start = time.perf_counter_ns()
    for batch_idx, loss in enumerate(losses):
        callback.on_train_batch_end(trainer, None, loss, None, batch_idx)
    return (time.perf_counter_ns() - start) / len(losses)


def cost_part(n: int, lightning_n: int, repeat: int) -> dict:
    values = noisy_loss(n)

    def best(make):
        return min(ns_per_update(make().update, values) for _ in range(repeat))

    reference = lightning_ns_per_update(values[:lightning_n])
    rows = {name: best(lambda name=name: all_detectors()[name]) for name in all_detectors()}
    rows["grad-norm (cusum h=10)"] = best(make_grad_norm_detector)
    rows["heldout-probe (ema)"] = best(HeldoutProbeDetector)
    for method in METHODS:
        rows[f"budget ({method})"] = best(lambda method=method: BudgetDetector(1.0, tail=method))
    rows["lightning adapter (evaluate)"] = ns_per_update(LightningSpikeAdapter().update,
                                                        values[:lightning_n])
    print(f"\nPart 2: cost. Ours: best of {repeat} x {n} updates; Lightning: {lightning_n} "
          f"updates; CPU, torch {torch.__version__}")
    print(f"{'detector':<30}{'ns/update':>12}{'x Lightning':>14}")
    print(f"{'lightning on_train_batch_end':<30}{reference:>12.0f}{1.0:>14.4f}")
    for name, ns in rows.items():
        print(f"{name:<30}{ns:>12.0f}{ns / reference:>14.4f}")
    return {"lightning": reference, "budget": rows["budget (gpd)"]}


# ------------------------------------------------------------------------- targets
def targets(detection: dict, cost: dict) -> None:
    rows, quiet_fa = detection["rows"], detection["quiet_fa"]
    main = rows[1.0]
    within = [b for b in BUDGETS if rows[b]["fa"] <= 1.0]
    best = max(within, key=lambda b: rows[b]["recall"], default=None)
    speedup = cost["lightning"] / cost["budget"]
    ratios = {b: quiet_fa[b] / b for b in BUDGETS}

    def line(ok: bool, text: str) -> None:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")

    print("\nPart 3: targets")
    line(main["recall"] >= 0.9 and main["fa"] <= 1.0,
         f"recall >= 0.9 at <= 1 false alarm per 10k, asking for 1: recall {main['recall']:.3f} "
         f"at {main['fa']:.2f} per 10k")
    if best is not None:
        line(rows[best]["recall"] >= 0.9,
             f"... best budget of the sweep whose realised rate is <= 1 per 10k: budget {best:g}, "
             f"recall {rows[best]['recall']:.3f} at {rows[best]['fa']:.2f} per 10k")
    line(main["delay"] is not None and main["delay"] <= 1,
         f"median delay <= 1 step: {fmt(main['delay'], 'g')}")
    line(speedup >= 20, f"update cost >= 20x cheaper than Lightning's SpikeDetection: "
                        f"{speedup:.0f}x ({cost['budget']:.0f} ns vs {cost['lightning']:.0f} ns)")
    line(all(0.5 <= r <= 2.0 for r in ratios.values()),
         "realised false-alarm rate on quiet runs within 2x of the budget: " +
         ", ".join(f"{b:g} -> {quiet_fa[b]:.2f} ({ratios[b]:.2f}x)" for b in BUDGETS))
    causes = detection["causes"]
    print(f"  missed at budget 1: {len(causes)} spikes: {causes.count('early')} in the first "
          f"{EARLY} steps (the bar is still cautious: few residuals, a heavy tail assumed), "
          f"{causes.count('below noise')} below the noise's own 1-in-10,000 level (no detector can "
          f"tell them at this budget), {causes.count('other')} other (above that level, but under "
          "the bar the detector estimated)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="100,101,102,103,104", help="generator seeds")
    parser.add_argument("--n", type=int, default=100_000, help="updates per run of ours")
    parser.add_argument("--lightning-n", type=int, default=20_000, help="updates for Lightning")
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours; the best counts")
    args = parser.parse_args()
    torch.set_num_threads(1)
    detection = detection_part([int(s) for s in args.seeds.split(",")])
    cost = cost_part(args.n, args.lightning_n, args.repeat)
    targets(detection, cost)


if __name__ == "__main__":
    main()
