"""Run several variants and compare their event metrics side by side (one table, many notebooks).

    rows = compare_variants(["broken", "clip-0.5", "stratified-covering"])
    print(markdown_table(rows))

The course's bars (``utils.spikelab.thresholds``), the same for every run on every machine:

- a **gradient spike**: the largest pre-clip gradient norm of the event window at least
  ``GRAD_SPIKE_RATIO`` (15) times its median before;
- **damage**: a held-out rise of at least ``DAMAGE_SIGMA`` (10) σ of its noise before the event;
- **no damage**: a rise below ``NOISE_SIGMA`` (3) σ, no more than the noise moves it.

Between the last two bars a rise is **small**: more than noise, well below damage.
The bars are far apart because the rises are chaotic (the same seed on another CPU is another
sample) and their σ is measured on a handful of noisy evaluations: a variant near a bar can take
the neighbouring verdict on another machine or seed, but none should move from damage to no
damage. tests/test_spike.py asserts the verdicts the course teaches.
"""
from __future__ import annotations

from utils.spikelab import symptoms
from utils.spikelab.thresholds import GRAD_SPIKE_RATIO, damage_verdict
from utils.spikelab.train import run_variant
from utils.text import Phrasebook, say

# the table's column headings, in the learner's language (a Phrasebook: said when read)
COLUMNS: Phrasebook = Phrasebook(lambda: {
    "variant": say("variant", "variante"),
    "loss_ratio": say("loss at 312 ÷ EMA", "pérdida en 312 ÷ EMA"),
    "grad_norm_ratio": say("grad-norm ratio", "ratio de grad-norm"),
    "heldout_rise_sigma": say("held-out rise (σ)", "subida en validación (σ)"),
    "post_event_ratio": say("post-event ratio", "ratio post-evento"),
    "gradient_spike": say("gradient spike?", "¿pico de gradiente?"),
    "damage": say("held-out damage?", "¿daño en validación?"),
})
# the verdict words of the rows (kept English in the data: tests and notebooks compare them) as the table says them
VERDICTS: Phrasebook = Phrasebook(lambda: {"yes": say("yes", "sí"), "small": say("small", "pequeño")})

_SYMPTOMS: dict[tuple[str, int], symptoms.RunSymptoms] = {}


def symptoms_of(name: str, seed: int = 42) -> symptoms.RunSymptoms:
    """The symptoms and event metrics of a fresh run of ``name`` (trained once per process)."""
    if (name, seed) not in _SYMPTOMS:
        _SYMPTOMS[(name, seed)] = symptoms.compute(run_variant(name, seed=seed))
    return _SYMPTOMS[(name, seed)]


def compare_variants(names: list[str], seed: int = 42, progress: bool = True) -> list[dict]:
    """One row per variant from a fresh run (each variant trains once per process).
    Shows a progress bar over the variants (a few seconds each) unless ``progress=False``."""
    rows = []
    if progress:
        from tqdm.auto import tqdm
        names = tqdm(names, desc=say("runs", "ejecuciones"), leave=False)
    for name in names:
        s = symptoms_of(name, seed)
        rows.append({
            "variant": name,
            "loss_ratio": s["loss_ratio"],
            "grad_norm_ratio": s["grad_norm_ratio"],
            "heldout_rise_sigma": s["heldout_rise_sigma"],
            "post_event_ratio": s["post_event_ratio"],
            "gradient_spike": "yes" if s["grad_norm_ratio"] >= GRAD_SPIKE_RATIO else "no",  # i18n: not shown (data)
            "damage": damage_verdict(s["heldout_rise_sigma"]),
        })
    return rows


def markdown_table(rows: list[dict], columns: dict[str, str] = COLUMNS) -> str:
    """Rows as a markdown table, floats to 3 significant digits."""
    def cell(v) -> str:
        return f"{v:.3g}" if isinstance(v, float) else VERDICTS.get(v, str(v))
    head = "| " + " | ".join(columns.values()) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(cell(r[k]) for k in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])
