"""ipywidgets forms for the seven sections of the phase-19 loss-spike post-mortem.

A thin layer over `utils.postmortem.template`: every form only moves values between widgets and the
dataclasses there, and its Check button shows what `postmortem.validate` says about its section.

    wb = PostMortemWorkbook("19-spike-001", run_log=log)   # log: the run §1 is read from
    wb.load()            # a learner reopening the notebook gets their saved answers back
    wb.symptoms          # display one section (phase 19 teaches them one at a time)
    wb                   # or display all seven, with Save / Load buttons
    wb.save()            # learners/<name>/phase-19/notes/postmortems/19-spike-001.md
                         # and its run log, learners/<name>/phase-19/notes/run-logs/19-spike-001.json.gz

Every form is built headless (no kernel needed): tests set `.value` on widgets and call the
click handlers (`form.check()`, `form.draft()`, ...) directly.

§1 and its run log go together: the workbook saves its run log with the post-mortem, and
`load()` takes back the run log saved with it, so that Draft, Compare and the checks read the
numbers §1 was read from, whichever machine the notebook runs on now.
"""

from __future__ import annotations

import datetime
import html
from typing import Callable

import ipywidgets as widgets

from utils.postmortem import template as pmod
from utils.postmortem import run as postmortem_run
from utils.spikelab.runlog import RunLog
from utils.postmortem.typed_numbers import number_error
from utils.postmortem.template import (
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
        raise ValueError(f"{what}: {number_error(t, integer=True)}")
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
    and notes on other sections that could not be read. `run`, when set, returns the run the
    post-mortem is about (``{"run_log": ..., "reference": ...}`` for `postmortem.validate`), so
    that §6 is checked against its metrics and length.
    """

    section: int = 0

    def __init__(self) -> None:
        self.context: Callable[[], tuple[PostMortem, list[str]]] | None = None
        self.run: Callable[[], dict] | None = None
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
        problems = pmod.validate(pm, sections=[self.section], **(self.run() if self.run else {}))
        if problems:
            lines = [f"✗ {p}" for p in problems]
        else:
            lines = [f"✓ §{self.section} {SECTION_TITLES[self.section]}: nothing to fix"]
        self.show(lines + [f"! {note}" for note in notes])
        return self.messages


class SymptomsForm(SectionForm):
    """§1: one text box per symptom, a confirm box per drafted field, Draft and Compare buttons.

    `reference` is the run log's symptoms (`utils.spikelab.symptoms.compute(log)`) that Draft fills in and
    Compare checks against; `set_reference` changes it (the workbook does, when it loads a run log).
    """

    section = 1

    def __init__(self, reference: dict | None = None) -> None:
        super().__init__()
        self.reference = reference
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
                box = widgets.Text(placeholder="a number: 2.31 or 2,31")
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
        self._assemble(*rows, buttons=(self.draft_button, self.compare_button))

    def set_reference(self, reference: dict | None) -> None:
        """Draft from and compare with another run log's symptoms (None: neither button works)."""
        self.reference = reference
        self.draft_button.disabled = self.compare_button.disabled = reference is None

    def draft(self) -> Symptoms:
        """Fill every field from the run log, marked drafted and not confirmed."""
        if self.reference is None:
            raise ValueError("no run log to draft from")
        drafted = pmod.draft_symptoms(self.reference)
        self.fill(drafted)
        self.show(["Drafted from the run log: check each value on the dashboard, then tick confirm."])
        return drafted

    def compare(self) -> list[pmod.SymptomCheck]:
        """Compare what is typed with the run log, within the stated tolerances."""
        if self.reference is None:
            raise ValueError("no run log to compare with")
        report = pmod.check_symptoms(self.collect(), self.reference)
        self.show([f"{'✓' if c.ok else '✗'} {c.message}" for c in report.checks])
        return report.checks

    def collect(self) -> Symptoms:
        values = {name: box.value for name, box in self.inputs.items()}
        confirmed = {name for name, box in self.confirms.items() if box.value}
        return Symptoms(**values, drafted=set(self.drafted), confirmed=confirmed)

    def fill(self, value: Symptoms) -> None:
        """Show `value` in the boxes."""
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
        self.metric_options: list[str] = []   # the run's metric names, once known (set_metrics)
        super().__init__()
        self.seed = widgets.Text(description="seed", placeholder="whole number")
        self.tolerance = widgets.Text(description="tolerance ε", placeholder="number")
        self.step = widgets.Text(description="step T", placeholder="whole number")
        self._assemble(widgets.HBox([self.seed, self.tolerance, self.step]),
                       widgets.Label("Expectations at step T (metric, comparator, value):"),
                       self.rows_box, buttons=(self.add_button,))

    def new_row(self, index: int) -> dict[str, widgets.Widget]:
        metric = widgets.Combobox(options=list(self.metric_options), ensure_option=False, placeholder="metric",
                                  layout=widgets.Layout(width="360px"))
        comparator = widgets.Dropdown(options=[(c, c) for c in COMPARATORS], value="<",
                                      layout=widgets.Layout(width="80px"))
        value = widgets.Text(placeholder="number", layout=widgets.Layout(width="140px"))
        return {"metric": metric, "comparator": comparator, "value": value}

    def set_metrics(self, names: list[str]) -> None:
        """Offer `names` (the run's metrics) in every metric box; typing anything else stays possible
        (the Check says what is wrong with it)."""
        self.metric_options = list(names)
        for row in self.rows:
            row["metric"].options = list(names)

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

    `run_log` is the run §1 is read from (the notebook's run): §1's Draft and Compare use its
    symptoms (`reference`), and Save saves it beside the post-mortem (`postmortem.save_run_log`),
    so that §1 is checked against it on any machine. `load()` takes back the run log saved with
    the post-mortem when it is another run than this one (`use_run_log` switches by hand).
    Without a run log, `reference` (symptoms only) serves Draft and Compare, and nothing is saved
    beside the post-mortem.

    `date` defaults to today (pass it for a deterministic notebook output); `load()` takes the
    date of the saved post-mortem. Each form's Check sees the whole workbook, so §3 knows the
    ranks of §2 and §6 knows the spike step of §1; with a run log (or `reference`), §6 also
    knows the run's metric names (offered in its metric boxes) and, with a run log, its length.
    """

    def __init__(self, run_id: str, reference: dict | None = None, learner: str | None = None,
                 date: str | None = None, run_log: RunLog | None = None) -> None:
        pmod.postmortem_relpath(run_id)  # refuses a run id that cannot name a file
        if run_log is not None and reference is not None:
            raise ValueError("give the run log or its symptoms (reference), not both")
        self.run_id = run_id
        self.reference = reference
        self.run_log: RunLog | None = None
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
            form.run = self._run
        if reference is not None:
            self.verification.set_metrics(postmortem_run.metric_names(reference, pmod.RECOVERY_WORDS))
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
        if run_log is not None:
            self.use_run_log(run_log)

    def use_run_log(self, run_log: RunLog) -> None:
        """Read §1 from `run_log` from now on: Draft and Compare use its symptoms
        (`utils.spikelab.symptoms.compute`), Save saves it with the post-mortem."""
        from utils.spikelab import symptoms

        if run_log.run_id != self.run_id:
            raise ValueError(f"the run log is of run {run_log.run_id!r}, this post-mortem of run {self.run_id!r}")
        self.run_log = run_log
        self.reference = symptoms.compute(run_log)
        self.symptoms.set_reference(self.reference)
        self.verification.set_metrics(postmortem_run.metric_names(self.reference, pmod.RECOVERY_WORDS))

    def _run(self) -> dict:
        """The run this post-mortem is about, as `postmortem.validate` takes it (§6's metrics and length)."""
        return {"run_log": self.run_log, "reference": self.reference}

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
        """What the validator says about the whole post-mortem (§6 against the workbook's run)."""
        return pmod.validate(self.to_postmortem(), **self._run())

    def _saved_line(self, path, before: list) -> str:
        """"saved <path>", plus which earlier version was kept aside (never overwritten)."""
        from utils.course.notes import display_path

        kept = [p for p in pmod.kept_versions(self.run_id, learner=self.learner) if p not in before]
        line = f"saved {display_path(path)}"
        return line + (f" (kept the earlier version as {display_path(kept[-1])})" if kept else "")

    def _run_log_line(self, before: list) -> list[str]:
        """"run log: <path>" after a save with a run log (and which earlier run log was kept aside)."""
        from utils.course.notes import display_path

        if self.run_log is None:
            return []
        path = pmod.saved_run_log_path(self.run_id, learner=self.learner)
        kept = [p for p in pmod.run_log_versions(self.run_id, learner=self.learner) if p not in before]
        line = f"run log: {display_path(path)}"
        return [line + (f" (kept the earlier one as {display_path(kept[-1])})" if kept else "")]

    def save(self):
        """Save to learners/<name>/phase-19/notes/postmortems/<run-id>.md (earlier versions are kept),
        with the run log beside it (run-logs/<run-id>.json.gz)."""
        pm = self.to_postmortem()
        before = pmod.kept_versions(self.run_id, learner=self.learner)
        logs_before = pmod.run_log_versions(self.run_id, learner=self.learner)
        path = pmod.save(pm, learner=self.learner, run_log=self.run_log)
        left = pmod.validate(pm, **self._run())
        self._say([self._saved_line(path, before)
                   + (f" ({len(left)} problem(s) left; press Check in each section)" if left else " (complete)")]
                  + self._run_log_line(logs_before))
        return path

    def save_with_lesson(self):
        """Save (with the run log), then append the one-line lesson to the learner's lessons (once:
        saving again does not repeat it)."""
        from utils.course.notes import read_lessons

        pm = self.to_postmortem()
        before = pmod.kept_versions(self.run_id, learner=self.learner)
        logs_before = pmod.run_log_versions(self.run_id, learner=self.learner)
        lessons_before = read_lessons(pmod.PHASE, learner=self.learner)
        path, line = pmod.save_with_lesson(pm, learner=self.learner, run_log=self.run_log)
        recorded = "lesson already recorded" if line in lessons_before else "lesson recorded"
        self._say([self._saved_line(path, before), f"{recorded}: {line}"] + self._run_log_line(logs_before))
        return path

    def load(self) -> PostMortem | None:
        """Fill the forms from the saved post-mortem of this run; None (forms untouched) when there is none.

        The run log saved with it becomes the workbook's run log when it is another run than the
        one the workbook holds (e.g. §1 was written on another machine): §1 goes with its own run.
        The second message line says which run log §1 is now read from.
        """
        from utils.course.notes import display_path

        pm = pmod.load_saved(self.run_id, learner=self.learner)
        if pm is None:
            self._say([f"no saved post-mortem for {self.run_id} yet"])
            return None
        self.fill(pm)
        lines = [f"loaded {pmod.postmortem_relpath(self.run_id)}"]
        try:
            path = pmod.saved_run_log_path(self.run_id, learner=self.learner)
            saved = None if path is None else RunLog.load(path)
        except ValueError as err:
            lines.append(f"its run log cannot be read ({err}): Save saves this notebook's run beside it")
            path = saved = None
        if saved is None:
            if len(lines) == 1:
                lines.append("no run log saved with it yet: Save saves this notebook's run beside it"
                             if self.run_log is not None else "no run log saved with it yet")
        elif self.run_log is not None and pmod.same_run_log(saved, self.run_log):
            lines.append(f"its run log: {display_path(path)} (the same run as this notebook's)")
        else:
            other = self.run_log is not None
            self.use_run_log(saved)
            lines.append(f"its run log: {display_path(path)}"
                         + (" (another run than this notebook's, e.g. from another machine: §1 is read from "
                            "the saved one; use_run_log(log) starts over from this notebook's run)" if other else ""))
        self._say(lines)
        return pm
