"""The learner's path and the instructor's grading in a real JupyterLab, in a real browser.

JupyterLab is started with the README's start command (``bash scripts/start.sh`` plus: no browser,
127.0.0.1, a free port, no token) and driven with Playwright in Debian's Chromium. The test checks
what a person sees - texts, widgets, figures - and the files the clicks write, first for a learner who
keeps English, then for one who chooses Español on the start page (every widget she uses then speaks
Spanish). Screenshots of each checked state, and the grading report, are kept in
``$COURSE_TEST_ARTEFACTS`` (default: ``test-artefacts/browser/``, which git ignores).

Skips, with the reason, where Chromium or Playwright is missing (``.ci/run`` installs Chromium).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from browser.lab import REPO, LabServer, chromium_path, open_notebook

CHROMIUM = chromium_path()
if CHROMIUM is None:
    pytest.skip("the browser test needs Debian's chromium (apt-get install chromium); not found",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the browser test needs Playwright (pip install -r requirements-test.txt)")

NAME = "José"
LESSON = "Next time I will count how often each BPE piece occurs before I train on it"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
ROOT_CAUSE = "A block of rare-piece sentences hit embedding rows Adam had never updated"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """(server, learners folder, screenshots folder). The learners folder is a fresh one inside the
    repository (JupyterLab opens only what is under its root), removed afterwards."""
    root = tmp_path_factory.mktemp("browser")
    learners = REPO / f"learners-browser-test-{os.getpid()}"
    learners.mkdir()
    shots = Path(os.environ.get("COURSE_TEST_ARTEFACTS") or REPO / "test-artefacts" / "browser")
    shots.mkdir(parents=True, exist_ok=True)
    # COURSE_LANG (tests/conftest.py sets it to en) would override every learner's own choice of language
    env = {k: v for k, v in os.environ.items() if k not in ("LEARNER", "MPLBACKEND", "COURSE_LANG")}
    env.update(COURSE_LEARNERS_DIR=str(learners), JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(root / "runtime"))
    server = LabServer(env, root / "jupyterlab.log")
    try:
        server.wait_until_up()
        yield server, learners, shots
    finally:
        server.stop()
        shutil.rmtree(learners, ignore_errors=True)
        shutil.rmtree(REPO / "notebooks" / ".ipynb_checkpoints", ignore_errors=True)
    assert server.process.poll() is not None, "the JupyterLab server is still running"


@pytest.fixture(scope="module")
def page(course):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield tab
        browser.close()


def pixels(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()


def test_the_learners_path_and_the_instructors_grading(course, page):
    server, learners, shots = course
    mine = learners / NAME

    # 1. the start page: run it, type a name, remember it
    nb = open_notebook(page, server.url, "notebooks/00-start-here.ipynb", shots)
    nb.run_all()
    page.get_by_placeholder("e.g. José").fill(NAME)
    page.get_by_role("button", name="Remember me").click()
    page.get_by_text(f"Hello {NAME}!").wait_for(timeout=30_000)
    nb.shot("01-name-remembered")
    assert (learners / ".course-learner").read_text(encoding="utf-8") == NAME + "\n"

    # 2. make the learner's own notebooks, open the post-mortem copy from its link
    page.get_by_role("button", name="Make my notebooks").click()
    link = page.locator("a", has_text="phase-19/04-post-mortem.ipynb").first
    link.wait_for(timeout=60_000)
    nb.shot("02-notebooks-made")
    assert not nb.errors(), nb.errors()
    assert (mine / "phase-19" / "04-post-mortem.ipynb").is_file()
    link.click()
    page.locator(".lm-TabBar-tab.jp-mod-current", has_text="04-post-mortem").wait_for(timeout=60_000)
    page.wait_for_timeout(3000)

    # 3. run it: widgets render as widgets; draft §1 from the run log; a bad value gets its message
    nb.run_all(timeout_s=400)
    nb.shot("03-post-mortem-ran")
    assert not nb.errors(), nb.errors()
    draft = page.get_by_role("button", name="Draft from the run log").first
    draft.scroll_into_view_if_needed()
    draft.click()
    spike_step = page.get_by_placeholder("a number: 2.31 or 2,31").first
    page.wait_for_function("(el) => el.value !== ''", arg=spike_step.element_handle(), timeout=30_000)
    nb.shot("04-section1-drafted")
    spike_step.fill("three hundred")
    page.get_by_role("button", name="Check").first.click()
    message = page.locator(".jp-OutputArea-output", has_text="three hundred").first
    message.wait_for(timeout=30_000)
    nb.shot("05-bad-value-message")
    assert "✗" in message.inner_text()
    page.get_by_role("button", name="Draft from the run log").first.click()   # back to the run log's numbers

    # 4. fill the root cause and the lesson, save: the files on disk hold what was typed
    page.get_by_placeholder("one sentence: what caused the spike, and through which mechanism").first.fill(ROOT_CAUSE)
    page.get_by_placeholder("one line for your future self").first.fill(LESSON + " (19.04)")
    page.get_by_role("button", name="Save + record lesson").first.click()
    page.wait_for_timeout(3000)
    nb.shot("06-post-mortem-saved")
    saved = list((mine / "phase-19" / "notes" / "postmortems").glob("*.md"))
    assert saved and ROOT_CAUSE in saved[0].read_text(encoding="utf-8"), "the post-mortem file lacks the root cause"
    assert LESSON + " (19.04)" in (mine / "phase-19" / "notes" / "lessons.md").read_text(encoding="utf-8")

    # 4b. save the notebook, shut its kernel down and open it again: the forms come back as forms
    #     (widget state saved with the notebook), not as "Error displaying widget: model not found"
    nb.save_and_shut_down()
    saved_nb = json.loads((mine / "phase-19" / "04-post-mortem.ipynb").read_text(encoding="utf-8"))
    assert saved_nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state"), "no widget state was saved"
    nb = open_notebook(page, server.url, f"learners-browser-test-{os.getpid()}/{NAME}/phase-19/04-post-mortem.ipynb",
                       shots)
    page.get_by_role("button", name="Draft from the run log").first.wait_for(timeout=60_000)
    nb.shot("06b-post-mortem-reopened")
    assert not nb.errors(), nb.errors()

    # 5. the dashboard: moving the step slider changes the figure
    nb = open_notebook(page, server.url, f"learners-browser-test-{os.getpid()}/{NAME}/phase-19/02-dashboard.ipynb",
                       shots)
    nb.run_all(timeout_s=400)
    board = page.locator(".widget-vbox:has(button:has-text('Jump to largest spike'))").first
    board.scroll_into_view_if_needed()
    figure = board.locator(".widget-output img").first
    figure.wait_for(timeout=60_000)
    before = pixels(figure.screenshot())
    nb.shot("07-dashboard-before")
    board.locator(".widget-slider .noUi-handle, .slider-container .noUi-handle").first.click()
    for _ in range(25):
        page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(5000)
    after = pixels(figure.screenshot())
    nb.shot("08-dashboard-after")
    assert before != after, "moving the step slider did not change the dashboard's figure"
    assert not nb.errors(), nb.errors()

    # 6. a lesson at the end of a phase-17 notebook lands in that phase's lessons.md
    nb = open_notebook(page, server.url, f"learners-browser-test-{os.getpid()}/{NAME}/phase-17/01-corpus-and-bpe.ipynb",
                       shots)
    nb.run_all(timeout_s=300)
    box = page.get_by_placeholder("Next time I will …").first
    box.scroll_into_view_if_needed()
    box.fill(LESSON)
    page.get_by_role("button", name="Save lesson").first.click()
    page.wait_for_timeout(3000)
    nb.shot("09-lesson-saved")
    lessons = (mine / "phase-17" / "notes" / "lessons.md").read_text(encoding="utf-8")
    assert LESSON in lessons and "notebook 17.01" in lessons

    # the instructor's side: grade what this learner handed in (the notebooks the path used)
    for copy in mine.glob("phase-*/*.ipynb"):
        if copy.name not in ("01-corpus-and-bpe.ipynb", "04-post-mortem.ipynb"):
            copy.unlink()
    out = learners.parent / f"grading-browser-test-{os.getpid()}"
    env = {**os.environ, "COURSE_LEARNERS_DIR": str(learners)}
    cache = os.environ.get("COURSE_RUN_CACHE")
    result = subprocess.run([sys.executable, "-m", "utils.grading", "--learner", NAME, "--out", str(out),
                             "--timeout", "120"] + (["--run-cache", cache] if cache else []),
                            cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    report = result.stdout + "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*.md"))
    shutil.rmtree(out, ignore_errors=True)
    (shots / "10-grading-report.txt").write_text(report, encoding="utf-8")
    assert "| bpe-merge-step | FAIL |" in report, "the untouched exercise is not reported failing by name"
    assert "| lesson of phase-17/01-corpus-and-bpe.ipynb | pass |" in report
    assert "| lesson of phase-19/04-post-mortem.ipynb | pass |" in report
    assert "| post-mortem 19-spike-001.md: §4 Root cause | pass |" in report, "the saved root cause is not graded"


# The Spanish learner: another name (not a case variant of NAME, which a case-insensitive disk would merge)
NAME_ES = "Begoña"
LESSON_ES = "La próxima vez contaré cuántas veces aparece cada pieza BPE antes de entrenar con ella"
# English texts of the widgets this step looks at; none may be left once the learner chose Español
ENGLISH_START = ("Remember me", "Make my notebooks", "Your name", "Language", "Hello ")
ENGLISH_CHOICE = ("Question ", "Check", "Not right", "Right:", "The others", "Answer recorded")
ENGLISH_LESSON = ("Your lesson from notebook", "Save lesson", "Saved to", "A good lesson")
ENGLISH_WAITING = ("[waiting] Exercise", "[skipped] The rest of this cell")


def english_left(text: str, english: tuple[str, ...]) -> list[str]:
    """The English texts of ``english`` still found in ``text`` (what a Spanish learner should not read)."""
    return [word for word in english if word in text]


def on_screen(locator):
    """``locator`` scrolled into view and drawn: JupyterLab skips drawing off-screen cells (content-visibility),
    so their sizes are estimates until they are scrolled to; scroll, let it lay out, scroll again."""
    locator.scroll_into_view_if_needed()
    locator.page.wait_for_timeout(500)
    locator.scroll_into_view_if_needed()
    return locator


def answers_of(path: Path) -> list[dict]:
    """The recorded answers of an ``answers.jsonl`` (none when it does not exist yet)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if path.exists() else []


def test_a_spanish_learner_gets_spanish_widgets(course, page):
    """Español chosen on the start page with the mouse: the form, then a checked question and a lesson
    box in the learner's own copy of 17.01, speak Spanish, and the clicks are recorded in their notes."""
    server, learners, shots = course
    mine = learners / NAME_ES

    # 1. the start page: Español on the language toggle redraws the form in Spanish; remember the name
    nb = open_notebook(page, server.url, "notebooks/00-start-here.ipynb", shots)
    nb.run_all()
    page.get_by_role("button", name="Español", exact=True).click()
    page.get_by_role("button", name="Recordarme").wait_for(timeout=30_000)
    page.get_by_placeholder("p. ej. José").fill(NAME_ES)
    page.get_by_role("button", name="Recordarme").click()
    page.get_by_text(f"¡Hola, {NAME_ES}!").wait_for(timeout=30_000)
    form = page.locator(".widget-vbox:has(.widget-toggle-buttons)").first
    on_screen(form)
    form.screenshot(path=str(shots / "11-es-start-form.png"))
    assert "Idioma" in form.inner_text() and "Tu idioma, español, queda recordado" in form.inner_text()
    assert not english_left(form.inner_text(), ENGLISH_START), english_left(form.inner_text(), ENGLISH_START)
    assert json.loads((mine / "profile.json").read_text(encoding="utf-8")) == {"language": "es"}
    assert (learners / ".course-learner").read_text(encoding="utf-8") == NAME_ES + "\n"

    # 2. her own notebooks; open 17.01 from its link and run it: the waiting exercises say so in Spanish
    page.get_by_role("button", name="Crear mis cuadernos").click()
    link = page.locator("a", has_text="phase-17/01-corpus-and-bpe.ipynb").first
    link.wait_for(timeout=60_000)
    assert not nb.errors(), nb.errors()
    link.click()
    page.locator(".lm-TabBar-tab.jp-mod-current", has_text="01-corpus-and-bpe").wait_for(timeout=60_000)
    page.wait_for_timeout(2000)
    nb.run_all(timeout_s=300)
    assert not nb.errors(), nb.errors()
    outputs = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    assert "[pendiente] El ejercicio" in outputs, "the waiting exercises do not speak Spanish"
    on_screen(page.locator(".jp-OutputArea-output", has_text="[pendiente]").first).screenshot(
        path=str(shots / "11b-es-waiting.png"))
    assert not english_left(outputs, ENGLISH_WAITING), english_left(outputs, ENGLISH_WAITING)

    # 3. the checked question: a wrong option, then the right one; each Check adds a line to answers.jsonl
    answers = mine / "phase-17" / "notes" / "answers.jsonl"
    question = page.locator(".widget-vbox:has(.widget-radio-box)", has_text="rare-is-not-untrained").last
    on_screen(question)
    sync_api.expect(question).to_contain_text("Pregunta rare-is-not-untrained", use_inner_text=True)
    def answer(option: str, feedback: str, shot: str) -> str:
        """Choose ``option``, press Comprobar, wait for ``feedback``; the question's text then."""
        question.locator(".widget-radio-box label", has_text=option).click()
        question.get_by_role("button", name="Comprobar").click()
        question.get_by_text(feedback).wait_for(timeout=30_000)
        question.screenshot(path=str(shots / shot))
        return question.inner_text()

    wrong = answer("a) Sí", "No es correcta:", "12-es-question-wrong.png")
    assert "✗ a) Sí: solo las palabras raras" in wrong and "Respuesta guardada en" in wrong
    assert [(a["chosen"], a["right"]) for a in answers_of(answers)] == [("a", False)]
    right = answer("b) No: hay piezas", "Las demás:", "13-es-question-right.png")
    assert "✓ b) No: hay piezas" in right and "Correcta: La mayor parte de la lista" in right
    assert not english_left(right, ENGLISH_CHOICE), english_left(right, ENGLISH_CHOICE)
    assert [(a["chosen"], a["right"], a["question"]) for a in answers_of(answers)] == [
        ("a", False, "rare-is-not-untrained"), ("b", True, "rare-is-not-untrained")]

    # 4. the lesson box at the end, in Spanish; the lesson lands in her lessons.md
    box = page.locator(".widget-vbox", has_text="Tu lección del cuaderno 17.01").last
    on_screen(box)
    box.get_by_placeholder("La próxima vez …").fill(LESSON_ES)
    box.get_by_role("button", name="Guardar lección").click()
    box.get_by_text("Guardada en").wait_for(timeout=30_000)
    box.screenshot(path=str(shots / "14-es-lesson-saved.png"))
    assert not english_left(box.inner_text(), ENGLISH_LESSON), english_left(box.inner_text(), ENGLISH_LESSON)
    assert LESSON_ES in (mine / "phase-17" / "notes" / "lessons.md").read_text(encoding="utf-8")
    assert not nb.errors(), nb.errors()
