"""The Spanish a learner reads from code uses the glossary too (issue 13): the Spanish side of every
``say(english, spanish)`` and every plain text given to a ``Choice(...)`` question, in the notebook
sources and in utils/, avoids the words of theory/glossary.md's last column (``lote``, ``recorte``,
``tasa de aprendizaje``, ...). The markdown's 🇪🇸 summaries are checked by tests/test_notebook_callouts.py;
the glossary is read, and the words found, by tests/spanish_text.py.

And nothing a learner reads from an exercise is English only: the grader reports a hidden check cell's
assert message as that exercise's feedback, in the learner's language, and a stub's ``exercise_todo(id, what)``
prints ``what`` while the exercise waits; both are ``say(english, spanish)``, and the cell that uses ``say``
has it imported where the graded copy or the learner's copy keeps it.
"""
from __future__ import annotations

import ast
import re
from string import Formatter

import pytest

from spanish_text import ROOT, avoided_terms, rejected_words
from utils.course.notebook_source import read_source

NOTEBOOK_SOURCES = sorted((ROOT / "notebooks").rglob("*.py"))   # percent sources: plain Python files
UTILS_MODULES = sorted((ROOT / "utils").rglob("*.py"))


def _name(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _text(node: ast.AST) -> str | None:
    """The text of a str literal or f-string (its fixed parts; a field becomes a space), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return " ".join(v.value for v in node.values if isinstance(v, ast.Constant))
    return None


def spanish_texts(source: str) -> list[tuple[int, str]]:
    """(line, text) of the Spanish shown from ``source``: the second argument of each ``say`` call, and each
    literal given to a ``Choice`` (its question and options) outside a ``say`` (one text for both languages)."""
    tree = ast.parse(source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    inside_say, found = set(), []
    for call in calls:
        if _name(call.func) == "say":
            inside_say.update(id(n) for n in ast.walk(call))
            if len(call.args) >= 2 and _text(call.args[1]) is not None:
                found.append((call.args[1].lineno, _text(call.args[1])))
    keys = {id(key) for n in ast.walk(tree) if isinstance(n, ast.Dict) for key in n.keys}   # "a", "b": not shown
    for call in calls:
        if _name(call.func) == "Choice":
            shown = call.args[2:] + [kw.value for kw in call.keywords if kw.arg in ("question", "options")]
            found += [(n.lineno, _text(n)) for arg in shown for n in ast.walk(arg)
                      if _text(n) is not None and id(n) not in inside_say | keys]
    return sorted(found)


def glossary_misses(source: str) -> list[str]:
    """``line: 'word' in: text`` for each glossary-avoided word in the Spanish of ``source``."""
    avoid = avoided_terms()
    return [f"{line}: {term!r} in: {text[:90]}…" for line, text in spanish_texts(source)
            for term in rejected_words(text, avoid)]


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.stem)
def test_the_notebooks_code_speaks_the_glossarys_spanish(source):
    bad = glossary_misses(source.read_text(encoding="utf-8"))
    assert not bad, (f"{source.relative_to(ROOT)}: Spanish in a say()/Choice() uses words theory/glossary.md "
                     "replaces (use its 'Español' column):\n" + "\n".join(bad))


def test_the_utils_messages_speak_the_glossarys_spanish():
    bad = [f"{path.relative_to(ROOT)}:{miss}" for path in UTILS_MODULES
           for miss in glossary_misses(path.read_text(encoding="utf-8"))]
    assert not bad, "Spanish in a say() uses words theory/glossary.md replaces:\n" + "\n".join(bad)


def test_the_scan_reaches_every_question():
    """Every Choice question of the notebooks is seen: each has a Spanish question text and option texts."""
    questions = sum(source.read_text(encoding="utf-8").count("= Choice(") for source in NOTEBOOK_SOURCES)
    spanish = [text for source in NOTEBOOK_SOURCES for _, text in spanish_texts(source.read_text(encoding="utf-8"))]
    assert questions >= 10 and len(spanish) >= 7 * questions
    assert any(text.startswith("¿") for text in spanish)


def test_the_code_check_can_fail():
    """Made-up cell: a rejected word on the Spanish side of say (any case, across an implicit string join, in an
    f-string) and in a Choice text written without say is caught; the English side, a comment, a plain print and
    a dict key are not scanned."""
    snippet = '''
# un lote en un comentario no se muestra
print("lote")
q = Choice("19.01", "clip-q", say("Does the batch clip?", "¿Recorta el Lote? El "
                                   "punto de control"), options={
    "a": (say(f"Batch {1}", f"Lote {1}"), "la tasa de aprendizaje, sin say"),
    "b": (say("clip", "clip"), say("The warmup.", "El warmup.")),
}, right="a")
msg = say("the calendar", "el calendario")
'''
    assert [(line, text) for line, text in spanish_texts(snippet)] == [
        (4, "¿Recorta el Lote? El punto de control"), (6, "Lote "), (6, "la tasa de aprendizaje, sin say"),
        (7, "El warmup."), (7, "clip"), (9, "el calendario")]
    assert [miss.split(" in:")[0] for miss in glossary_misses(snippet)] == [
        "4: 'punto de control'", "4: 'lote'", "6: 'lote'", "6: 'tasa de aprendizaje'", "9: 'calendario'"]
    fixed = (snippet.replace("Lote", "batch").replace("punto de control", "checkpoint")
             .replace("la tasa de aprendizaje", "el LR").replace("el calendario", "el schedule"))
    assert glossary_misses(fixed) == []


# --------------------------------------------------------------------------- exercise feedback (issue 13)


def _imports_say(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.ImportFrom) and n.module == "utils.text" and any(a.name == "say" for a in n.names)
               for n in ast.walk(tree))


def _outside_say(node: ast.AST, exercise_id: str) -> list[tuple[int, str]]:
    """(line, text) of each literal text under ``node`` that is not inside a ``say`` call: a learner would read it
    in English whatever their language. A literal that is only the exercise id and punctuation is no English; a
    key (``r["loss"]``) or a function's argument (``round(x, "f")``) is not part of the message."""
    found = []

    def visit(n: ast.AST) -> None:
        if isinstance(n, ast.Call):
            if _name(n.func) != "say":
                visit(n.func)                          # "...".format(x) is a message, f(x, "key") is not
            return
        if isinstance(n, ast.Subscript):
            visit(n.value)
            return
        text = _text(n)
        if text is not None and re.search(r"[^\W\d_]", text.replace(exercise_id, "")):
            found.append((n.lineno, text))
            if isinstance(n, ast.JoinedStr):           # its fields may hold a say of their own, or more text
                for field in n.values:
                    if isinstance(field, ast.FormattedValue):
                        visit(field.value)
            return
        for child in ast.iter_child_nodes(n):
            visit(child)

    visit(node)
    return found


def _says_one_text_twice(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of each ``say`` whose two texts are not two different strings."""
    return [(c.lineno, ast.unparse(c)[:80]) for c in ast.walk(tree) if isinstance(c, ast.Call) and _name(c.func) == "say"
            and (len(c.args) != 2 or ast.dump(c.args[0]) == ast.dump(c.args[1]))]


def exercise_feedback(source: str) -> tuple[list[str], int]:
    """(problems, number of messages seen) of a notebook source's exercise cells.

    A check cell's assert messages, and the texts its helper functions return (they end up in a message), and
    a stub's ``exercise_todo`` texts must be said in both languages: a problem is ``cell N: line L: 'text'``
    for a text outside ``say``, or for a ``say`` of one text twice, or a ``say`` that the cell's notebook
    does not import where it runs (a check cell imports it itself, since the graded copy keeps the learner's
    cells as the learner left them; a stub may use the notebook's import above it, which the learner's copy keeps)."""
    _, cells = read_source(source)
    problems, seen, imported = [], 0, False
    for number, cell in enumerate(cells, start=1):
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        where = f"cell {number} ({cell.role} {cell.exercise})"
        if cell.role == "check":
            shown = [n.msg for n in ast.walk(tree) if isinstance(n, ast.Assert) and n.msg is not None]
            shown += [n.value for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.Lambda))
                      for n in ast.walk(f) if isinstance(n, ast.Return) and n.value is not None]
        elif cell.role == "stub":
            shown = [arg for n in ast.walk(tree) if isinstance(n, ast.Call) and _name(n.func) == "exercise_todo"
                     for arg in n.args[1:]]
        else:
            imported = imported or _imports_say(tree)      # a plain cell: the learner's copy keeps it
            continue
        shown.sort(key=lambda node: (node.lineno, node.col_offset))
        seen += sum(1 for node in shown if any(_text(n) is not None for n in ast.walk(node)))
        problems += [f"{where}: line {line}: {text!r} is not in say(english, spanish)"
                     for node in shown for line, text in _outside_say(node, cell.exercise or "")]
        problems += [f"{where}: line {line}: say needs two different texts: {text}"
                     for line, text in _says_one_text_twice(tree)]
        uses_say = any(isinstance(n, ast.Name) and n.id == "say" for n in ast.walk(tree))
        has_say = _imports_say(tree) or (cell.role == "stub" and imported)
        if uses_say and not has_say:
            problems.append(f"{where}: uses say without importing it " + (
                "in the cell (the graded copy must not depend on the learner's cells)" if cell.role == "check"
                else "in the cell or a plain cell above it"))
    return problems, seen


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.stem)
def test_exercise_feedback_is_said_in_both_languages(source):
    problems, _ = exercise_feedback(source.read_text(encoding="utf-8"))
    assert not problems, (f"{source.relative_to(ROOT)}: a learner who chose Español would read English here "
                          "(write it as say(english, spanish)):\n" + "\n".join(problems))


def test_the_feedback_scan_reaches_every_exercise_message():
    """The scan sees the messages it should: the course's check cells hold well over 35 of them."""
    seen = sum(exercise_feedback(source.read_text(encoding="utf-8"))[1] for source in NOTEBOOK_SOURCES)
    assert seen >= 60


def test_the_feedback_scan_can_fail():
    """Made-up source: a plain English assert message, an English text a check's helper returns, a stub's English
    ``what``, a say of one text twice and a check cell relying on an import it does not make are each caught; a
    message that is only the exercise id, a say in both languages and the code around them are not."""
    snippet = '''# %%
from utils.course.exercises import exercise_todo

# %% tags=["stub"] exercise="ema-50"
ema = exercise_todo("ema-50", "compute the EMA")

# %% tags=["solution"] exercise="ema-50"
ema = [1.0]

# %% tags=["check"] exercise="ema-50"
from utils.text import say


def _why(values):
    if not values:
        return f"no values at all, {len(values)}"
    return say("too many values", "demasiados valores") if len(values) > 9 else None


assert len(ema) == 1, "ema-50: one EMA value per step"
assert ema, "ema-50: " + _why(ema)
assert ema[0] == 1.0, say(f"ema-50: got {ema[0]}", f"ema-50: da {ema[0]}")
assert ema != [2.0], say("ema-50: twice", "ema-50: twice")
assert ema != [3.0], f"ema-50: {say('too high', 'demasiado alto')}"

# %% tags=["stub"] exercise="total"
total = exercise_todo("total", say("add them", "súmalos"))

# %% tags=["solution"] exercise="total"
total = 6

# %% tags=["check"] exercise="total"
assert total == 6, say(f"total: expected 6, got {total}", f"total: se esperaba 6, se obtuvo {total}")
'''
    problems, seen = exercise_feedback(snippet)
    assert problems == [
        "cell 2 (stub ema-50): line 1: 'compute the EMA' is not in say(english, spanish)",
        "cell 4 (check ema-50): line 6: 'no values at all, ' is not in say(english, spanish)",
        "cell 4 (check ema-50): line 10: 'ema-50: one EMA value per step' is not in say(english, spanish)",
        "cell 4 (check ema-50): line 13: say needs two different texts: say('ema-50: twice', 'ema-50: twice')",
        "cell 5 (stub total): uses say without importing it in the cell or a plain cell above it",
        "cell 7 (check total): uses say without importing it in the cell (the graded copy must not depend on "
        "the learner's cells)",
    ]
    assert seen == 10
    fixed = (snippet.replace("# %%\nfrom utils.course.exercises import exercise_todo",
                             "# %%\nfrom utils.course.exercises import exercise_todo\nfrom utils.text import say")
             .replace('"compute the EMA"', 'say("compute the EMA", "calcula la EMA")')
             .replace('f"no values at all, {len(values)}"', 'say(f"no values, {len(values)}", f"sin valores, {len(values)}")')
             .replace('"ema-50: one EMA value per step"', 'say("ema-50: one per step", "ema-50: uno por paso")')
             .replace('"ema-50: twice")', '"ema-50: dos veces")')
             .replace('# %% tags=["check"] exercise="total"\n', '# %% tags=["check"] exercise="total"\nfrom utils.text import say\n'))
    assert exercise_feedback(fixed) == ([], 10)


# --------------------------------------------------------------------------- the learner's own numbers (issue 13)

YOURS_MODULE = "utils.course.yours"


def _yours_names(trees: list[ast.AST]) -> tuple[set[str], set[str]]:
    """(names bound to ``utils.course.yours.show`` — ``show``, ``show_yours`` —, names bound to the module itself)
    by the imports of a notebook's code cells: a figure helper of the notebook's own called ``show`` is not it."""
    functions, modules = set(), set()
    for tree in trees:
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.module == YOURS_MODULE:
                functions |= {a.asname or a.name for a in n.names if a.name == "show"}
            elif isinstance(n, ast.ImportFrom) and n.module == "utils.course":
                modules |= {a.asname or a.name for a in n.names if a.name == "yours"}
            elif isinstance(n, ast.Import):
                modules |= {a.asname for a in n.names if a.name == YOURS_MODULE and a.asname}
    return functions, modules


def _fields(template: str) -> list[tuple[str, str, str]]:
    """The ``{field!conversion:spec}`` of a format template, sorted (a translation may reorder them)."""
    return sorted((name, conversion or "", spec or "") for _, name, spec, conversion in Formatter().parse(template)
                  if name is not None)


def _bilingual_template(node: ast.AST | None) -> str | None:
    """Why ``node`` is not ``say("English {x}", "Español {x}")`` (two plain str literals, the same fields), or None."""
    if node is None:
        return None
    if not (isinstance(node, ast.Call) and _name(node.func) == "say"):
        return "is not say(english, spanish)"
    texts = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if len(node.args) != 2 or len(texts) != 2 or node.keywords:
        return "say needs two plain string literals (no f-string: pass the value as a field)"
    try:
        english, spanish = _fields(texts[0]), _fields(texts[1])
    except ValueError as err:
        return f"is not a format template: {err}"
    if english != spanish:
        return f"the two templates' fields differ: {english} vs {spanish}"
    return None


def yours_templates(source: str) -> tuple[list[str], int]:
    """(problems, number of calls seen) of a notebook source's calls to ``utils.course.yours.show``: each template
    (its first argument) and each ``label=`` given must be a ``say`` of two literals with the same fields."""
    _, cells = read_source(source)
    trees = [(number, ast.parse(cell.source)) for number, cell in enumerate(cells, start=1) if cell.cell_type == "code"]
    functions, modules = _yours_names([tree for _, tree in trees])
    problems, seen = [], 0
    for number, tree in trees:
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            func = call.func
            if not ((isinstance(func, ast.Name) and func.id in functions) or (
                    isinstance(func, ast.Attribute) and func.attr == "show" and isinstance(func.value, ast.Name)
                    and func.value.id in modules)):
                continue
            seen += 1
            template = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "template"), None)
            label = call.args[2] if len(call.args) > 2 else next((k.value for k in call.keywords if k.arg == "label"), None)
            where = f"cell {number}: line {call.lineno}: {ast.unparse(call)[:70]}…"
            if template is None:
                problems.append(f"{where}: no template")
            for part, node in (("template", template), ("label", label)):
                why = _bilingual_template(node)
                if why:
                    problems.append(f"{where}: its {part} {why}")
    return problems, seen


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.stem)
def test_your_numbers_are_said_in_both_languages(source):
    problems, _ = yours_templates(source.read_text(encoding="utf-8"))
    assert not problems, (f"{source.relative_to(ROOT)}: a show()/show_yours() line of the learner's own numbers "
                          "would read in English after a Spanish label (write its template as "
                          "say(english, spanish), the same {fields} in both):\n" + "\n".join(problems))


def test_the_your_numbers_scan_reaches_every_call():
    """The scan sees the course's calls (about 40), and only them: the notebooks' own figure ``show`` is not one."""
    seen = sum(yours_templates(source.read_text(encoding="utf-8"))[1] for source in NOTEBOOK_SOURCES)
    assert seen >= 40


def test_the_your_numbers_scan_can_fail():
    """Made-up source: an English-only template, an f-string, a say with one literal, a say whose fields differ
    and an English-only label are caught; plt.show(), a figure helper called show, and bilingual templates
    (fields reordered in Spanish) are not."""
    snippet = '''# %%
import matplotlib.pyplot as plt
from utils.course.yours import show as show_yours
from utils.course import yours
from utils.text import say


def show(fig):
    return fig

# %%
show_yours("your spike at step {spike_step}", s)
show_yours(f"`{name}`: rise {rise}", s)
yours.show(say("step {step}", spanish), s)
show_yours(say("loss **{loss:.1f}×** at step {step}", "pérdida **{loss:.2f}×** en el paso {step}"), s)
show_yours(say("step {step}, loss {loss}", "pérdida {loss} en el paso {step}"), s, label="Your budget")
show(plt.figure())
plt.show()
'''
    problems, seen = yours_templates(snippet)
    assert [p.split(":")[0:2] + [p.rsplit(": its ", 1)[1].split(":")[0]] for p in problems] == [
        ["cell 2", " line 1", "template is not say(english, spanish)"],
        ["cell 2", " line 2", "template is not say(english, spanish)"],
        ["cell 2", " line 3", "template say needs two plain string literals (no f-string"],
        ["cell 2", " line 4", "template the two templates' fields differ"],
        ["cell 2", " line 5", "label is not say(english, spanish)"],
    ]
    assert seen == 5
    fixed = (snippet.replace('"your spike at step {spike_step}"',
                             'say("your spike at step {spike_step}", "tu pico en el paso {spike_step}")')
             .replace('f"`{name}`: rise {rise}", s', 'say("`{name}`: rise {rise}", "`{name}`: subida {rise}"), {**s, "name": name}')
             .replace("spanish)", '"paso {step}")').replace("{loss:.2f}", "{loss:.1f}")
             .replace('label="Your budget"', 'label=say("Your budget", "Tu presupuesto")'))
    assert yours_templates(fixed) == ([], 5)
