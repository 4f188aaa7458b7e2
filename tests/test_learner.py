"""utils.course.learner: which names are accepted, how the name is remembered, who wins."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

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
    assert (fake_repo / "learners" / ".course-learner").read_text(encoding="utf-8") == "Zoë\n"
    assert current_learner() == "Zoë"
    remember_learner("李雷")
    assert current_learner() == "李雷"
    assert sorted(p.name for p in (fake_repo / "learners").iterdir()) == [".course-learner"]  # no temp files left


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
    (fake_repo / "learners").mkdir()
    (fake_repo / "learners" / ".course-learner").write_text("../../etc\n", encoding="utf-8")
    with pytest.raises(LearnerNameError, match="remembered name"):
        current_learner()


def test_name_form_remembers_and_shows_a_relative_folder(fake_repo):
    form = learner.name_form()
    text, button = form.children[0].children
    output = form.children[1]

    text.value = "../x"
    button.click()
    assert "Not saved" in _printed(output)
    assert not (fake_repo / "learners" / ".course-learner").exists()

    text.value = "  José "
    button.click()
    printed = _printed(output)
    assert current_learner() == "José"
    assert "learners/José/" in printed
    assert str(fake_repo) not in printed  # never an absolute path


def _printed(output) -> str:
    """The text an ipywidgets Output captured (outside a kernel it records stream outputs)."""
    return "".join(item.get("text", "") for item in output.outputs)


# --------------------------------------------------------------------------- whose notes a notebook writes


def test_notes_owner_is_the_example_learner_inside_notebooks(fake_repo, monkeypatch):
    monkeypatch.setenv("LEARNER", "X")
    masters = fake_repo / "notebooks" / "phase-19-diagnosis"
    copies = fake_repo / "learners" / "X" / "phase-19"
    masters.mkdir(parents=True)
    copies.mkdir(parents=True)
    monkeypatch.chdir(masters)
    assert learner.running_a_master() and learner.notes_owner() == "example-complete"
    assert learner.learner_dir() == fake_repo / "learners" / "example-complete"
    assert learner.learner_dir("X") == fake_repo / "learners" / "X"      # an explicit name is kept
    assert "example learner example-complete, never to your notes" in learner.notes_owner_line()
    monkeypatch.chdir(fake_repo / "notebooks")
    assert learner.notes_owner() == "example-complete"
    monkeypatch.chdir(copies)
    assert not learner.running_a_master() and learner.notes_owner() == "X"
    assert learner.notes_owner_line().startswith("Your notes go to learners/X/.")
    monkeypatch.chdir(fake_repo)
    assert learner.notes_owner() == "X"
    (fake_repo / "notebooks-old").mkdir()                 # a sibling whose name starts the same is not inside
    assert not learner.running_a_master(fake_repo / "notebooks-old")


def test_a_master_run_by_a_learner_writes_nothing_into_their_notes(tmp_path, monkeypatch):
    """A notebook whose kernel runs in notebooks/ (a master) saves a lesson and a post-mortem as
    learner X: both land in the example learner's folder, and learners/X is never created."""
    monkeypatch.setenv("LEARNER", "X")
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(tmp_path))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from utils.course import notes, postmortem_notes\n"
        "from utils.course.learner import notes_owner_line\n"
        "from utils.postmortem import PostMortem\n"
        "notes.append_lesson(19, 'read panel 6 first')\n"
        "postmortem_notes.save(PostMortem('19-spike-001', '2026-11-23', root_cause='one sentence.'))\n"
        "print(notes_owner_line())")]
    masters = learner.repo_root() / "notebooks" / "phase-19-diagnosis"
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(masters)}}).execute()
    assert "example learner example-complete" in nb.cells[0].outputs[0]["text"]
    assert not (tmp_path / "X").exists()
    saved = tmp_path / "example-complete" / "phase-19" / "notes"
    assert (saved / "lessons.md").read_text(encoding="utf-8").rstrip().endswith("read panel 6 first")
    assert (saved / "postmortems" / "19-spike-001.md").is_file()


@pytest.mark.parametrize("lang, allowed_phrase", [("en", "Allowed:"), ("es", "Se admiten:")])
def test_a_refusals_reason_is_the_message_without_what_is_allowed(lang, allowed_phrase):
    from utils.text.language import speaking
    with speaking(lang):
        with pytest.raises(LearnerNameError) as err:
            validate_learner_name("../etc")
        message, reason = str(err.value), err.value.reason
    assert allowed_phrase in message and allowed_phrase not in reason
    assert reason and message.startswith(reason)
