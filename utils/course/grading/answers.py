"""The answers checks: one per choice question of each notebook handed in.

The questions and their right options are read from the master source (``utils.course.answers.
questions_in``), the learner's answers from the snapshot of their notes (``phase-NN/notes/answers.jsonl``,
``utils.course.answers.latest_answers``). The latest answer to a question counts: the right option
passes; another fails naming the question; none fails as not answered. The ``right`` flag a
learner's file holds is not trusted: the master says which option is right.
"""

from __future__ import annotations

from pathlib import Path

from utils.course.answers import latest_answers, questions_in
from utils.course.grading.notes_checks import _learners_root
from utils.course.grading.results import Check, short
from utils.text import say


def answer_check_name(notebook: str, question: str) -> str:
    """The name of the check of one question in the report: ``question dtype-decides of phase-19/01-….ipynb``."""
    return say(f"question {question} of {notebook}", f"pregunta {question} de {notebook}")


def grade_answers(learner: str, snapshot_root: Path, masters: dict[str, Path | None]) -> list[Check]:
    """One check per choice question of each notebook handed in (``masters``: ``phase-NN/<name>.ipynb`` ->
    its master source, None when it has none), answers read from ``snapshot_root/<learner>/``."""
    checks = []
    with _learners_root(snapshot_root):
        for rel, source in sorted(masters.items()):
            if source is None:
                continue
            try:
                specs = questions_in(source)
            except (ValueError, SyntaxError) as err:
                checks.append(Check(say(f"questions of {rel}", f"preguntas de {rel}"), False,
                                    short(say(f"the grader cannot read them: {err}",
                                              f"el corrector no puede leerlas: {err}"))))
                continue
            answers = latest_answers(int(rel[6:8]), learner=learner) if specs else {}
            stem = Path(rel).stem
            for spec in specs:
                name = answer_check_name(rel, spec.question)
                record = answers.get((spec.notebook, spec.question))
                if record is None:
                    checks.append(Check(name, False, say(
                        f"not answered: choose an option of question {spec.question} in {stem} and press Check",
                        f"sin responder: elige una opción de la pregunta {spec.question} en {stem} y pulsa Comprobar")))
                elif record["chosen"] == spec.right:
                    checks.append(Check(name, True, say(f"answered {record['chosen']}", f"respondida {record['chosen']}")))
                else:
                    checks.append(Check(name, False, short(say(
                        f"your latest answer, {record['chosen']}, is not right: read its feedback under question "
                        f"{spec.question} in {stem} and answer again",
                        f"tu última respuesta, {record['chosen']}, no es correcta: lee su explicación bajo la "
                        f"pregunta {spec.question} en {stem} y responde de nuevo"))))
    return checks
