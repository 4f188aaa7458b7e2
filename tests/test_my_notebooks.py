"""The start page's "Make my notebooks" (utils.course.my_notebooks) and the copies it makes
(utils.course.learner_copies): never overwritten, a new copy beside the old one when the master changed."""
from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest

from utils.course import learner, my_notebooks
from utils.text import speaking
from utils.course.grading.learners import master_source
from utils.course.learner_copies import MADE_FROM, copy_versions, made_from, make_learner_copies

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "grading" / "notebooks"


@pytest.fixture
def masters(tmp_path):
    """A changeable copy of the fixture masters (two phase-19 notebooks)."""
    root = tmp_path / "notebooks"
    shutil.copytree(FIXTURES, root)
    return root


@pytest.fixture
def learners_root(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(tmp_path / "learners"))
    monkeypatch.delenv("LEARNER", raising=False)
    monkeypatch.setattr(learner, "remembered_name_path", lambda: tmp_path / ".course-learner")
    return tmp_path / "learners"


def _change_master(masters: Path, text: str) -> None:
    source = masters / "phase-19-fixture" / "01-numbers.py"
    source.write_text(source.read_text(encoding="utf-8") + f"\n# %% [markdown]\n# {text}\n", encoding="utf-8")


def test_copies_are_never_overwritten_and_a_changed_master_gives_a_new_copy_beside(masters, learners_root):
    first = make_learner_copies("José", notebooks_root=masters)
    assert [r.status for r in first] == ["written", "written"]
    numbers = first[0].path
    stamp = made_from(numbers)
    assert stamp and len(stamp) == 16
    # the learner works in the copy (JupyterLab keeps the notebook's metadata when it saves)
    nb = nbformat.read(numbers, as_version=4)
    nb.cells[2].source = "ordered = sorted(numbers)  # my answer"
    nbformat.write(nb, numbers)
    mine = numbers.read_bytes()
    again = make_learner_copies("José", notebooks_root=masters)
    assert [(r.path, r.status) for r in again] == [(numbers, "kept"), (first[1].path, "kept")]

    _change_master(masters, "A paragraph the course added later.")
    changed = make_learner_copies("José", notebooks_root=masters)
    assert changed[0].status == "new copy" and changed[0].earlier == numbers
    assert changed[0].path == numbers.with_name("01-numbers.v2.ipynb")
    assert "A paragraph the course added later." in changed[0].path.read_text(encoding="utf-8")
    assert numbers.read_bytes() == mine, "the learner's copy is never touched"
    assert (changed[1].path, changed[1].status) == (first[1].path, "kept")      # its master did not change
    assert made_from(changed[0].path) != stamp

    assert [(r.path.name, r.status) for r in make_learner_copies("José", notebooks_root=masters)] == [
        ("01-numbers.v2.ipynb", "kept"), ("02-ratio.ipynb", "kept")]
    _change_master(masters, "And another.")
    third = make_learner_copies("José", notebooks_root=masters)[0]
    assert (third.path.name, third.status, third.earlier.name) == ("01-numbers.v3.ipynb", "new copy",
                                                                   "01-numbers.v2.ipynb")
    assert copy_versions(numbers) == [numbers, numbers.with_name("01-numbers.v2.ipynb"), third.path]
    assert numbers.read_bytes() == mine


def test_a_copy_that_does_not_say_what_it_was_made_from_is_kept(masters, learners_root):
    path = make_learner_copies("ana", notebooks_root=masters)[0].path
    nb = nbformat.read(path, as_version=4)
    del nb.metadata["course"][MADE_FROM]
    nbformat.write(nb, path)
    before = path.read_bytes()
    _change_master(masters, "changed")
    assert make_learner_copies("ana", notebooks_root=masters)[0].status == "kept"
    assert path.read_bytes() == before and not path.with_name("01-numbers.v2.ipynb").exists()


def _html(output) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in output.outputs)


def _printed(output) -> str:
    return "".join(o.get("text", "") for o in output.outputs)


def test_the_button_makes_the_copies_and_links_them_relative_to_the_start_page(masters, learners_root, monkeypatch):
    here = REPO / "notebooks"
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(REPO / "learners"))   # only to compute links: nothing written
    assert my_notebooks.link_for(REPO / "learners" / "José María" / "phase-19" / "02-dashboard.ipynb", here) == \
        "../learners/Jos%C3%A9%20Mar%C3%ADa/phase-19/02-dashboard.ipynb"
    assert my_notebooks.link_for(Path("/elsewhere/x.ipynb"), here) is None
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(learners_root))

    form = my_notebooks.my_notebooks_form(here=here, notebooks_root=masters)
    button, output = form.children
    button.click()                                       # no name yet
    assert "No notebooks made" in _printed(output) and "Remember me" in _printed(output)
    assert not learners_root.exists()

    learner.remember_learner("José")
    button.click()
    shown = _html(output)
    assert "<code>learners/José/phase-19/01-numbers.ipynb</code>" in shown
    assert shown.count("<li>") == 2 and "(new)" in shown and "nuevo" not in shown     # one language at a time
    assert (learners_root / "José" / "phase-19" / "01-numbers.ipynb").is_file()
    # the copies are outside the repository here, so they are listed by path, without a link
    assert "href" not in shown and "outside the folder JupyterLab shows" in shown

    button.click()                                       # again: nothing overwritten, nothing new
    assert "(new" not in _html(output) and _html(output).count("<li>") == 2
    _change_master(masters, "changed")
    button.click()
    assert "01-numbers.v2.ipynb" in _html(output) and "new copy: the course changed this notebook" in _html(output)
    assert "your earlier copy 01-numbers.ipynb is kept as it is" in _html(output)
    _change_master(masters, "changed again")
    with speaking("es"):                                 # the same list in Spanish
        button.click()
        assert "copia nueva: el curso cambió este cuaderno" in _html(output) and "Tus cuadernos, José" in _html(output)
        assert "tu copia anterior 01-numbers.v2.ipynb se conserva tal cual" in _html(output)


def test_links_open_the_copies_when_they_are_inside_the_repository(masters, tmp_path, monkeypatch):
    """With the learners folder inside JupyterLab's root, every copy is a link relative to the start page."""
    fake_repo = tmp_path / "repo"
    (fake_repo / "notebooks").mkdir(parents=True)
    monkeypatch.setattr(learner, "repo_root", lambda: fake_repo)     # JupyterLab's root: the course home
    monkeypatch.delenv("COURSE_LEARNERS_DIR", raising=False)
    monkeypatch.delenv("COURSE_HOME", raising=False)
    monkeypatch.setenv("LEARNER", "Zoë")
    form = my_notebooks.my_notebooks_form(here=fake_repo / "notebooks", notebooks_root=masters)
    form.children[0].click()
    shown = _html(form.children[1])
    hrefs = [part.split('"')[0] for part in shown.split('href="')[1:]]
    assert [unquote(h) for h in hrefs] == ["../learners/Zoë/phase-19/01-numbers.ipynb",
                                          "../learners/Zoë/phase-19/02-ratio.ipynb"]
    for href in hrefs:
        assert (fake_repo / "notebooks" / unquote(href)).resolve().is_file()
    assert "LEARNER is set" in _printed(form.children[1])


def test_a_newer_copy_is_graded_against_the_same_master():
    assert master_source("phase-19/01-numbers.v2.ipynb", FIXTURES) == \
        master_source("phase-19/01-numbers.ipynb", FIXTURES) == FIXTURES / "phase-19-fixture" / "01-numbers.py"
    assert master_source("phase-19/01-numbers.vx.ipynb", FIXTURES) is None
