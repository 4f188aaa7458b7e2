"""Every section of every notebook keeps its Spanish summary, marked 🇪🇸 so a learner can skip it, and
the summaries use the Spanish of theory/glossary.md (issue 13; the glossary is read by tests/spanish_text.py,
shared with tests/test_theory_twins.py)."""
from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

from spanish_text import avoided_terms, notebook_summaries, rejected_words

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CALLOUT = "🇪🇸 **Español.**"


def sections_without_callout(text: str) -> list[str]:
    """Headings (#, ##, ###) of markdown sections that hold no 🇪🇸 callout before the next heading."""
    nb = jupytext.reads(text, fmt="py:percent")
    missing, current, found = [], None, True
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            heading = re.match(r"^#{1,3} (.*)", line)
            if heading:
                if not found:
                    missing.append(current)
                current, found = heading.group(1), False
            elif CALLOUT in line:
                found = True
    if not found:
        missing.append(current)
    return missing


@pytest.mark.parametrize("source", sorted(NOTEBOOKS.rglob("*.py")), ids=lambda p: p.stem)
def test_every_section_has_its_spanish_callout(source):
    assert sections_without_callout(source.read_text(encoding="utf-8")) == []


def test_the_check_can_fail():
    text = "# %% [markdown]\n# # Title\n#\n# 🇪🇸 **Español.** Hola.\n\n# %% [markdown]\n# ## Part\n#\n# English only.\n"
    assert sections_without_callout(text) == ["Part"]
    unmarked = "# %% [markdown]\n# # Title\n#\n# **Español.** Hola.\n"
    assert sections_without_callout(unmarked) == ["Title"]


def glossary_misses(source_text: str) -> list[tuple[str, str]]:
    """(word, summary) for each word of the glossary's avoid column used in a 🇪🇸 summary of a notebook source."""
    avoid = avoided_terms()
    return [(term, summary) for summary in notebook_summaries(source_text) for term in rejected_words(summary, avoid)]


@pytest.mark.parametrize("source", sorted(NOTEBOOKS.rglob("*.py")), ids=lambda p: p.stem)
def test_the_spanish_callouts_use_the_glossarys_words(source):
    text = source.read_text(encoding="utf-8")
    assert notebook_summaries(text), f"{source.name}: no 🇪🇸 summary found"
    bad = [f"{term!r} in: {summary[:100]}…" for term, summary in glossary_misses(text)]
    assert not bad, (f"{source.name}: a 🇪🇸 summary uses words theory/glossary.md replaces "
                     "(use its 'Español' column):\n" + "\n".join(bad))


def test_the_glossary_check_can_fail():
    """Made-up source: rejected words in a summary are caught (any case, across a line break); the same
    word in a code cell is not markdown and is left alone."""
    text = ("# %% [markdown]\n# # Title\n#\n# The batch is clipped.\n#\n"
            "# 🇪🇸 **Español.** El Lote pasa por el clipping;\n# vuelve al último punto de\n# control.\n\n"
            "# %%\nprint('un lote en el código no es markdown')\n\n"
            "# %% [markdown]\n# ## Part\n#\n# 🇪🇸 **Español.** El batch y el checkpoint.\n")
    summaries = notebook_summaries(text)
    assert len(summaries) == 2 and summaries[0].endswith("punto de\ncontrol.")
    assert [(term, summary == summaries[0]) for term, summary in glossary_misses(text)] == [
        ("punto de control", True), ("lote", True)]
    fixed = text.replace("El Lote", "El batch").replace("punto de\n# control", "checkpoint")
    assert glossary_misses(fixed) == []
    assert sections_without_callout(fixed) == []
