"""The dashboard's figure: the chosen panels in a two-column grid, with the cursor and the run's
events drawn on every time panel, as a Figure that shows itself in a notebook."""
from __future__ import annotations

import base64
import io
import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory
from PIL import Image

from utils.diagnosis.dashboard.panels import PANELS, TIME_DRAWERS, TIME_PANELS, draw_tokens, panel_title
from utils.diagnosis.dashboard.summary import largest_spike
from utils.spikelab.runlog import RunLog
from utils.text import say

FIGSIZE_PER_ROW = 1.6                 # inches of height per row of two panels
DPI = 70
CURSOR_COLOR = "black"
EVENT_COLOR = "tab:purple"


def clamp_window(log: RunLog, window: tuple[int, int] | None) -> tuple[int, int]:
    """(first, last) step shown, clamped to the run."""
    last = max(len(log) - 1, 0)
    if window is None:
        return 0, last
    lo, hi = int(window[0]), int(window[1])
    if lo > hi:
        lo, hi = hi, lo
    return max(0, lo), min(last, hi)


class DashboardFigure(Figure):
    """A matplotlib Figure that shows itself as a PNG in a notebook even when pyplot (and
    so the inline backend) was never imported; with the inline backend it is drawn as usual."""

    def _repr_png_(self) -> bytes:
        return base64.b64decode(figure_png(self))


def draw(log: RunLog, panels: list[int] | None = None, step: int | None = None,
         window: tuple[int, int] | None = None, figsize=None) -> Figure:
    """Draw the selected panels (default all eight, in order) in a two-column grid.

    ``step`` puts a cursor line on every time panel and chooses the step of panel 7
    (default: ``largest_spike(log)``); ``window`` = (first, last) step shown (default the
    whole run). The figure is not registered with pyplot: a notebook shows it when it is a
    cell's last value (or with ``display(fig)``). ``fig.panel_axes`` maps panel number →
    its Axes (one per panel; panel 1 draws the held-out loss on the same axes as the loss).
    """
    panels = list(PANELS) if panels is None else [int(p) for p in panels]
    unknown = [p for p in panels if p not in PANELS]
    if unknown or not panels:
        raise ValueError(say(f"panels must be chosen from {sorted(PANELS)} (got {panels})",
                             f"los paneles se eligen entre {sorted(PANELS)} (se dio {panels})"))
    if len(log) == 0:
        raise ValueError(say("the run log has no steps", "el registro de la ejecución no tiene pasos"))
    lo, hi = clamp_window(log, window)
    cursor = step
    hist_step = largest_spike(log) if step is None else min(max(int(step), 0), len(log) - 1)
    ncols = 1 if len(panels) == 1 else 2
    nrows = math.ceil(len(panels) / ncols)
    if figsize is None:
        figsize = (10 if ncols == 2 else 6, FIGSIZE_PER_ROW * nrows + 0.5)
    fig = DashboardFigure(figsize=figsize, dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(nrows, ncols)
    x = np.arange(lo, hi + 1)
    first_time = next((p for p in panels if p in TIME_PANELS), None)
    fig.panel_axes = {}
    for i, number in enumerate(panels):
        ax = fig.add_subplot(grid[i // ncols, i % ncols])
        fig.panel_axes[number] = ax
        ax.set_title(panel_title(number), fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
        ax.yaxis.label.set_size(7)
        if number == 7:
            draw_tokens(ax, log, hist_step)
            continue
        TIME_DRAWERS[number](ax, log, x, lo, hi)
        for ev in log.events:
            s = ev.get("step")
            if s is not None and lo <= s <= hi:
                ax.axvline(s, color=EVENT_COLOR, ls="--", lw=0.9, alpha=0.8)
                if number == first_time:
                    ax.text(s, 0.02, f" {ev.get('kind', '?')}", transform=blended_transform_factory(
                        ax.transData, ax.transAxes), color=EVENT_COLOR, fontsize=6, rotation=90, va="bottom")
        if cursor is not None and lo <= cursor <= hi:
            ax.axvline(cursor, color=CURSOR_COLOR, lw=0.8, alpha=0.6)
        ax.set_xlim(lo - 0.5, hi + 0.5)
        if i + ncols >= len(panels):          # the bottom panel of its column
            ax.set_xlabel(say("step", "paso"), fontsize=7)
    title = say(f"{log.meta.get('run_id', 'run')}: steps {lo}–{hi}", f"{log.meta.get('run_id', 'run')}: pasos {lo}–{hi}")
    if cursor is not None:
        title += say(f", cursor at step {cursor}", f", cursor en el paso {cursor}")
    fig.suptitle(title, fontsize=9)
    return fig


def figure_png(fig: Figure, colors: int = 128) -> str:
    """The figure as a base64 PNG string (the form a notebook output stores).

    The image is reduced to a ``colors``-colour palette: about a third of the bytes of a
    full-colour PNG, so that notebooks which keep their outputs stay light."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)   # constrained layout already fits the figure
    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")
