"""Every section of every notebook keeps its Spanish summary, marked 🇪🇸 so a learner can skip it (issue 13)."""
from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

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
