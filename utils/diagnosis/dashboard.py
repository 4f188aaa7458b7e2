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
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from utils.spikelab.runlog import RunLog

from utils.spikelab.metrics import ema

PANELS: dict[int, str] = {
    1: "Loss and 50-step EMA",
    2: "Learning rate",
    3: "Gradient norm before clipping",
    4: "Activations",
    5: "Adam moments",
    6: "Batch composition",
    7: "Per-token loss histogram",
    8: "Parameter hash / non-finite count",
}
TIME_PANELS = (1, 2, 3, 4, 5, 6, 8)   # panels whose x axis is the step
EMA_SPAN = 50
FIGSIZE_PER_ROW = 1.6                 # inches of height per row of two panels
DPI = 70
CURSOR_COLOR = "black"
EVENT_COLOR = "tab:purple"
BAD_COLOR = "tab:red"


def panel_title(number: int) -> str:
    """The title drawn above a panel, e.g. ``"1 · Loss and 50-step EMA"``."""
    return f"{number} · {PANELS[number]}"


# ---------------------------------------------------------------------------- reading the log

def _num(v) -> float:
    """A log value as a float: None (not instrumented) becomes NaN."""
    return float("nan") if v is None else float(v)


def series(log: RunLog, name: str) -> np.ndarray:
    """One per-step column as a float array (None → NaN; NaN and inf are kept)."""
    return np.array([_num(v) for v in log.steps[name]], dtype=float)


def _finite(a: np.ndarray) -> np.ndarray:
    """A copy with inf turned into NaN, so matplotlib draws a gap instead of a wall."""
    a = a.astype(float).copy()
    a[~np.isfinite(a)] = np.nan
    return a


def loss_ema(log: RunLog, span: int = EMA_SPAN) -> np.ndarray:
    """The loss EMA (``utils.spikelab.metrics.ema``; missing losses are skipped like non-finite ones)."""
    return np.array(ema([_num(v) for v in log.steps["loss"]], span), dtype=float)


def shard_counts(log: RunLog) -> list[int | None]:
    """Per step, how many of the batch's examples are shard sentences (meta["rare_example_ids"])."""
    shard = set(log.meta.get("rare_example_ids") or [])
    return [None if ids is None else sum(1 for i in ids if i in shard) for ids in log.steps["batch_ids"]]


def repeated_batches(log: RunLog) -> list[int]:
    """Steps whose batch hash was already seen at an earlier step (the same batch again)."""
    seen: set[str] = set()
    out = []
    for s, h in enumerate(log.steps["batch_hash"]):
        if h is None:
            continue
        if h in seen:
            out.append(s)
        seen.add(h)
    return out


def unchanged_param_steps(log: RunLog) -> list[int]:
    """Steps after which the parameter hash equals the previous step's (e.g. a skipped step)."""
    h = log.steps["param_hash"]
    return [s for s in range(1, len(h)) if h[s] is not None and h[s] == h[s - 1]]


def first_nonfinite_step(log: RunLog) -> int | None:
    """First step with a non-finite parameter count > 0 or a non-finite loss, or None."""
    for s, (n, loss) in enumerate(zip(log.steps["nonfinite_params"], log.steps["loss"])):
        if (n is not None and n > 0) or (loss is not None and not math.isfinite(loss)):
            return s
    return None


def _piece(log: RunLog, token_id: int) -> str:
    pieces = log.meta.get("pieces") or []
    return pieces[token_id] if 0 <= token_id < len(pieces) else f"#{token_id}"


def _token_ids_of(log: RunLog, names) -> set[int]:
    pieces = log.meta.get("pieces") or []
    return {i for i, p in enumerate(pieces) if p in set(names)}


def _round(v, digits: int = 4):
    """Round a float to ``digits`` significant digits (non-finite floats and others unchanged)."""
    if isinstance(v, float) and math.isfinite(v):
        return float(f"{v:.{digits}g}")
    return v


# ---------------------------------------------------------------------------- the spike

def largest_spike(log: RunLog) -> int:
    """The step to look at first: ``utils.spikelab.symptoms.find_spike``; when it finds none (or the
    log lacks what it needs), the step with the largest loss / EMA(previous step) ratio."""
    if len(log) == 0:
        raise ValueError("the run log has no steps")
    from utils.spikelab.symptoms import find_spike
    warmup = (log.meta.get("config") or {}).get("warmup", 0)
    try:
        found = find_spike(log, warmup=warmup)
    except (TypeError, KeyError, IndexError):
        found = None
    if found is not None:
        return int(found)
    loss, e = series(log, "loss"), loss_ema(log)
    start = max(1, warmup) if len(loss) > max(1, warmup) else 1
    best, best_step = -math.inf, 0
    for s in range(start, len(loss)):
        if math.isfinite(loss[s]) and math.isfinite(e[s - 1]) and e[s - 1] > 0 and loss[s] / e[s - 1] > best:
            best, best_step = loss[s] / e[s - 1], s
    return best_step


# ---------------------------------------------------------------------------- step summary

def step_summary(log: RunLog, step: int) -> dict:
    """The dashboard's numbers at one step, rounded to 4 significant digits.

    ``ema`` is the 50-step EMA through the step before (what the step's loss is compared
    with) and ``loss_to_ema`` = loss / ema, the same ratio ``utils.spikelab.symptoms`` uses.
    ``rare_rows_share`` is the share of the squared pre-clip gradient norm that sits in the
    rare pieces' embedding rows, (grad_norm_rare_rows / grad_norm_preclip)²: squared norms
    add up over disjoint parameters, norms do not. ``top_token_losses`` holds the three
    largest per-token losses as (piece, loss). ``heldout_loss`` is the latest held-out
    evaluation at or before the step (at ``heldout_step``). Missing values are None.
    """
    n = len(log)
    if not 0 <= step < n:
        raise IndexError(f"step {step} is outside the run (0 … {n - 1})")
    col = log.steps
    loss = col["loss"][step]
    e = loss_ema(log)
    ema_before = float(e[step - 1]) if step > 0 else None
    ratio = None
    if loss is not None and ema_before is not None and math.isfinite(ema_before) and ema_before != 0:
        ratio = loss / ema_before
    pre, rare = col["grad_norm_preclip"][step], col["grad_norm_rare_rows"][step]
    share = None
    if pre is not None and rare is not None and math.isfinite(pre) and math.isfinite(rare) and pre > 0:
        share = (rare / pre) ** 2
    ids, losses = col["token_ids"][step], col["token_losses"][step]
    top = None
    if ids is not None and losses is not None:
        ranked = sorted(zip(losses, ids), key=lambda lt: (-lt[0] if math.isfinite(lt[0]) else -math.inf, lt[1]))
        top = [(_piece(log, t), _round(float(l))) for l, t in ranked[:3]]
    h = log.steps["batch_hash"][step]
    held = [(s, v) for s, v in zip(log.heldout.get("step", []), log.heldout.get("loss", [])) if s <= step]
    phash = col["param_hash"][step]
    summary = {
        "step": step,
        "loss": loss, "ema": ema_before, "loss_to_ema": ratio,
        "heldout_loss": held[-1][1] if held else None,
        "heldout_step": held[-1][0] if held else None,
        "lr": col["lr"][step],
        "grad_norm_preclip": pre, "grad_norm_postclip": col["grad_norm_postclip"][step],
        "grad_norm_rare_rows": rare, "rare_rows_share": share,
        "adam_m_norm": col["adam_m_norm"][step], "adam_v_norm": col["adam_v_norm"][step],
        "adam_m_rare": col["adam_m_rare"][step], "adam_v_rare": col["adam_v_rare"][step],
        "batch_hash": h,
        "batch_repeated": None if h is None else h in set(log.steps["batch_hash"][:step]),
        "rare_count": col["rare_count"][step],
        "shard_sentences": shard_counts(log)[step],
        "top_token_losses": top,
        "param_hash": phash,
        "param_hash_changed": (None if phash is None or step == 0 or col["param_hash"][step - 1] is None
                               else phash != col["param_hash"][step - 1]),
        "nonfinite_params": col["nonfinite_params"][step],
        "events": sorted(ev.get("kind", "?") for ev in log.events if ev.get("step") == step),
    }
    return {k: _round(v) for k, v in summary.items()}


def format_summary(summary: dict) -> str:
    """``step_summary`` as aligned ``key  value`` lines (what the Dashboard widget prints)."""
    width = max(len(k) for k in summary)
    lines = []
    for k, v in summary.items():
        if k == "top_token_losses" and v:
            v = ", ".join(f"{p!r} {l:g}" for p, l in v)
        lines.append(f"{k:<{width}}  {v}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- drawing

def _window(log: RunLog, window: tuple[int, int] | None) -> tuple[int, int]:
    """(first, last) step shown, clamped to the run."""
    last = max(len(log) - 1, 0)
    if window is None:
        return 0, last
    lo, hi = int(window[0]), int(window[1])
    if lo > hi:
        lo, hi = hi, lo
    return max(0, lo), min(last, hi)


def _mark_top(ax, steps, label: str | None = None, marker: str = "x", color: str = BAD_COLOR) -> None:
    """Markers near the top edge of ``ax`` at the given steps (x in data, y in axes units)."""
    if len(steps) == 0:
        return
    t = blended_transform_factory(ax.transData, ax.transAxes)
    ax.plot(list(steps), [0.93] * len(steps), linestyle="none", marker=marker, color=color,
            markersize=5, transform=t, label=label, clip_on=True)


def _nonfinite_steps(a: np.ndarray, lo: int, hi: int, raw: list) -> list[int]:
    """Steps in [lo, hi] whose logged value is NaN or inf (None is 'not instrumented', not bad)."""
    return [s for s in range(lo, hi + 1) if raw[s] is not None and not math.isfinite(a[s])]


def _panel_loss(ax, log, x, lo, hi):
    loss = series(log, "loss")
    e = loss_ema(log)
    ax.plot(x, _finite(loss[lo:hi + 1]), color="tab:blue", lw=0.7, alpha=0.6, label="loss")
    ax.plot(x, _finite(e[lo:hi + 1]), color="tab:blue", lw=1.6, label=f"EMA {EMA_SPAN}")
    held = [(s, v) for s, v in zip(log.heldout.get("step", []), log.heldout.get("loss", [])) if lo <= s <= hi]
    if held:   # same axes, same units: the held-out rise is the data-order damage
        hs, hv = zip(*held)
        ax.plot(hs, _finite(np.array([_num(v) for v in hv])), color="tab:orange", lw=1.4,
                marker=".", markersize=3, label="held-out")
    _mark_top(ax, _nonfinite_steps(loss, lo, hi, log.steps["loss"]), "non-finite loss")
    ax.set_ylabel("loss (nats)")
    ax.legend(fontsize=6, loc="upper right")


def _panel_lr(ax, log, x, lo, hi):
    ax.plot(x, _finite(series(log, "lr")[lo:hi + 1]), color="tab:green", lw=1.2, label="lr")
    ax.set_ylabel("lr")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax.yaxis.get_offset_text().set_fontsize(6)


def _panel_grad(ax, log, x, lo, hi):
    pre = series(log, "grad_norm_preclip")
    rare = series(log, "grad_norm_rare_rows")
    ax.plot(x, _finite(pre[lo:hi + 1]), color="tab:red", lw=1.0, label="pre-clip")
    r = _finite(rare[lo:hi + 1])
    r[r <= 0] = np.nan          # no rare token in the batch: no gradient in those rows
    ax.plot(x, r, color="tab:brown", linestyle="none", marker=".", markersize=3, label="rare rows")
    clip = log.meta.get("clip")
    if clip is not None:
        ax.axhline(clip, color="gray", lw=0.9, ls=":", label=f"clip {clip:g}")
    _mark_top(ax, _nonfinite_steps(pre, lo, hi, log.steps["grad_norm_preclip"]), "non-finite")
    ax.set_yscale("log")
    ax.set_ylabel("‖g‖")
    ax.legend(fontsize=6, loc="upper left")


def _panel_acts(ax, log, x, lo, hi):
    layers = log.meta.get("layers") or []
    rows = log.steps["act_mean_abs"][lo:hi + 1]
    n = max([len(layers)] + [len(r) for r in rows if r is not None])
    a = np.full((len(rows), n), np.nan)
    for i, r in enumerate(rows):
        if r is not None:
            a[i, : len(r)] = [_num(v) for v in r]
    for j in range(n):
        name = layers[j] if j < len(layers) else f"layer {j}"
        if j == 0:
            ax.plot(x, _finite(a[:, j]), color="tab:red", lw=1.8, label=f"{name} (layer 0)")
        else:
            ax.plot(x, _finite(a[:, j]), lw=0.8, alpha=0.8, label=name)
    ax.set_yscale("log")
    ax.set_ylabel("mean |act|")
    ax.legend(fontsize=6, loc="upper left", ncol=2)


def _panel_adam(ax, log, x, lo, hi):
    styles = [("adam_m_norm", "m", "tab:blue", "-"), ("adam_v_norm", "v", "tab:orange", "-"),
              ("adam_m_rare", "m rare rows", "tab:blue", "--"), ("adam_v_rare", "v rare rows", "tab:orange", "--")]
    for name, label, color, ls in styles:
        ax.plot(x, _finite(series(log, name)[lo:hi + 1]), color=color, ls=ls, lw=1.0, label=label)
    ax.set_yscale("log")
    ax.set_ylabel("norm")
    ax.legend(fontsize=6, loc="upper left", ncol=2)


def _panel_batch(ax, log, x, lo, hi):
    rare = series(log, "rare_count")[lo:hi + 1]
    shard = np.array([_num(v) for v in shard_counts(log)[lo:hi + 1]])
    ax.bar(x, np.nan_to_num(rare), width=1.0, color="tab:red", alpha=0.5,
           label=f"'{log.meta.get('headline_piece', 'rare')}' tokens")
    ax.step(x, _finite(shard), where="mid", color="tab:blue", lw=1.0, label="shard sentences")
    reps = [s for s in repeated_batches(log) if lo <= s <= hi]
    _mark_top(ax, reps, "repeated batch", marker="v", color="black")
    if not reps and any(h is not None for h in log.steps["batch_hash"][lo:hi + 1]):
        ax.text(0.01, 0.55, "no repeated batch", transform=ax.transAxes, fontsize=7, color="tab:gray")
    ax.set_ylabel("count")
    ax.legend(fontsize=6, loc="upper left")


def _panel_params(ax, log, x, lo, hi):
    nf = series(log, "nonfinite_params")[lo:hi + 1]
    ax.plot(x, _finite(nf), color="tab:red", lw=1.0, label="non-finite params")
    top = np.nanmax(nf) if np.isfinite(nf).any() else 0.0
    ax.set_ylim(-0.05 * max(top, 1.0), 1.1 * max(top, 1.0))
    same = [s for s in unchanged_param_steps(log) if lo <= s <= hi]
    _mark_top(ax, same, "hash unchanged", marker="o", color="tab:gray")
    first = first_nonfinite_step(log)
    if first is not None and lo <= first <= hi:
        ax.axvline(first, color=BAD_COLOR, lw=1.2, label=f"first non-finite ({first})")
    logged = [h for h in log.steps["param_hash"][lo:hi + 1] if h is not None]
    if logged and not same and first is None:
        ax.text(0.99, 0.5, "hash changed every logged step\nno non-finite parameter",
                transform=ax.transAxes, ha="right", va="center", fontsize=7, color="tab:gray")
    ax.set_ylabel("count")
    ax.legend(fontsize=6, loc="upper left")


def _panel_tokens(ax, log, step):
    ids, losses = log.steps["token_ids"][step], log.steps["token_losses"][step]
    ax.set_xlabel(f"per-token loss (nats) at step {step}", fontsize=7)
    if ids is None or losses is None:
        ax.text(0.5, 0.5, f"step {step} was not instrumented", ha="center", va="center",
                transform=ax.transAxes, fontsize=8)
        return
    head = _token_ids_of(log, [log.meta.get("headline_piece")])
    rare = _token_ids_of(log, log.meta.get("rare_pieces") or []) - head
    groups = {"other tokens": [], "other rare pieces": [], f"'{log.meta.get('headline_piece')}'": []}
    keys = list(groups)
    bad = 0
    for t, l in zip(ids, losses):
        if l is None or not math.isfinite(l):
            bad += 1
            continue
        groups[keys[2] if t in head else keys[1] if t in rare else keys[0]].append(l)
    finite = [l for g in groups.values() for l in g]
    top = max(finite + [1.0])
    bins = np.linspace(0.0, top * 1.02, 30)
    ax.hist([groups[k] for k in keys], bins=bins, stacked=True, label=keys,
            color=["tab:gray", "tab:orange", "tab:red"])
    # the previous instrumented step, as an outline, to show what "normal" looks like
    prev = next((s for s in range(step - 1, -1, -1) if log.steps["token_losses"][s] is not None), None)
    if prev is not None:
        pl = [l for l in log.steps["token_losses"][prev] if l is not None and math.isfinite(l)]
        ax.hist(pl, bins=bins, histtype="step", color="black", lw=0.8, label=f"step {prev}")
    if bad:
        ax.text(0.99, 0.6, f"{bad} non-finite", transform=ax.transAxes, ha="right", color=BAD_COLOR, fontsize=7)
    ax.set_ylabel("tokens")
    ax.legend(fontsize=6, loc="upper right")


class DashboardFigure(Figure):
    """A matplotlib Figure that shows itself as a PNG in a notebook even when pyplot (and
    so the inline backend) was never imported; with the inline backend it is drawn as usual."""

    def _repr_png_(self) -> bytes:
        import base64
        return base64.b64decode(figure_png(self))


_TIME_DRAWERS = {1: _panel_loss, 2: _panel_lr, 3: _panel_grad, 4: _panel_acts,
                 5: _panel_adam, 6: _panel_batch, 8: _panel_params}


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
        raise ValueError(f"panels must be chosen from {sorted(PANELS)} (got {panels})")
    if len(log) == 0:
        raise ValueError("the run log has no steps")
    lo, hi = _window(log, window)
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
            _panel_tokens(ax, log, hist_step)
            continue
        _TIME_DRAWERS[number](ax, log, x, lo, hi)
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
            ax.set_xlabel("step", fontsize=7)
    title = f"{log.meta.get('run_id', 'run')}: steps {lo}–{hi}"
    if cursor is not None:
        title += f", cursor at step {cursor}"
    fig.suptitle(title, fontsize=9)
    return fig


# ---------------------------------------------------------------------------- the widget

class Dashboard:
    """The dashboard with controls: a step slider, "Jump to largest spike", a window (range
    slider, "Zoom around step" and "Whole run" buttons) and an Output with the figure and
    the step's summary. ``.widget`` is what a notebook displays; ``.show_step(s)`` works
    without a browser too (it keeps ``.figure`` and ``.summary``)."""

    def __init__(self, log: RunLog, panels: list[int] | None = None, zoom: int = 70):
        import ipywidgets as widgets
        self.log, self.panels, self.zoom = log, panels, zoom
        last = len(log) - 1
        spike = largest_spike(log)
        self.figure: Figure | None = None
        self.summary: dict | None = None
        self._hold = True                   # no redraws while the controls are being set
        self.step_slider = widgets.IntSlider(value=spike, min=0, max=last, description="step",
                                             continuous_update=False, layout=widgets.Layout(width="420px"))
        self.window_slider = widgets.IntRangeSlider(value=(0, last), min=0, max=last, description="window",
                                                    continuous_update=False, layout=widgets.Layout(width="420px"))
        self.spike_button = widgets.Button(description="Jump to largest spike", icon="bolt")
        self.zoom_button = widgets.Button(description=f"Zoom ±{zoom} around step")
        self.whole_button = widgets.Button(description="Whole run")
        self.output = widgets.Output()
        self.spike_button.on_click(lambda _: self.jump_to_spike())
        self.zoom_button.on_click(lambda _: self.zoom_around_step())
        self.whole_button.on_click(lambda _: self.set_window(0, last))
        self.step_slider.observe(lambda _: self._redraw(), names="value")
        self.window_slider.observe(lambda _: self._redraw(), names="value")
        self.widget = widgets.VBox([
            widgets.HBox([self.step_slider, self.spike_button]),
            widgets.HBox([self.window_slider, self.zoom_button, self.whole_button]),
            self.output,
        ])
        self._hold = False
        self._redraw()

    def show_step(self, step: int) -> dict:
        """Move the cursor to ``step`` (redraws) and return that step's summary."""
        step = min(max(int(step), 0), len(self.log) - 1)
        if self.step_slider.value == step:
            self._redraw()
        else:
            self.step_slider.value = step      # the observer redraws
        return self.summary

    def jump_to_spike(self) -> dict:
        """Move the cursor to ``largest_spike(log)`` and zoom around it."""
        s = largest_spike(self.log)
        self._hold = True
        try:
            self.set_window(s - self.zoom, s + self.zoom)
        finally:
            self._hold = False
        return self.show_step(s)

    def zoom_around_step(self) -> None:
        """Show ``zoom`` steps either side of the cursor."""
        s = self.step_slider.value
        self.set_window(s - self.zoom, s + self.zoom)

    def set_window(self, lo: int, hi: int) -> None:
        """Show steps lo … hi (clamped to the run)."""
        self.window_slider.value = _window(self.log, (lo, hi))

    def _redraw(self) -> None:
        if self._hold:
            return
        step = self.step_slider.value
        self.figure = draw(self.log, self.panels, step=step, window=tuple(self.window_slider.value))
        self.summary = step_summary(self.log, step)
        # The Output's contents are set directly (not captured with ``with output:``), so the
        # same code runs in a browser, in a headless test and in nbclient's notebook builder.
        self.output.outputs = (
            {"output_type": "display_data", "metadata": {},
             "data": {"image/png": figure_png(self.figure), "text/plain": repr(self.figure)}},
            {"output_type": "stream", "name": "stdout", "text": format_summary(self.summary) + "\n"},
        )


def figure_png(fig: Figure, colors: int = 128) -> str:
    """The figure as a base64 PNG string (the form a notebook output stores).

    The image is reduced to a ``colors``-colour palette: about a third of the bytes of a
    full-colour PNG, so that notebooks which keep their outputs stay light."""
    import base64
    import io

    from PIL import Image
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)   # constrained layout already fits the figure
    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")
