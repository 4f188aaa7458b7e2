"""Run several variants and compare their event metrics side by side (one table, many notebooks).

    rows = compare_variants(["broken", "clip-0.5", "stratified-covering"])
    print(markdown_table(rows))
"""
from __future__ import annotations

from . import claims

COLUMNS = {
    "variant": "variant",
    "loss_ratio": "loss at 312 ÷ EMA",
    "grad_norm_ratio": "grad-norm ratio",
    "heldout_rise_sigma": "held-out rise (σ)",
    "post_event_ratio": "post-event ratio",
    "gradient_spike": "gradient spike?",
    "damage": "lasting damage?",
}
GRAD_SPIKE_RATIO = 15     # the acceptance bar for a gradient spike
DAMAGE_SIGMA = 3          # a held-out rise above 3σ of its noise counts as damage


def compare_variants(names: list[str], seed: int = 42, progress: bool = True) -> list[dict]:
    """One row per variant from a fresh run (each variant trains once per process).
    Shows a progress bar over the variants (a few seconds each) unless ``progress=False``."""
    rows = []
    if progress:
        from tqdm.auto import tqdm
        names = tqdm(names, desc="runs", leave=False)
    for name in names:
        s = claims.results_of(name, seed)
        rows.append({
            "variant": name,
            "loss_ratio": s["loss_ratio"],
            "grad_norm_ratio": s["grad_norm_ratio"],
            "heldout_rise_sigma": s["heldout_rise_sigma"],
            "post_event_ratio": s["post_event_ratio"],
            "gradient_spike": "yes" if s["grad_norm_ratio"] >= GRAD_SPIKE_RATIO else "no",
            "damage": "yes" if s["heldout_rise_sigma"] >= DAMAGE_SIGMA else "no",
        })
    return rows


def markdown_table(rows: list[dict], columns: dict[str, str] = COLUMNS) -> str:
    """Rows as a markdown table, floats to 3 significant digits."""
    def cell(v) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)
    head = "| " + " | ".join(columns.values()) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(cell(r[k]) for k in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])
