"""Exercise stubs: an unfilled exercise waits for the learner, and the rest of the notebook still runs.

In a learner's copy each exercise cell starts as a stub::

    my_ema = exercise_todo("ema-50", "compute the 50-step EMA of log.steps['loss'] as a list")

Run as it is, ``exercise_todo`` prints a marker saying that the exercise is waiting (English and
Español) and returns a ``Waiting`` value in place of the answer. Printing that value shows the
marker again; using it in any other way (arithmetic, comparing, indexing, calling, ``if``) raises
``ExerciseNotDone`` with the exercise id and "not done yet". In a learner's notebook
(``utils.course.waiting_cells``) a cell that raises it is skipped with a note, so *Run All* goes
to the end of the notebook instead of stopping at the first exercise. ``done(value)`` tells a real
answer from a waiting one, for a cell that wants to say something politely itself.

Grading is strict: the grader sets ``COURSE_GRADING=1`` (``utils.course.grading.runner``), and
then ``exercise_todo`` raises ``ExerciseNotDone`` at once, so the learner's cell fails and the
report says the exercise is not done.
"""
from __future__ import annotations

import os

from utils.course import waiting_cells
from utils.text import say

GRADING_ENV = "COURSE_GRADING"    # set to 1 by the grader: unfilled exercises raise instead of waiting


class ExerciseNotDone(Exception):
    """An exercise is still waiting for the learner's code; ``exercise_id`` says which one."""

    def __init__(self, message: str, exercise_id: str = "") -> None:
        super().__init__(message)
        self.exercise_id = exercise_id


def grading() -> bool:
    """True while the grader runs the notebook (``$COURSE_GRADING`` set to a non-empty value other than 0)."""
    return os.environ.get(GRADING_ENV, "").strip() not in ("", "0")


def not_done_message(exercise_id: str, what: str = "") -> str:
    """The one message of an exercise that is not done yet, in the learner's language."""
    todo = f": {what}" if what else ""
    return say(f"Exercise {exercise_id} is not done yet{todo}. Replace the call to exercise_todo(...) with "
               f"your code and run the cell again.",
               f"El ejercicio {exercise_id} aún no está hecho{todo}. Sustituye la llamada a exercise_todo(...) "
               f"por tu código y vuelve a ejecutar la celda.")


def waiting_marker(exercise_id: str, what: str) -> str:
    """The line an unfilled exercise prints: what to do, in the learner's language."""
    return say(f"[waiting] Exercise {exercise_id} is waiting for you: {what}. Replace exercise_todo(...) with your "
               f"code and run the cell again; the cells that need its answer are skipped until then.",
               f"[pendiente] El ejercicio {exercise_id} te espera: {what}. Sustituye exercise_todo(...) por tu "
               f"código y vuelve a ejecutar la celda; las celdas que necesitan su respuesta se saltan hasta entonces.")


class Waiting:
    """What ``exercise_todo`` gives instead of an answer: it prints as a marker, any other use raises
    ``ExerciseNotDone`` (so a cell that needs the answer stops there, and is skipped politely)."""

    __slots__ = ("exercise_id",)

    def __init__(self, exercise_id: str) -> None:
        object.__setattr__(self, "exercise_id", exercise_id)

    def __repr__(self) -> str:
        return say(f"<exercise {self.exercise_id}: waiting for you>", f"<ejercicio {self.exercise_id}: te espera>")

    __str__ = __repr__

    def __format__(self, spec: str) -> str:   # f"{x:.3f}" prints the marker instead of failing
        return repr(self)

    def __hash__(self) -> int:
        return id(self)

    def _not_done(self, *args, **kwargs):
        raise ExerciseNotDone(not_done_message(self.exercise_id), self.exercise_id)

    def __getattr__(self, name: str):
        if name.startswith("__") or name.startswith("_repr_") or name.startswith("_ipython"):
            raise AttributeError(name)    # protocol probes (numpy, IPython's display) just find nothing
        self._not_done()

    def __setattr__(self, name, value):
        self._not_done()


# Every other way to use a value needs the answer: comparing, arithmetic, truth, length, items, calls.
for _name in ("eq ne lt le gt ge bool len iter contains getitem setitem delitem call add radd sub rsub mul "
              "rmul truediv rtruediv floordiv rfloordiv mod rmod pow rpow matmul rmatmul neg pos abs invert "
              "float int index round and rand or ror xor rxor lshift rshift").split():
    setattr(Waiting, f"__{_name}__", Waiting._not_done)
del _name


def done(value) -> bool:
    """True when ``value`` is a real answer, False when it is a waiting exercise (``Waiting``)."""
    return not isinstance(value, Waiting)


_shown: set[tuple[str, object]] = set()


def _this_run() -> object:
    """Which cell run this is (IPython's execution count), so a stub inside a loop prints its marker once."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else shell.execution_count


def exercise_todo(exercise_id: str, what: str):
    """The stub of an exercise: print that it is waiting for you and return a ``Waiting`` value.

    The marker is printed once per cell run (a stub called in a loop does not repeat it). While
    grading (``$COURSE_GRADING``), raise ``ExerciseNotDone`` instead.
    """
    if grading():
        raise ExerciseNotDone(not_done_message(exercise_id, what), exercise_id)
    waiting_cells.install(ExerciseNotDone)
    key = (exercise_id, _this_run())
    if key not in _shown:
        _shown.add(key)
        print(waiting_marker(exercise_id, what), flush=True)
    return Waiting(exercise_id)


# A learner's notebook imports this module before its first exercise: from then on, a cell that needs a
# waiting exercise is skipped with a note instead of stopping Run All (not while grading, not in a master).
if not grading():
    waiting_cells.install(ExerciseNotDone)
