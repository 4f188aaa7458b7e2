"""A class on JupyterHub without a hub: the learner is the hub login, each user's own course home
(utils.course.learner.course_home, utils.course.hub.provision) and the instructor's collection
(utils.course.hub.collect). tests/test_hub.py runs the same through a real JupyterHub."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path
from urllib.parse import unquote

import pytest

from utils.course import hub, learner, my_notebooks
from utils.course.learner import LearnerNameError, course_home, current_learner, learners_dir, remember_learner

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "grading" / "notebooks"


@pytest.fixture
def on_hub(tmp_path, monkeypatch):
    """A JupyterHub server of user 'ana' whose home is tmp_path/home (no COURSE_HOME, no LEARNER)."""
    for name in ("COURSE_HOME", "COURSE_LEARNERS_DIR", "LEARNER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTERHUB_USER", "ana")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): ("-> " + os.readlink(p)) if p.is_symlink() else
            hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()}


def test_on_a_hub_the_learner_is_the_login_and_the_notes_go_to_their_own_course_home(on_hub, monkeypatch):
    assert current_learner() == "ana"                      # no form, no remembered name
    assert course_home() == on_hub / "course"
    assert learners_dir() == on_hub / "course" / "learners"
    monkeypatch.setenv("COURSE_HOME", str(on_hub / "elsewhere"))
    assert learners_dir() == on_hub / "elsewhere" / "learners"
    monkeypatch.setenv("LEARNER", "ana")                   # naming yourself is fine
    assert current_learner() == "ana"


def test_on_a_hub_nobody_can_become_another_learner(on_hub, monkeypatch):
    monkeypatch.setenv("LEARNER", "bruno")
    with pytest.raises(LearnerNameError, match="On JupyterHub you are 'ana'; LEARNER='bruno' names someone else"):
        current_learner()
    monkeypatch.delenv("LEARNER")
    with pytest.raises(LearnerNameError, match="cannot go to 'bruno'"):
        remember_learner("bruno")
    assert not learner.remembered_name_path().exists()
    assert remember_learner("ana") == "ana"


def test_a_hub_login_that_cannot_be_a_folder_name_is_refused_clearly(on_hub, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "ana/../bruno")
    with pytest.raises(LearnerNameError, match="Your JupyterHub login 'ana/../bruno' cannot name your folder"):
        current_learner()


def test_off_a_hub_nothing_changes(tmp_path, monkeypatch):
    for name in ("COURSE_HOME", "COURSE_LEARNERS_DIR", "JUPYTERHUB_USER"):
        monkeypatch.delenv(name, raising=False)
    assert course_home() == learner.repo_root() and learners_dir() == learner.repo_root() / "learners"
    monkeypatch.setenv("LEARNER", "bruno")
    assert current_learner() == "bruno"


def test_the_start_page_says_who_you_are_instead_of_asking(on_hub):
    form = learner.name_form()
    assert not hasattr(form, "children"), "no text box to fill on a hub"
    assert "logged in to JupyterHub as <b>ana</b>" in form.value or "JupyterHub como <b>ana</b>" in form.value
    assert "learners/ana/" in form.value


def _install(root: Path) -> Path:
    """A shared install: masters (the fixture notebooks) and theory."""
    shutil.copytree(FIXTURES, root / "notebooks")
    (root / "theory").mkdir()
    (root / "theory" / "x.md").write_text("theory\n", encoding="utf-8")
    return root


def test_provision_makes_the_course_home_and_never_overwrites(on_hub, tmp_path):
    install = _install(tmp_path / "install")
    done = hub.provision(install=install)
    home = on_hub / "course"
    assert done.home == home
    assert (home / "notebooks").is_symlink() and (home / "notebooks").resolve() == install / "notebooks"
    assert (home / "theory" / "x.md").read_text(encoding="utf-8") == "theory\n"
    assert stat.S_IMODE((home / ".run-cache").stat().st_mode) == 0o700      # this user's own run cache
    copies = sorted(p.relative_to(home).as_posix() for p in home.glob("learners/*/*/*.ipynb"))
    assert copies == ["learners/ana/phase-19/01-numbers.ipynb", "learners/ana/phase-19/02-ratio.ipynb"]
    mine = home / "learners" / "ana" / "phase-19" / "01-numbers.ipynb"
    mine.write_text(mine.read_text(encoding="utf-8").replace("exercise_todo", "exercise_todo "), encoding="utf-8")
    before = _digest(home)
    again = hub.provision(install=install)                 # every server start: nothing changes
    assert again.lines == [] and _digest(home) == before


def test_provision_leaves_a_users_own_folder_of_the_same_name_alone(on_hub, tmp_path):
    install = _install(tmp_path / "install")
    (on_hub / "course" / "notebooks").mkdir(parents=True)
    done = hub.provision(install=install)
    assert "kept notebooks: something else of that name is there already" in done.lines
    assert not (on_hub / "course" / "notebooks").is_symlink()


def test_provision_needs_a_user(tmp_path, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    with pytest.raises(LearnerNameError, match="no user"):
        hub.provision(home=tmp_path / "course", install=_install(tmp_path / "install"))


def test_collect_takes_each_users_own_folder_and_only_reads_the_homes(tmp_path):
    homes = tmp_path / "homes"
    ana = homes / "ana" / "course" / "learners"
    (ana / "ana" / "phase-19" / "notes").mkdir(parents=True)
    (ana / "ana" / "phase-19" / "notes" / "lessons.md").write_text("- ana's lesson\n", encoding="utf-8")
    (ana / "bruno" / "phase-19" / "notes").mkdir(parents=True)         # ana made a folder named for bruno
    (ana / "bruno" / "phase-19" / "notes" / "lessons.md").write_text("- planted\n", encoding="utf-8")
    (homes / "bruno").mkdir()                                           # bruno never started the course
    (homes / "x@y").mkdir()
    before = _digest(homes)
    out = tmp_path / "class"
    result = hub.collect(homes, out)
    assert result.learners == ["ana"]
    assert any(line.startswith("bruno: nothing to collect") for line in result.skipped)
    assert any(line.startswith("'x@y': not collected") for line in result.skipped)
    assert sorted(p.name for p in out.iterdir()) == ["ana"]
    assert (out / "ana" / "phase-19" / "notes" / "lessons.md").read_text(encoding="utf-8") == "- ana's lesson\n"
    assert _digest(homes) == before
    (ana / "ana" / "phase-19" / "notes" / "lessons.md").write_text("- ana's lesson\n- another\n", encoding="utf-8")
    assert hub.collect(homes, out, users=["ana"]).learners == ["ana"]   # collecting again replaces the copy
    assert "another" in (out / "ana" / "phase-19" / "notes" / "lessons.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == ["ana"]


def test_collect_command_prints_how_to_grade(tmp_path, capsys):
    (tmp_path / "homes" / "ana" / "course" / "learners" / "ana").mkdir(parents=True)
    assert hub.main(["collect", "--homes", str(tmp_path / "homes"), "--out", str(tmp_path / "class"),
                     "--user", "ana", "--user", "zoe"]) == 0
    printed = capsys.readouterr().out
    assert "collected ana" in printed and "skipped zoe: no home folder" in printed
    assert f"python -m utils.grading --all --learners-dir {tmp_path / 'class'}" in printed


def test_the_start_page_links_open_the_copies_in_the_course_home(on_hub, tmp_path, monkeypatch):
    install = _install(tmp_path / "install")
    monkeypatch.setattr(learner, "repo_root", lambda: install)
    hub.provision(install=install)
    form = my_notebooks.my_notebooks_form(here=install / "notebooks", notebooks_root=install / "notebooks")
    form.children[0].click()
    shown = "".join(o.get("data", {}).get("text/html", "") for o in form.children[1].outputs)
    hrefs = [unquote(part.split('"')[0]) for part in shown.split('href="')[1:]]
    # JupyterLab shows the start page as <course home>/notebooks/00-start-here.ipynb (through the link)
    assert hrefs == ["../learners/ana/phase-19/01-numbers.ipynb", "../learners/ana/phase-19/02-ratio.ipynb"]
    for href in hrefs:     # resolved as JupyterLab does: by name, not through the link
        assert Path(os.path.normpath(on_hub / "course" / "notebooks" / href)).is_file()
