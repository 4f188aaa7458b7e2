"""The grammar tutor's mini-GPT: a decoder-only transformer on one screen (after nanoGPT).

Choices that matter for the §A13 spike (see theory/phase-17):
- no positional embedding (causal attention still knows order from the mask),
- untied input and output embeddings,
- token embeddings initialised tiny (std 5e-4) while other weights use 0.02,
- pre-LayerNorm blocks: the first LayerNorm divides by the embedding's norm, so a row that
  has never been trained (norm ≈ 0.005) gets its gradient amplified ~100×.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    vocab_size: int
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128
    block_size: int = 32
    emb_init_std: float = 5e-4
    init_std: float = 0.02
    tied: bool = False
    learned_positions: bool = False
    attention: str = "sdpa"      # "sdpa", "manual" (nanoGPT's explicit path) or "naive" (see below)


class SelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.attention = cfg.attention
        self.max_score: torch.Tensor | None = None   # largest attention logit of the last forward (manual/naive)
        self.min_score: torch.Tensor | None = None   # smallest visible (unmasked) logit of the last forward
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if self.attention == "sdpa":
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = self._explicit(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))

    def _explicit(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention written out (Phase 19 patterns). "manual" is nanoGPT's fallback path:
        ``F.softmax`` subtracts each row's maximum before exponentiating. "naive" writes the
        softmax as ``exp(s) / sum(exp(s))`` without that subtraction: exp overflows to inf once a
        logit passes log(max float), about 88.7 in float32 and bfloat16, 11.09 in float16.
        In float16 ``q @ kᵀ`` itself overflows once a product leaves ±65504: a row whose every
        visible logit is -inf has a softmax of 0/0 = nan (``min_score`` shows it)."""
        T = q.shape[-2]
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))
        causal = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
        self.min_score = scores.detach().masked_fill(causal, float("inf")).min()
        scores = scores.masked_fill(causal, float("-inf"))
        self.max_score = scores.detach().max()
        if self.attention == "manual":
            att = F.softmax(scores, dim=-1)
        elif self.attention == "naive":
            e = torch.exp(scores)
            att = e / e.sum(dim=-1, keepdim=True)
        else:
            raise ValueError(f"unknown attention {self.attention!r}")
        return att @ v


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model)
        self.proj = nn.Linear(4 * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class MiniGPT(nn.Module):
    """Token embedding → n pre-LN blocks → final LayerNorm → output head."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.d_model) if cfg.learned_positions else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(self._init)
        nn.init.normal_(self.tok_emb.weight, std=cfg.emb_init_std)
        if cfg.tied:
            self.head.weight = self.tok_emb.weight

    def _init(self, m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=self.cfg.init_std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, time, vocab) for token ids ``idx`` of shape (batch, time)."""
        x = self.tok_emb(idx)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new: int, temperature: float = 1.0,
                 stop_id: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample up to ``max_new`` tokens after ``idx`` (shape (1, t))."""
        for _ in range(max_new):
            logits = self(idx[:, -self.cfg.block_size:])[:, -1, :] / max(temperature, 1e-6)
            nxt = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
            idx = torch.cat([idx, nxt], dim=1)
            if stop_id is not None and nxt.item() == stop_id:
                break
        return idx


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay on matrices (dim ≥ 2), none on biases and LayerNorm gains."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]

