"""utils.course.learner: which names are accepted, how the name is remembered, who wins."""

from __future__ import annotations

import pytest

from utils.course import learner
from utils.course.learner import LearnerNameError, current_learner, remember_learner, validate_learner_name


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    """A temporary repository root, so remembering a name never touches the real repo."""
    monkeypatch.setattr(learner, "repo_root", lambda: tmp_path)
    monkeypatch.delenv("LEARNER", raising=False)
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(tmp_path / "learners"))
    return tmp_path


@pytest.mark.parametrize(
    "name, problem",
    [
        ("", "empty"),
        ("   \t ", "control character U+0009"),
        (".", "not a name"),
        ("..", "not a name"),
        ("../etc", "contains '/'"),
        ("ana/bob", "contains '/'"),
        ("ana\\bob", "contains '\\\\'"),
        (".hidden", "starts with a dot"),
        ("ana\x00bob", "control character U+0000"),
        ("ana\nbob", "control character U+000A"),
        ("ana\tbob", "control character U+0009"),
        ("ana\u200bbob", "control character U+200B"),  # zero-width space, category Cf
        ("a" * 65, "65 characters long"),
        ("ana:bob", "contains ':'"),
        ("ana*", "contains '*'"),
        ("ana🙂", "contains '🙂'"),
    ],
)
def test_bad_names_are_refused_with_the_reason(name, problem):
    with pytest.raises(LearnerNameError) as caught:
        validate_learner_name(name)
    message = str(caught.value)
    assert problem in message
    assert "Allowed: letters, digits" in message  # every message also says what is allowed


def test_learner_name_error_is_a_value_error():
    with pytest.raises(ValueError):
        validate_learner_name("..")


@pytest.mark.parametrize("name", ["José", "Zoë", "李雷", "Ана", "ana-maria_2", "Ana María", "j.doe", "a" * 64])
def test_good_names_are_accepted_unchanged(name):
    assert validate_learner_name(name) == name


def test_surrounding_spaces_are_stripped():
    assert validate_learner_name("  José ") == "José"


def test_decomposed_accents_become_one_name():
    decomposed = "Jose\u0301"  # 'e' + combining acute accent
    assert validate_learner_name(decomposed) == "Jos\u00e9"


def test_learners_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(tmp_path / "elsewhere"))
    assert learner.learners_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("COURSE_LEARNERS_DIR")
    assert learner.learners_dir() == learner.repo_root() / "learners"
    assert (learner.repo_root() / "utils" / "course" / "learner.py").is_file()


def test_remembered_name_is_read_back(fake_repo):
    assert remember_learner("  Zoë ") == "Zoë"
    assert (fake_repo / ".course-learner").read_text(encoding="utf-8") == "Zoë\n"
    assert current_learner() == "Zoë"
    remember_learner("李雷")
    assert current_learner() == "李雷"
    assert sorted(p.name for p in fake_repo.iterdir()) == [".course-learner"]  # no temp files left


def test_remember_refuses_a_bad_name_and_keeps_the_old_one(fake_repo):
    remember_learner("ana")
    with pytest.raises(LearnerNameError, match="contains '/'"):
        remember_learner("../ana")
    assert current_learner() == "ana"


def test_learner_env_wins_over_the_remembered_name(fake_repo, monkeypatch):
    remember_learner("ana")
    monkeypatch.setenv("LEARNER", "bob")
    assert current_learner() == "bob"
    monkeypatch.setenv("LEARNER", "  ")  # blank counts as unset
    assert current_learner() == "ana"


def test_bad_learner_env_is_refused(fake_repo, monkeypatch):
    monkeypatch.setenv("LEARNER", "../root")
    with pytest.raises(LearnerNameError, match="environment variable LEARNER"):
        current_learner()


def test_no_name_yet_points_to_the_start_notebook(fake_repo):
    with pytest.raises(LearnerNameError) as caught:
        current_learner()
    assert "00-start-here.ipynb" in str(caught.value)
    assert "LEARNER" in str(caught.value)


def test_corrupted_remembered_name_is_refused(fake_repo):
    (fake_repo / ".course-learner").write_text("../../etc\n", encoding="utf-8")
    with pytest.raises(LearnerNameError, match="remembered name"):
        current_learner()


def test_name_form_remembers_and_shows_a_relative_folder(fake_repo):
    form = learner.name_form()
    text, button = form.children[0].children
    output = form.children[1]

    text.value = "../x"
    button.click()
    assert "Not saved" in _printed(output)
    assert not (fake_repo / ".course-learner").exists()

    text.value = "  José "
    button.click()
    printed = _printed(output)
    assert current_learner() == "José"
    assert "learners/José/" in printed
    assert str(fake_repo) not in printed  # never an absolute path


def _printed(output) -> str:
    """The text an ipywidgets Output captured (outside a kernel it records stream outputs)."""
    return "".join(item.get("text", "") for item in output.outputs)
