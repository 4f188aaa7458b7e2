"""Exercise stubs that fail politely until the learner fills them in."""
from __future__ import annotations


class ExerciseNotDone(Exception):
    """Raised by a stub: the exercise is still waiting for the learner's code."""


def exercise_todo(exercise_id: str, what: str):
    """Stop here with a friendly message (used in learner copies in place of a solution)."""
    raise ExerciseNotDone(f"Exercise {exercise_id} is not done yet: {what}. "
                          f"Replace the call to exercise_todo(...) with your code and run the cell again. / "
                          f"El ejercicio {exercise_id} aún no está hecho: sustituye exercise_todo(...) por tu código.")
