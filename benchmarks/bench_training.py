"""Benchmark: a bare training step vs the instrumented step, and the 2000-step canonical run.

    python benchmarks/bench_training.py [--steps 2000] [--blocks 6]

Prints ms/step for both (measured in interleaved blocks on the same batches, median of
blocks), their ratio (target ≤ 1.15), the held-out evaluation's amortised cost, and the wall
time of the canonical `broken` configuration run to 2000 steps (target ≤ 20 s on 2 cores).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from utils.spikelab.config import config_for
from utils.spikelab.model import GPTConfig, MiniGPT
from utils.spikelab.train import TrainingRun, adamw_for, rows_to_tensors


def bare_stepper(run: TrainingRun):
    """The same model and optimizer settings with none of the instruments: the baseline."""
    cfg = run.cfg
    torch.manual_seed(cfg.seed)
    model = MiniGPT(GPTConfig(vocab_size=len(run.tok.vocab)))
    opt = adamw_for(model, cfg)
    params = list(model.parameters())

    def step(s: int) -> None:
        x, y = rows_to_tensors([run.examples[i].ids for i in run.batches[s]])
        for g in opt.param_groups:
            g["lr"] = run.lr(s)
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        opt.step()
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--block-steps", type=int, default=50)
    args = ap.parse_args()
    cfg = config_for("broken", steps=args.steps)
    run = TrainingRun(cfg)
    bare = bare_stepper(run)
    n = args.block_steps
    bare_ms, inst_ms = [], []
    for b in range(args.blocks):
        start = b * n
        t = time.perf_counter()
        for s in range(start, start + n):
            bare(s)
        bare_ms.append((time.perf_counter() - t) / n * 1e3)
        t = time.perf_counter()
        for s in range(start, start + n):
            run.step_index = s
            run.step(instrument=True)
            if s % cfg.heldout_every == 0:   # (the step ran a held-out evaluation: keep the log tidy)
                run.log.heldout["step"].pop(); run.log.heldout["loss"].pop()
        inst_ms.append((time.perf_counter() - t) / n * 1e3)
    # the held-out evaluation is timed on its own and reported amortised
    t = time.perf_counter()
    for _ in range(10):
        run.heldout_loss()
    heldout_ms = (time.perf_counter() - t) / 10 * 1e3
    b, i = statistics.median(bare_ms), statistics.median(inst_ms)
    # (the step timing above includes one held-out evaluation every `heldout_every` steps;
    # subtract it to isolate the per-step instruments)
    i_steps = i - heldout_ms / cfg.heldout_every
    print(f"threads: {cfg.num_threads}, torch {torch.__version__}")
    print(f"bare step:          {b:7.2f} ms")
    print(f"instrumented step:  {i_steps:7.2f} ms   ratio {i_steps / b:.3f}  (target <= 1.15)")
    print(f"held-out eval:      {heldout_ms:7.2f} ms every {cfg.heldout_every} steps = "
          f"{heldout_ms / cfg.heldout_every:.2f} ms/step amortised (ratio with it {i / b:.3f})")
    t = time.perf_counter()
    TrainingRun(cfg).train()
    wall = time.perf_counter() - t
    print(f"canonical run, {args.steps} steps, instrumented + held-out: {wall:.1f} s  (target <= 20 s)")
    print(f"  of which the bare training steps alone: {b * args.steps / 1e3:.1f} s, the held-out evaluations "
          f"{heldout_ms / cfg.heldout_every * args.steps / 1e3:.1f} s; the target allows "
          f"{20e3 / args.steps:.1f} ms per step for everything")


if __name__ == "__main__":
    main()
