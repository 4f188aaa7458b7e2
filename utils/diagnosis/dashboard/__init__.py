"""The stability dashboard: every spike read through the same eight numbered panels.

    fig = draw(log)                                  # all eight panels, whole run
    fig = draw(log, step=312, window=(280, 420))     # zoomed, cursor at the spike
    fig = draw(log, panels=[1, 3, 6])                # only some panels
    step_summary(log, 312)                           # the numbers of one step, rounded
    Dashboard(log).widget                            # slider + buttons (in a notebook)

Everything is drawn from a run log (``utils.spikelab.runlog.RunLog``), never from typed numbers.
A column may hold ``None`` (a step that was not instrumented) or NaN/inf (a run that
diverged): both are drawn as gaps, and non-finite losses and gradient norms are marked
with a red ``x`` at the top of their panel. ``log.events`` (rollbacks, skipped steps, ...)
are drawn as dashed vertical lines on every time panel.

The panels (the post-mortem cites them by number):

1. Loss and 50-step EMA, with the held-out loss on the same axes
2. Learning rate
3. Gradient norm before clipping (log scale), the clip threshold, the rare rows' gradient norm
4. Activations: mean |activation| per layer, the embedding output highlighted
5. Adam moments: norms of m and v, overall and for the rare pieces' embedding rows
6. Batch composition: rare-piece count and shard sentences per batch, repeated batches
7. Per-token loss histogram at the selected step (not a time panel)
8. Parameter hash / non-finite count: non-finite parameters per step, unchanged hashes

Where each part lives (everything is importable from here):

- ``summary``: what is read from the log (``series``, ``shard_counts``, ``repeated_batches``,
  ``unchanged_param_steps``), the step to look at first (``largest_spike``) and one step's
  numbers (``step_summary``, ``format_summary``);
- ``panels``: the eight panels (``PANELS``, ``panel_title``) and how each is drawn;
- ``figure``: ``draw`` (the panels in a grid) and ``DashboardFigure``;
- ``widget``: ``Dashboard``, the figure with a slider and buttons.
"""
from __future__ import annotations

from utils.diagnosis.dashboard.figure import DashboardFigure, clamp_window, draw, figure_png
from utils.diagnosis.dashboard.panels import PANELS, TIME_PANELS, panel_title
from utils.diagnosis.dashboard.summary import (format_summary, largest_spike, repeated_batches, series,
                                               shard_counts, step_summary, unchanged_param_steps)
from utils.diagnosis.dashboard.widget import Dashboard

__all__ = ["PANELS", "TIME_PANELS", "Dashboard", "DashboardFigure", "clamp_window", "draw", "figure_png",
           "format_summary", "largest_spike", "panel_title", "repeated_batches", "series", "shard_counts",
           "step_summary", "unchanged_param_steps"]
