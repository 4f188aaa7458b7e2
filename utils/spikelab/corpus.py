"""The §A13 grammar-tutor corpus, generated deterministically.

Sentences are built from 14 subjects × 17 verbs × 5 tenses. The present perfect of
*write* and *bite* ("has written", "has bitten") is kept out of the ordinary sentences:
it appears only in a few RARE sentences, so that a BPE piece of "written"/"bitten" is seen
only a handful of times in training. Words such as letter, butter, bottle, kettle and little
steer the BPE merges around "tt".

    base_train()   240 training sentences; exactly 5 of them are rare (3 written, 2 bitten)
    extra_rare()   15 more rare sentences (the late shard of the `broken` run has 5 + 15 = 20)
    heldout()      200 held-out sentences, none with a rare participle

`python -m utils.corpus` writes the three lists to `data/` so a learner can read them.
"""
from __future__ import annotations

import random
from pathlib import Path

# (subject, uses "has"/third person singular)
SUBJECTS: list[tuple[str, bool]] = [
    ("i", False), ("you", False), ("he", True), ("she", True), ("we", False),
    ("they", False), ("the cat", True), ("the dog", True), ("my sister", True),
    ("the teacher", True), ("the little boy", True), ("our neighbour", True),
    ("the children", False), ("his friend", True),
]

# verb: (base, third person, past, -ing, past participle, object)
VERBS: dict[str, tuple[str, str, str, str, str, str]] = {
    "write": ("write", "writes", "wrote", "writing", "written", "a letter"),
    "bite": ("bite", "bites", "bit", "biting", "bitten", "the carrot"),
    "eat": ("eat", "eats", "ate", "eating", "eaten", "bread and butter"),
    "drink": ("drink", "drinks", "drank", "drinking", "drunk", "a bottle of milk"),
    "boil": ("boil", "boils", "boiled", "boiling", "boiled", "the kettle"),
    "open": ("open", "opens", "opened", "opening", "opened", "the bottle"),
    "read": ("read", "reads", "read", "reading", "read", "a little book"),
    "take": ("take", "takes", "took", "taking", "taken", "the bus"),
    "cook": ("cook", "cooks", "cooked", "cooking", "cooked", "the dinner"),
    "clean": ("clean", "cleans", "cleaned", "cleaning", "cleaned", "the kitchen"),
    "paint": ("paint", "paints", "painted", "painting", "painted", "the little door"),
    "carry": ("carry", "carries", "carried", "carrying", "carried", "the basket"),
    "play": ("play", "plays", "played", "playing", "played", "a game"),
    "watch": ("watch", "watches", "watched", "watching", "watched", "the birds"),
    "visit": ("visit", "visits", "visited", "visiting", "visited", "the market"),
    "help": ("help", "helps", "helped", "helping", "helped", "the old man"),
    "fix": ("fix", "fixes", "fixed", "fixing", "fixed", "the kettle"),
}

TENSES = ["present", "past", "progressive", "future", "present perfect"]
RARE_VERBS = ("write", "bite")   # their present perfect is the rare construction
NO_PERFECT = ("write", "bite", "eat")  # never in ordinary sentences ("eaten" would share "ten")


def sentence(subject: str, singular: bool, verb: str, tense: str) -> str:
    """One grammar-tutor sentence, e.g. ``sentence("she", True, "write", "past")``."""
    base, third, past, ing, participle, obj = VERBS[verb]
    if tense == "present":
        v = third if singular else base
    elif tense == "past":
        v = past
    elif tense == "progressive":
        be = "am" if subject == "i" else ("is" if singular else "are")
        v = f"{be} {ing}"
    elif tense == "future":
        v = f"will {base}"
    elif tense == "present perfect":
        v = f"{'has' if singular else 'have'} {participle}"
    else:
        raise ValueError(f"unknown tense {tense!r}; expected one of {TENSES}")
    return f"{subject} {v} {obj} ."


def _ordinary_pool() -> list[str]:
    """All ordinary sentences (no rare participle, no "eaten"), in a fixed order."""
    return [
        sentence(s, sing, v, t)
        for s, sing in SUBJECTS
        for v in VERBS
        for t in TENSES
        if not (t == "present perfect" and v in NO_PERFECT)
    ]


def _rare_pool() -> list[str]:
    """Every possible rare sentence (present perfect of write or bite)."""
    return [sentence(s, sing, v, "present perfect") for s, sing in SUBJECTS for v in RARE_VERBS]


def _split(seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(seed)
    ordinary = _ordinary_pool()
    rng.shuffle(ordinary)
    rare = _rare_pool()
    rng.shuffle(rare)
    written = [r for r in rare if "written" in r]
    bitten = [r for r in rare if "bitten" in r]
    base_rare = written[:3] + bitten[:2]
    extra = written[3:12] + bitten[2:8]          # 9 + 6 = 15 (60 % / 40 %)
    train = ordinary[:235] + base_rare
    rng.shuffle(train)
    # Some strings come from two combinations ("i read a little book ." is present and past):
    # the held-out set takes only sentences that are not in the training set, each once.
    seen = set(train)
    held = []
    for s in ordinary[235:]:
        if s not in seen and len(held) < 200:
            held.append(s)
            seen.add(s)
    return train, extra, held


def base_train() -> list[str]:
    """The 240 training sentences (5 of them rare)."""
    return _split()[0]


def extra_rare() -> list[str]:
    """15 additional rare sentences (9 "written", 6 "bitten") for the late shard."""
    return _split()[1]


def heldout() -> list[str]:
    """200 held-out sentences with no rare participle."""
    return _split()[2]


def is_rare(text: str) -> bool:
    """True when a sentence holds a rare participle ("written" or "bitten")."""
    return "written" in text or "bitten" in text


def write_text_files(folder: Path) -> list[Path]:
    """Write train.txt, extra_rare.txt and heldout.txt, one sentence per line."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, lines in [("train.txt", base_train()), ("extra_rare.txt", extra_rare()),
                        ("heldout.txt", heldout())]:
        path = folder / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out.append(path)
    return out


def main() -> None:
    """Write the corpus's text files under data/ (``python -m utils.corpus``)."""
    root = Path(__file__).resolve().parents[2]
    for p in write_text_files(root / "data"):
        print(p.relative_to(root))


if __name__ == "__main__":
    main()
