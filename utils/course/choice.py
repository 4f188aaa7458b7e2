"""A checked multiple-choice question: pick an option, press Check, read why it is right or wrong.

In a master source (``notebooks/**/<name>.py``) a question is a cell that defines it and an exercise
whose solution answers it; the learner's copy gets the stub, which shows the widget::

    # %%
    dtype_q = Choice("19.01", "dtype-decides", say("Which …?", "¿Qué …?"), options={
        "a": (say("option text", "texto"), say("why it is wrong", "por qué no")),
        "b": (say("option text", "texto"), say("why it is right", "por qué sí")),
    }, right="b")
    # %% tags=["stub"] exercise="dtype-decides"
    dtype_q   # choose an option and press Check / elige una opción y pulsa Comprobar
    # %% tags=["solution"] exercise="dtype-decides"
    dtype_q.choose("b")

Each Check (or ``choose``) is recorded in the notes of whoever the notebook writes for
(``utils.course.answers``: the learner, or the example learner in a master); the grader
(``utils.course.grading.answers``) takes the latest answer to each question of each notebook handed
in. The texts are written with ``utils.text.say``, so the widget speaks the learner's language.
"""

from __future__ import annotations

import datetime
import html

import ipywidgets as widgets
from IPython.display import display

from utils.course.answers import QUESTION_ID, phase_of, record_answer
from utils.course.learner import LearnerNameError, display_path
from utils.course.notes import NoteNotSaved, notes_dir
from utils.text import say

OPTION_KEY_CHARS = "abcdefgh"


def _check_text(what: str, value) -> str:
    """``value`` stripped, if it is non-empty text; else ValueError naming ``what`` (said in the current language)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(say(f"{what} must be non-empty text, not {value!r}",
                             f"{what} debe ser un texto no vacío, no {value!r}"))
    return value.strip()


class Choice:
    """One question of notebook ``notebook`` (``"19.01"``) with id ``question_id``; ``options`` maps a
    key (``"a"``, ``"b"``, ...) to (the option's text, the feedback that explains why it is right or
    wrong); ``right`` is the key of the right option. Display it (last value of a cell) to get the widget."""

    def __init__(self, notebook: str, question_id: str, question: str,
                 options: dict[str, tuple[str, str]], right: str) -> None:
        phase_of(notebook)
        if not isinstance(question_id, str) or not QUESTION_ID.fullmatch(question_id):
            raise ValueError(say(f"question id {question_id!r} must be lowercase letters, digits and '-'",
                                 f"el id de pregunta {question_id!r} debe tener solo minúsculas, cifras y '-'"))
        if not isinstance(options, dict) or len(options) < 2:
            raise ValueError(say("a choice question needs at least two options",
                                 "una pregunta de opción múltiple necesita al menos dos opciones"))
        for key, pair in options.items():
            if not (isinstance(key, str) and len(key) == 1 and key in OPTION_KEY_CHARS):
                raise ValueError(say(f"option keys are single letters a-h, not {key!r}",
                                     f"las claves de las opciones son una sola letra de la a a la h, no {key!r}"))
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise ValueError(say(f"option {key!r}: give (text, feedback), not {pair!r}",
                                     f"opción {key!r}: da (texto, explicación), no {pair!r}"))
        if right not in options:
            raise ValueError(say(f"right={right!r} is not one of the options {sorted(options)}",
                                 f"right={right!r} no es ninguna de las opciones {sorted(options)}"))
        self.notebook, self.id, self.right = notebook, question_id, right
        self.question = _check_text(say("the question", "la pregunta"), question)
        self.options = {k: (_check_text(say(f"option {k}'s text", f"el texto de la opción {k}"), t),
                            _check_text(say(f"option {k}'s feedback", f"la explicación de la opción {k}"), f))
                        for k, (t, f) in sorted(options.items())}
        self.messages: list[str] = []       # what the last Check showed (plain text), for tests
        self._widget = None

    def feedback(self, key: str) -> str:
        """The verdict and explanation for option ``key`` as plain text; if it is the right one, the
        feedback of the other options follows."""
        text, why = self.options[key]
        if key != self.right:
            return f"✗ {key}) {text}\n" + say("Not right: ", "No es correcta: ") + why
        lines = [f"✓ {key}) {text}", say("Right: ", "Correcta: ") + why, say("The others:", "Las demás:")]
        lines += [f"  {k}) {t} — {f}" for k, (t, f) in self.options.items() if k != key]
        return "\n".join(lines)

    def check(self, key, learner: str | None = None, today: datetime.date | None = None) -> list[str]:
        """Record ``key`` as the answer (like pressing Check) and return the lines to show (also kept in
        ``messages``). Nothing chosen, an unknown option, no learner name or a full disk give a line
        saying so; nothing is recorded then."""
        if key is None:
            self.messages = [say("Choose an option first, then press Check.",
                                 "Elige primero una opción y pulsa Comprobar.")]
            return self.messages
        if key not in self.options:
            self.messages = [say(f"{key!r} is not an option; the options are {', '.join(self.options)}.",
                                 f"{key!r} no es una opción; las opciones son {', '.join(self.options)}.")]
            return self.messages
        try:
            record_answer(self.notebook, self.id, key, key == self.right, learner=learner, today=today)
            where = display_path(notes_dir(phase_of(self.notebook), learner) / "answers.jsonl")
        except (LearnerNameError, NoteNotSaved, ValueError) as err:
            self.messages = [self.feedback(key), say(f"Not recorded: {err}", f"No se ha guardado: {err}")]
            return self.messages
        # the same line whether or not this answer was new (the latest one is already this): a master's output
        # stays the same when it is built again
        self.messages = [self.feedback(key), say(f"Answer recorded in {where}.", f"Respuesta guardada en {where}.")]
        return self.messages

    def choose(self, key: str, learner: str | None = None) -> None:
        """Answer programmatically, as a click on ``key`` and Check would (a master's solution cell),
        and print the feedback."""
        if key not in self.options:
            raise ValueError(say(f"{key!r} is not an option of question {self.id}: {', '.join(self.options)}",
                                 f"{key!r} no es una opción de la pregunta {self.id}: {', '.join(self.options)}"))
        print("\n".join(self.check(key, learner=learner)))

    @property
    def widget(self) -> widgets.VBox:
        """The question, its options as radio buttons, a Check button and the feedback area."""
        if self._widget is None:
            buttons = widgets.RadioButtons(options=[(f"{k}) {t}", k) for k, (t, _) in self.options.items()],
                                           value=None, layout=widgets.Layout(width="100%"))
            check = widgets.Button(description=say("Check", "Comprobar"), button_style="primary", icon="check")
            shown = widgets.HTML()

            def on_click(_button) -> None:
                lines = self.check(buttons.value)
                colour = "#1a7f37" if buttons.value == self.right else "#b3261e"
                shown.value = "<br>".join(f'<span style="color:{colour}">{html.escape(line)}</span>' if i == 0 else
                                          html.escape(line) for i, line in enumerate("\n".join(lines).split("\n")))

            check.on_click(on_click)
            title = widgets.HTML(f"<b>{html.escape(say('Question', 'Pregunta'))} {html.escape(self.id)}</b>: "
                                 f"{html.escape(self.question)}")
            self._widget = widgets.VBox([title, buttons, check, shown])
        return self._widget

    def _ipython_display_(self) -> None:
        display(self.widget)

    def __repr__(self) -> str:
        return f"<choice question {self.id} of notebook {self.notebook}>"  # i18n: not shown (a stable repr for nbval)
