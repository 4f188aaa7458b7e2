"""The instrumented training loop that every experiment of the course runs.

    run = TrainingRun(config_for("broken"))
    log = run.train()          # a RunLog; log.save("runs/19-spike-001.json")

Each step records loss, per-token losses, LR, gradient norm before and after clipping,
per-layer activation statistics, Adam moment norms (overall and for the rare pieces'
embedding rows), the batch's example ids, a batch hash, rare-piece counts, a parameter hash
and the count of non-finite parameters; held-out loss every ``cfg.heldout_every`` steps.
Nothing here edits a loss or a gradient: clipping is the ordinary global-norm clip.
"""
from __future__ import annotations

import hashlib
import time

import numpy as np
import torch
import torch.nn.functional as F

from utils.spikelab import data_order, runstore
from utils.spikelab.bpe import BOS_ID
from utils.spikelab.config import RunConfig, config_for
from utils.spikelab.model import GPTConfig, MiniGPT, param_groups
from utils.spikelab.runlog import STEP_COLUMNS, RunLog
from utils.spikelab.schedule import lr_at, lr_with_jump

LAYERS = ["embedding", "block0", "block1", "final_ln"]
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def rows_to_tensors(rows: list[tuple[int, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad sentences into (inputs, targets): ``<s> tokens`` → ``tokens <s>``; pads are -100."""
    seqs = [(BOS_ID,) + r + (BOS_ID,) for r in rows]
    T = max(len(s) for s in seqs) - 1
    x = torch.zeros(len(seqs), T, dtype=torch.long)
    y = torch.full((len(seqs), T), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, : len(s) - 1] = torch.tensor(s[:-1])
        y[i, : len(s) - 1] = torch.tensor(s[1:])
    return x, y


def param_fingerprint(params: list[torch.Tensor]) -> tuple[str, int]:
    """(checksum of every parameter's bits as 8 hex digits, number of non-finite values).

    Cheap enough to run every step: each tensor's float32 bit patterns are summed as integers
    (any changed weight changes its sum), the sums hashed together; one fused norm per tensor
    tells whether any value is non-finite, and elements are counted only in that rare case.
    The integer sums go through numpy, which shares the tensors' memory and sums int32 as int64
    about twice as fast as torch (the same integers, so the same hash).
    """
    arrays = [p.detach().float().cpu().contiguous().numpy() for p in params]
    sums = [int(a.view(np.int32).sum(dtype=np.int64)) for a in arrays]
    digest = hashlib.blake2s(repr(sums).encode(), digest_size=4).hexdigest()
    norms = torch.stack(torch._foreach_norm([p.detach() for p in params]))
    nonfinite = 0
    if not bool(torch.isfinite(norms).all()):
        nonfinite = sum(int((~torch.isfinite(p.detach())).sum()) for p in params)
    return digest, nonfinite


def adamw_for(model: MiniGPT, cfg: RunConfig) -> torch.optim.AdamW:
    """The run's AdamW (weight decay on matrices only); ``foreach`` updates all tensors at once."""
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.peak_lr,
                             betas=cfg.betas, eps=cfg.eps, foreach=True)


def length_buckets(rows: list[tuple[int, ...]], size: int = 50) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Sentences sorted by length and padded in groups of ``size``: far less padding to compute."""
    rows = sorted(rows, key=len)
    return [rows_to_tensors(rows[i: i + size]) for i in range(0, len(rows), size)]


class TrainingRun:
    """Model, optimizer, data order and run log of one run; ``step()`` trains one batch."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        torch.set_num_threads(cfg.num_threads)
        torch.manual_seed(cfg.seed)
        self.tok = data_order.tokenizer_for(cfg)
        self.examples = data_order.examples_for(cfg)
        self.batches = data_order.batches_for(cfg, self.examples)
        self.model = MiniGPT(GPTConfig(
            vocab_size=len(self.tok.vocab), n_layer=cfg.n_layer, n_head=cfg.n_head,
            d_model=cfg.d_model, block_size=cfg.block_size, emb_init_std=cfg.emb_init_std,
            tied=cfg.tied, learned_positions=cfg.learned_positions, init_std=cfg.init_std,
            attention=cfg.attention))
        self.params = list(self.model.parameters())
        self.opt = adamw_for(self.model, cfg)
        self.scaler = torch.amp.GradScaler("cpu") if cfg.grad_scaler else None
        self.rare_ids = [self.tok.vocab[p] for p in data_order.rare_pieces(self.tok)]
        self._rare_rows = torch.tensor(self.rare_ids, dtype=torch.long)   # as an index: no per-step conversion
        self.headline_id = self.tok.vocab[data_order.headline_piece(self.tok)]
        self.heldout_batches = length_buckets([tuple(self.tok.encode(t)) for t in data_order.corpus.heldout()])
        self.heldout_tokens = [int((y != -100).sum()) for _, y in self.heldout_batches]
        self._acts: list[torch.Tensor] = []
        self._watch_acts = True    # off during the held-out evaluation: its activations are not logged
        for module in [self.model.tok_emb, *self.model.blocks, self.model.ln_f]:
            module.register_forward_hook(self._record_act)
        self.step_index = 0
        self.lr_scale = 1.0    # multiplies the scheduled LR (a roll-back's cool-down, Phase 20)
        self.log = RunLog(meta=self._meta())

    def _record_act(self, module, inputs, out: torch.Tensor) -> None:
        if self._watch_acts:
            self._acts.append(out.detach().abs().mean())

    def _meta(self) -> dict:
        counts = data_order.piece_counts(self.examples)
        event_end = self.cfg.event_step + (self.cfg.shard_batches if self.cfg.order == "late-shard" else 1)
        return {
            "run_id": self.cfg.run_id, "variant": self.cfg.variant, "seed": self.cfg.seed,
            "config": self.cfg.to_dict(), "dtype": self.cfg.dtype, "torch": torch.__version__.split("+")[0],
            "num_threads": self.cfg.num_threads, "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
            "n_params": self.model.num_params(),
            "layers": LAYERS, "pieces": self.tok.id_to_piece,
            "rare_pieces": data_order.rare_pieces(self.tok),
            "headline_piece": data_order.headline_piece(self.tok),
            "piece_counts": {str(k): v for k, v in sorted(counts.items())},
            "event_step": self.cfg.event_step if self.cfg.order != "plain" else None,
            "event_end": event_end if self.cfg.order != "plain" else None,
            "clip": self.cfg.clip, "heldout_every": self.cfg.heldout_every,
            "rare_example_ids": [e.id for e in self.examples if e.rare],
        }

    def reload_without_optimizer_state(self) -> None:
        """What a resume does that restores the model but forgets the optimizer (the
        optimizer-reset pattern, ``cfg.reset_optimizer_at``): the weights come back from a
        checkpoint written at this step, and AdamW starts from scratch (m = v = 0, step count 0,
        so its bias correction restarts too). Recorded in ``log.events``."""
        state = {k: v.clone() for k, v in self.model.state_dict().items()}   # the checkpoint
        self.model.load_state_dict(state)
        self.opt = adamw_for(self.model, self.cfg)
        self.log.events.append({"step": self.step_index, "kind": "reload", "restored": ["model"],
                                "not_restored": ["optimizer"]})

    def lr(self, step: int) -> float:
        c = self.cfg
        if c.lr_schedule == "jump":
            return lr_with_jump(step, c.peak_lr, c.warmup, c.total_steps, c.lr_jump_from)
        return lr_at(step, c.peak_lr, c.warmup, c.total_steps)

    def _forward_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean loss over real tokens, per-token losses of the real tokens)."""
        dtype = DTYPES[self.cfg.dtype]
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            logits = self.model(x)
        mask = y != -100
        token_losses = F.cross_entropy(logits.float()[mask], y[mask], reduction="none")
        return token_losses.mean(), token_losses

    @torch.inference_mode()
    def heldout_loss(self) -> float:
        """Mean loss per real token over the whole held-out set (no gradient, length-bucketed)."""
        self._acts.clear()    # forwards outside step() (the Lightning module) leave activations here
        self._watch_acts = False
        try:
            total = sum(float(self._forward_loss(x, y)[0]) * n
                        for (x, y), n in zip(self.heldout_batches, self.heldout_tokens))
        finally:
            self._watch_acts = True
        return total / sum(self.heldout_tokens)

    def step(self, batch_ids: list[int] | None = None, instrument: bool = True) -> dict:
        """Train on one batch (default: the data order's batch for this step) and log it."""
        s = self.step_index
        if s == self.cfg.reset_optimizer_at:
            self.reload_without_optimizer_state()
        batch_ids = self.batches[s] if batch_ids is None else batch_ids
        rows = [self.examples[i].ids for i in batch_ids]
        x, y = rows_to_tensors(rows)
        lr = self.lr(s) * self.lr_scale
        for g in self.opt.param_groups:
            g["lr"] = lr
        self._acts.clear()
        loss, token_losses = self._forward_loss(x, y)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.opt)
        else:
            loss.backward()
        emb_grad = self.model.tok_emb.weight.grad
        rare_grad = float(emb_grad[self._rare_rows].norm()) if instrument and emb_grad is not None else float("nan")
        max_norm = self.cfg.clip if self.cfg.clip is not None else float("inf")
        pre = float(torch.nn.utils.clip_grad_norm_(self.params, max_norm))
        post = min(pre, max_norm) if self.cfg.clip is not None else pre
        if self.scaler is not None:
            scale = self.scaler.get_scale()
            self.scaler.step(self.opt)            # skipped when the gradients hold inf/nan
            self.scaler.update()
            if self.scaler.get_scale() < scale:
                self.log.events.append({"step": s, "kind": "skip", "reason": "non-finite gradients",
                                        "by": "GradScaler", "scale": self.scaler.get_scale()})
        else:
            self.opt.step()
        record = {"loss": loss.item(), "lr": lr, "grad_norm_preclip": pre, "grad_norm_postclip": post,
                  "batch_ids": list(batch_ids)}
        if instrument:
            record.update(self._instruments(rows, y, token_losses, rare_grad))
        else:
            record.update({c: None for c in STEP_COLUMNS if c not in record})
        self.log.append(record)
        if self.cfg.attention != "sdpa":    # explicit attention: also log its largest logit (panel 4)
            scores = torch.stack([b.attn.max_score for b in self.model.blocks])
            self.log.steps.setdefault("attn_max_score", []).append(float(scores.max()))
            lows = torch.stack([b.attn.min_score for b in self.model.blocks])
            self.log.steps.setdefault("attn_min_score", []).append(float(lows.min()))
        if instrument and (s % self.cfg.heldout_every == 0):
            self.log.heldout["step"].append(s)
            self.log.heldout["loss"].append(self.heldout_loss())
        self.step_index += 1
        return record

    def _instruments(self, rows, y, token_losses, rare_grad) -> dict:
        acts = torch.stack(self._acts[: len(LAYERS)]).tolist()
        states = [self.opt.state[p] for p in self.params if p in self.opt.state]
        emb = self.model.tok_emb.weight
        if not states:       # no update yet (a GradScaler skipped every step so far): moments are 0
            states = [{"exp_avg": torch.zeros(1), "exp_avg_sq": torch.zeros(1)}]
        emb_state = self.opt.state.get(emb) or {"exp_avg": torch.zeros_like(emb), "exp_avg_sq": torch.zeros_like(emb)}
        m = torch.stack(torch._foreach_norm([st["exp_avg"] for st in states])).norm()  # as clip_grad_norm_ does
        v = torch.stack(torch._foreach_norm([st["exp_avg_sq"] for st in states])).norm()
        phash, nonfinite = param_fingerprint(self.params)
        return {
            "grad_norm_rare_rows": rare_grad, "act_mean_abs": acts,
            "adam_m_norm": float(m), "adam_v_norm": float(v),
            "adam_m_rare": float(emb_state["exp_avg"][self._rare_rows].norm()),
            "adam_v_rare": float(emb_state["exp_avg_sq"][self._rare_rows].norm()),
            "emb_norm_rare": float(self.model.tok_emb.weight[self.headline_id].detach().norm()),
            "batch_hash": hashlib.sha1(repr(sorted(rows)).encode()).hexdigest()[:8],
            "rare_count": sum(r.count(self.headline_id) for r in rows),
            "token_ids": y[y != -100].tolist(), "token_losses": token_losses.detach().tolist(),
            "param_hash": phash, "nonfinite_params": nonfinite,
        }

    def train(self, steps: int | None = None, progress: bool = False) -> RunLog:
        """Run until ``steps`` (default ``cfg.steps``) and return the run log."""
        end = self.cfg.steps if steps is None else steps
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=end - self.step_index, desc=self.cfg.run_id, leave=False)
        t0 = time.perf_counter()
        while self.step_index < end:
            self.step()
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        self.log.meta["wall_seconds"] = round(time.perf_counter() - t0, 2)
        return self.log


def run_variant(variant: str, seed: int = 42, progress: bool = False, **overrides) -> RunLog:
    """Train a named variant (see ``utils.spikelab.config.VARIANTS``) and return its run log.

    Inside a test session (``COURSE_RUN_CACHE`` set) a run trained earlier in the same session
    is reused: see utils/spikelab/runstore.py.
    """
    cfg = config_for(variant, seed=seed, **overrides)
    log = runstore.load(cfg)
    if log is None:
        log = TrainingRun(cfg).train(progress=progress)
        runstore.store(cfg, log)
    return log
