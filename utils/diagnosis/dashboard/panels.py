"""The eight numbered panels of the dashboard, each drawn on one matplotlib Axes.

Seven are time panels (x = step, drawn over a window ``lo … hi``); panel 7 is the per-token
loss histogram of one step. NaN and inf are drawn as gaps; non-finite losses and gradient norms
are marked with a red ``x`` at the top of their panel.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.transforms import blended_transform_factory

from utils.diagnosis.dashboard.summary import (num, repeated_batches, series, shard_counts, token_ids_of,
                                               unchanged_param_steps)
from utils.spikelab.metrics import ema, first_nonfinite_step
from utils.spikelab.runlog import RunLog
from utils.spikelab.thresholds import EMA_SPAN
from utils.text import Phrasebook, say

# the panels' titles, in the learner's language (a Phrasebook: said when read)
PANELS: Phrasebook = Phrasebook(lambda: {
    1: say("Loss and 50-step EMA", "Pérdida y EMA de 50 pasos"),
    2: say("Learning rate", "Learning rate (LR)"),
    3: say("Gradient norm before clipping", "Norma del gradiente antes del clipping"),
    4: say("Activations", "Activaciones"),
    5: say("Adam moments", "Momentos de Adam"),
    6: say("Batch composition", "Composición del batch"),
    7: say("Per-token loss histogram", "Histograma de la pérdida por token"),
    8: say("Parameter hash / non-finite count", "Hash de los parámetros / recuento de no finitos"),
})
TIME_PANELS = (1, 2, 3, 4, 5, 6, 8)   # panels whose x axis is the step
BAD_COLOR = "tab:red"


def panel_title(number: int) -> str:
    """The title drawn above a panel, e.g. ``"1 · Loss and 50-step EMA"``."""
    return f"{number} · {PANELS[number]}"


def _gaps(a: np.ndarray) -> np.ndarray:
    """A copy with inf turned into NaN, so matplotlib draws a gap instead of a wall."""
    a = a.astype(float).copy()
    a[~np.isfinite(a)] = np.nan
    return a


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
    e = np.array(ema(log.steps["loss"]), dtype=float)
    ax.plot(x, _gaps(loss[lo:hi + 1]), color="tab:blue", lw=0.7, alpha=0.6, label=say("loss", "pérdida"))
    ax.plot(x, _gaps(e[lo:hi + 1]), color="tab:blue", lw=1.6, label=f"EMA {EMA_SPAN}")
    held = [(s, v) for s, v in zip(log.heldout.get("step", []), log.heldout.get("loss", [])) if lo <= s <= hi]
    if held:   # same axes, same units: the held-out rise is the data-order damage
        hs, hv = zip(*held)
        ax.plot(hs, _gaps(np.array([num(v) for v in hv])), color="tab:orange", lw=1.4,
                marker=".", markersize=3, label=say("held-out", "validación"))
    _mark_top(ax, _nonfinite_steps(loss, lo, hi, log.steps["loss"]), say("non-finite loss", "pérdida no finita"))
    ax.set_ylabel(say("loss (nats)", "pérdida (nats)"))
    ax.legend(fontsize=6, loc="upper right")  # i18n: not shown (matplotlib's legend position)


def _panel_lr(ax, log, x, lo, hi):
    ax.plot(x, _gaps(series(log, "lr")[lo:hi + 1]), color="tab:green", lw=1.2, label="lr")
    ax.set_ylabel("lr")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax.yaxis.get_offset_text().set_fontsize(6)


def _panel_grad(ax, log, x, lo, hi):
    pre = series(log, "grad_norm_preclip")
    rare = series(log, "grad_norm_rare_rows")
    ax.plot(x, _gaps(pre[lo:hi + 1]), color="tab:red", lw=1.0, label=say("pre-clip", "antes del clip"))
    r = _gaps(rare[lo:hi + 1])
    r[r <= 0] = np.nan          # no rare token in the batch: no gradient in those rows
    ax.plot(x, r, color="tab:brown", linestyle="none", marker=".", markersize=3, label=say("rare rows", "filas raras"))
    clip = log.meta.get("clip")
    if clip is not None:
        ax.axhline(clip, color="gray", lw=0.9, ls=":", label=f"clip {clip:g}")
    _mark_top(ax, _nonfinite_steps(pre, lo, hi, log.steps["grad_norm_preclip"]), say("non-finite", "no finito"))
    ax.set_yscale("log")
    ax.set_ylabel("‖g‖")
    ax.legend(fontsize=6, loc="upper left")  # i18n: not shown (matplotlib's legend position)


def _panel_acts(ax, log, x, lo, hi):
    layers = log.meta.get("layers") or []
    rows = log.steps["act_mean_abs"][lo:hi + 1]
    n = max([len(layers)] + [len(r) for r in rows if r is not None])
    a = np.full((len(rows), n), np.nan)
    for i, r in enumerate(rows):
        if r is not None:
            a[i, : len(r)] = [num(v) for v in r]
    for j in range(n):
        name = layers[j] if j < len(layers) else say(f"layer {j}", f"capa {j}")
        if j == 0:
            ax.plot(x, _gaps(a[:, j]), color="tab:red", lw=1.8, label=say(f"{name} (layer 0)", f"{name} (capa 0)"))
        else:
            ax.plot(x, _gaps(a[:, j]), lw=0.8, alpha=0.8, label=name)
    ax.set_yscale("log")
    ax.set_ylabel(say("mean |act|", "media |act|"))
    ax.legend(fontsize=6, loc="upper left", ncol=2)  # i18n: not shown (matplotlib's legend position)


def _panel_adam(ax, log, x, lo, hi):
    styles = [("adam_m_norm", "m", "tab:blue", "-"), ("adam_v_norm", "v", "tab:orange", "-"),
              ("adam_m_rare", say("m rare rows", "m filas raras"), "tab:blue", "--"),
              ("adam_v_rare", say("v rare rows", "v filas raras"), "tab:orange", "--")]
    for name, label, color, ls in styles:
        ax.plot(x, _gaps(series(log, name)[lo:hi + 1]), color=color, ls=ls, lw=1.0, label=label)
    ax.set_yscale("log")
    ax.set_ylabel(say("norm", "norma"))
    ax.legend(fontsize=6, loc="upper left", ncol=2)  # i18n: not shown (matplotlib's legend position)


def _panel_batch(ax, log, x, lo, hi):
    rare = series(log, "rare_count")[lo:hi + 1]
    shard = np.array([num(v) for v in shard_counts(log)[lo:hi + 1]])
    ax.bar(x, np.nan_to_num(rare), width=1.0, color="tab:red", alpha=0.5,
           label=say(f"'{log.meta.get('headline_piece', 'rare')}' tokens", f"tokens '{log.meta.get('headline_piece', 'rare')}'"))
    ax.step(x, _gaps(shard), where="mid", color="tab:blue", lw=1.0, label=say("shard sentences", "frases del shard"))
    reps = [s for s in repeated_batches(log) if lo <= s <= hi]
    _mark_top(ax, reps, say("repeated batch", "batch repetido"), marker="v", color="black")
    if not reps and any(h is not None for h in log.steps["batch_hash"][lo:hi + 1]):
        ax.text(0.01, 0.55, say("no repeated batch", "ningún batch repetido"), transform=ax.transAxes, fontsize=7,
                color="tab:gray")
    ax.set_ylabel(say("count", "recuento"))
    ax.legend(fontsize=6, loc="upper left")  # i18n: not shown (matplotlib's legend position)


def _panel_params(ax, log, x, lo, hi):
    nf = series(log, "nonfinite_params")[lo:hi + 1]
    ax.plot(x, _gaps(nf), color="tab:red", lw=1.0, label=say("non-finite params", "parámetros no finitos"))
    top = np.nanmax(nf) if np.isfinite(nf).any() else 0.0
    ax.set_ylim(-0.05 * max(top, 1.0), 1.1 * max(top, 1.0))
    same = [s for s in unchanged_param_steps(log) if lo <= s <= hi]
    _mark_top(ax, same, say("hash unchanged", "hash sin cambios"), marker="o", color="tab:gray")
    first = first_nonfinite_step(log)
    if first is not None and lo <= first <= hi:
        ax.axvline(first, color=BAD_COLOR, lw=1.2, label=say(f"first non-finite ({first})", f"primer no finito ({first})"))
    logged = [h for h in log.steps["param_hash"][lo:hi + 1] if h is not None]
    if logged and not same and first is None:
        ax.text(0.99, 0.5, say("hash changed every logged step\nno non-finite parameter",
                               "el hash cambió en cada paso registrado\nningún parámetro no finito"),
                transform=ax.transAxes, ha="right", va="center", fontsize=7, color="tab:gray")
    ax.set_ylabel(say("count", "recuento"))
    ax.legend(fontsize=6, loc="upper left")  # i18n: not shown (matplotlib's legend position)


def draw_tokens(ax, log: RunLog, step: int) -> None:
    """Panel 7: the per-token losses of ``step``, the headline piece and the other rare pieces
    stacked apart, with the previous instrumented step as an outline."""
    ids, losses = log.steps["token_ids"][step], log.steps["token_losses"][step]
    ax.set_xlabel(say(f"per-token loss (nats) at step {step}", f"pérdida por token (nats) en el paso {step}"), fontsize=7)
    if ids is None or losses is None:
        ax.text(0.5, 0.5, say(f"step {step} was not instrumented", f"el paso {step} no se instrumentó"), ha="center",
                va="center", transform=ax.transAxes, fontsize=8)
        return
    head = token_ids_of(log, [log.meta.get("headline_piece")])
    rare = token_ids_of(log, log.meta.get("rare_pieces") or []) - head
    groups = {say("other tokens", "otros tokens"): [], say("other rare pieces", "otras piezas raras"): [],
              f"'{log.meta.get('headline_piece')}'": []}
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
        ax.hist(pl, bins=bins, histtype="step", color="black", lw=0.8, label=say(f"step {prev}", f"paso {prev}"))
    if bad:
        ax.text(0.99, 0.6, say(f"{bad} non-finite", f"{bad} no finitos"), transform=ax.transAxes, ha="right",
                color=BAD_COLOR, fontsize=7)
    ax.set_ylabel("tokens")
    ax.legend(fontsize=6, loc="upper right")  # i18n: not shown (matplotlib's legend position)


# panel number -> its drawer: drawer(ax, log, x, lo, hi) draws steps lo … hi at x = lo … hi
TIME_DRAWERS = {1: _panel_loss, 2: _panel_lr, 3: _panel_grad, 4: _panel_acts,
                5: _panel_adam, 6: _panel_batch, 8: _panel_params}
