"""What every section form of the post-mortem workbook shares: a Check button that shows what
`utils.postmortem.validation.validate` says about its section, and rows or a text box to type into.

A form only moves values between its widgets and the dataclasses of `utils.postmortem.model`;
subclasses (`utils.postmortem.forms.sections`, `utils.postmortem.forms.symptoms_form`) say which.
"""

from __future__ import annotations

import html
from typing import Callable

import ipywidgets as widgets

from utils.postmortem.model import PANELS, SECTION_TITLES, SECTION_WHY, PostMortem
from utils.postmortem.typed_numbers import number_error, parse_int_list, parse_number
from utils.postmortem.validation import validate
from utils.text import say


def panel_options() -> list[tuple[str, int | None]]:
    """The panel dropdown's options, in the current language: ("— panel —", None), ("1 loss + EMA", 1), ..."""
    return [("— panel —", None)] + [(f"{n} {name}", n) for n, name in PANELS.items()]


def panel_legend() -> str:
    """"1 loss + EMA · 2 learning rate · ...", in the current language."""
    return " · ".join(f"{n} {name}" for n, name in PANELS.items())



def parse_optional_int(text: str, what: str) -> int | None:
    """"" -> None, "2" -> 2; anything else raises ValueError naming `what`."""
    t = text.strip()
    if not t:
        return None
    number = parse_number(t, integer=True)
    if number is None:
        raise ValueError(f"{what}: {number_error(t, integer=True)}")
    return number


def parse_list(text: str, what: str) -> list[int]:
    try:
        return parse_int_list(text)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None


def select(dropdown: widgets.Dropdown, value: object) -> None:
    """Select `value`, adding it as an option first when a saved file holds one the form lacks."""
    if value not in [v for _, v in dropdown.options]:
        dropdown.options = list(dropdown.options) + [(say(f"{value} (not a valid choice)",
                                                          f"{value} (no es una opción válida)"), value)]
    dropdown.value = value


class SectionForm:
    """One section of the post-mortem: its widgets, a Check button and an Output for messages.

    Subclasses define `collect()` (widgets -> section value), `fill(value)` (value -> widgets),
    `put(pm)` and `take(pm)` (the same, on a whole PostMortem). `context`, when set (the
    workbook sets it), returns the whole post-mortem, so that checks see the other sections,
    and notes on other sections that could not be read. `run`, when set, returns the run the
    post-mortem is about (``{"run_log": ..., "reference": ...}`` for `validate`), so
    that §6 is checked against its metrics and length.
    """

    section: int = 0

    def __init__(self) -> None:
        self.context: Callable[[], tuple[PostMortem, list[str]]] | None = None
        self.run: Callable[[], dict] | None = None
        self.messages: list[str] = []
        self.output = widgets.Output()
        self.check_button = widgets.Button(description=say("Check", "Comprobar"),
                                           tooltip=say(f"check §{self.section}", f"comprobar §{self.section}"))
        self.check_button.on_click(lambda _button: self.check())
        self.body = widgets.VBox()
        self.widget = widgets.VBox()

    def _assemble(self, *children: widgets.Widget, buttons: tuple[widgets.Widget, ...] = ()) -> None:
        title = f"<b>§{self.section} {html.escape(SECTION_TITLES[self.section])}</b> — " \
                f"<i>{html.escape(SECTION_WHY[self.section])}</i>"
        self.body.children = list(children)
        self.widget.children = [widgets.HTML(title), self.body,
                                widgets.HBox([self.check_button, *buttons]), self.output]

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"§{self.section} {SECTION_TITLES[self.section]} form"  # i18n: not shown (stable text for nbval; JupyterLab shows the widget)
        return bundle

    def collect(self):
        """The section's value read from the widgets (ValueError when a rank/panel box holds no number)."""
        raise NotImplementedError

    def fill(self, value) -> None:
        """Show a section value in the widgets."""
        raise NotImplementedError

    def put(self, pm: PostMortem) -> None:
        """Write `collect()` into its place in `pm`."""
        raise NotImplementedError

    def take(self, pm: PostMortem) -> None:
        """`fill()` the widgets from this section of `pm`."""
        raise NotImplementedError

    def show(self, lines: list[str]) -> None:
        """Replace the Output's text with `lines` (also kept in `.messages`)."""
        self.messages = list(lines)
        self.output.outputs = ()
        self.output.append_stdout("\n".join(lines) + "\n")

    def check(self) -> list[str]:
        """Run the validator on this section and show its messages; returns them."""
        notes: list[str] = []
        try:
            if self.context is not None:
                pm, notes = self.context()
            else:
                pm = PostMortem(run_id="draft", date="")
                self.put(pm)
        except ValueError as err:
            self.show([f"✗ {err}"])
            return self.messages
        problems = validate(pm, sections=[self.section], **(self.run() if self.run else {}))
        if problems:
            lines = [f"✗ {p}" for p in problems]
        else:
            lines = [say(f"✓ §{self.section} {SECTION_TITLES[self.section]}: nothing to fix",
                         f"✓ §{self.section} {SECTION_TITLES[self.section]}: nada que corregir")]
        self.show(lines + [f"! {note}" for note in notes])
        return self.messages


class RowsForm(SectionForm):
    """A section made of rows (hypotheses, evidence): an Add row button; blank rows are ignored."""

    min_rows = 3

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, widgets.Widget]] = []
        self.rows_box = widgets.VBox()
        self.add_button = widgets.Button(description=say("Add row", "Añadir fila"))
        self.add_button.on_click(lambda _button: self.add_row())
        for _ in range(self.min_rows):
            self.add_row()

    def new_row(self, index: int) -> dict[str, widgets.Widget]:
        raise NotImplementedError

    def add_row(self) -> dict[str, widgets.Widget]:
        """Append one blank row and return its widgets."""
        row = self.new_row(len(self.rows))
        self.rows.append(row)
        self.rows_box.children = [widgets.HBox(list(r.values())) for r in self.rows]
        return row

    def set_row_count(self, n: int) -> None:
        """Exactly max(n, min_rows) rows, all blank."""
        self.rows = []
        for _ in range(max(n, self.min_rows)):
            self.add_row()


class TextForm(SectionForm):
    """A section that is one piece of text (root cause, remediation, lesson)."""

    attribute = ""
    multiline = True

    def placeholder(self) -> str:
        """What the empty text box shows (subclasses say it in the learner's language)."""
        return ""

    def __init__(self) -> None:
        super().__init__()
        kind = widgets.Textarea if self.multiline else widgets.Text
        self.text = kind(placeholder=self.placeholder(), layout=widgets.Layout(width="720px"))
        self._assemble(self.text)

    def collect(self) -> str:
        return self.text.value

    def fill(self, value: str) -> None:
        self.text.value = value

    def put(self, pm: PostMortem) -> None:
        setattr(pm, self.attribute, self.collect())

    def take(self, pm: PostMortem) -> None:
        self.fill(getattr(pm, self.attribute))
