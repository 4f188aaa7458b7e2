"""Run All reaches the end of a learner's notebook while some exercises are still waiting.

An unfilled exercise (``utils.course.exercises.exercise_todo``) gives a ``Waiting`` value in place
of its answer, and using that value raises ``ExerciseNotDone``. Without help, that error would stop
*Run All* at the first cell that needs the answer, and every section after it (with its forms and
Save buttons) would stay unrun. So, in a learner's notebook:

- a cell that raises ``ExerciseNotDone`` stops there with a note naming the exercise it waits for,
  and counts as run, so Run All goes on;
- so does a cell that fails with ``NameError`` on a name that such a skipped cell defines (it needs
  that cell's result);
- every other error is a real error: its usual traceback, and Run All stops as usual.

How: IPython's custom exception handler (``set_custom_exc``) prints the note in place of the
traceback, and a ``post_run_cell`` hook then marks that one cell's run as a success (the kernel reads
it afterwards to answer "ok" or "error"). Installed when a learner's notebook imports
``utils.course.exercises``, never in a master notebook (one under ``notebooks/``, see
``utils.course.learner.running_a_master``) and never while grading (there an unfilled exercise must
fail its cell). Outside IPython it does nothing.
"""
from __future__ import annotations

import ast

from utils.course.learner import running_a_master
from utils.text import say

_error_type: type[Exception] | None = None   # the error a cell that needs a waiting exercise raises
_skipped_names: dict[str, str] = {}           # a name a skipped cell defines -> the exercise it waits for
_skipped_now: list[tuple[BaseException, str]] = []   # the error of the cell being run, when it was skipped


def defined_names(module: ast.Module) -> list[str]:
    """The names a cell binds at its top level (assignments, for/with targets, defs, classes, imports),
    sorted; names bound only inside functions, lambdas or comprehensions are not the cell's."""
    found: set[str] = set()

    def walk(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
            for deco in node.decorator_list:
                walk(deco)
            return
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(module)
    return sorted(found)


def waiting_for(error: BaseException) -> str | None:
    """The exercise a cell that raised ``error`` waits for, or None when ``error`` is a real error."""
    if _error_type is not None and isinstance(error, _error_type):
        return getattr(error, "exercise_id", "") or "?"
    if isinstance(error, NameError) and getattr(error, "name", None) in _skipped_names:
        return _skipped_names[error.name]
    return None


def skip_note(error: BaseException, exercise: str) -> str:
    """What a skipped cell shows instead of a traceback, in the learner's language."""
    if isinstance(error, NameError):
        need = say(f"{error.name!r}, which a skipped cell above defines (exercise {exercise} is waiting for you)",
                   f"{error.name!r}, que define una celda saltada más arriba (el ejercicio {exercise} te espera)")
    else:
        need = say(f"exercise {exercise}, which is waiting for you", f"el ejercicio {exercise}, que te espera")
    return say(f"[skipped] The rest of this cell was skipped: it needs {need}; run the cell again once the "
               f"exercise is done.",
               f"[saltada] El resto de esta celda se saltó: necesita {need}; vuelve a ejecutarla cuando el "
               f"ejercicio esté hecho.")


def _on_error(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for ExerciseNotDone and NameError: a note for a skipped cell, else the usual traceback."""
    exercise = waiting_for(value)
    if exercise is None:
        shell.showtraceback(running_compiled_code=True)   # a real error, shown as IPython always does
        return None
    _skipped_now.append((value, exercise))
    print(skip_note(value, exercise), flush=True)
    return None


def _after_cell(result) -> None:
    """IPython's post_run_cell hook: a skipped cell counts as run (so Run All goes on), and the names it
    would have defined are remembered as waiting too."""
    skipped, _skipped_now[:] = list(_skipped_now), []
    if result is None or not skipped or result.error_in_exec is not skipped[-1][0]:
        return
    result.error_in_exec = None
    exercise = skipped[-1][1]
    try:
        shell = _shell()
        tree = ast.parse(shell.transform_cell(result.info.raw_cell) if shell else result.info.raw_cell)
    except (SyntaxError, AttributeError, ValueError):
        return
    for name in defined_names(tree):
        _skipped_names.setdefault(name, exercise)


def _shell():
    """The running IPython shell, or None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def install(error_type: type[Exception]) -> bool:
    """Let every later cell of this IPython kernel skip politely when it needs a waiting exercise (once);
    True when that is in place. ``error_type`` is the error such a cell raises (``ExerciseNotDone``).
    Nothing happens outside IPython or in a master notebook.
    """
    global _error_type
    shell = _shell()
    if shell is None or not hasattr(shell, "set_custom_exc") or running_a_master():
        return False
    _error_type = error_type
    shell.set_custom_exc((error_type, NameError), _on_error)
    callbacks = shell.events.callbacks.get("post_run_cell", [])
    if not any(getattr(c, "__qualname__", "") == _after_cell.__qualname__
               and getattr(c, "__module__", "") == __name__ for c in callbacks):
        shell.events.register("post_run_cell", _after_cell)
    return True
