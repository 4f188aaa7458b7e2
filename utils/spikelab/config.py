"""Run configurations: the canonical §A13 settings and every named variant.

A variant changes only honest things: data order, corpus, model or hyperparameters.
``config_for("broken", seed=42)`` is the canonical run (run id ``19-spike-001``).
``PATTERN_VARIANTS`` holds the classic failure patterns of Phase 19 (see utils.diagnosis.patterns).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from utils.text import say


@dataclass(frozen=True)
class RunConfig:
    variant: str = "healthy"
    run_id: str = "healthy"
    seed: int = 42
    # training length: the cosine horizon is total_steps; a run may stop earlier at `steps`
    steps: int = 420
    total_steps: int = 2000
    warmup: int = 100
    peak_lr: float = 3e-3
    lr_schedule: str = "cosine"          # "cosine" or "jump" (LR-discontinuity pattern)
    lr_jump_from: float = 0.1            # with "jump": warmup only reaches this × peak
    batch_size: int = 8
    clip: float | None = 1.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.1
    dtype: str = "float32"               # "float32", "float16" or "bfloat16"
    grad_scaler: bool = False            # loss scaling for float16
    num_threads: int = 1                 # the spike's grad-norm magnitude depends on it
    heldout_every: int = 8            # 200 held-out sentences cost ~25 training forwards
    # model
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128
    block_size: int = 32
    emb_init_std: float = 5e-4
    tied: bool = False
    learned_positions: bool = False
    init_std: float = 0.02               # std of every other weight matrix at init
    attention: str = "sdpa"              # "sdpa", "manual" or "naive" (see utils.spikelab.model)
    # data order
    order: str = "plain"                 # "plain", "late-shard", "one-batch", "mixed"
    event_step: int = 312                # where the late shard / rare batch arrives
    shard_batches: int = 15              # consecutive rare-only batches in "late-shard"
    extra_rare: bool = False             # add the 15 extra rare sentences (20 rare in all)
    swap: str | None = None              # None, "common-piece" or "no-rare-piece"
    whole_words: tuple[str, ...] = ()    # tokenize these words as one token each
    stratify_threshold: int | None = None  # no batch holds two occurrences of a piece rarer than this
    stratify_covering: bool = False      # choose the threshold from the counts to cover the rare piece
    # extra patterns (Phase 19)
    reset_optimizer_at: int | None = None  # reload from a checkpoint without the AdamW state
    extras: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        d["whole_words"] = list(self.whole_words)
        return d


CANONICAL = RunConfig()

_SHARD = dict(order="late-shard", extra_rare=True)

VARIANTS: dict[str, dict] = {
    "healthy": dict(order="plain"),
    "broken": dict(**_SHARD, run_id="19-spike-001"),
    "one-batch": dict(order="one-batch"),
    "control-common-piece": dict(**_SHARD, swap="common-piece"),
    "control-no-rare-piece": dict(**_SHARD, swap="no-rare-piece"),
    "control-mixed-shard": dict(order="mixed", extra_rare=True),
    "clip-0.5": dict(**_SHARD, clip=0.5),
    "stratified": dict(**_SHARD, stratify_threshold=10),
    "stratified-covering": dict(**_SHARD, stratify_covering=True),
    "stratified+clip-0.5": dict(**_SHARD, stratify_threshold=10, clip=0.5),
    # what removes each mechanism (the runs decide; see theory/phase-19)
    "emb-init-0.02": dict(**_SHARD, emb_init_std=0.02),
    "retokenized": dict(**_SHARD, whole_words=("written", "bitten")),
    # the source story's own settings with the same late shard: why the course departs from them
    "story-settings": dict(**_SHARD, peak_lr=3e-4, tied=True, learned_positions=True, emb_init_std=0.02),
}

SPIKE_VARIANTS = list(VARIANTS)

# Phase 19's classic failure patterns (utils.diagnosis.patterns), each a real run of the same mini-GPT on the
# healthy data order, engineered only through model, precision and hyperparameter choices.
_FP16 = dict(attention="manual", peak_lr=6e-2, steps=200)     # 20x the course's peak LR
_JUMP = dict(warmup=250, peak_lr=6e-3, steps=340)
PATTERN_VARIANTS: dict[str, dict] = {
    "fp16-overflow": dict(**_FP16, dtype="float16"),
    "fp16-overflow-scaled": dict(**_FP16, dtype="float16", grad_scaler=True),
    "fp16-overflow-bf16": dict(**_FP16, dtype="bfloat16"),
    "lr-discontinuity": dict(**_JUMP, lr_schedule="jump", lr_jump_from=0.1),
    "lr-continuous": dict(**_JUMP),
    "optimizer-reset": dict(reset_optimizer_at=300, steps=340),
    "nan": dict(attention="naive", peak_lr=6e-3, steps=200),            # 2x the course's peak LR
    "nan-stable-softmax": dict(attention="manual", peak_lr=6e-3, steps=200),
}


def config_for(variant: str, seed: int = 42, **overrides) -> RunConfig:
    """The RunConfig of a named variant; raises ValueError listing the known names."""
    table = VARIANTS if variant in VARIANTS else PATTERN_VARIANTS
    if variant not in table:
        known = ", ".join([*VARIANTS, *PATTERN_VARIANTS])
        raise ValueError(say(f"unknown variant {variant!r}; choose one of: {known}",
                             f"variante desconocida {variant!r}; elige una de: {known}"))
    fields = {"run_id": variant, **table[variant], **overrides}
    if seed != 42 and "run_id" not in overrides:
        fields["run_id"] = f"{fields['run_id']}-seed{seed}"
    return replace(CANONICAL, variant=variant, seed=seed, **fields)
