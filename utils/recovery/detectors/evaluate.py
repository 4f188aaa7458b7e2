"""Scoring detectors on labelled traces: recall, false alarms per 10,000 steps, median delay.

    fires(values, detector)                  # the steps at which a detector fires
    evaluate(traces)                         # {name: {recall, false_alarms_per_10k, median_delay}}
    counts(traces, detector)                 # the tallies behind one row (labels, detected, ...)

A trace is ``{"loss": [...], "spikes": [step, ...]}`` (steps are list indices), optionally with
``"grad_norm": [...]`` (``utils.recovery.traces`` writes and reads them). A spike at step s counts
as detected if the detector fires at any step in s - before .. s + tolerance (``before`` is 0 for
the loss); fires outside every such window are false alarms. Several fires inside one window (a
spike lasting several steps) are not false alarms. Every detector starts fresh on every trace (a
deep copy of the one given).

Command line (``python -m utils.detectors``)::

    python -m utils.detectors synthetic --n 20 --length 3000 --seed 0 > traces.json
    python -m utils.detectors evaluate traces.json [--json] [--tolerance 10]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
from typing import Any

from utils.recovery.detectors.base import Detector
from utils.recovery.detectors.budget import BudgetDetector
from utils.recovery.detectors.defaults import all_detectors, make_grad_norm_detector
from utils.recovery.detectors.lightning_spike import LightningSpikeAdapter
from utils.recovery.traces import TraceFileError, load_traces, synthetic_traces
from utils.text import say

TOLERANCE = 10          # a fire at s .. s + TOLERANCE detects the label at s


def fires(values: list[float], detector: Detector, steps: list[int] | None = None) -> list[int]:
    """Steps at which ``detector`` fires on ``values`` (``steps`` defaults to 0, 1, 2, ...)."""
    steps = list(range(len(values))) if steps is None else steps
    if isinstance(detector, LightningSpikeAdapter):
        return detector.fires_on(values, steps)        # remembered: Lightning's callback is slow
    return [s for s, v in zip(steps, values) if detector.update(v, s) is not None]


def _match(fired: list[int], spikes: list[int], before: int, after: int) -> tuple[int, list[int], int]:
    """(detected spikes, their delays, false alarms) with the window s - before .. s + after."""
    delays = []
    for s in spikes:
        hits = [f - s for f in fired if s - before <= f <= s + after]
        if hits:
            delays.append(min(hits))
    false_alarms = sum(1 for f in fired if not any(s - before <= f <= s + after for s in spikes))
    return len(delays), delays, false_alarms


def tally(traces: list[dict], detector: Detector, series: str = "loss", before: int = 0,
          tolerance: int = TOLERANCE) -> dict[str, Any]:
    """One detector fed ``series`` of every trace that has it: labels, detected labels, their
    delays, false alarms and steps (the raw counts ``evaluate`` and ``counts`` report)."""
    out: dict[str, Any] = {"labels": 0, "detected": 0, "delays": [], "false_alarms": 0, "steps": 0}
    for trace in traces:
        if series not in trace:
            continue
        fired = fires(trace[series], copy.deepcopy(detector))
        detected, delays, false_alarms = _match(fired, list(trace["spikes"]), before, tolerance)
        out["labels"] += len(trace["spikes"])
        out["detected"] += detected
        out["delays"] += delays
        out["false_alarms"] += false_alarms
        out["steps"] += len(trace[series])
    return out


def _row(t: dict[str, Any]) -> dict[str, Any]:
    return {
        "recall": round(t["detected"] / t["labels"], 4) if t["labels"] else None,
        "false_alarms_per_10k": round(1e4 * t["false_alarms"] / t["steps"], 3) if t["steps"] else None,
        "median_delay": float(statistics.median(t["delays"])) if t["delays"] else None,
    }


def evaluate(traces: list[dict], detectors: dict[str, Detector] | None = None,
             tolerance: int = TOLERANCE) -> dict[str, dict]:
    """Score detectors on labelled traces; returns {name: {recall, false_alarms_per_10k,
    median_delay}} with names sorted. ``median_delay`` is the median of (first fire in the window
    - s) over detected spikes (None if none).

    With ``detectors=None``: ``all_detectors()`` plus ``BudgetDetector()`` ("budget", a budget of
    1 false alarm per 10,000 steps) and Lightning's SpikeDetection
    ("lightning-spike-detection", its defaults) on the loss, and, if traces have "grad_norm",
    ``make_grad_norm_detector()`` on the gradient norm ("grad-norm"). The grad-norm window is
    s - tolerance .. s + tolerance, because a gradient-norm spike is expected to come first; its
    delay is negative when it leads the labelled loss spike.
    """
    loss_detectors = detectors
    grad_detectors: dict[str, Detector] = {}
    if detectors is None:
        loss_detectors = {**all_detectors(), "budget": BudgetDetector(),
                          "lightning-spike-detection": LightningSpikeAdapter()}
        if any("grad_norm" in trace for trace in traces):
            grad_detectors = {"grad-norm": make_grad_norm_detector()}
    jobs = [(name, det, "loss", 0) for name, det in loss_detectors.items()]
    jobs += [(name, det, "grad_norm", tolerance) for name, det in grad_detectors.items()]
    results = {name: _row(tally(traces, det, series, before, tolerance))
               for name, det, series, before in jobs}
    return dict(sorted(results.items()))


def counts(traces: list[dict], detector: Detector, series: str = "loss",
           tolerance: int = TOLERANCE) -> dict[str, Any]:
    """Labels, detected labels, false alarms and steps of one detector fed ``series`` ("loss" or
    "grad_norm", each window s .. s + tolerance), with its recall, precision (detected / all
    fires that count) and false alarms per 10,000 steps."""
    t = tally(traces, detector, series, 0, tolerance)
    row = _row(t)
    detected, false = t["detected"], t["false_alarms"]
    precision = detected / (detected + false) if detected + false else None
    return {"labels": t["labels"], "detected": detected, "false_alarms": false, "steps": t["steps"],
            "recall": row["recall"], "precision": precision,
            "false_alarms_per_10k": row["false_alarms_per_10k"]}


def format_table(results: dict[str, dict]) -> str:
    """The results of ``evaluate`` as an aligned text table, its headings in the learner's language
    (a column is as wide as the English one, or its heading and two spaces if that is wider)."""
    heads = ["recall", say("false alarms/10k", "falsas alarmas/10k"), say("median delay", "retraso mediano")]
    widths = [max(len(head) + 2, width) for head, width in zip(heads, (8, 18, 14))]
    lines = [f"{'detector':<28}" + "".join(f"{head:>{w}}" for head, w in zip(heads, widths))]
    for name, row in sorted(results.items()):
        cells = ["-" if row[key] is None else f"{row[key]:g}"
                 for key in ("recall", "false_alarms_per_10k", "median_delay")]
        lines.append(f"{name:<28}" + "".join(f"{cell:>{w}}" for cell, w in zip(cells, widths)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``evaluate TRACES.json [--json] [--tolerance N]`` and ``synthetic``."""
    parser = argparse.ArgumentParser(
        prog="python -m utils.detectors",
        description="Score the course's loss-spike detectors on labelled traces.")
    commands = parser.add_subparsers(dest="command", required=True)
    ev = commands.add_parser("evaluate", help="score detectors on a JSON list of traces")
    ev.add_argument("traces", help='JSON file: a list of {"loss": [...], "spikes": [...]} '
                                   '(optional "grad_norm": [...])')
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ev.add_argument("--tolerance", type=int, default=TOLERANCE,
                    help="a fire at s .. s+tolerance detects the spike at s (default 10)")
    syn = commands.add_parser("synthetic", help="print SYNTHETIC labelled traces as JSON")
    syn.add_argument("--n", type=int, default=20)
    syn.add_argument("--length", type=int, default=3000)
    syn.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.command == "synthetic":
        json.dump(synthetic_traces(args.n, args.length, args.seed), sys.stdout)
        print()
        return 0
    try:
        traces = load_traces(args.traces)
        results = evaluate(traces, tolerance=args.tolerance)
    except (TraceFileError, ValueError) as error:     # ValueError: e.g. a negative loss
        command = "python -m utils.detectors evaluate"  # i18n: not shown (a command's name; the error is said)
        print(f"{command}: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results, sort_keys=True, indent=2))
    else:
        print(format_table(results))
    return 0
