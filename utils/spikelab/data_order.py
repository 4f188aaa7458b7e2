"""Which sentences go into which batch: the only place the §A13 spike is "engineered".

    examples_for(cfg)   the training sentences of a run (tokenised), with ids
    batches_for(cfg)    the list of batches (lists of example ids), one per step
    stratify(...)       re-batch a stream so no batch holds two occurrences of a rare piece

Orders: ``plain`` (per-epoch shuffling), ``late-shard`` (rare sentences held back, then
``shard_batches`` consecutive batches made only of them, then everything shuffled),
``one-batch`` (the rare sentences all in the batch at ``event_step``), ``mixed`` (rare
sentences shuffled in from the start).
"""
from __future__ import annotations

import heapq
import random
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from utils.spikelab import corpus
from utils.spikelab.bpe import MARK, BPETokenizer
from utils.spikelab.config import RunConfig

RARE_WORDS = ("written", "bitten")
NO_RARE_SWAP = {"written": "read", "bitten": "taken"}
RARE_BASE_FORMS = {"written": "write", "bitten": "bite"}


@dataclass(frozen=True)
class Example:
    id: int
    text: str
    ids: tuple[int, ...]
    rare: bool          # holds a rare participle (before any swap)


@lru_cache(maxsize=1)
def tokenizer() -> BPETokenizer:
    """The course tokenizer: trained once on the 240 base training sentences."""
    return BPETokenizer.train(corpus.base_train())


def rare_pieces(tok: BPETokenizer | None = None) -> list[str]:
    """Pieces that occur in the base corpus ONLY inside "written"/"bitten", rarest first."""
    tok = tok or tokenizer()
    texts = corpus.base_train()
    all_counts = tok.piece_counts(texts)
    rare_word_counts = Counter(p for t in texts for w in t.split() if w in RARE_WORDS
                               for p in tok.split_word(w))
    only = [p for p in rare_word_counts if all_counts[p] == rare_word_counts[p]]
    return sorted(only, key=lambda p: (all_counts[p], p))


def headline_piece(tok: BPETokenizer | None = None) -> str:
    """The rare piece the course talks about: the one shared by every rare word (``tten``)."""
    tok = tok or tokenizer()
    shared = set.intersection(*(set(tok.split_word(w)) for w in RARE_WORDS))
    shared &= set(rare_pieces(tok))
    return sorted(shared)[0] if shared else rare_pieces(tok)[0]


def common_replacements(tok: BPETokenizer | None = None) -> dict[str, str]:
    """For the common-piece control: each rare piece → a piece the model knows well.

    A rare word-start piece becomes the word-start piece of the verb's own base form
    (``▁w`` of "written" → ``▁write``), an inner rare piece the most frequent inner piece.
    The sentences keep their length and shape; only the never-trained rows are gone.
    """
    tok = tok or tokenizer()
    counts = tok.piece_counts(corpus.base_train())
    rare = set(rare_pieces(tok))
    inner = max((p for p in counts if not p.startswith(MARK) and p not in rare), key=lambda p: (counts[p], p))
    out = {}
    for word, base in RARE_BASE_FORMS.items():
        for p in tok.split_word(word):
            if p in rare:
                out[p] = tok.split_word(base)[0] if p.startswith(MARK) else inner
    return out


def tokenizer_for(cfg: RunConfig) -> BPETokenizer:
    """The course tokenizer, or its re-tokenized copy when the run keeps whole words."""
    return tokenizer().with_whole_words(cfg.whole_words) if cfg.whole_words else tokenizer()


def examples_for(cfg: RunConfig) -> list[Example]:
    """The run's training sentences: 240 base (+15 extra rare), with the variant's swap."""
    tok = tokenizer_for(cfg)
    texts = corpus.base_train() + (corpus.extra_rare() if cfg.extra_rare else [])
    swap_ids = {}
    if cfg.swap == "common-piece":
        swap_ids = {tok.vocab[a]: tok.vocab[b] for a, b in common_replacements(tok).items()}
    out = []
    for i, text in enumerate(texts):
        rare = corpus.is_rare(text)
        if cfg.swap == "no-rare-piece":
            text = " ".join(NO_RARE_SWAP.get(w, w) for w in text.split())
        ids = tuple(swap_ids.get(t, t) for t in tok.encode(text))
        out.append(Example(id=i, text=text, ids=ids, rare=rare))
    return out


def _epochs(ids: list[int], rng: random.Random, n: int) -> list[int]:
    """A stream of at least ``n`` ids: one shuffled pass after another."""
    stream: list[int] = []
    while len(stream) < n:
        perm = list(ids)
        rng.shuffle(perm)
        stream += perm
    return stream


def _chunk(stream: list[int], size: int) -> list[list[int]]:
    return [stream[i:i + size] for i in range(0, len(stream) - size + 1, size)]


def batches_for(cfg: RunConfig, examples: list[Example] | None = None) -> list[list[int]]:
    """One batch of example ids per step (``cfg.steps`` of them)."""
    examples = examples if examples is not None else examples_for(cfg)
    rng = random.Random(cfg.seed)
    B, S = cfg.batch_size, cfg.event_step
    everyone = [e.id for e in examples]
    ordinary = [e.id for e in examples if not e.rare]
    rare = [e.id for e in examples if e.rare]
    n_after = (cfg.steps + 1) * B
    if cfg.order in ("plain", "mixed"):
        stream = _epochs(everyone, rng, n_after)
    elif cfg.order == "late-shard":
        before = _epochs(ordinary, rng, S * B)[: S * B]
        shard = _epochs(rare, rng, cfg.shard_batches * B)[: cfg.shard_batches * B]
        stream = before + shard + _epochs(everyone, rng, n_after)
    elif cfg.order == "one-batch":
        if len(rare) > B:
            raise ValueError(f"{len(rare)} rare sentences do not fit in one batch of {B}")
        before = _epochs(ordinary, rng, (S + 1) * B)
        event = rare + before[S * B: S * B + B - len(rare)]
        stream = before[: S * B] + event + _epochs(everyone, rng, n_after)
    else:
        raise ValueError(f"unknown order {cfg.order!r}")
    threshold = covering_threshold(examples) if cfg.stratify_covering else cfg.stratify_threshold
    if threshold is not None:
        return stratify(stream, examples, threshold, B)[: cfg.steps]
    return _chunk(stream, B)[: cfg.steps]


def piece_counts(examples: list[Example]) -> Counter:
    """Token-id counts over the run's training sentences."""
    return Counter(t for e in examples for t in e.ids)


def covering_threshold(examples: list[Example]) -> int:
    """A stratification threshold chosen from the counts so that it covers the headline piece:
    the next multiple of 5 above its count (20 occurrences → 25)."""
    count = piece_counts(examples)[tokenizer().vocab[headline_piece()]]  # same id in every tokenizer
    return (count // 5 + 1) * 5


def stratify(stream: list[int], examples: list[Example], threshold: int, batch_size: int) -> list[list[int]]:
    """Re-batch ``stream`` so that no batch holds more than one occurrence of any piece that
    occurs fewer than ``threshold`` times. Order is kept as far as the rule allows: an
    example that would break the rule waits for the next batch.

    O(N log N): examples with the same set of rare pieces share one FIFO queue, and a heap
    holds the queue heads by stream position; a queue that conflicts is skipped for the
    whole batch (all its examples would conflict the same way).
    """
    by_id = {e.id: e for e in examples}
    counts = piece_counts(examples)
    def rare_of(i: int) -> tuple[int, ...]:
        return tuple(sorted(t for t in by_id[i].ids if counts[t] < threshold))
    queues: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for pos, i in enumerate(stream):
        queues.setdefault(rare_of(i), []).append((pos, i))
    heads = {k: 0 for k in queues}
    heap = [(q[0][0], k) for k, q in queues.items()]
    heapq.heapify(heap)
    batches: list[list[int]] = []
    while heap:
        batch, used, skipped = [], Counter(), []
        while heap and len(batch) < batch_size:
            pos, key = heapq.heappop(heap)
            pieces = Counter(key)
            if any(used[t] for t in pieces):   # one sentence may hold a piece twice
                skipped.append((pos, key))
                continue
            used.update(pieces)
            batch.append(queues[key][heads[key]][1])
            heads[key] += 1
            if heads[key] < len(queues[key]):
                heapq.heappush(heap, (queues[key][heads[key]][0], key))
        for item in skipped:
            heapq.heappush(heap, item)
        if len(batch) < batch_size:
            break
        batches.append(batch)
    return batches
