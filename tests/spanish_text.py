"""The rules every Spanish text of the course follows, in one place for the tests that check them.

- ``theory/glossary.md`` fixes the Spanish terms; its last column lists the words a Spanish text must
  not use (``lote``, ``punto de control``, ...). :func:`avoided_terms` reads that column and
  :func:`rejected_words` finds them in a text.
- An English text (a theory text, a notebook's markdown) carries short Spanish summaries, each opened
  by the 🇪🇸 flag and running to the end of its paragraph: :func:`split_summaries` separates them from
  the English, so the twin test can leave them out and the glossary tests can check only them.

Used by tests/test_theory_twins.py, tests/test_notebook_callouts.py and tests/test_spanish_in_code.py
(not a test module itself).
"""
from __future__ import annotations

import re
from pathlib import Path

import jupytext

from utils.course import claims

ROOT = Path(__file__).resolve().parents[1]
THEORY = ROOT / "theory"
GLOSSARY = THEORY / "glossary.md"
FLAG = "🇪🇸"


def split_summaries(text: str) -> tuple[str, list[str]]:
    """(the text without its Spanish summaries, the summaries): a summary runs from a 🇪🇸 to the end
    of its paragraph (a blank line, or a bare ``>`` inside a quote)."""
    kept, found, current = [], [], None
    for line in text.splitlines():
        if not line.strip(" >"):
            current = None
        if current is not None:
            current.append(line)
            continue
        if FLAG in line:
            current = [line[line.index(FLAG):]]
            found.append(current)
            line = line[: line.index(FLAG)].rstrip()
            if not line.strip(" >"):
                continue
        kept.append(line)
    return "\n".join(kept), ["\n".join(lines) for lines in found]


def avoided_terms(glossary: str | None = None) -> list[str]:
    """The glossary's last column ("not in a twin (avoid)"): words a Spanish text must not use."""
    text = GLOSSARY.read_text(encoding="utf-8") if glossary is None else glossary
    terms = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and cells[2] and not set(cells[2]) <= set("-: "):
            terms += [t.strip() for t in cells[2].split(",") if t.strip() and "avoid" not in t]
    return terms


def rejected_words(text: str, terms: list[str]) -> list[str]:
    """The ``terms`` that ``text`` uses as whole words (any case, across line breaks; claim spans,
    whose text is a number, are left out)."""
    flat = " ".join(claims.SPAN.sub(" ", text).lower().split())
    return [t for t in terms if re.search(rf"\b{re.escape(' '.join(t.lower().split()))}\b", flat)]


def notebook_markdown(source_text: str) -> list[str]:
    """The markdown cells of a notebook's percent source, without their ``# `` prefixes."""
    return [c.source for c in jupytext.reads(source_text, fmt="py:percent").cells if c.cell_type == "markdown"]


def notebook_summaries(source_text: str) -> list[str]:
    """Every 🇪🇸 summary in a notebook source's markdown."""
    return [s for cell in notebook_markdown(source_text) for s in split_summaries(cell)[1]]
