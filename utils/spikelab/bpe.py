"""A small byte-pair-encoding tokenizer, written by hand because it is the lesson.

Training starts from characters, with a GPT-2-style word-start marker ``▁`` glued to the
first character of every word. It then repeatedly merges the most frequent adjacent pair
*inside words* (ties broken by the pair's text, so the result is deterministic) until no
pair occurs at least ``min_count`` times. Rare words therefore end up split into pieces,
and a piece that only rare words use is itself rare: that is the §A13 story.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

MARK = "▁"             # word-start marker
SPECIALS = ["<pad>", "<s>"]   # id 0 pads a row, id 1 starts and ends a sentence
PAD_ID, BOS_ID = 0, 1


def _words(text: str) -> list[str]:
    return [MARK + w for w in text.split()]


def _merge_word(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


@dataclass
class BPETokenizer:
    """Merges learned in order; ``vocab`` maps a piece to its id."""

    merges: list[tuple[str, str]] = field(default_factory=list)
    vocab: dict[str, int] = field(default_factory=dict)
    whole_words: tuple[str, ...] = ()      # words kept as one token (see with_whole_words)

    @classmethod
    def train(cls, texts: list[str], min_count: int = 4) -> "BPETokenizer":
        """Learn merges from ``texts`` until the best pair occurs fewer than ``min_count`` times."""
        word_counts = Counter(w for t in texts for w in _words(t))
        words = {w: tuple(w) for w in word_counts}
        chars = sorted({c for w in words.values() for c in w})
        merges: list[tuple[str, str]] = []
        while True:
            pairs: Counter = Counter()
            for w, syms in words.items():
                for a, b in zip(syms, syms[1:]):
                    pairs[(a, b)] += word_counts[w]
            if not pairs:
                break
            best = min(pairs, key=lambda p: (-pairs[p], p[0] + p[1], p))
            if pairs[best] < min_count:
                break
            merges.append(best)
            words = {w: _merge_word(s, best) for w, s in words.items()}
        pieces = SPECIALS + chars + [a + b for a, b in merges]
        vocab = {}
        for p in pieces:
            vocab.setdefault(p, len(vocab))
        return cls(merges=merges, vocab=vocab)

    def with_whole_words(self, words: tuple[str, ...]) -> "BPETokenizer":
        """A copy that keeps each of ``words`` as ONE new token (the "re-tokenize" remedy)."""
        vocab = dict(self.vocab)
        for w in words:
            vocab.setdefault(MARK + w, len(vocab))
        return BPETokenizer(merges=list(self.merges), vocab=vocab, whole_words=tuple(words))

    @property
    def id_to_piece(self) -> list[str]:
        out = [""] * len(self.vocab)
        for p, i in self.vocab.items():
            out[i] = p
        return out

    def split_word(self, word: str) -> list[str]:
        """The pieces of one word (without the marker added: pass e.g. ``"written"``)."""
        if word in self.whole_words:
            return [MARK + word]
        syms = tuple(MARK + word)
        for pair in self.merges:
            if len(syms) == 1:
                break
            syms = _merge_word(syms, pair)
        return list(syms)

    def encode_pieces(self, text: str) -> list[str]:
        return [p for w in text.split() for p in self.split_word(w)]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; raises KeyError naming a character the tokenizer never saw."""
        ids = []
        for p in self.encode_pieces(text):
            if p not in self.vocab:
                raise KeyError(f"piece {p!r} is not in the vocabulary (unseen character?)")
            ids.append(self.vocab[p])
        return ids

    def decode(self, ids: list[int]) -> str:
        pieces = self.id_to_piece
        text = "".join(pieces[i] for i in ids if i >= len(SPECIALS))
        return text.replace(MARK, " ").strip()

    def piece_counts(self, texts: list[str]) -> Counter:
        """How often each piece occurs in ``texts``."""
        return Counter(p for t in texts for p in self.encode_pieces(t))
