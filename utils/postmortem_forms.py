"""ipywidgets forms for the seven sections of the phase-19 loss-spike post-mortem.

A thin layer over `utils.postmortem`: every form only moves values between widgets and the
dataclasses there, and its Check button shows what `postmortem.validate` says about its section.

    wb = PostMortemWorkbook("a13-spike", reference=run_log_symptoms)
    wb.load()            # a learner reopening the notebook gets their saved answers back
    wb.symptoms          # display one section (phase 19 teaches them one at a time)
    wb                   # or display all seven, with Save / Load buttons
    wb.save()            # learners/<name>/phase-19/notes/postmortems/a13-spike.md

Every form is built headless (no kernel needed): tests set `.value` on widgets and call the
click handlers (`form.check()`, `form.draft()`, ...) directly.

The §1 form records on which floating-point path its numbers were read (the fingerprint of the
machine whose run log it was given, `postmortem.run_fingerprint`); the saved file keeps it, so
that a check on another machine compares §1 on what every path shares (`postmortem.check_symptoms`).
"""

from __future__ import annotations

import datetime
import html
from typing import Callable

import ipywidgets as widgets

from utils import postmortem as pmod
from utils.postmortem import (
    COMPARATORS,
    DTYPES,
    PANELS,
    SECTION_TITLES,
    SECTION_WHY,
    SYMPTOM_FIELDS,
    SYMPTOM_HINTS,
    Evidence,
    Expectation,
    Hypothesis,
    PostMortem,
    Symptoms,
    Verification,
)

PANEL_OPTIONS: list[tuple[str, int | None]] = [("— panel —", None)] + [(f"{n} {name}", n) for n, name in PANELS.items()]
PANEL_LEGEND = " · ".join(f"{n} {name}" for n, name in PANELS.items())


def _parse_optional_int(text: str, what: str) -> int | None:
    """"" -> None, "2" -> 2; anything else raises ValueError naming `what`."""
    t = text.strip()
    if not t:
        return None
    number = pmod.parse_number(t, integer=True)
    if number is None:
        raise ValueError(f"{what}: {t!r} is not a whole number")
    return number


def _parse_list(text: str, what: str) -> list[int]:
    try:
        return pmod.parse_int_list(text)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None


def _select(dropdown: widgets.Dropdown, value: object) -> None:
    """Select `value`, adding it as an option first when a saved file holds one the form lacks."""
    if value not in [v for _, v in dropdown.options]:
        dropdown.options = list(dropdown.options) + [(f"{value} (not a valid choice)", value)]
    dropdown.value = value


class SectionForm:
    """One section of the post-mortem: its widgets, a Check button and an Output for messages.

    Subclasses define `collect()` (widgets -> section value), `fill(value)` (value -> widgets),
    `put(pm)` and `take(pm)` (the same, on a whole PostMortem). `context`, when set (the
    workbook sets it), returns the whole post-mortem, so that checks see the other sections,
    and notes on other sections that could not be read.
    """

    section: int = 0

    def __init__(self) -> None:
        self.context: Callable[[], tuple[PostMortem, list[str]]] | None = None
        self.messages: list[str] = []
        self.output = widgets.Output()
        self.check_button = widgets.Button(description="Check", tooltip=f"check §{self.section}")
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
        bundle["text/plain"] = f"§{self.section} {SECTION_TITLES[self.section]} form"  # stable for nbval
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
        problems = pmod.validate(pm, sections=[self.section])
        if problems:
            lines = [f"✗ {p}" for p in problems]
        else:
            lines = [f"✓ §{self.section} {SECTION_TITLES[self.section]}: nothing to fix"]
        self.show(lines + [f"! {note}" for note in notes])
        return self.messages


class SymptomsForm(SectionForm):
    """§1: one text box per symptom, a confirm box per drafted field, Draft and Compare buttons.

    The form records on which floating-point path the numbers were read (`fingerprint`, shown
    above the boxes): the path of its run log `reference` (`postmortem.run_fingerprint`), i.e. of
    the machine the notebook runs on, for what is typed or drafted here. A loaded post-mortem keeps
    the path it was saved with.
    """

    section = 1

    def __init__(self, reference: dict | None = None) -> None:
        super().__init__()
        self.reference = reference
        self.fingerprint = self._run_log_path()
        self.path_label = widgets.HTML()
        self._show_path()
        self.drafted: set[str] = set()
        self.inputs: dict[str, widgets.Widget] = {}
        self.confirms: dict[str, widgets.Checkbox] = {}
        rows = []
        for name in SYMPTOM_FIELDS:
            if name == "dtype":
                box = widgets.Combobox(options=list(DTYPES), placeholder="float32 / float16 / bfloat16",
                                       ensure_option=False)
            elif name == "unusual_tokens":
                box = widgets.TagsInput(value=[], allow_duplicates=False)
            elif name == "recovery_loss":
                box = widgets.Text(placeholder="number, or: did not recover / NaN")
            else:
                box = widgets.Text(placeholder="numbers only")
            box.layout.width = "260px"
            confirm = widgets.Checkbox(value=False, description="confirm", disabled=True, indent=False)
            confirm.layout.width = "90px"
            self.inputs[name], self.confirms[name] = box, confirm
            label = widgets.Label(name, tooltip=SYMPTOM_HINTS[name])
            label.layout.width = "150px"
            rows.append(widgets.HBox([label, box, confirm, widgets.Label(SYMPTOM_HINTS[name])]))
        self.draft_button = widgets.Button(description="Draft from the run log", disabled=reference is None)
        self.draft_button.layout.width = "200px"
        self.draft_button.on_click(lambda _button: self.draft())
        self.compare_button = widgets.Button(description="Compare with the run log", disabled=reference is None)
        self.compare_button.layout.width = "200px"
        self.compare_button.on_click(lambda _button: self.compare())
        self._assemble(self.path_label, *rows, buttons=(self.draft_button, self.compare_button))

    def _run_log_path(self) -> str:
        """The floating-point path of the run log this form drafts from ("" when it has none, or
        when it is not the broken run with seed 42)."""
        return (pmod.run_fingerprint(self.reference) or "") if self.reference is not None else ""

    def _show_path(self) -> None:
        what = html.escape(self.fingerprint) if self.fingerprint else "not recorded (counts as the reference path)"
        self.path_label.value = (f"<i>{pmod.PATH_LABEL} of these numbers: {what} "
                                 f"(see utils/reference_path.py)</i>")

    def draft(self) -> Symptoms:
        """Fill every field from the run log, marked drafted and not confirmed."""
        if self.reference is None:
            raise ValueError("no run log to draft from")
        drafted = pmod.draft_symptoms(self.reference)
        self.fill(drafted)
        self.show(["Drafted from the run log: check each value on the dashboard, then tick confirm."])
        return drafted

    def compare(self) -> list[pmod.SymptomCheck]:
        """Compare what is typed with the run log, within the stated tolerances (on what every
        floating-point path shares when the numbers were read on another path than the log's)."""
        if self.reference is None:
            raise ValueError("no run log to compare with")
        report = pmod.check_symptoms(self.collect(), self.reference)
        note = [f"! {report.path_note()}"] if report.path_note() else []
        self.show(note + [f"{'✓' if c.ok else '✗'} {c.message}" for c in report.checks])
        return report.checks

    def collect(self) -> Symptoms:
        values = {name: box.value for name, box in self.inputs.items()}
        confirmed = {name for name, box in self.confirms.items() if box.value}
        return Symptoms(**values, drafted=set(self.drafted), confirmed=confirmed, fingerprint=self.fingerprint)

    def fill(self, value: Symptoms) -> None:
        """Show `value`, keeping the path it records ("" for a post-mortem that records none: the
        reference path, as everywhere else)."""
        self.fingerprint = value.fingerprint
        self._show_path()
        self.drafted = set(value.drafted)
        for name in SYMPTOM_FIELDS:
            self.inputs[name].value = list(value.unusual_tokens) if name == "unusual_tokens" else getattr(value, name)
            self.confirms[name].disabled = name not in value.drafted and name not in value.confirmed
            self.confirms[name].value = name in value.confirmed

    def put(self, pm: PostMortem) -> None:
        pm.symptoms = self.collect()

    def take(self, pm: PostMortem) -> None:
        self.fill(pm.symptoms)


class _RowsForm(SectionForm):
    """A section made of rows (hypotheses, evidence): an Add row button; blank rows are ignored."""

    min_rows = 3

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, widgets.Widget]] = []
        self.rows_box = widgets.VBox()
        self.add_button = widgets.Button(description="Add row")
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


class HypothesesForm(_RowsForm):
    """§2: rows of (rank, hypothesis, supporting panels)."""

    section = 2

    def __init__(self) -> None:
        super().__init__()
        self._assemble(widgets.Label(f"Panels: {PANEL_LEGEND}"), self.rows_box, buttons=(self.add_button,))

    def new_row(self, index: int) -> dict[str, widgets.Widget]:
        rank = widgets.Text(value=str(index + 1), placeholder="rank", layout=widgets.Layout(width="60px"))
        text = widgets.Text(placeholder="hypothesis", layout=widgets.Layout(width="480px"))
        panels = widgets.Text(placeholder="panels, comma-separated", layout=widgets.Layout(width="200px"))
        return {"rank": rank, "text": text, "panels": panels}

    def collect(self) -> list[Hypothesis]:
        out = []
        for i, row in enumerate(self.rows, start=1):
            if not row["text"].value.strip() and not row["panels"].value.strip():
                continue
            out.append(Hypothesis(
                rank=_parse_optional_int(row["rank"].value, f"§2 row {i} rank"),
                text=row["text"].value,
                panels=_parse_list(row["panels"].value, f"§2 row {i} panels"),
            ))
        return out

    def fill(self, value: list[Hypothesis]) -> None:
        self.set_row_count(len(value))
        for row, h in zip(self.rows, value):
            row["rank"].value = "" if h.rank is None else str(h.rank)
            row["text"].value = h.text
            row["panels"].value = pmod.format_int_list(h.panels)

    def put(self, pm: PostMortem) -> None:
        pm.hypotheses = self.collect()

    def take(self, pm: PostMortem) -> None:
        self.fill(pm.hypotheses)


class EvidenceForm(_RowsForm):
    """§3: rows of (panel, observation, favours rank, rules out ranks)."""

    section = 3

    def __init__(self) -> None:
        super().__init__()
        self._assemble(self.rows_box, buttons=(self.add_button,))

    def new_row(self, index: int) -> dict[str, widgets.Widget]:
        panel = widgets.Dropdown(options=list(PANEL_OPTIONS), value=None, layout=widgets.Layout(width="230px"))
        observation = widgets.Text(placeholder="observation", layout=widgets.Layout(width="380px"))
        favours = widgets.Text(placeholder="favours rank", layout=widgets.Layout(width="110px"))
        rules_out = widgets.Text(placeholder="rules out ranks", layout=widgets.Layout(width="130px"))
        return {"panel": panel, "observation": observation, "favours": favours, "rules_out": rules_out}

    def collect(self) -> list[Evidence]:
        out = []
        for i, row in enumerate(self.rows, start=1):
            texts = [row[k].value.strip() for k in ("observation", "favours", "rules_out")]
            if row["panel"].value is None and not any(texts):
                continue
            out.append(Evidence(
                panel=row["panel"].value,
                observation=row["observation"].value,
                favours=_parse_optional_int(row["favours"].value, f"§3 row {i} favours"),
                rules_out=_parse_list(row["rules_out"].value, f"§3 row {i} rules out"),
            ))
        return out

    def fill(self, value: list[Evidence]) -> None:
        self.set_row_count(len(value))
        for row, e in zip(self.rows, value):
            _select(row["panel"], e.panel)
            row["observation"].value = e.observation
            row["favours"].value = "" if e.favours is None else str(e.favours)
            row["rules_out"].value = pmod.format_int_list(e.rules_out)

    def put(self, pm: PostMortem) -> None:
        pm.evidence = self.collect()

    def take(self, pm: PostMortem) -> None:
        self.fill(pm.evidence)


class _TextForm(SectionForm):
    """A section that is one piece of text (root cause, remediation, lesson)."""

    attribute = ""
    multiline = True
    placeholder = ""

    def __init__(self) -> None:
        super().__init__()
        kind = widgets.Textarea if self.multiline else widgets.Text
        self.text = kind(placeholder=self.placeholder, layout=widgets.Layout(width="720px"))
        self._assemble(self.text)

    def collect(self) -> str:
        return self.text.value

    def fill(self, value: str) -> None:
        self.text.value = value

    def put(self, pm: PostMortem) -> None:
        setattr(pm, self.attribute, self.collect())

    def take(self, pm: PostMortem) -> None:
        self.fill(getattr(pm, self.attribute))


class RootCauseForm(_TextForm):
    """§4: exactly one sentence."""

    section, attribute, placeholder = 4, "root_cause", "one sentence: what caused the spike, and through which mechanism"


class RemediationForm(_TextForm):
    """§5: the smallest change that removes the cause."""

    section, attribute, placeholder = 5, "remediation", "the smallest change"


class LessonForm(_TextForm):
    """§7: exactly one line."""

    section, attribute, multiline, placeholder = 7, "lesson", False, "one line for your future self"


class VerificationForm(_RowsForm):
    """§6: seed, tolerance ε, step T, and rows of (metric, comparator, value)."""

    section = 6
    min_rows = 2

    def __init__(self) -> None:
        super().__init__()
        self.seed = widgets.Text(description="seed", placeholder="whole number")
        self.tolerance = widgets.Text(description="tolerance ε", placeholder="number")
        self.step = widgets.Text(description="step T", placeholder="whole number")
        self._assemble(widgets.HBox([self.seed, self.tolerance, self.step]),
                       widgets.Label("Expectations at step T (metric, comparator, value):"),
                       self.rows_box, buttons=(self.add_button,))

    def new_row(self, index: int) -> dict[str, widgets.Widget]:
        metric = widgets.Text(placeholder="metric", layout=widgets.Layout(width="360px"))
        comparator = widgets.Dropdown(options=[(c, c) for c in COMPARATORS], value="<",
                                      layout=widgets.Layout(width="80px"))
        value = widgets.Text(placeholder="number", layout=widgets.Layout(width="140px"))
        return {"metric": metric, "comparator": comparator, "value": value}

    def collect(self) -> Verification:
        expectations = [Expectation(r["metric"].value, r["comparator"].value, r["value"].value)
                        for r in self.rows if r["metric"].value.strip() or r["value"].value.strip()]
        return Verification(seed=self.seed.value, tolerance=self.tolerance.value, step=self.step.value,
                            expectations=expectations)

    def fill(self, value: Verification) -> None:
        self.seed.value, self.tolerance.value, self.step.value = value.seed, value.tolerance, value.step
        self.set_row_count(len(value.expectations))
        for row, e in zip(self.rows, value.expectations):
            row["metric"].value = e.metric
            _select(row["comparator"], e.comparator)
            row["value"].value = e.value

    def put(self, pm: PostMortem) -> None:
        pm.verification = self.collect()

    def take(self, pm: PostMortem) -> None:
        self.fill(pm.verification)


def symptoms_form(reference: dict | None = None) -> SymptomsForm:
    """§1 form; with a run-log `reference` its "Draft from the run log" and Compare buttons work."""
    return SymptomsForm(reference)


def hypotheses_form() -> HypothesesForm:
    """§2 form: ranked hypotheses citing dashboard panels."""
    return HypothesesForm()


def evidence_form() -> EvidenceForm:
    """§3 form: discriminating evidence rows."""
    return EvidenceForm()


def root_cause_form() -> RootCauseForm:
    """§4 form: one sentence."""
    return RootCauseForm()


def remediation_form() -> RemediationForm:
    """§5 form: the smallest change."""
    return RemediationForm()


def verification_form() -> VerificationForm:
    """§6 form: seed, tolerance, step and numeric expectations."""
    return VerificationForm()


def lesson_form() -> LessonForm:
    """§7 form: one line."""
    return LessonForm()


class PostMortemWorkbook:
    """All seven forms of one run's post-mortem, with Save / Load.

    `date` defaults to today (pass it for a deterministic notebook output); `load()` takes the
    date of the saved post-mortem. Each form's Check sees the whole workbook, so §3 knows the
    ranks of §2 and §6 knows the spike step of §1.
    """

    def __init__(self, run_id: str, reference: dict | None = None, learner: str | None = None,
                 date: str | None = None) -> None:
        pmod.postmortem_relpath(run_id)  # refuses a run id that cannot name a file
        self.run_id = run_id
        self.reference = reference
        self.learner = learner
        self.date = date or datetime.date.today().isoformat()
        self.symptoms = symptoms_form(reference)
        self.hypotheses = hypotheses_form()
        self.evidence = evidence_form()
        self.root_cause = root_cause_form()
        self.remediation = remediation_form()
        self.verification = verification_form()
        self.lesson = lesson_form()
        self.forms: dict[int, SectionForm] = {
            1: self.symptoms, 2: self.hypotheses, 3: self.evidence, 4: self.root_cause,
            5: self.remediation, 6: self.verification, 7: self.lesson,
        }
        for form in self.forms.values():
            form.context = (lambda f=form: self._context_for(f))
        self.messages: list[str] = []
        self.status = widgets.Output()
        buttons = []
        for label, action in (("Save", self.save), ("Save + record lesson", self.save_with_lesson),
                              ("Load saved", self.load)):
            button = widgets.Button(description=label)
            button.layout.width = "180px"
            button.on_click(lambda _button, act=action: self._safely(act))
            buttons.append(button)
        self.save_button, self.lesson_button, self.load_button = buttons
        header = widgets.HTML(f"<b>Loss spike post-mortem — {html.escape(run_id)}</b>")
        self.widget = widgets.VBox([header] + [f.widget for f in self.forms.values()]
                                   + [widgets.HBox(buttons), self.status])

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"Post-mortem workbook for {self.run_id}"  # stable for nbval
        return bundle

    def _say(self, lines: list[str]) -> None:
        self.messages = list(lines)
        self.status.outputs = ()
        self.status.append_stdout("\n".join(lines) + "\n")

    def _safely(self, action: Callable[[], object]) -> None:
        try:
            action()
        except ValueError as err:
            self._say([f"✗ {err}"])

    def _context_for(self, form: SectionForm) -> tuple[PostMortem, list[str]]:
        """The whole post-mortem as `form` sees it, and a note per other section that could not be
        read (left empty, so checks that need it are skipped)."""
        pm, notes = PostMortem(self.run_id, self.date), []
        for other in self.forms.values():
            try:
                other.put(pm)
            except ValueError as err:
                if other is form:
                    raise
                notes.append(f"not checked against §{other.section}, which cannot be read: {err}")
        return pm, notes

    def to_postmortem(self) -> PostMortem:
        """Collect all seven forms; raises ValueError when a rank or panel box holds no number."""
        pm = PostMortem(self.run_id, self.date)
        for form in self.forms.values():
            form.put(pm)
        return pm

    def fill(self, pm: PostMortem) -> None:
        """Put a post-mortem's values into the forms."""
        self.date = pm.date
        for form in self.forms.values():
            form.take(pm)

    def problems(self) -> list[pmod.Problem]:
        """What the validator says about the whole post-mortem."""
        return pmod.validate(self.to_postmortem())

    def _saved_line(self, path, before: list) -> str:
        """"saved <path>", plus which earlier version was kept aside (never overwritten)."""
        from utils.notes import display_path

        kept = [p for p in pmod.kept_versions(self.run_id, learner=self.learner) if p not in before]
        line = f"saved {display_path(path)}"
        return line + (f" (kept the earlier version as {display_path(kept[-1])})" if kept else "")

    def save(self):
        """Save to learners/<name>/phase-19/notes/postmortems/<run-id>.md (earlier versions are kept)."""
        pm = self.to_postmortem()
        before = pmod.kept_versions(self.run_id, learner=self.learner)
        path = pmod.save(pm, learner=self.learner)
        left = pmod.validate(pm)
        self._say([self._saved_line(path, before)
                   + (f" ({len(left)} problem(s) left; press Check in each section)" if left else " (complete)")])
        return path

    def save_with_lesson(self):
        """Save, then append the one-line lesson to the learner's lessons (once: saving again does not repeat it)."""
        from utils.notes import read_lessons

        pm = self.to_postmortem()
        before = pmod.kept_versions(self.run_id, learner=self.learner)
        lessons_before = read_lessons(pmod.PHASE, learner=self.learner)
        path, line = pmod.save_with_lesson(pm, learner=self.learner)
        recorded = "lesson already recorded" if line in lessons_before else "lesson recorded"
        self._say([self._saved_line(path, before), f"{recorded}: {line}"])
        return path

    def load(self) -> PostMortem | None:
        """Fill the forms from the saved post-mortem of this run; None (forms untouched) when there is none."""
        pm = pmod.load_saved(self.run_id, learner=self.learner)
        if pm is None:
            self._say([f"no saved post-mortem for {self.run_id} yet"])
            return None
        self.fill(pm)
        self._say([f"loaded {pmod.postmortem_relpath(self.run_id)}"])
        return pm
