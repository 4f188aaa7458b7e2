"""Reproduce any run of the course headless and print the post-mortem's §1 symptoms.

    python -m utils.spike --variant broken --json          # the canonical run, seed 42
    python -m utils.spike --variant clip-0.5 --seed 43
    python -m utils.spike --list

Each call trains the variant for real (a few seconds on a laptop CPU), saves its run log to
``runs/<run-id>.json`` under the current folder (unless --no-save; so a read-only install, e.g. a
JupyterHub's, is never written to) and prints the symptoms; see utils.spikelab.symptoms for how each
number is defined. A run log that cannot be saved is reported, and the symptoms are printed anyway.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from utils.spikelab import symptoms
from utils.spikelab.config import VARIANTS, config_for
from utils.spikelab.train import TrainingRun

RUNS_DIR = Path("runs")     # relative to the current folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m utils.spike", description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="broken", help="one of: " + ", ".join(VARIANTS))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--steps", type=int, default=None, help="train this many steps (default: the config's)")
    ap.add_argument("--json", action="store_true", help="print the symptoms as JSON")
    ap.add_argument("--save", type=Path, default=None, help="where to save the run log")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--progress", action="store_true", help="show a progress bar")
    ap.add_argument("--list", action="store_true", help="list the variants and exit")
    args = ap.parse_args(argv)
    if args.list:
        for name, fields in VARIANTS.items():
            print(f"{name:24s} {fields}")
        return 0
    try:
        cfg = config_for(args.variant, seed=args.seed)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    run = TrainingRun(cfg)
    log = run.train(steps=args.steps, progress=args.progress)
    status = 0
    if not args.no_save:
        target = args.save or RUNS_DIR / f"{cfg.run_id}.json"
        try:
            print(f"run log saved to {log.save(target)}", file=sys.stderr)
        except OSError as err:
            print(f"error: the run log could not be saved to {target} ({err.strerror or err}); "
                  "choose another place with --save PATH, or --no-save", file=sys.stderr)
            status = 1
    result = symptoms.rounded(symptoms.compute(log))
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        for k, v in result.items():
            print(f"{k:24s} {v}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
