"""Learner copies (utils.course.learner_copies) and instructor grading (utils.course.grading).

The grading test runs nbval for real on two small fixture sources
(tests/fixtures/grading/notebooks/, no training: a few seconds each) for the two example
learners (their notebooks generated from the fixtures the same way as `--examples` generates them,
their notes the committed ones, each post-mortem with the run log saved beside it) and a third
learner whose notebook deletes what it can reach. It takes about 20-40 s. The grader trains
nothing: a post-mortem's §1 is checked against its own saved run log, on any machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from utils.course import grading, postmortem_notes, profile
from utils import postmortem
from utils.spikelab import symptoms
from utils.course.learner_copies import (
    EXAMPLE_COMPLETE,
    EXAMPLE_MISTAKES,
    HANG_SOURCE,
    exercises_of,
    learner_notebook,
    make_example_submissions,
    make_learner_copies,
    phase_sources,
    solved_notebook,
)
from utils.course.notebook_build import notebook_from_source, notebook_text
from utils.postmortem import SECTION_TITLES

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "grading" / "notebooks"
REAL_LEARNERS = REPO / "learners"
CELL_TIMEOUT = 5     # the hang of example-mistakes is cut after this many seconds


def _role(cell) -> str | None:
    return cell.get("metadata", {}).get("course", {}).get("role")


def _tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- learner copies


def test_learner_copies_are_written_once_and_never_overwrite_the_learners_work(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(tmp_path))
    first = make_learner_copies("Ana María", notebooks_root=FIXTURES)
    assert [(r.path.relative_to(tmp_path).as_posix(), r.status) for r in first] == [
        ("Ana María/phase-19/01-numbers.ipynb", "written"),
        ("Ana María/phase-19/02-ratio.ipynb", "written"),
    ]
    copy = nbformat.read(first[0].path, as_version=4)
    assert [c.metadata["course"] for c in copy.cells if "course" in c.metadata] == [
        {"role": "stub", "exercise": "sort-numbers"}, {"role": "stub", "exercise": "total"}]
    assert all(c.get("outputs", []) == [] for c in copy.cells), "learner copies are unexecuted"
    # the learner works in the copy; making the copies again keeps that work
    copy.cells[2].source = "ordered = sorted(numbers)  # my answer"
    nbformat.write(copy, first[0].path)
    mine = first[0].path.read_bytes()
    again = make_learner_copies("Ana María", notebooks_root=FIXTURES, phases=[19])
    assert [(r.path, r.status) for r in again] == [(first[0].path, "kept"), (first[1].path, "kept")]
    assert make_learner_copies("Ana María", notebooks_root=FIXTURES, phases=[17]) == []
    assert first[0].path.read_bytes() == mine
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_learner_copies_cli_says_which_notebooks_it_kept(tmp_path):
    env = dict(os.environ, COURSE_LEARNERS_DIR=str(tmp_path))
    command = [sys.executable, "-m", "utils.course.learner_copies", "--learner", "Zoë", "--phase", "17"]
    first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("wrote learners/Zoë/phase-17/")
    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and "wrote" not in second.stdout
    assert second.stdout.count("not overwritten") == first.stdout.count("wrote") >= 1
    bad = subprocess.run([sys.executable, "-m", "utils.course.learner_copies", "--learner", "../x"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "path separator" in bad.stderr


@pytest.mark.parametrize("phase, source", phase_sources(), ids=lambda v: getattr(v, "name", str(v)))
def test_learner_copy_matches_master_except_exercises(phase, source):
    """Drift: non-exercise cells equal the master's, every solution has its stub, nothing leaks."""
    master = notebook_from_source(source, audience="master")
    learner = learner_notebook(source)
    exercises = exercises_of(source)
    plain = lambda nb: [(c.cell_type, c.source) for c in nb.cells if _role(c) is None]
    assert plain(learner) == plain(master)
    stubs = {c.metadata["course"]["exercise"]: c.source for c in learner.cells if _role(c) == "stub"}
    solutions = {c.metadata["course"]["exercise"] for c in master.cells if _role(c) == "solution"}
    assert set(stubs) == solutions == set(exercises)
    assert {_role(c) for c in learner.cells} <= {None, "stub"}, "no solution or check cell in a learner copy"
    text = "\n".join(c.source for c in learner.cells)
    for ex in exercises.values():
        assert stubs[ex.id] == ex.stub
        assert ex.solution not in text, f"{ex.id}: the solution leaks into the learner copy"
        for check in ex.checks:
            assert check not in text, f"{ex.id}: a check cell leaks into the learner copy"
    # the master keeps the order: solution, then its checks, where the learner has the stub
    order = [(_role(c), c.metadata.get("course", {}).get("exercise")) for c in master.cells if _role(c)]
    for ex in exercises.values():
        at = order.index(("solution", ex.id))
        assert order[at + 1: at + 1 + len(ex.checks)] == [("check", ex.id)] * len(ex.checks)


def test_example_learners_notebooks_are_generated_the_same_every_time(tmp_path):
    """`python -m utils.learner_copies --examples` writes the same bytes every time (the copies are not
    kept in the repository: scripts/test.sh and the tests generate them), and rewriting changes nothing."""
    make_example_submissions(learners_root=tmp_path / "a")
    make_example_submissions(learners_root=tmp_path / "b")
    first = _tree_digest(tmp_path / "a")
    assert first and first == _tree_digest(tmp_path / "b")
    assert sorted(first) == sorted(f"{name}/phase-{phase:02d}/{source.stem}.ipynb"
                                   for name in (EXAMPLE_COMPLETE, EXAMPLE_MISTAKES)
                                   for phase, source in phase_sources())
    (tmp_path / "a" / EXAMPLE_COMPLETE / "phase-17" / "stale.ipynb").write_text("{}", encoding="utf-8")
    make_example_submissions(learners_root=tmp_path / "a")
    assert _tree_digest(tmp_path / "a") == first, "a notebook whose source is gone is removed"


def test_example_learners_notebooks_follow_the_masters(tmp_path):
    """example-complete hands in the master with each exercise solved in its stub cell; example-mistakes
    the same except for exactly two cells: the first exercise left as its stub, the last one hanging."""
    make_example_submissions(learners_root=tmp_path)
    mistakes = []
    for phase, source in phase_sources():
        rel = Path(f"phase-{phase:02d}") / f"{source.stem}.ipynb"
        text = (tmp_path / EXAMPLE_COMPLETE / rel).read_text(encoding="utf-8")
        assert text == notebook_text(solved_notebook(source))
        complete = nbformat.reads(text, as_version=4)
        master = notebook_from_source(source, audience="master")
        plain = lambda nb: [(c.cell_type, c.source, c.id) for c in nb.cells if _role(c) is None]
        assert plain(complete) == plain(master)
        solutions = {c.metadata["course"]["exercise"]: c.source for c in master.cells if _role(c) == "solution"}
        assert {c.metadata["course"]["exercise"]: c.source for c in complete.cells if _role(c) == "stub"} \
            == solutions
        other = nbformat.read(tmp_path / EXAMPLE_MISTAKES / rel, as_version=4)
        assert [c.metadata for c in other.cells] == [c.metadata for c in complete.cells]
        mistakes += [(c.metadata["course"]["exercise"], c.source) for c, d in zip(other.cells, complete.cells)
                     if c.source != d.source]
    first = [(p, s) for p, s in phase_sources() if exercises_of(s)][0][1]
    (first_id, first_stub), hang = mistakes
    assert first_stub == exercises_of(first)[first_id].stub and first_id == next(iter(exercises_of(first)))
    assert hang[1] == HANG_SOURCE


def test_solved_notebook_is_the_learner_copy_with_solutions_typed_in():
    source = FIXTURES / "phase-19-fixture" / "01-numbers.py"
    learner, solved = learner_notebook(source), solved_notebook(source)
    assert [c.metadata for c in solved.cells] == [c.metadata for c in learner.cells]
    assert [c.source for c in solved.cells if _role(c) == "stub"] == ["ordered = sorted(numbers)",
                                                                       "total = sum(numbers)"]


# --------------------------------------------------------------------------- the graded copy


def test_graded_copy_puts_each_check_after_the_learners_cell():
    source = FIXTURES / "phase-19-fixture" / "01-numbers.py"
    submitted = solved_notebook(source)
    # a learner who duplicated the 'total' cell and lost the metadata of 'sort-numbers' (but
    # kept the exercise_todo call), and added a cell of their own at the end
    sort_cell = next(c for c in submitted.cells if c.metadata.get("course", {}).get("exercise") == "sort-numbers")
    sort_cell.metadata = {}
    sort_cell.source = 'ordered = exercise_todo("sort-numbers", "sort")'
    total_at = next(i for i, c in enumerate(submitted.cells) if "total" in c.metadata.get("course", {}).values())
    submitted.cells.insert(total_at + 1, nbformat.from_dict(dict(submitted.cells[total_at], id="dup")))
    submitted.cells[total_at + 1].source = "total = 6"
    submitted.cells.append(nbformat.v4.new_code_cell("print('mine')"))
    graded = grading.graded_copy(submitted, exercises_of(source))
    code = [c for c in graded.notebook.cells if c.cell_type == "code"]
    assert [(r[0], r[1]) for r in graded.roles] == [
        ("cell", None), ("exercise", "sort-numbers"), ("check", "sort-numbers"),
        ("exercise", "total"), ("exercise", "total"), ("check", "total"), ("cell", None), ("cell", None)]
    assert code[5].source.startswith("assert total == 6")
    assert graded.missing == []
    assert len({c.id for c in graded.notebook.cells}) == len(graded.notebook.cells)
    nbformat.validate(graded.notebook)
    # an exercise whose cell is gone altogether is reported, not inserted anywhere
    gone = [c for c in submitted.cells if "sort-numbers" not in c.source]
    submitted.cells = gone
    graded = grading.graded_copy(submitted, exercises_of(source))
    assert graded.missing == [("sort-numbers", 1)]
    assert [r[1] for r in graded.roles if r[0] == "check"] == ["total"]


def test_failure_message_reads_the_last_exception_line():
    trace = ("Notebook cell execution failed\nCell 3: Cell execution caused an exception\n\nInput:\n"
             "assert x == 2, 'a-b: x should be 2'\n\nTraceback:\n\n-----\nAssertionError       "
             "Traceback (most recent call last)\nCell In[1], line 1\n----> 1 assert x == 2\n\n"
             "AssertionError: a-b: x should be 2\n")
    assert grading.failure_message(trace) == "a-b: x should be 2"
    assert grading.failure_message(trace.replace("AssertionError: a-b", "NameError: name 'a-b")) == \
        "NameError: name 'a-b: x should be 2"
    assert grading.failure_message("Cell 4: Timeout of 5 seconds exceeded executing cell") == "timed out after 5 s"
    assert grading.failure_message("...\nutils.exercises.ExerciseNotDone: Exercise x is not done yet") == \
        "not done: the cell still calls exercise_todo(...)"


# --------------------------------------------------------------------------- grading a class


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Grade example-complete, example-mistakes and a vandal on the fixture notebooks."""
    if not (REAL_LEARNERS / EXAMPLE_COMPLETE).is_dir() or not (REAL_LEARNERS / EXAMPLE_MISTAKES).is_dir():
        pytest.skip("the example learners are not in learners/ yet")
    root = tmp_path_factory.mktemp("learners")
    for name in (EXAMPLE_COMPLETE, EXAMPLE_MISTAKES):
        shutil.copytree(REAL_LEARNERS / name, root / name,
                        ignore=lambda folder, names: [n for n in names if n.endswith(".ipynb")])
    make_example_submissions(notebooks_root=FIXTURES, learners_root=root)
    vandal = solved_notebook(FIXTURES / "phase-19-fixture" / "01-numbers.py")
    vandal.cells.insert(1, nbformat.v4.new_code_cell(
        "import os, shutil\n"
        "from utils.course.learner import learners_dir\n"
        "shutil.rmtree(learners_dir())  # every note the graded code can reach\n"
        "for name in os.listdir('.'):\n"
        "    os.remove(name)          # the graded notebook itself\n"
        "raise RuntimeError('the vandal was here')"))
    for cell in vandal.cells:
        if cell.metadata.get("course", {}).get("exercise") == "total":
            cell.source = "total = 7"
    (root / "vandal" / "phase-19").mkdir(parents=True)
    nbformat.write(vandal, root / "vandal" / "phase-19" / "01-numbers.ipynb")
    before = _tree_digest(root)
    grades = grading.grade([EXAMPLE_COMPLETE, EXAMPLE_MISTAKES, "vandal"], learners_root=root,
                           notebooks_root=FIXTURES, jobs=2, cell_timeout=CELL_TIMEOUT, notebook_timeout=60)
    return {g.learner: g for g in grades}, before, _tree_digest(root)


def _pattern(grade: grading.LearnerGrade) -> dict[str, dict[str, bool]]:
    return {nb.notebook: {c.name: c.passed for c in nb.checks} for nb in grade.notebooks}


def test_grading_leaves_the_learners_folder_untouched(graded_class):
    _, before, after = graded_class
    assert after == before


def test_example_complete_passes_everything(graded_class):
    grade = graded_class[0][EXAMPLE_COMPLETE]
    assert _pattern(grade) == {
        "phase-19/01-numbers.ipynb": {"sort-numbers": True, "total": True},
        "phase-19/02-ratio.ipynb": {"spike-ratio": True},
    }
    assert [nb.status for nb in grade.notebooks] == ["ran", "ran"]
    assert all(nb.other_failures == [] for nb in grade.notebooks)
    failed = [(c.name, c.message) for c in grade.notes if not c.passed]
    assert failed == []
    names = [c.name for c in grade.notes]
    # one lesson per notebook handed in (the fixtures are numbered 19.01 and 19.02, like the course's own)
    assert names[:2] == ["lesson of phase-19/01-numbers.ipynb", "lesson of phase-19/02-ratio.ipynb"]
    pm = "post-mortem 19-spike-001.md"
    assert [f"{pm}: format", f"{pm}: header"] + [f"{pm}: §{n} {SECTION_TITLES[n]}" for n in range(1, 8)] \
        + [SECTION1] == [n for n in names if n.startswith(pm)]
    assert not grade.not_submitted
    # §1 against the run log saved with it: every symptom compared, whatever machine grades it
    assert {c.name: c.message for c in grade.notes}[SECTION1] == "9 symptoms within tolerance"


def test_example_mistakes_fails_exactly_where_it_went_wrong(graded_class):
    grade = graded_class[0][EXAMPLE_MISTAKES]
    assert _pattern(grade) == {
        "phase-19/01-numbers.ipynb": {"sort-numbers": False, "total": True},   # left as a stub
        "phase-19/02-ratio.ipynb": {"spike-ratio": False},                      # hangs
    }
    checks = {c.name: c.message for nb in grade.notebooks for c in nb.checks}
    assert checks["sort-numbers"] == "your cell failed: not done: the cell still calls exercise_todo(...)"
    assert checks["spike-ratio"] == f"your cell failed: timed out after {CELL_TIMEOUT} s"
    assert [nb.status for nb in grade.notebooks] == ["ran", "cell timed out"]
    # the cell after the stub uses its result: the learner sees that too
    assert grade.notebooks[0].other_failures == [
        "cell 6 (`print(ordered, total)`): NameError: name 'ordered' is not defined"]
    pm = "post-mortem 19-spike-001.md"
    failed = {c.name: c.message for c in grade.notes if not c.passed}
    assert sorted(failed) == sorted([
        "lesson of phase-19/02-ratio.ipynb",                    # the lesson box of notebook 19.02 skipped
        f"{pm}: §3 Discriminating evidence",                    # a section left empty
        SECTION1,                                               # a wrong symptom
    ])
    assert failed[f"{pm}: §3 Discriminating evidence"].startswith("§3 Discriminating evidence is empty")
    # only the mistyped step is wrong: every other symptom matches the run log saved with it
    assert failed[SECTION1] == ("spike_step: you typed 328, the run log says 312 (off by 16, 5.1 %; tolerance ±1) "
                                "— not ok — 328 is the step of the peak; the spike began earlier") \
        or failed[SECTION1].startswith("spike_step: you typed 328, the run log says 312 (off by 16, 5.1 %; "
                                       "tolerance ±1) — not ok") and failed[SECTION1].count("— not ok") == 1


SECTION1 = "post-mortem 19-spike-001.md: §1 vs its saved run log"


def _saved_log(learner: str):
    """The run log saved with a committed example learner's post-mortem 19-spike-001."""
    from utils.spikelab.runlog import RunLog

    return RunLog.load(postmortem.run_log_file(REAL_LEARNERS / learner / "phase-19" / "notes", "19-spike-001"))


def _learner_with(tmp_path, monkeypatch, symptoms_: postmortem.Symptoms | None, run_log=None) -> Path:
    """A learner 'lia' under tmp_path whose post-mortem of run 19-spike-001 holds ``symptoms_``
    (None: drafted from ``run_log``), saved as the notebook saves it (with ``run_log`` beside it
    when given); returns the learners folder."""
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(tmp_path))
    if symptoms_ is None:
        symptoms_ = postmortem.draft_symptoms(symptoms.compute(run_log))
        symptoms_.confirmed = set(symptoms_.drafted)
    pm = postmortem.PostMortem("19-spike-001", "2026-11-23", symptoms=symptoms_)
    postmortem_notes.save(pm, learner="lia", run_log=run_log)
    return tmp_path


def _section1(root: Path) -> grading.Check:
    """The §1 check of learner 'lia' (nothing handed in but the notes)."""
    (check,) = [c for c in grading.grade_notes("lia", root, []) if c.name == SECTION1]
    return check


def _no_training(monkeypatch):
    """Make any training run fail: the grader must not need one."""
    import utils.spikelab.train

    def refuse(*args, **kwargs):
        raise AssertionError("the grader trained a run")
    monkeypatch.setattr(utils.spikelab.train, "run_variant", refuse)
    monkeypatch.setattr(utils.spikelab.train.TrainingRun, "train", refuse)


def _other_machine(log):
    """The same run as another machine trains it: same steps, batches and spike, other numbers
    (every loss 8 % higher, every gradient norm 30 % lower)."""
    from utils.spikelab.runlog import RunLog

    steps = dict(log.steps, loss=[v * 1.08 for v in log.steps["loss"]],
                 grad_norm_preclip=[v * 0.7 for v in log.steps["grad_norm_preclip"]])
    return RunLog(meta=dict(log.meta), steps=steps, heldout=log.heldout, events=log.events)


@pytest.fixture(scope="module")
def broken_log():
    """This machine's run 19-spike-001 (broken, seed 42; COURSE_RUN_CACHE shares it)."""
    from utils.spikelab.train import run_variant

    return run_variant("broken", seed=42)


def test_section1_matching_its_own_saved_run_log_passes(tmp_path, monkeypatch, broken_log):
    root = _learner_with(tmp_path, monkeypatch, None, broken_log)
    _no_training(monkeypatch)
    check = _section1(root)
    assert check.passed and check.message == "9 symptoms within tolerance"


def test_section1_differing_from_its_own_saved_run_log_fails_by_name(tmp_path, monkeypatch, broken_log):
    typed = postmortem.draft_symptoms(symptoms.compute(broken_log))
    typed.confirmed = set(typed.drafted)
    saved_norm = typed.grad_norm_preclip
    typed.grad_norm_preclip = f"{float(saved_norm) * 2:.4g}"
    root = _learner_with(tmp_path, monkeypatch, typed, broken_log)
    _no_training(monkeypatch)
    check = _section1(root)
    assert not check.passed
    assert check.message.startswith(f"grad_norm_preclip: you typed {typed.grad_norm_preclip}, the run log says "
                                    f"{saved_norm} (off by")
    assert check.message.endswith("tolerance 10 %) — not ok") and check.message.count("— not ok") == 1
    report = grading.learner_report(grading.LearnerGrade("lia", notes=[check]))
    assert f"| {SECTION1} | FAIL | grad_norm_preclip: you typed" in report


def test_a_post_mortem_without_its_run_log_fails_with_what_to_do(tmp_path, monkeypatch, broken_log):
    root = _learner_with(tmp_path, monkeypatch, postmortem.draft_symptoms(symptoms.compute(broken_log)))
    check = _section1(root)
    assert not check.passed
    assert check.message == ("no run log saved with it (phase-19/notes/run-logs/19-spike-001.json.gz): re-run "
                             "04-post-mortem.ipynb from its training cell and save the post-mortem again, which "
                             "saves your run beside it")
    assert "\n" not in check.message


def test_section1_from_another_machines_run_passes_against_its_own_saved_log(tmp_path, monkeypatch, broken_log):
    theirs = _other_machine(broken_log)
    here, there = symptoms.compute(broken_log), symptoms.compute(theirs)
    assert (there["spike_step"], there["unusual_tokens"]) == (here["spike_step"], here["unusual_tokens"])
    root = _learner_with(tmp_path, monkeypatch, None, theirs)
    typed = postmortem.parse_markdown((root / "lia" / "phase-19" / "notes" / "postmortems" / "19-spike-001.md")
                                      .read_text(encoding="utf-8")).symptoms
    # against this machine's run, that §1 would fail on every number the machine changes ...
    assert [c.field for c in postmortem.compare_symptoms(typed, here) if not c.ok] == [
        "pre_spike_ema", "peak_loss", "recovery_loss", "grad_norm_preclip"]
    # ... the grader checks it against the run log saved with it, and trains nothing
    _no_training(monkeypatch)
    check = _section1(root)
    assert check.passed and check.message == "9 symptoms within tolerance"


def test_a_run_log_that_cannot_be_read_or_is_of_another_run_fails(tmp_path, monkeypatch, broken_log):
    root = _learner_with(tmp_path, monkeypatch, None, broken_log)
    path = root / "lia" / "phase-19" / "notes" / "run-logs" / "19-spike-001.json.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    check = _section1(root)
    assert not check.passed and check.message.startswith("its run log cannot be read: cannot read run log")
    other = _other_machine(broken_log)
    other.meta["run_id"] = "19-spike-002"
    path.write_bytes(other.to_bytes(compressed=True))
    check = _section1(root)
    assert not check.passed
    assert check.message == ("the run log saved as run-logs/19-spike-001.json.gz is of run '19-spike-002', "
                             "this post-mortem of run '19-spike-001'")


def test_section6_is_graded_against_the_saved_run_log(tmp_path, monkeypatch, broken_log):
    """A misspelled metric and a step T past the end of the run fail §6, naming what is allowed."""
    root = _learner_with(tmp_path, monkeypatch, None, broken_log)
    pm = postmortem_notes.load_saved("19-spike-001", learner="lia")
    pm.verification = postmortem.Verification(seed="42", tolerance="0.05", step=str(len(broken_log) + 1),
                                              expectations=[postmortem.Expectation("heldout_rise_sigm", "<", "3")])
    postmortem_notes.save(pm, learner="lia")
    _no_training(monkeypatch)
    checks = {c.name: c for c in grading.grade_notes("lia", root, [])}
    six = checks["post-mortem 19-spike-001.md: §6 Verification"]
    assert not six.passed
    n = len(broken_log)
    assert six.message.startswith(
        f"§6 step: T = {n + 1} is past the end of the run: its run log has {n} steps, so T is at most {n} "
        "(the rerun's metrics are computed on its first T steps); §6 expectation 1: no metric "
        "'heldout_rise_sigm' (did you mean 'heldout_rise_sigma'?); the metrics are the keys of "
        "utils.spikelab.symptoms.compute: batch_index, ")
    assert six.message.endswith(", spike_step") and "…" not in six.message
    pm.verification.step = str(n)
    pm.verification.expectations[0].metric = "heldout_rise_sigma"
    postmortem_notes.save(pm, learner="lia")
    checks = {c.name: c for c in grading.grade_notes("lia", root, [])}
    assert checks["post-mortem 19-spike-001.md: §6 Verification"].passed


def test_a_notebook_that_deletes_things_is_graded_and_stops_nothing(graded_class):
    grade = graded_class[0]["vandal"]
    assert _pattern(grade) == {"phase-19/01-numbers.ipynb": {"sort-numbers": True, "total": False}}
    assert grade.notebooks[0].checks[1].message == "total: expected 6, got 7"
    assert grade.notebooks[0].other_failures == [
        "cell 2 (`import os, shutil`): RuntimeError: the vandal was here"]
    assert [(c.name, c.passed) for c in grade.notes] == [("lesson of phase-19/01-numbers.ipynb", False),
                                                         ("phase-19 post-mortem", False)]
    assert grade.not_submitted == ["phase-19/02-ratio.ipynb"]


def test_reports_and_class_summary(graded_class, tmp_path):
    grades = list(graded_class[0].values())
    written = grading.write_reports(grades, tmp_path)
    assert sorted(p.name for p in written) == sorted(
        [f"{EXAMPLE_COMPLETE}.md", f"{EXAMPLE_MISTAKES}.md", "vandal.md", "summary.md", "summary.csv"])
    mistakes = (tmp_path / f"{EXAMPLE_MISTAKES}.md").read_text(encoding="utf-8")
    assert "### phase-19/02-ratio.ipynb (cell timed out)" in mistakes
    assert f"| spike-ratio | FAIL | your cell failed: timed out after {CELL_TIMEOUT} s |" in mistakes
    assert "| sort-numbers | FAIL |" in mistakes and "| total | pass |" in mistakes
    assert str(tmp_path) not in mistakes and "/tmp" not in mistakes
    rows = (tmp_path / "summary.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == ",".join(grading.SUMMARY_COLUMNS)
    by_name = {r.split(",")[0]: r.split(",")[1:] for r in rows[1:]}
    counts = {name: dict(zip(grading.SUMMARY_COLUMNS[1:], map(int, v))) for name, v in by_name.items()}
    assert (counts[EXAMPLE_COMPLETE]["checks_passed"], counts[EXAMPLE_COMPLETE]["checks_total"]) == (3, 3)
    assert (counts[EXAMPLE_MISTAKES]["checks_passed"], counts[EXAMPLE_MISTAKES]["timed_out"]) == (1, 1)
    assert counts[EXAMPLE_MISTAKES]["notes_total"] - counts[EXAMPLE_MISTAKES]["notes_passed"] == 3
    assert (counts["vandal"]["checks_passed"], counts["vandal"]["not_submitted"]) == (1, 1)
    assert "| vandal | 1 | 1/2 | 0/2 | 0 | 0 | 1 |" in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_a_notebook_that_outlives_its_time_is_stopped_with_its_kernel(tmp_path):
    """A cell that ignores the per-cell interrupt: the whole notebook is killed, kernel included."""
    import psutil

    pid_file = tmp_path / "kernel.pid"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"import os, pathlib\npathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))"),
        nbformat.v4.new_code_cell("import time\nwhile True:\n    try:\n        time.sleep(600)\n"
                                  "    except KeyboardInterrupt:\n        pass  # refuses to stop"),
    ]
    (tmp_path / "learner").mkdir()
    run = grading.run_nbval(nb, "phase-19/stubborn.ipynb", "stubborn", tmp_path / "learner",
                            cell_timeout=300, notebook_timeout=15)
    assert run.stopped and run.cells == {}
    assert run.error == "the notebook ran longer than 15 s in all and was stopped"
    kernel = int(pid_file.read_text())
    for _ in range(50):
        try:
            if psutil.Process(kernel).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the kernel (pid {kernel}) of a stopped notebook is still running")


def test_a_notebook_whose_kernel_dies_is_reported_at_once_as_a_dead_kernel(tmp_path):
    """``os._exit(1)`` in a learner's cell: reported as a dead kernel within seconds, not as a
    timeout after the whole cell timeout; the checks after it say why they did not run."""
    source = FIXTURES / "phase-19-fixture" / "01-numbers.py"
    nb = solved_notebook(source)
    sort_cell = next(i for i, c in enumerate(nb.cells) if c.metadata.get("course", {}).get("exercise") == "sort-numbers")
    nb.cells.insert(sort_cell + 1, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    folder = tmp_path / "crash"
    (folder / "phase-19").mkdir(parents=True)
    nbformat.write(nb, folder / "phase-19" / "01-numbers.ipynb")
    started = time.monotonic()
    graded = grading.grade_notebook(folder / "phase-19" / "01-numbers.ipynb", "phase-19/01-numbers.ipynb", "crash",
                                    folder, source, cell_timeout=120, notebook_timeout=240)
    assert time.monotonic() - started < 60          # the cell timeout is 120 s
    died = ("the kernel died while this cell ran (exit code 1): it ended the Python process (os._exit, a crash "
            "or running out of memory), so the cells after it could not run")
    where = f"cell {sort_cell + 2} (`import os`)"
    assert graded.status == "kernel died"
    assert graded.note == f"{where} ended the kernel's process; the cells after it did not run"
    assert [(c.name, c.passed, c.message) for c in graded.checks] == [
        ("sort-numbers", True, ""),                 # its check ran before the crash
        ("total", False, f"not graded: the kernel died in {where}, so this check could not run")]
    assert graded.other_failures == [f"{where}: {died}"]


def test_a_spanish_learner_reads_a_failing_checks_message_in_spanish(tmp_path, monkeypatch):
    """Issue 13: the check cells say their messages with say(english, spanish), and the graded kernel speaks the
    learner's language (their profile.json, read when the notebook imports utils.course): a learner who chose
    Español gets the failing check's feedback in Spanish. (The same check in English: the vandal's, above.)"""
    source = FIXTURES / "phase-19-fixture" / "01-numbers.py"
    nb = solved_notebook(source)
    for cell in nb.cells:
        if cell.metadata.get("course", {}).get("exercise") == "total":
            cell.source = "total = 7"
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(tmp_path))
    profile.save_language("lucía", "es")
    folder = tmp_path / "lucía"
    (folder / "phase-19").mkdir()
    nbformat.write(nb, folder / "phase-19" / "01-numbers.ipynb")
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_LANG", "LEARNER")}   # tests run in English
    graded = grading.grade_notebook(folder / "phase-19" / "01-numbers.ipynb", "phase-19/01-numbers.ipynb", "lucía",
                                    folder, source, cell_timeout=60, notebook_timeout=120, env=env)
    assert graded.status == "ran"
    assert [(c.name, c.passed, c.message) for c in graded.checks] == [
        ("sort-numbers", True, ""), ("total", False, "total: se esperaba 6, se obtuvo 7")]


def test_failure_message_of_a_dead_kernel():
    died = "the kernel died while this cell ran (exit code 1): it ended the Python process"
    assert grading.failure_message(f"pytest plugin exception: {died}") == died
    assert grading.failure_message("pytest plugin exception: Kernel dead on test start") == \
        "not run: the kernel was dead (an earlier cell ended the Python process)"


# --------------------------------------------------------------------------- the CLI


def test_all_lists_each_folder_it_skips_and_why(tmp_path):
    for name in ["ana", "José", "a*b", "name\n", "bob ", ".ipynb_checkpoints"]:
        (tmp_path / name).mkdir()
    (tmp_path / "README.md").write_text("not a folder", encoding="utf-8")
    assert grading.all_learners(tmp_path) == ["José", "ana"]
    skipped = grading.skipped_folders(tmp_path)
    assert len(skipped) == 3
    assert skipped[0].startswith("learners/a*b/: not graded, its name is not a learner name: ")
    assert skipped[1] == ("learners/bob /: not graded, the folder name is not written as the learner name 'bob' "
                          "(spaces around it or another Unicode form): rename it 'bob'")
    assert skipped[2].startswith("learners/name\\n/: not graded, its name is not a learner name: ")
    assert "U+000A" in skipped[2] and "\n" not in skipped[2]       # one line, the newline named


def test_cli_grades_without_running_anything_it_cannot_match(tmp_path):
    learners = tmp_path / "learners"
    (learners / "José" / "phase-19" / "notes").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), learners / "José" / "phase-19" / "my-own.ipynb")
    (learners / "José" / "phase-19" / "notes" / "lessons.md").write_text(
        "- 2026-11-23 · phase 19 · a rare piece has a tiny embedding\n", encoding="utf-8")
    (learners / "bad*name" / "phase-19").mkdir(parents=True)          # not a learner name: listed, not graded
    out = tmp_path / "out"
    env = dict(os.environ, COURSE_LEARNERS_DIR=str(learners))
    result = subprocess.run(
        [sys.executable, "-m", "utils.course.grading", "--all", "--out", str(out), "--notebooks", str(FIXTURES),
         "--jobs", "1", "--timeout", "5"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "José: checks 0/0, notes 0/1" in result.stdout      # my-own.ipynb is no course notebook: it owes no lesson
    skipped = [line for line in result.stdout.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 1 and skipped[0].startswith(
        "skipped learners/bad*name/: not graded, its name is not a learner name: ")
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert f"## Folders not graded\n\n- {skipped[0].removeprefix('skipped ')}\n" in summary
    assert not (out / "bad*name.md").exists()
    report = (out / "José.md").read_text(encoding="utf-8")
    assert "### phase-19/my-own.ipynb (not graded)" in report
    assert "| lesson of" not in report
    assert "| phase-19 post-mortem | FAIL | no post-mortem in phase-19/notes/postmortems/ |" in report
    assert "### Not handed in\n\n- phase-19/01-numbers.ipynb\n- phase-19/02-ratio.ipynb" in report
    assert (out / "summary.csv").read_text(encoding="utf-8").splitlines()[1] == "José,1,0,0,0,1,0,1,2"
    missing = subprocess.run([sys.executable, "-m", "utils.course.grading", "--learner", "nobody", "--out", str(out)],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no folder learners/nobody/" in missing.stderr
