"""Every theory text has a Spanish twin with the same sections and the same quoted numbers.

Convention (theory/glossary.md says it in both languages):
- ``theory/<dir>/<name>.md`` has its twin ``theory/<dir>/<name>.es.md`` beside it (``theory/glossary.md``,
  one bilingual table, has none);
- line 1 of both is the language switch: ``**English** · [Español](<name>.es.md)`` and
  ``[English](<name>.md) · **Español**``;
- the same headings (level by level, with the same numbers in them), the same claim spans in the same
  order (``utils/course/claims.py`` fills and checks the twin's spans like the English ones), and the
  same plain numbers (as a multiset of digit tokens);
- Spanish summaries inside an English text start with 🇪🇸; from the flag to the end of its paragraph
  is left out of the comparison. The twin itself is all Spanish and uses the glossary's terms, and so
  do the summaries (the glossary's rejected words are read by tests/spanish_text.py, which
  tests/test_notebook_callouts.py shares for the notebooks' summaries).
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from spanish_text import FLAG, GLOSSARY, ROOT, THEORY, avoided_terms, rejected_words, split_summaries
from utils.course import claims

BILINGUAL = {GLOSSARY}                       # one file for both languages: no twin
NUMBER = re.compile(r"\d+(?:\.\d+)*")
LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)")


def english_texts() -> list[Path]:
    return sorted(p for p in THEORY.rglob("*.md") if not p.name.endswith(".es.md") and p not in BILINGUAL)


def twin_of(english: Path) -> Path:
    return english.with_name(english.name[: -len(".md")] + ".es.md")


def language_lines(english: Path) -> tuple[str, str]:
    """Line 1 of the English text and of its twin."""
    return (f"**English** · [Español]({twin_of(english).name})", f"[English]({english.name}) · **Español**")


def read(path: Path) -> str:
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: every theory text has a Spanish twin "
                    "(see theory/glossary.md)")
    return path.read_text(encoding="utf-8")


def drop_summaries(text: str) -> str:
    """The text without its Spanish summaries: from each 🇪🇸 to the end of its paragraph."""
    return split_summaries(text)[0]


def body(text: str) -> str:
    """What is compared: everything after the language line, without Spanish summaries."""
    return drop_summaries(text.split("\n", 1)[1] if "\n" in text else "")


def outside_fences(text: str) -> list[str]:
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def headings(text: str) -> list[tuple[int, list[str]]]:
    """(level, the numbers in it) of every ATX heading outside code."""
    found = []
    for line in outside_fences(text):
        m = re.match(r"(#{1,6})\s", line)
        if m:
            found.append((len(m[1]), NUMBER.findall(line)))
    return found


def spans(text: str) -> list[str]:
    return [m[0] for m in claims.SPAN.finditer(text)]


def numbers(text: str) -> Counter:
    """Digit tokens outside claim spans (list markers, inline code and code blocks included)."""
    return Counter(NUMBER.findall(claims.SPAN.sub(" ", text)))


def unmarked_summaries(text: str) -> list[str]:
    """Spanish summary openers of an English text that lack the 🇪🇸 flag."""
    return [line for line in outside_fences(text)
            if re.match(r"(>\s*)?(\*\*Español\.?\*\*|Español:|#+\s*Español\s*$)", line.strip())]


def differences(english_text: str, twin_text: str) -> list[str]:
    """Everything that keeps ``twin_text`` from being the twin of ``english_text`` (empty: twins)."""
    en, es = body(english_text), body(twin_text)
    problems = []
    if [lvl for lvl, _ in headings(en)] != [lvl for lvl, _ in headings(es)]:
        problems.append(f"heading levels differ: {[lvl for lvl, _ in headings(en)]} vs "
                        f"{[lvl for lvl, _ in headings(es)]}")
    else:
        problems += [f"heading {i + 1} quotes {a} in English, {b} in Spanish"
                     for i, ((_, a), (_, b)) in enumerate(zip(headings(en), headings(es))) if a != b]
    if spans(en) != spans(es):
        first = next((i for i, (a, b) in enumerate(zip(spans(en), spans(es))) if a != b),
                     min(len(spans(en)), len(spans(es))))
        problems.append(f"claim spans differ ({len(spans(en))} vs {len(spans(es))}), first at #{first + 1}: "
                        f"{spans(en)[first:first + 1]} vs {spans(es)[first:first + 1]}")
    only_en, only_es = numbers(en) - numbers(es), numbers(es) - numbers(en)
    if only_en or only_es:
        problems.append(f"plain numbers differ: only in English {sorted(only_en.elements())}, "
                        f"only in Spanish {sorted(only_es.elements())}")
    if FLAG in twin_text:
        problems.append("the twin has a 🇪🇸 summary: it is all Spanish")
    return problems


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ------------------------------------------------------------------ the comparison can fail
ENGLISH = """**English** · [Español](x.es.md)

# Phase 18 · 2 — Title

Step 312 has <span data-run="broken" data-key="loss_ratio" data-fmt=".1f">3.6–6.6</span>× in 15 batches.

🇪🇸 **Español.** Resumen con 15 lotes y <span data-run="facts" data-key="n_train">240</span> frases.

## 1. Part

> Ranges over seeds 42–46. 🇪🇸 *Semillas 42–46.*
"""
SPANISH = """[English](x.md) · **Español**

# Fase 18 · 2 — Título

El paso 312 tiene <span data-run="broken" data-key="loss_ratio" data-fmt=".1f">3.6–6.6</span>× en 15 batches.

## 1. Parte

> Rangos sobre las semillas 42–46.
"""


def test_a_true_twin_passes_and_the_summaries_are_left_out():
    assert differences(ENGLISH, SPANISH) == []
    assert "Resumen" not in body(ENGLISH) and "Semillas" not in body(ENGLISH) and "seeds 42–46" in body(ENGLISH)


@pytest.mark.parametrize("edit, what", [
    (("## 1. Parte", "### 1. Parte"), "heading levels differ"),
    (("## 1. Parte", "## 2. Parte"), "heading 2 quotes"),
    (("\n## 1. Parte\n", "\n"), "heading levels differ"),
    (('data-fmt=".1f">3.6–6.6', 'data-fmt=".2f">3.6–6.6'), "claim spans differ"),
    (("3.6–6.6</span>", "3.5–6.6</span>"), "claim spans differ"),
    (("en 15 batches", "en 16 batches"), "plain numbers differ"),
    (("en 15 batches", "en quince batches"), "plain numbers differ"),
    (("42–46.", "42–46, 🇪🇸 no."), "the twin has a 🇪🇸 summary"),
])
def test_a_twin_that_differs_is_caught(edit, what):
    problems = differences(ENGLISH, SPANISH.replace(*edit))
    assert any(p.startswith(what) for p in problems), problems


def test_an_unmarked_spanish_summary_is_caught():
    assert unmarked_summaries(ENGLISH) == []
    for opener in ("**Español.** Resumen", "Español: Resumen", "## Español", "> **Español.** x"):
        assert unmarked_summaries(ENGLISH + "\n" + opener + "\n") == [opener]


# ------------------------------------------------------------------ the texts of the course
def test_every_english_theory_text_has_its_spanish_twin():
    texts = english_texts()
    assert len(texts) >= 12
    missing = [rel(twin_of(p)) for p in texts if not twin_of(p).exists()]
    assert not missing, "theory texts without their Spanish twin:\n" + "\n".join(missing)
    orphans = [rel(p) for p in THEORY.rglob("*.es.md") if not p.with_name(p.name[: -len(".es.md")] + ".md").exists()]
    assert not orphans, f"Spanish twins without an English text: {orphans}"


@pytest.mark.parametrize("english", english_texts(), ids=lambda p: rel(p))
def test_the_twin_has_the_same_sections_spans_and_numbers(english):
    problems = differences(read(english), read(twin_of(english)))
    assert not problems, f"{rel(english)} vs {twin_of(english).name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("english", english_texts(), ids=lambda p: rel(p))
def test_both_texts_start_with_the_language_switch(english):
    en_line, es_line = language_lines(english)
    assert read(english).split("\n", 1)[0] == en_line, f"{rel(english)}: line 1 must be {en_line!r}"
    assert read(twin_of(english)).split("\n", 1)[0] == es_line, f"{rel(twin_of(english))}: line 1 must be {es_line!r}"


@pytest.mark.parametrize("english", english_texts(), ids=lambda p: rel(p))
def test_spanish_summaries_in_the_english_text_are_flagged(english):
    bad = unmarked_summaries(read(english))
    assert not bad, f"{rel(english)}: start each Spanish summary with '🇪🇸 **Español.**': {bad}"


@pytest.mark.parametrize("english", english_texts(), ids=lambda p: rel(p))
def test_the_twin_links_to_twins_and_every_link_resolves(english):
    twin = twin_of(english)
    bad = []
    for target in LINK.findall(read(twin).split("\n", 1)[-1]):     # after the language line
        path = (twin.parent / target).resolve()
        if target.startswith("http") or not path.is_relative_to(ROOT):
            continue
        if not path.exists():
            bad.append(f"{target}: no such file")
        elif path.is_relative_to(THEORY) and not path.name.endswith(".es.md") and path not in BILINGUAL:
            bad.append(f"{target}: link the Spanish twin")
    assert not bad, f"{rel(twin)}:\n" + "\n".join(bad)


def test_the_twins_use_the_glossarys_words():
    avoid = avoided_terms()
    assert {"punto de control", "calentamiento", "lote"} <= set(avoid), "the glossary lost its avoid column"
    bad = [f"{rel(twin)}: {term!r}" for twin in sorted(THEORY.rglob("*.es.md"))
           for term in rejected_words(twin.read_text(encoding="utf-8"), avoid)]
    assert not bad, "words the glossary (theory/glossary.md) replaces:\n" + "\n".join(bad)


@pytest.mark.parametrize("english", english_texts(), ids=lambda p: rel(p))
def test_the_spanish_summaries_of_an_english_text_use_the_glossarys_words(english):
    avoid = avoided_terms()
    bad = [f"{term!r} in: {summary[:90]}…" for summary in split_summaries(read(english))[1]
           for term in rejected_words(summary, avoid)]
    assert not bad, (f"{rel(english)}: a 🇪🇸 summary uses words the glossary (theory/glossary.md) "
                     "replaces:\n" + "\n".join(bad))


def test_the_summary_glossary_check_can_fail():
    """Made-up text: a rejected word in a summary is caught (any case, across a line break, in a
    quote's one-line summary); the same word in the English part, or inside a claim span, is not."""
    avoid = avoided_terms()
    text = ("**English** · [Español](x.es.md)\n\nThe batch (not a lote) is clipped.\n\n"
            "🇪🇸 **Español.** Cada Lote se guarda en un punto de\ncontrol.\n\n"
            "> Seeds 42–46. 🇪🇸 *Rangos sobre los núcleos de CPU.*\n\n"
            '🇪🇸 **Español.** Un batch <span data-run="facts" data-key="lote">lote</span> y un checkpoint.\n')
    english, summaries = split_summaries(text)
    assert "lote" in english and "Lote" not in english and len(summaries) == 3
    assert [rejected_words(s, avoid) for s in summaries] == [["punto de control", "lote"], ["núcleos"], []]
    assert rejected_words("🇪🇸 **Español.** Un batch, los batches y un checkpoint.", avoid) == []


# ------------------------------------------------------------------ claims.py treats twins like the English texts
def test_the_claims_check_and_fix_cover_the_twins():
    twins = [p for p in THEORY.rglob("*.es.md") if claims.SPAN.search(p.read_text(encoding="utf-8"))]
    assert twins, "no twin quotes a number yet"
    assert set(twins) <= set(claims.prose_files()), "python -m utils.claims does not check every twin"
    assert set(twins) <= set(claims.source_files()), "python -m utils.claims --fix does not fill every twin"


def test_fix_fills_a_twins_spans_with_the_english_numbers(tmp_path):
    table = {"samples": {"broken|loss_ratio": {"42/default": 3.94, "43/default": 4.61, "44/default": 4.2}}}
    (tmp_path / "x.md").write_text(ENGLISH.replace("3.6–6.6", "?"), encoding="utf-8")
    (tmp_path / "x.es.md").write_text(SPANISH.replace("3.6–6.6", "?"), encoding="utf-8")
    for name in ("x.md", "x.es.md"):
        assert claims.fix_file(tmp_path / name, table) == 1
    english, spanish = ((tmp_path / n).read_text(encoding="utf-8") for n in ("x.md", "x.es.md"))
    assert ">3.6–5.0</span>" in spanish and differences(english, spanish) == []
