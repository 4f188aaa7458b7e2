"""The lesson box at the end of each notebook: one line, saved to the phase's ``lessons.md``.

    from utils.course.lesson_box import lesson_box
    lesson_box("19.02")        # the last cell of notebooks/phase-19-diagnosis/02-dashboard

The box (a text field, a Save button, a message line) appends the lesson through
``utils.course.notes.append_lesson``, dated and tagged with the notebook::

    - 2026-12-06 · phase 19 · notebook 19.02 dashboard · <the lesson>

which is the line the grader looks for (``utils.course.lessons``: one lesson per notebook handed
in). ``save_lesson`` does the saving without the widget. It refuses, with a message in English and
Spanish and nothing written: an empty lesson, more than one line, and a copy of one of the course's
own example lessons. Saving the same text again for the same notebook adds nothing.
"""

from __future__ import annotations

import datetime
import html

import ipywidgets as widgets

from utils.course.example_lessons import EXAMPLE_COMPLETE_LESSONS, EXAMPLE_MISTAKES_LESSONS
from utils.course.learner import LearnerNameError, learners_dir
from utils.course.lessons import ExpectedLesson, lesson_for, lesson_lines
from utils.course.notes import NoteNotSaved, append_lesson, display_path, notes_dir, parse_lesson, read_lessons
from utils.text import say

EXAMPLE_LEARNERS = ("example-complete", "example-mistakes")


def good_lesson() -> str:
    """What makes a good lesson (HTML), in the learner's language."""
    return say("A good lesson is <b>one line</b>, <b>specific</b> (a panel, a setting, a check you can name) and says "
               "<b>what you would do differently</b> next time, in your own words. "
               "<i>Not:</i> “spikes are bad”. <i>Rather:</i> “read panel 6 before blaming the gradient spike”.",
               "Una buena lección es <b>una línea</b>, <b>concreta</b> (un panel, un ajuste, una comprobación que "
               "puedas nombrar) y dice <b>qué harías distinto</b> la próxima vez, con tus palabras. "
               "<i>No:</i> «los picos son malos». <i>Mejor:</i> «mirar el panel 6 antes de culpar al pico del "
               "gradiente».")


class LessonRefused(ValueError):
    """A lesson the box does not save; the message (in the learner's language) says why and what to write."""


def _plain(text: str) -> str:
    """``text`` reduced to its letters and digits, lower case: copies differing only in case,
    spaces or punctuation compare equal."""
    return "".join(char for char in text.casefold() if char.isalnum())


def example_lesson_texts() -> set[str]:
    """The course's own example lessons (``_plain`` form): those of ``utils.course.example_lessons``
    and every lesson line of the example learners' notes (the worked post-mortem's §7 among them)."""
    texts = set(EXAMPLE_COMPLETE_LESSONS.values()) | set(EXAMPLE_MISTAKES_LESSONS.values())
    for learner in EXAMPLE_LEARNERS:
        for folder in sorted((learners_dir() / learner).glob("phase-[0-9][0-9]")):
            for line in read_lessons(int(folder.name[6:]), learner=learner):
                parsed = parse_lesson(line)
                if parsed is not None:
                    texts.add(parsed.text)
    return {_plain(text) for text in texts}


def check_lesson(text: str) -> str:
    """``text`` stripped, if the box may save it; else LessonRefused saying why (English / Español)."""
    if not isinstance(text, str) or not text.strip():
        raise LessonRefused(say("Not saved: the lesson is empty. Write one line: what would you do differently "
                                "next time?",
                                "No guardada: la lección está vacía. Escribe una línea: ¿qué harías distinto la "
                                "próxima vez?"))
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) > 1 or any(char in text.strip() for char in "\n\r\u2028\u2029"):
        raise LessonRefused(say(f"Not saved: the lesson has {max(len(lines), 2)} lines; a lesson is exactly one line. "
                                "Keep the one that matters most.",
                                f"No guardada: la lección tiene {max(len(lines), 2)} líneas; una lección es una sola "
                                "línea. Quédate con la que más importa."))
    if _plain(text) in example_lesson_texts():
        raise LessonRefused(say("Not saved: this is one of the course's example lessons. Write your own, from what "
                                "you saw in this notebook.",
                                "No guardada: es una de las lecciones de ejemplo del curso. Escribe la tuya, a "
                                "partir de lo que viste en este cuaderno."))
    return text.strip()


def saved_lessons(expected: ExpectedLesson, learner: str | None = None) -> list[str]:
    """The lines of the learner's ``lessons.md`` that count as the lesson of this notebook."""
    return lesson_lines(expected, read_lessons(expected.phase, learner=learner))


def save_lesson(key: str, text: str, learner: str | None = None,
                today: datetime.date | None = None) -> tuple[str, bool]:
    """Save the lesson of notebook ``key`` (``"19.02"``) for ``learner`` (default: the current one).

    Returns (the line in ``lessons.md``, whether it was added now): the same text already saved for
    this notebook is not added again (its line is returned). Raises LessonRefused (see
    ``check_lesson``), ``utils.course.notes.NoteNotSaved`` when the disk refuses, and
    ``utils.course.learner.LearnerNameError`` when there is no learner name yet.
    """
    expected = lesson_for(key)
    body = check_lesson(text)
    wanted = " ".join(body.split())
    for line in saved_lessons(expected, learner):
        parsed = parse_lesson(line)
        if parsed is not None and parsed.notebook == expected.key and " ".join(parsed.text.split()) == wanted:
            return line, False
    line = append_lesson(expected.phase, body, learner=learner, today=today, notebook=expected.tag)
    return line, True


def lesson_box(key: str, learner: str | None = None) -> widgets.VBox:
    """The lesson box of notebook ``key`` (``"19.02"``): what makes a good lesson, a one-line text field,
    a Save button and a message line. ``learner`` defaults to the current learner at each click."""
    expected = lesson_for(key)
    text = widgets.Text(placeholder=say("Next time I will …", "La próxima vez …"),
                        layout=widgets.Layout(flex="1 1 auto", width="auto"))
    button = widgets.Button(description=say("Save lesson", "Guardar lección"), button_style="primary", icon="check",
                            layout=widgets.Layout(flex="0 0 auto", width="auto"))  # never squeezed by the text box
    message = widgets.HTML()

    def tell(line: str, ok: bool = True) -> None:
        colour = "#1a7f37" if ok else "#b3261e"
        message.value = f'<span style="color:{colour}">{html.escape(line)}</span>'

    def on_click(_button) -> None:
        try:
            line, added = save_lesson(key, text.value, learner=learner)
            where = display_path(notes_dir(expected.phase, learner) / "lessons.md")
        except (ValueError, NoteNotSaved) as err:    # LessonRefused, LearnerNameError, a control character
            tell(str(err) if isinstance(err, (LessonRefused, LearnerNameError))
                 else say(f"Not saved: {err}", f"No guardada: {err}"), ok=False)
            return
        if added:
            tell(say(f"Saved to {where}: {line}", f"Guardada en {where}: {line}"))
        else:
            tell(say(f"Already saved, not added twice: {line}", f"Ya estaba guardada, no se añade dos veces: {line}"))

    button.on_click(on_click)
    title = widgets.HTML(say(f"<b>Your lesson from notebook {html.escape(expected.tag)}</b><br>{good_lesson()}",
                             f"<b>Tu lección del cuaderno {html.escape(expected.tag)}</b><br>{good_lesson()}"))
    return widgets.VBox([title, widgets.HBox([text, button], layout=widgets.Layout(width="100%")), message])
