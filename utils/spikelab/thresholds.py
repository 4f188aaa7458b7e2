"""Every bar the course judges a run by, in one place, each with the reason for its value.

The bars are far apart from the values they separate because runs are chaotic: the same seed on
another CPU is another sample (theory/why-runs-differ.md). The measured ranges quoted below are
in theory/ranges.json (seeds 42-46 × the CPU kernel paths of the measuring machine).
"""
from __future__ import annotations

# --- windows (steps) ---
EMA_SPAN = 50            # the loss EMA of panel 1: alpha = 2 / (EMA_SPAN + 1)
BASELINE_STEPS = 50      # a gradient norm is compared with its median over this many steps before
EVENT_WINDOW = 15        # the spike's peak and the event's largest gradient are looked for in this many steps
HELDOUT_BEFORE = 60      # the held-out loss's level and noise: its evaluations in this many steps before
HELDOUT_AFTER = 80       # ... and its rise: its evaluations in this many steps after

# --- a loss spike ---
SPIKE_RATIO = 1.5        # a step whose loss is at least 1.5 × the EMA of the step before is a spike

# --- a gradient spike: two questions, two bars ---
# At a known event (the window of EVENT_WINDOW steps from the event step, utils.diagnosis.compare):
# the runs without the mechanism (the no-rare-piece and mixed-shard controls) stay under 8 ×; the
# long-tail runs reach 79 × and more.
GRAD_SPIKE_RATIO = 15
# Anywhere after warmup (the largest ratio of a whole run, utils.diagnosis.stability_check): the
# maximum over hundreds of ordinary steps is higher - a healthy run reaches up to 13 ×, the
# LR-discontinuity run 16 × - so the bar that names a long-tail token sits higher.
GRAD_SPIKE_ANYWHERE = 30
RARE_SHARE = 0.5         # ... and at least half its squared norm in the rare pieces' embedding rows

# --- held-out damage, in σ of the held-out loss's noise before the event ---
DAMAGE_SIGMA = 10        # a rise of at least 10 σ: the model lost something it knew
NOISE_SIGMA = 3          # below 3 σ it moved no more than its noise: no damage (and "recovered")

# --- the other failure patterns (utils.diagnosis.stability_check) ---
SAME_KIND_RUN = 5        # consecutive batches made only of one kind of example: a data-order problem
LR_JUMP = 2.0            # one-step LR ratio (ignoring steps smaller than 10 % of the peak LR)
LR_DAMAGE_SIGMA = 3.0    # ... that counts when the held-out loss rises this much after it
LR_DAMAGE_RATIO = 1.3    # ... or the loss rises this much above its EMA within EVENT_WINDOW steps
V_DROP = 2.0             # one-step drop factor of the Adam second-moment norm: lost optimizer state


def damage_verdict(rise_sigma: float | None) -> str:
    """"yes" (rise ≥ DAMAGE_SIGMA), "no" (< NOISE_SIGMA) or "small" (in between) for a held-out rise
    in units of its noise; "?" when there is no rise to judge."""
    if rise_sigma is None or rise_sigma != rise_sigma:
        return "?"
    if rise_sigma >= DAMAGE_SIGMA:
        return "yes"
    return "no" if rise_sigma < NOISE_SIGMA else "small"
