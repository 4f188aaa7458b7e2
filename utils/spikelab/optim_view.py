"""Adam's hidden state made visible (Phase 18).

``torch.optim.AdamW`` keeps, for every weight, two running averages of its gradient ``g``:

    m ← β1·m + (1 − β1)·g          (``exp_avg``, the first moment)
    v ← β2·v + (1 − β2)·g²         (``exp_avg_sq``, the second moment)

and after ``t`` steps moves the weight by ``lr · m̂ / (√v̂ + ε)`` (plus the decoupled weight
decay ``lr · wd · w``), where ``m̂ = m / (1 − β1^t)`` and ``v̂ = v / (1 − β2^t)`` are the
bias-corrected moments. The ratio ``m̂ / (√v̂ + ε)`` does not depend on the scale of the
gradient, so the move is "lr times a number of order one" for every weight. The helpers
below read that number from a real optimizer, or compute its limits.

    bias_corrected(opt, p)        (m̂, v̂) of parameter p, as the last step used them
    adam_ratio(opt, p)            m̂ / (√v̂ + ε): the last step's move in units of lr
    effective_step(opt, p)        lr · adam_ratio: the last step's Adam move (no decay)
    ratio_with(m, v, t, g, ...)   the ratio the NEXT step would use if it received gradient g
    first_gradient_ratio(t)       the ratio of a weight whose first gradient arrives at step t
    ratio_bound(t)                the largest ratio any gradient history can give at step t
"""
from __future__ import annotations

import math

import torch


def group_of(opt: torch.optim.Optimizer, param: torch.Tensor) -> dict:
    """The optimizer's parameter group that holds ``param`` (raises KeyError if none)."""
    for group in opt.param_groups:
        if any(p is param for p in group["params"]):
            return group
    raise KeyError("this parameter is not in the optimizer")


def bias_corrected(opt: torch.optim.Optimizer, param: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(m̂, v̂) of ``param``: its Adam moments divided by (1 − β^t), t = steps taken so far."""
    state = opt.state[param]
    if "exp_avg" not in state:
        raise KeyError("the optimizer has not stepped this parameter yet (no Adam state)")
    beta1, beta2 = group_of(opt, param)["betas"]
    t = int(state["step"])
    return state["exp_avg"] / (1 - beta1 ** t), state["exp_avg_sq"] / (1 - beta2 ** t)


def adam_ratio(opt: torch.optim.Optimizer, param: torch.Tensor) -> torch.Tensor:
    """m̂ / (√v̂ + ε) per weight: the last step's Adam move divided by the learning rate."""
    m_hat, v_hat = bias_corrected(opt, param)
    return m_hat / (v_hat.sqrt() + group_of(opt, param)["eps"])


def effective_step(opt: torch.optim.Optimizer, param: torch.Tensor) -> torch.Tensor:
    """lr · m̂ / (√v̂ + ε) per weight: the move the last ``opt.step()`` made (weight decay aside).

    The parameter changed by ``-(effective_step + lr · weight_decay · old value)``.
    Read it right after the step, before the learning rate of the group is changed.
    """
    return group_of(opt, param)["lr"] * adam_ratio(opt, param)


def ratio_with(exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, steps_done: int, grad: torch.Tensor,
               betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> torch.Tensor:
    """The ratio m̂ / (√v̂ + ε) the next step would use if it received ``grad``.

    ``exp_avg``, ``exp_avg_sq`` and ``steps_done`` are the state before that step (zeros and
    0 for a fresh optimizer). Pure: nothing is modified.
    """
    beta1, beta2 = betas
    t = steps_done + 1
    m = beta1 * exp_avg + (1 - beta1) * grad
    v = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
    return (m / (1 - beta1 ** t)) / ((v / (1 - beta2 ** t)).sqrt() + eps)


def first_gradient_ratio(step: int, betas: tuple[float, float] = (0.9, 0.999)) -> float:
    """|m̂| / √v̂ of a weight whose very first non-zero gradient arrives at optimizer step ``step``
    (1-based), whatever that gradient's size: (1 − β1)/(1 − β1^t) ÷ √((1 − β2)/(1 − β2^t)).

    It is 1 at step 1 (a fresh optimizer moves every weight by exactly lr), and grows towards
    (1 − β1)/√(1 − β2) ≈ 3.16 as the bias corrections fade.
    """
    beta1, beta2 = betas
    return ((1 - beta1) / (1 - beta1 ** step)) / math.sqrt((1 - beta2) / (1 - beta2 ** step))


def ratio_bound(step: int, betas: tuple[float, float] = (0.9, 0.999)) -> float:
    """The largest |m̂| / √v̂ that ANY gradient history can give at optimizer step ``step``.

    By Cauchy–Schwarz, |Σ β1^k g_k| ≤ √(Σ (β1²/β2)^k) · √(Σ β2^k g_k²), so with r = β1²/β2 < 1
    the ratio is at most (1 − β1)/√(1 − β2) · √((1 − r^t)/(1 − r)) · √(1 − β2^t)/(1 − β1^t).
    Equal to 1 at step 1; about 7.3 for the default betas once t is large.
    """
    beta1, beta2 = betas
    r = beta1 ** 2 / beta2
    if r >= 1:
        raise ValueError("the bound needs β1² < β2")
    return ((1 - beta1) / math.sqrt(1 - beta2) * math.sqrt((1 - r ** step) / (1 - r))
            * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step))
