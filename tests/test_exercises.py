"""Unfilled exercises wait for the learner and Run All goes on (utils.course.exercises,
utils.course.waiting_cells); the grader still fails them; the post-mortem is never saved empty."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from utils.course import exercises, waiting_cells
from utils.course.exercises import GRADING_ENV, ExerciseNotDone, Waiting, done, exercise_todo
from utils.course.learner_copies import learner_notebook, phase_sources
from utils.text import speaking
from utils.course.notebook_source import read_source_file
from utils.course.postmortem_notes import LearnerPostmortems
from utils.postmortem.forms import PostMortemWorkbook

REPO = Path(__file__).resolve().parent.parent


def _source(phase: int, stem: str) -> Path:
    return next(s for p, s in phase_sources() if p == phase and s.stem == stem)


def _run(nb: nbformat.NotebookNode, folder: Path, **kwargs) -> nbformat.NotebookNode:
    """Run ``nb`` in a fresh kernel started in ``folder`` (as JupyterLab's Run All would)."""
    folder.mkdir(parents=True, exist_ok=True)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}},
                   **kwargs).execute()
    return nb


def _text(cell) -> str:
    """Everything a code cell showed: streams, results, errors."""
    out = []
    for o in cell.get("outputs", []):
        out.append(o.get("text", "") + "".join(o.get("data", {}).get("text/plain", "")) + o.get("ename", ""))
    return "\n".join(out)


def _cells(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


# --------------------------------------------------------------------------- the Waiting value


def test_an_unfilled_exercise_prints_a_marker_and_gives_a_waiting_value(capsys, monkeypatch):
    monkeypatch.delenv(GRADING_ENV, raising=False)
    value = exercise_todo("ema-50", "compute the EMA")
    printed = capsys.readouterr().out
    assert "[waiting] Exercise ema-50 is waiting for you: compute the EMA" in printed
    assert "te espera" not in printed            # one language at a time (utils.text): English here
    with speaking("es"):                         # the same marker in Spanish
        exercise_todo("ema-50-es", "calcula la EMA")
        assert "El ejercicio ema-50-es te espera: calcula la EMA" in capsys.readouterr().out
        assert repr(value) == "<ejercicio ema-50: te espera>"
    assert isinstance(value, Waiting) and not done(value) and done(0) and done(None)
    # printing it (even with a number format) shows the marker instead of failing
    assert f"{value:.3f}" == str(value) == repr(value) == "<exercise ema-50: waiting for you>"


@pytest.mark.parametrize("use", [
    lambda v: v + 1, lambda v: 1 - v, lambda v: v * 2, lambda v: v / 2, lambda v: -v, lambda v: abs(v),
    lambda v: v[311], lambda v: v == [1], lambda v: v < 3, lambda v: bool(v), lambda v: len(v),
    lambda v: list(v), lambda v: float(v), lambda v: v(), lambda v: v.items(), lambda v: 3 in v,
    lambda v: sorted(v), lambda v: sum(v),
])
def test_any_use_of_a_waiting_value_says_which_exercise_is_not_done(use):
    with pytest.raises(ExerciseNotDone, match="Exercise ema-50 is not done yet") as caught:
        use(Waiting("ema-50"))
    assert caught.value.exercise_id == "ema-50"


def test_a_stub_called_in_a_loop_prints_its_marker_once(capsys, monkeypatch):
    monkeypatch.delenv(GRADING_ENV, raising=False)
    monkeypatch.setattr(exercises, "_shown", set())
    for _ in range(5):
        exercise_todo("bpe-merge-step", "merge")
    assert capsys.readouterr().out.count("[waiting] Exercise bpe-merge-step") == 1


def test_while_grading_an_unfilled_exercise_raises(monkeypatch):
    monkeypatch.setenv(GRADING_ENV, "1")
    with pytest.raises(ExerciseNotDone, match="Exercise total is not done yet: add the numbers"):
        exercise_todo("total", "add the numbers")


def test_defined_names_are_the_cells_top_level_names():
    cell = ast.parse("import numpy as np, os.path\nfrom x import y as z\na, (b, *c) = 1, (2, 3)\n"
                     "for i in range(3):\n    d = i\nwith open('f') as fh:\n    pass\n"
                     "def f(q):\n    inner = q\nclass K: member = 1\nsq = [w for w in range(3)]\n"
                     "if (n := 3): e = 1\n")
    assert waiting_cells.defined_names(cell) == ["K", "a", "b", "c", "d", "e", "f", "fh", "i", "n", "np",
                                                 "os", "sq", "z"]


# --------------------------------------------------------------------------- Run All in a real kernel


def test_run_all_goes_past_an_unfilled_exercise_and_skips_only_what_needs_it(tmp_path, monkeypatch):
    monkeypatch.delenv(GRADING_ENV, raising=False)
    nb = _cells(
        "from utils.course.exercises import exercise_todo\nloss = [1.0, 2.0, 4.0]",
        "ratio = exercise_todo('spike-ratio', 'divide the last loss by the first')",
        "print(f'ratio {ratio:.2f}')",                      # only shows it: runs, with the marker
        "doubled = ratio * 2\nprint('never printed')",      # needs the answer: skipped
        "print(doubled + 1)",                               # needs a skipped cell's name: skipped
        "len(loss)",                                        # the last expression is still displayed
        "x = 1\nx",
    )
    _run(nb, tmp_path / "learners" / "ana" / "phase-19")
    outs = [_text(c) for c in nb.cells]
    assert "[waiting] Exercise spike-ratio is waiting for you" in outs[1]
    assert outs[2].startswith("ratio <exercise spike-ratio: waiting for you>")
    assert "[skipped] The rest of this cell was skipped: it needs exercise spike-ratio" in outs[3]
    assert "never printed" not in outs[3]
    assert "[skipped] The rest of this cell was skipped: it needs 'doubled'" in outs[4] and "spike-ratio" in outs[4]
    assert [o.output_type for o in nb.cells[5].outputs] == ["execute_result"] and outs[5] == "3"
    assert outs[6] == "1"
    assert not any(o.output_type == "error" for c in nb.cells for o in c.outputs)


def test_a_real_error_still_stops_run_all(tmp_path, monkeypatch):
    monkeypatch.delenv(GRADING_ENV, raising=False)
    nb = _cells("from utils.course.exercises import exercise_todo\nr = exercise_todo('e', 'x')",
                "x = 1\nprint(undefined_name)", "print('after')")
    with pytest.raises(CellExecutionError, match="NameError") as caught:
        _run(nb, tmp_path / "work")
    assert nb.cells[2].outputs == []
    # the usual traceback, pointing at the line that failed
    assert "----> 2 print(undefined_name)" in re.sub(r"\x1b\[[0-9;]*m", "", str(caught.value))
    nb = _cells("from utils.course.exercises import exercise_todo\nr = exercise_todo('e', 'x')", "1 / 0")
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        _run(nb, tmp_path / "work")


def test_while_grading_the_stub_cell_fails_as_not_done(tmp_path, monkeypatch):
    monkeypatch.setenv(GRADING_ENV, "1")
    nb = _cells("from utils.course.exercises import exercise_todo", "r = exercise_todo('total', 'add them')",
                "print(r)")
    _run(nb, tmp_path / "work", allow_errors=True)
    errors = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "ExerciseNotDone" and "total is not done yet" in errors[0].evalue
    assert [o.ename for o in nb.cells[2].outputs if o.output_type == "error"] == ["NameError"]


def test_a_master_notebook_is_not_guarded(tmp_path, monkeypatch):
    """Masters (run in notebooks/) keep IPython as it is: an error is an error, even after a stub."""
    monkeypatch.delenv(GRADING_ENV, raising=False)
    nb = _cells("from utils.course.exercises import exercise_todo\nr = exercise_todo('e', 'x')", "r + 1")
    _run(nb, REPO / "notebooks", allow_errors=True)
    assert [o.ename for o in nb.cells[1].outputs if o.output_type == "error"] == ["ExerciseNotDone"]


def test_a_learner_copy_with_every_exercise_unfilled_runs_to_the_end(tmp_path, monkeypatch):
    """The learner copy of 19.01 (one run, from the run cache when there is one) under Run All."""
    monkeypatch.delenv(GRADING_ENV, raising=False)
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(tmp_path / "learners"))
    monkeypatch.setenv("LEARNER", "ana")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    source = _source(19, "01-reproduce-the-spike")
    nb = _run(learner_notebook(source), tmp_path / "learners" / "ana" / "phase-19")
    stubs = [c for c in nb.cells if c.metadata.get("course", {}).get("role") == "stub"]
    assert stubs, "the notebook has exercises"
    for cell in stubs:
        ex_id = cell.metadata['course']['exercise']
        if "exercise_todo(" in cell.source:
            assert f"[waiting] Exercise {ex_id} is waiting for you" in _text(cell)
        else:                               # a choice question's stub shows its widget (utils.course.choice)
            assert f"Question {ex_id}</b>" in _text(cell)
    assert any("exercise_todo(" not in c.source for c in stubs) and any("exercise_todo(" in c.source for c in stubs)
    last_code = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert last_code.execution_count is not None, "Run All reached the last cell"


def test_the_post_mortem_copy_runs_to_the_end_and_never_saves_an_empty_post_mortem(tmp_path, monkeypatch):
    """19.04 as a learner opens it: §3-§7 and the Save buttons run, and nothing is saved by itself."""
    monkeypatch.delenv(GRADING_ENV, raising=False)
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(tmp_path / "learners"))
    monkeypatch.setenv("LEARNER", "ana")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = _run(learner_notebook(_source(19, "04-post-mortem")), tmp_path / "learners" / "ana" / "phase-19")
    shown = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "Nothing saved: your post-mortem is still empty" in shown
    assert "no saved post-mortem for 19-spike-001 yet" in shown
    assert "Your notes go to learners/ana/" in shown
    assert not list((tmp_path / "learners").rglob("postmortems/*.md")), "an empty post-mortem was saved"
    assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code")


# --------------------------------------------------------------------------- every notebook, statically


def _tree(source: str) -> ast.Module:
    """A cell's code as Python (IPython's %magic and !shell lines left out)."""
    return ast.parse("\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()))


def names_only_a_solution_defines(source: Path) -> list[str]:
    """One line per later learner cell that uses a name only an exercise's solution defines."""
    _, cells = read_source_file(source)
    learner_cells = [c for c in cells if c.cell_type == "code" and c.role not in ("solution", "check")]
    defined = set().union(*(waiting_cells.defined_names(_tree(c.source)) for c in learner_cells))
    problems = []
    for index, cell in enumerate(cells):
        if cell.role != "solution":
            continue
        only_solution = set(waiting_cells.defined_names(_tree(cell.source))) - defined
        for later in cells[index + 1:]:
            if later.cell_type != "code" or later.role in ("solution", "check"):
                continue
            nodes = list(ast.walk(_tree(later.source)))
            bound_here = {n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
            bound_here |= {n.arg for n in nodes if isinstance(n, ast.arg)}   # loop and comprehension variables,
            used = {n.id for n in nodes if isinstance(n, ast.Name)} - bound_here   # parameters: the cell's own
            for name in sorted(used & only_solution):
                problems.append(f"{cell.exercise}: a later cell uses {name!r}, which only the solution defines")
    return problems


@pytest.mark.parametrize("phase, source", phase_sources(), ids=lambda v: getattr(v, "name", str(v)))
def test_later_cells_need_no_name_that_only_a_solution_defines(phase, source):
    """In a learner's copy a stub stands where the solution was. A name that only the solution defines
    (and that no stub or shared cell defines) would make a later cell fail with a NameError that is
    not skipped, and Run All would stop there: the stub must define it too (e.g. ``a = b = exercise_todo(...)``)."""
    assert names_only_a_solution_defines(source) == []


def test_a_name_only_the_solution_defines_is_found(tmp_path):
    source = tmp_path / "x.py"
    source.write_text(
        '# %% tags=["stub"] exercise="ratio"\nratio = exercise_todo("ratio", "divide")\n\n'
        '# %% tags=["solution"] exercise="ratio"\nfirst = 1.0\nratio = 4.4 / first\n\n'
        '# %%\nprint(ratio, first, [v for v in range(2)])\n', encoding="utf-8")
    assert names_only_a_solution_defines(source) == [
        "ratio: a later cell uses 'first', which only the solution defines"]


def test_the_save_button_refuses_an_empty_post_mortem(learners):
    wb = PostMortemWorkbook("19-spike-001", date="2026-11-23", notes=LearnerPostmortems())
    wb.save_button.click()                                   # refused, shown, nothing raised
    assert wb.messages[0].startswith("✗ nothing saved: all seven sections are empty")
    assert not learners.exists() or not list(learners.rglob("*.md"))
    wb.root_cause.text.value = "The shard came as one block."
    wb.save_button.click()                                   # anything written is saved (work in progress)
    assert wb.messages[0].startswith("saved learners/ana/phase-19/notes/postmortems/19-spike-001.md")
