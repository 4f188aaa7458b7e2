"""What the dashboard reads from a run log: its columns as arrays, the step to look at first and
one step's numbers (the summary the Dashboard widget prints under the figure).

A column may hold ``None`` (a step that was not instrumented) or NaN/inf (a run that diverged).
The derived quantities (the loss EMA, the rare rows' share of the gradient) come from
``utils.spikelab.metrics``, so the dashboard shows the same numbers as the symptoms and the checks.
"""
from __future__ import annotations

import math

import numpy as np

from utils.spikelab.metrics import ema, rare_share, significant
from utils.spikelab.runlog import RunLog
from utils.spikelab.symptoms import find_spike
from utils.text import say


# ---------------------------------------------------------------------------- reading the log

def num(v) -> float:
    """A log value as a float: None (not instrumented) becomes NaN."""
    return float("nan") if v is None else float(v)


def series(log: RunLog, name: str) -> np.ndarray:
    """One per-step column as a float array (None → NaN; NaN and inf are kept)."""
    return np.array([num(v) for v in log.steps[name]], dtype=float)


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


def piece(log: RunLog, token_id: int) -> str:
    """The text of a token id (``#id`` when the log has no such piece)."""
    pieces = log.meta.get("pieces") or []
    return pieces[token_id] if 0 <= token_id < len(pieces) else f"#{token_id}"


def token_ids_of(log: RunLog, names) -> set[int]:
    """The token ids of the given pieces."""
    pieces = log.meta.get("pieces") or []
    return {i for i, p in enumerate(pieces) if p in set(names)}


# ---------------------------------------------------------------------------- the spike

def largest_spike(log: RunLog) -> int:
    """The step to look at first: ``utils.spikelab.symptoms.find_spike``; when it finds none (or the
    log lacks what it needs), the step with the largest loss / EMA(previous step) ratio."""
    if len(log) == 0:
        raise ValueError(say("the run log has no steps", "el registro de la ejecución no tiene pasos"))
    warmup = (log.meta.get("config") or {}).get("warmup", 0)
    try:
        found = find_spike(log, warmup=warmup)
    except (TypeError, KeyError, IndexError):
        found = None
    if found is not None:
        return int(found)
    loss, e = series(log, "loss"), ema(log.steps["loss"])
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
        raise IndexError(say(f"step {step} is outside the run (0 … {n - 1})",
                             f"el paso {step} está fuera de la ejecución (0 … {n - 1})"))
    col = log.steps
    loss = col["loss"][step]
    e = ema(col["loss"])
    ema_before = float(e[step - 1]) if step > 0 else None
    ratio = None
    if loss is not None and ema_before is not None and math.isfinite(ema_before) and ema_before != 0:
        ratio = loss / ema_before
    ids, losses = col["token_ids"][step], col["token_losses"][step]
    top = None
    if ids is not None and losses is not None:
        ranked = sorted(zip(losses, ids), key=lambda lt: (-lt[0] if math.isfinite(lt[0]) else -math.inf, lt[1]))
        top = [(piece(log, t), significant(float(l))) for l, t in ranked[:3]]
    h = log.steps["batch_hash"][step]
    held = [(s, v) for s, v in zip(log.heldout.get("step", []), log.heldout.get("loss", [])) if s <= step]
    phash = col["param_hash"][step]
    summary = {
        "step": step,
        "loss": loss, "ema": ema_before, "loss_to_ema": ratio,
        "heldout_loss": held[-1][1] if held else None,
        "heldout_step": held[-1][0] if held else None,
        "lr": col["lr"][step],
        "grad_norm_preclip": col["grad_norm_preclip"][step], "grad_norm_postclip": col["grad_norm_postclip"][step],
        "grad_norm_rare_rows": col["grad_norm_rare_rows"][step], "rare_rows_share": rare_share(log, step),
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
    return {k: significant(v) for k, v in summary.items()}


def format_summary(summary: dict) -> str:
    """``step_summary`` as aligned ``key  value`` lines (what the Dashboard widget prints)."""
    width = max(len(k) for k in summary)
    lines = []
    for k, v in summary.items():
        if k == "top_token_losses" and v:
            v = ", ".join(f"{p!r} {l:g}" for p, l in v)
        lines.append(f"{k:<{width}}  {v}")
    return "\n".join(lines)
