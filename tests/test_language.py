"""The interface in the learner's language (utils.text): every learner-facing string in utils/ is said
in English and Spanish, the language is remembered with the name and reaches the grader, the decimal
comma is read, and a Spanish post-mortem goes through the workbook and the grader like an English one.

What counts as learner-facing, mechanically (``unsaid``): in the modules of ``LEARNER_FACING`` (the
widgets, the validator and its helpers, the §6 verification tables, the notes and their refusals, the
exercises and choice questions, the lesson box, the start page, and every line of the grader's report: its
runner, dead-kernel and timeout lines, its notes and answers checks; the stability check's questions and
answers; the recovery loops' errors, refusals and tables), every string literal that holds two words
(``the run``), and every string literal holding a word that is given to an ipywidgets constructor
(``Button("Save")``, ``description=``, ``placeholder=``, ``tooltip=``, ``value=``, ``options=``), unless it is

- inside ``say(english, spanish)``;
- a docstring, a dict key, a subscript, a comparison operand, or HTML markup;
- an argument of a programmer's error (``TypeError``, ``KeyError``, ``NotImplementedError``, ...), of
  ``re`` or of ``argparse`` (instructor-facing help);
- on a statement marked ``# i18n: not shown (why)``: the post-mortem template's words (its headings,
  table headers and labels stay English so a Spanish post-mortem parses like an English one), words the
  checker reads, status codes, stable reprs for nbval, errors of programming mistakes, the instructor's
  console.
"""
from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from utils import postmortem
from utils.course import learner, profile
from utils.course.lesson_box import LessonRefused, check_lesson, lesson_box
from utils.course.my_notebooks import start_form
from utils.course.postmortem_notes import LearnerPostmortems
from utils.postmortem.forms import PostMortemWorkbook
from utils.postmortem.typed_numbers import number_error, parse_number
from utils.spikelab.runlog import RunLog
from utils.text import current, say, set_language, speaking

REPO = Path(__file__).resolve().parent.parent
UTILS = REPO / "utils"
EXAMPLE = REPO / "learners" / "example-complete" / "phase-19" / "notes"
RUN_ID = "19-spike-001"

LEARNER_FACING = [
    "course/learner.py", "course/my_notebooks.py", "course/lesson_box.py", "course/exercises.py",
    "course/waiting_cells.py", "course/yours.py", "course/lessons.py", "course/profile.py",
    "course/notes.py", "course/choice.py", "course/answers.py", "course/learner_copies.py",
    "course/grading/notes_checks.py", "course/grading/report.py", "course/grading/answers.py",
    "course/grading/runner.py", "course/grading/dead_kernel.py", "course/grading/junit.py",
    "course/grading/notebook.py", "course/grading/graded_copy.py", "course/grading/learners.py",
    "postmortem/model.py", "postmortem/validation.py", "postmortem/typed_numbers.py", "postmortem/symptom_check.py",
    "postmortem/nonrecovery.py", "postmortem/run.py", "postmortem/files.py", "postmortem/markdown.py",
    "postmortem/verification.py",
    "postmortem/forms/base.py", "postmortem/forms/sections.py", "postmortem/forms/symptoms_form.py",
    "postmortem/forms/workbook.py", "diagnosis/dashboard/widget.py", "diagnosis/dashboard/panels.py",
    "diagnosis/dashboard/figure.py", "diagnosis/dashboard/summary.py", "diagnosis/compare.py",
    "diagnosis/stability_check.py", "diagnosis/stability_questions.py", "diagnosis/patterns.py",
    "recovery/checkpoint.py", "recovery/traces.py", "recovery/lightning_rollback.py", "recovery/lightning_module.py",
    "recovery/rollback/policy.py", "recovery/rollback/trainer.py", "recovery/detectors/base.py",
    "recovery/detectors/budget.py", "recovery/detectors/defaults.py", "recovery/detectors/ema.py",
    "recovery/detectors/moving_average.py", "recovery/detectors/robust_z.py", "recovery/detectors/evaluate.py",
    "spikelab/config.py",
]
PHRASE = re.compile(r"[A-Za-z]{2,}[ ]+[A-Za-z]{2,}")
WORD = re.compile(r"[A-Za-z]{2,}")
PRAGMA = "i18n: not shown"
WIDGETS = {"Button", "Label", "HTML", "Text", "Textarea", "Dropdown", "Checkbox", "ToggleButton", "ToggleButtons",
           "Combobox", "IntSlider", "IntRangeSlider", "FloatSlider", "SelectionSlider", "RadioButtons", "Select",
           "HTMLMath", "Tab"}
SHOWN_KEYWORDS = {"description", "placeholder", "tooltip", "value", "options", "tooltips"}
NOT_SHOWN_CALLS = {"say", "compile", "match", "search", "fullmatch", "sub", "split", "findall", "TypeError",
                   "NotImplementedError", "KeyError", "AssertionError", "RuntimeError", "add_argument",
                   "ArgumentParser", "add_parser"}


def _name(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def unsaid(source: str) -> list[tuple[int, str]]:
    """(line, text) of every learner-facing string literal of ``source`` that is not inside ``say``."""
    tree = ast.parse(source)
    pragma = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(source).readline)
              if tok.type == tokenize.COMMENT and PRAGMA in tok.string}
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0].value))                                   # a docstring
        if isinstance(node, ast.stmt) and not hasattr(node, "body"):          # a simple statement
            if set(range(node.lineno, (node.end_lineno or node.lineno) + 1)) & pragma:
                skip.update(id(sub) for sub in ast.walk(node))
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, exempt: bool, word_is_enough: bool = False) -> None:
        if isinstance(node, ast.Call) and _name(node.func) in NOT_SHOWN_CALLS:
            exempt = True
        if isinstance(node, ast.Call) and _name(node.func) in WIDGETS and not exempt:
            visit(node.func, exempt)
            for arg in node.args:
                visit(arg, exempt, True)
            for kw in node.keywords:
                visit(kw.value, exempt, kw.arg in SHOWN_KEYWORDS)
            return
        if isinstance(node, ast.Subscript):
            visit(node.value, exempt)
            visit(node.slice, True)
            return
        if isinstance(node, ast.Compare):
            exempt = True
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None:
                    visit(key, True)
            for value in node.values:
                visit(value, exempt)
            return
        if isinstance(node, (ast.Constant, ast.JoinedStr)):
            if isinstance(node, ast.Constant) and not isinstance(node.value, str):
                return
            text = node.value if isinstance(node, ast.Constant) else "".join(
                v.value for v in node.values if isinstance(v, ast.Constant))
            text = re.sub(r"<[^<>]*>", " ", text)                             # HTML markup is not words
            pattern = WORD if word_is_enough else PHRASE
            if not exempt and id(node) not in skip and pattern.search(text):
                found.append((node.lineno, text.strip()[:80]))
            if isinstance(node, ast.JoinedStr):
                for value in node.values:
                    if isinstance(value, ast.FormattedValue):
                        visit(value, exempt, word_is_enough)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, exempt, word_is_enough and isinstance(node, (ast.BoolOp, ast.IfExp, ast.BinOp,
                                                                      ast.List, ast.Tuple)))

    visit(tree, False)
    return found


def say_calls(source: str) -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and _name(n.func) == "say"]


def _literal_text(node: ast.AST) -> str | None:
    """The text of a str literal or f-string (its fixed parts, fields as {}), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


# --------------------------------------------------------------------------- (a) every message is said


def test_the_scan_covers_the_notes_the_grader_and_the_verification_tables():
    """Every module of the grader that writes a line of a learner's report is scanned, and so are the notes'
    refusals and §6's tables (the instructor's command line, cli.py, and the shared runs are not shown to a
    learner; results.py holds no text)."""
    grading = {p.relative_to(UTILS).as_posix() for p in (UTILS / "course" / "grading").glob("*.py")}
    not_shown = {"course/grading/__init__.py", "course/grading/__main__.py", "course/grading/cli.py",
                 "course/grading/shared_runs.py", "course/grading/results.py"}
    assert grading - not_shown <= set(LEARNER_FACING), sorted(grading - not_shown - set(LEARNER_FACING))
    assert {"course/notes.py", "course/choice.py", "postmortem/verification.py"} <= set(LEARNER_FACING)
    # the stability check's questions and answers, and the recovery loops' errors, refusals and tables
    assert {"diagnosis/stability_check.py", "diagnosis/stability_questions.py", "recovery/checkpoint.py",
            "recovery/rollback/trainer.py", "recovery/lightning_rollback.py", "recovery/traces.py"} <= set(LEARNER_FACING)
    assert all((UTILS / module).is_file() for module in LEARNER_FACING)


@pytest.mark.parametrize("module", LEARNER_FACING)
def test_every_learner_facing_string_is_said_in_both_languages(module):
    hits = unsaid((UTILS / module).read_text(encoding="utf-8"))
    assert not hits, f"utils/{module}: learner-facing text outside say(english, spanish): {hits}"


def test_the_scan_finds_a_message_without_its_spanish():
    bad = '''
import ipywidgets as widgets
def form():
    button = widgets.Button(description="Save")
    raise ValueError(f"the lesson is empty: write {1} line")
def grade(name, seconds):
    checks = [Check(name, False, f"timed out after {seconds} s")]
    raise NoteNotSaved("The note was not saved")
    return "not graded: the kernel died"
'''
    assert [text for _, text in unsaid(bad)] == [
        "Save", "the lesson is empty: write {} line".replace("{}", ""), "timed out after  s",
        "The note was not saved", "not graded: the kernel died"]
    good = '''
import ipywidgets as widgets
from utils.text import say
def form():
    """A docstring is not shown."""
    button = widgets.Button(description=say("Save", "Guardar"), layout=widgets.Layout(width="auto"))
    TITLE = "# Loss spike post-mortem"  # i18n: not shown (the template's words)
    status = "kernel died"  # i18n: not shown (a status code)
    if status == "new copy":
        raise TypeError("expected text or a number")
'''
    assert unsaid(good) == []


# --------------------------------------------------------------------------- (b) both languages written


def test_every_say_has_two_different_non_empty_literals():
    bad = []
    for path in sorted(UTILS.rglob("*.py")):
        for call in say_calls(path.read_text(encoding="utf-8")):
            texts = [_literal_text(arg) for arg in call.args]
            if len(call.args) != 2 or call.keywords or None in texts or not all(t.strip() for t in texts) \
                    or texts[0].strip() == texts[1].strip():
                bad.append(f"{path.relative_to(REPO)}:{call.lineno}")
    assert not bad, f"say() needs two different, non-empty literals (English, Spanish): {bad}"


def test_the_say_check_catches_a_copied_english_text():
    calls = say_calls('say("Save", "Save")\nsay("Save", "")\nsay(text, "Guardar")\nsay("Save", "Guardar")')
    texts = [[_literal_text(a) for a in c.args] for c in calls]
    assert [t[0] is not None and t[1] is not None and t[0] != t[1] and all(t) for t in texts] == \
        [False, False, False, True]


# --------------------------------------------------------------------------- the language itself


@pytest.fixture
def spanish():
    """Spanish for the test (set_language), English again afterwards."""
    set_language("es")
    yield
    set_language(None)


def test_say_follows_the_language_and_speaking_blocks(monkeypatch):
    monkeypatch.setattr("utils.text.language._chosen", None)   # nothing chosen in this process (other tests may have)
    monkeypatch.setenv("COURSE_LANG", "en")
    assert say("Save", "Guardar") == "Save"
    with speaking("es"):
        assert current() == "es" and say("Save", "Guardar") == "Guardar"
    assert say("Save", "Guardar") == "Save"
    monkeypatch.setenv("COURSE_LANG", "es")
    assert say("Save", "Guardar") == "Guardar"
    with pytest.raises(ValueError, match="unknown language"):
        set_language("fr")


def test_the_language_is_remembered_with_the_name(learners, monkeypatch):
    monkeypatch.delenv("COURSE_LANG", raising=False)
    learner.remember_learner("Ana María")
    assert profile.learner_language("Ana María") == "en"         # nothing chosen yet: English
    assert profile.save_language("Ana María", "Español") == "es"
    assert json.loads((learners / "Ana María" / "profile.json").read_text(encoding="utf-8")) == {"language": "es"}
    assert profile.learner_language("Ana María") == "es"
    (learners / "Ana María" / "profile.json").write_text("{broken", encoding="utf-8")
    assert profile.learner_language("Ana María") == "en"         # a damaged profile is never fatal
    profile.save_language("Ana María", "es")
    monkeypatch.setenv("COURSE_LANG", "en")                     # the environment wins (tests)
    assert profile.learner_language("Ana María") == "en"
    monkeypatch.delenv("COURSE_LANG")
    monkeypatch.setenv("LEARNER", "Ana María")
    try:
        assert profile.apply_learner_language() == "es" and say("Save", "Guardar") == "Guardar"
    finally:
        set_language(None)


def test_start_page_switches_language_and_remembers_it_with_the_name(learners, monkeypatch):
    monkeypatch.delenv("COURSE_LANG", raising=False)
    monkeypatch.delenv("LEARNER", raising=False)
    try:
        page = start_form()
        picker = page.children[0].children[0]
        text, button = page.children[1].children[0].children
        assert (text.description, button.description) == ("Your name", "Remember me")
        text.value = "Zoë"
        picker.value = "es"                                     # redrawn in Spanish, the typed name kept
        text, button = page.children[1].children[0].children
        assert (text.description, button.description, text.value) == ("Tu nombre", "Recordarme", "Zoë")
        assert page.children[2].children[0].description == "Crear mis cuadernos"
        button.click()
        printed = "".join(o.get("text", "") for o in page.children[1].children[1].outputs)
        assert "¡Hola, Zoë!" in printed and "Hello" not in printed
        assert profile.learner_language("Zoë") == "es"
        picker = page.children[0].children[0]
        picker.value = "en"                                     # switching again saves it at once
        assert profile.learner_language("Zoë") == "en"
        text = page.children[1].children[0].children[0]
        text.value = "Begoña"                                   # a new name, typed but not remembered yet
        page.children[0].children[0].value = "es"
        assert profile.learner_language("Zoë") == "en"          # the previous learner's profile is untouched
        assert not profile.profile_path("Begoña").exists()
        text, button = page.children[1].children[0].children
        assert text.value == "Begoña"
        button.click()                                          # Remember me saves it with the new name
        assert profile.learner_language("Begoña") == "es"
    finally:
        set_language(None)


def test_lesson_box_and_refusals_in_spanish(learners, spanish):
    box = lesson_box("19.02")
    assert box.children[1].children[1].description == "Guardar lección"
    assert "Tu lección" in box.children[0].value and "Your lesson" not in box.children[0].value
    with pytest.raises(LessonRefused, match="No guardada: la lección está vacía") as err:
        check_lesson("  ")
    assert "Not saved" not in str(err.value)


def test_name_refusal_in_spanish(spanish):
    with pytest.raises(learner.LearnerNameError) as err:
        learner.validate_learner_name("../etc")
    assert "contiene" in str(err.value) and "Se admiten" in str(err.value) and "Allowed" not in str(err.value)


# --------------------------------------------------------------------------- (d) the decimal comma


def test_decimal_comma_is_read_and_thousands_are_refused_with_a_reason(spanish):
    assert parse_number("2,31") == pytest.approx(2.31) and parse_number("-0,5") == pytest.approx(-0.5)
    assert parse_number("3,1e-4") == pytest.approx(3.1e-4)
    assert parse_number("1.234,5") is None and parse_number("1,234,5") is None
    assert parse_number("1,000", integer=True) is None                       # a step has no comma
    assert "separador de miles" in number_error("1.234,5") and "coma" in number_error("312,0", integer=True)
    problems = postmortem.validate(postmortem.PostMortem(RUN_ID, "2026-11-23", symptoms=postmortem.Symptoms(
        pre_spike_ema="2,31", peak_loss="9,5")), sections=[1])
    assert not [p for p in problems if p.field in ("pre_spike_ema", "peak_loss")]


# --------------------------------------------------------------------------- (c) the workbook in Spanish, graded


SPANISH_PROSE = {
    "root_cause": "Veinte frases raras seguidas dieron a los pesos de 'tten' gradientes enormes, p. ej. en el "
                  "paso del pico, y la pérdida se disparó.",
    "remediation": "Barajar las frases raras entre los lotes desde el principio.",
    "lesson": "La próxima vez miraré el panel 6 antes de culpar al pico del gradiente.",
}


def test_the_post_mortem_workbook_in_spanish_end_to_end(tmp_path, monkeypatch):
    """Fill the workbook in Spanish, validate with a deliberate error (a Spanish message), fix it, save,
    and grade the learner with python -m utils.grading: the report is Spanish, and the post-mortem passes."""
    root = tmp_path / "learners"
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(root))
    monkeypatch.setenv("LEARNER", "lucía")
    monkeypatch.delenv("COURSE_LANG", raising=False)
    profile.save_language("lucía", "es")
    example = postmortem.parse_markdown((EXAMPLE / "postmortems" / f"{RUN_ID}.md").read_text(encoding="utf-8"))
    log = RunLog.load(postmortem.run_log_file(EXAMPLE, RUN_ID))
    assert profile.apply_learner_language() == "es"
    try:
        wb = PostMortemWorkbook(RUN_ID, run_log=log, notes=LearnerPostmortems(), date=example.date)
        assert wb.save_button.description == "Guardar" and wb.symptoms.check_button.description == "Comprobar"
        wb.fill(example)
        for name, text in SPANISH_PROSE.items():
            getattr(wb, name).text.value = text
        for row, text in zip(wb.hypotheses.rows, ["Las frases raras seguidas empujan los pesos de 'tten'",
                                                  "La tasa de aprendizaje es demasiado alta",
                                                  "Un error de float16 en la pérdida"]):
            row["text"].value = text
        for row in wb.evidence.rows:
            row["observation"].value = "El panel lo muestra con claridad."
        typed = wb.symptoms.inputs["pre_spike_ema"].value
        wb.symptoms.inputs["pre_spike_ema"].value = typed.replace(".", ",")    # the decimal comma
        wb.symptoms.inputs["peak_loss"].value = "1.234,5"                     # the deliberate error
        lines = wb.symptoms.check()
        assert any("tiene '.' y ','" in line and "separador de miles" in line for line in lines), lines
        assert not any(re.search(r"\b(the|is not|numbers only)\b", line) for line in lines), lines
        wb.symptoms.inputs["peak_loss"].value = example.symptoms.peak_loss      # fixed
        assert wb.symptoms.check() == ["✓ §1 Symptoms: nada que corregir"]
        assert wb.problems() == []
        path = wb.save()
        assert wb.messages[0].startswith("guardado learners/lucía/phase-19/notes/postmortems/")
        saved = postmortem.parse_markdown(path.read_text(encoding="utf-8"))   # the template's headings, Spanish prose
        assert saved.root_cause == SPANISH_PROSE["root_cause"] and "## 4. Root cause" in path.read_text(encoding="utf-8")
    finally:
        set_language(None)
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_LANG", "LEARNER")}
    env["COURSE_LEARNERS_DIR"] = str(root)
    out = tmp_path / "grading-out"
    done = subprocess.run([sys.executable, "-m", "utils.grading", "--learner", "lucía", "--out", str(out),
                           "--quiet", "--no-shared-runs"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    report = (out / "lucía.md").read_text(encoding="utf-8")
    assert report.startswith("# Informe de corrección: lucía")
    assert "| Comprobación | Resultado | Mensaje |" in report and "FAIL" not in report
    assert "post-mortem 19-spike-001.md: §1 frente a su registro guardado | correcto |" in report
    assert "síntomas dentro de la tolerancia" in report
    for english in ("Grading report", "Notes checks passed", "| pass |", "within tolerance", "lesson of "):
        assert english not in report


def test_jupyterlab_spanish_language_pack_is_installed():
    """Settings -> Language -> Español in JupyterLab: the pinned language pack is installed."""
    from jupyterlab_server.translation_utils import get_language_packs

    packs, message = get_language_packs("en")
    assert "es_ES" in packs, message
    assert "jupyterlab-language-pack-es-ES==" in (REPO / "requirements.txt").read_text(encoding="utf-8")
