"""Learner copies (utils.learner_copies) and instructor grading (utils.grading).

The grading test runs nbval for real on two small fixture sources
(tests/fixtures/grading/notebooks/, no training: a few seconds each) for the two example
learners (their notebooks generated from the fixtures the same way as the committed ones,
their notes the committed ones) and a third learner whose notebook deletes what it can reach.
It takes about 20-40 s (it trains the broken reference run once, for the post-mortem check).
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

from utils import grading, learner_copies, postmortem
from utils.learner_copies import (
    EXAMPLE_COMPLETE,
    EXAMPLE_MISTAKES,
    exercises_of,
    learner_notebook,
    make_example_submissions,
    make_learner_copies,
    phase_sources,
    solved_notebook,
)
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
    command = [sys.executable, "-m", "utils.learner_copies", "--learner", "Zoë", "--phase", "17"]
    first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("wrote learners/Zoë/phase-17/")
    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and "wrote" not in second.stdout
    assert second.stdout.count("not overwritten") == first.stdout.count("wrote") >= 1
    bad = subprocess.run([sys.executable, "-m", "utils.learner_copies", "--learner", "../x"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "path separator" in bad.stderr


@pytest.mark.parametrize("phase, source", phase_sources(), ids=lambda v: getattr(v, "name", str(v)))
def test_learner_copy_matches_master_except_exercises(phase, source):
    """Drift: non-exercise cells equal the master's, every solution has its stub, nothing leaks."""
    master = learner_copies.builder().notebook_from_source(source, audience="master")
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


def test_example_learners_notebooks_are_up_to_date(tmp_path):
    """learners/example-*/phase-*/ hold exactly what `python -m utils.learner_copies --examples` writes."""
    make_example_submissions(learners_root=tmp_path)
    for name in (EXAMPLE_COMPLETE, EXAMPLE_MISTAKES):
        want = {p.relative_to(tmp_path / name).as_posix(): p.read_text(encoding="utf-8")
                for p in sorted((tmp_path / name).glob("phase-*/*.ipynb"))}
        have = {p.relative_to(REAL_LEARNERS / name).as_posix(): p.read_text(encoding="utf-8")
                for p in sorted((REAL_LEARNERS / name).glob("phase-*/*.ipynb"))}
        assert sorted(have) == sorted(want), "run: .venv/bin/python -m utils.learner_copies --examples"
        for rel in want:
            assert have[rel] == want[rel], f"{name}/{rel} is stale: run python -m utils.learner_copies --examples"


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
        "from utils.learner import learners_dir\n"
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
    assert names[0] == "phase-19 lessons.md"
    pm = "post-mortem 19-spike-001.md"
    assert [f"{pm}: format", f"{pm}: header"] + [f"{pm}: §{n} {SECTION_TITLES[n]}" for n in range(1, 8)] \
        + [f"{pm}: §1 vs run log (broken, seed 42)"] == [n for n in names if n.startswith(pm)]
    assert not grade.not_submitted
    # §1 typed on this grader's floating-point path is compared exactly, otherwise on what paths share
    message = {c.name: c.message for c in grade.notes}[f"{pm}: §1 vs run log (broken, seed 42)"]
    if _same_path_as_the_grader(EXAMPLE_COMPLETE):
        assert message == "9 symptoms within tolerance"
    else:
        assert message.startswith("§1 typed on another floating-point path") and message.endswith("all 9 agree")


def _same_path_as_the_grader(learner: str) -> bool:
    """Was this example learner's post-mortem written on the floating-point path of this machine?"""
    from utils import claims

    text = (REAL_LEARNERS / learner / "phase-19" / "notes" / "postmortems" / "19-spike-001.md").read_text(encoding="utf-8")
    written = postmortem.written_fingerprint(postmortem.parse_markdown(text).symptoms)
    return written == postmortem.run_fingerprint(claims.results_of("broken", 42))


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
        "phase-19 lessons.md",                                  # no lesson for phase 19
        f"{pm}: §3 Discriminating evidence",                    # a section left empty
        f"{pm}: §1 vs run log (broken, seed 42)",               # a wrong symptom
    ])
    assert failed[f"{pm}: §3 Discriminating evidence"].startswith("§3 Discriminating evidence is empty")
    wrong = failed[f"{pm}: §1 vs run log (broken, seed 42)"]
    assert "spike_step: you typed 328, the run log says 312" in wrong     # the step is the same on every path
    assert wrong.startswith("spike_step: you typed 328") == _same_path_as_the_grader(EXAMPLE_MISTAKES)


# A synthetic broken run (seed 42) of a grader on path 0badcafe, shaped like utils.symptoms.compute.
GRADER_RUN = {
    "variant": "broken", "seed": 42, "run_id": "19-spike-001", "param_hash": "0badcafe",
    "spike_step": 312, "peak_step": 312, "pre_spike_ema": 1.0, "peak_loss": 4.0, "recovery_loss": 1.05,
    "grad_norm_preclip": 150.0, "grad_norm_baseline": 1.5, "lr_at_spike": 2.909e-3, "dtype": "float32",
    "batch_index": 312, "unusual_tokens": ["▁bi", "ri", "▁w", "tten"],
}
SECTION1 = "post-mortem 19-spike-001.md: §1 vs run log (broken, seed 42)"


def _grade_section1(tmp_path, symptoms: postmortem.Symptoms, grader: dict) -> grading.Check:
    """The §1 check of a learner whose post-mortem holds `symptoms`, graded against `grader`."""
    folder = tmp_path / "lia" / "phase-19" / "notes" / "postmortems"
    folder.mkdir(parents=True)
    pm = postmortem.PostMortem("19-spike-001", "2026-11-23", symptoms=symptoms)
    (folder / "19-spike-001.md").write_text(postmortem.render_markdown(pm), encoding="utf-8")
    (check,) = [c for c in grading.grade_notes("lia", tmp_path, [], grader) if c.name == SECTION1]
    return check


def _typed(**changes) -> postmortem.Symptoms:
    values = dict(spike_step="312", pre_spike_ema="1.0", peak_loss="4.0", recovery_loss="1.05",
                  grad_norm_preclip="150", lr_at_spike="0.002909", dtype="float32", batch_index="312",
                  unusual_tokens=["▁bi", "ri", "▁w", "tten"], fingerprint="0badcafe")
    values.update(changes)
    return postmortem.Symptoms(**values)


def test_section1_typed_on_the_graders_path_is_compared_exactly(tmp_path):
    check = _grade_section1(tmp_path / "a", _typed(), GRADER_RUN)
    assert check.passed and check.message == "9 symptoms within tolerance"
    check = _grade_section1(tmp_path / "b", _typed(grad_norm_preclip="95"), GRADER_RUN)
    assert not check.passed
    assert check.message.startswith("grad_norm_preclip: you typed 95, the run log says 150 (off by 55")
    # no recorded path: written on the reference path, so exact against a grader on that path
    from utils.reference_path import REFERENCE

    on_reference = dict(GRADER_RUN, param_hash=REFERENCE["param_hash"])
    check = _grade_section1(tmp_path / "c", _typed(grad_norm_preclip="95", fingerprint=""), on_reference)
    assert not check.passed and check.message.startswith("grad_norm_preclip: you typed 95")


def test_section1_typed_on_another_path_is_checked_on_what_paths_share(tmp_path):
    other = dict(pre_spike_ema="1.1", peak_loss="4.9", recovery_loss="1.2", grad_norm_preclip="95",
                 fingerprint="1a2b3c4d")
    check = _grade_section1(tmp_path / "a", _typed(**other), GRADER_RUN)
    assert check.passed, check.message
    assert check.message == ("§1 typed on another floating-point path (1a2b3c4d; this run log: 0badcafe), so only "
                             "what every path shares and the spike's shape were compared: all 9 agree")
    check = _grade_section1(tmp_path / "b", _typed(**other, spike_step="328"), GRADER_RUN)
    assert not check.passed
    assert check.message.startswith("§1 typed on another floating-point path (1a2b3c4d; this run log: 0badcafe)")
    assert "spike_step: you typed 328, the run log says 312" in check.message
    check = _grade_section1(tmp_path / "c", _typed(**dict(other, grad_norm_preclip="12")), GRADER_RUN)
    assert not check.passed and "grad_norm_preclip: you typed 12 (at least 15× the run log's median 1.5" in check.message
    # no recorded path counts as the reference path: another path for this grader
    check = _grade_section1(tmp_path / "d", _typed(**dict(other, fingerprint="")), GRADER_RUN)
    assert check.passed and "another floating-point path" in check.message
    report = grading.learner_report(grading.LearnerGrade("lia", notes=[check]))
    assert "another floating-point path" in report


def test_a_notebook_that_deletes_things_is_graded_and_stops_nothing(graded_class):
    grade = graded_class[0]["vandal"]
    assert _pattern(grade) == {"phase-19/01-numbers.ipynb": {"sort-numbers": True, "total": False}}
    assert grade.notebooks[0].checks[1].message == "total: expected 6, got 7"
    assert grade.notebooks[0].other_failures == [
        "cell 2 (`import os, shutil`): RuntimeError: the vandal was here"]
    assert [(c.name, c.passed) for c in grade.notes] == [("phase-19 lessons.md", False),
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


# --------------------------------------------------------------------------- the CLI


def test_cli_grades_without_running_anything_it_cannot_match(tmp_path):
    learners = tmp_path / "learners"
    (learners / "José" / "phase-19" / "notes").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), learners / "José" / "phase-19" / "my-own.ipynb")
    (learners / "José" / "phase-19" / "notes" / "lessons.md").write_text(
        "- 2026-11-23 · phase 19 · a rare piece has a tiny embedding\n", encoding="utf-8")
    out = tmp_path / "out"
    env = dict(os.environ, COURSE_LEARNERS_DIR=str(learners))
    result = subprocess.run(
        [sys.executable, "-m", "utils.grading", "--all", "--out", str(out), "--notebooks", str(FIXTURES),
         "--jobs", "1", "--timeout", "5"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "José: checks 0/0, notes 1/2" in result.stdout
    report = (out / "José.md").read_text(encoding="utf-8")
    assert "### phase-19/my-own.ipynb (not graded)" in report
    assert "| phase-19 lessons.md | pass | 1 lesson line(s) of phase 19 |" in report
    assert "| phase-19 post-mortem | FAIL | no post-mortem in phase-19/notes/postmortems/ |" in report
    assert "### Not handed in\n\n- phase-19/01-numbers.ipynb\n- phase-19/02-ratio.ipynb" in report
    assert (out / "summary.csv").read_text(encoding="utf-8").splitlines()[1] == "José,1,0,0,1,2,0,1,2"
    missing = subprocess.run([sys.executable, "-m", "utils.grading", "--learner", "nobody", "--out", str(out)],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no folder learners/nobody/" in missing.stderr
