"""§1 of the post-mortem workbook: one text box per symptom, Draft and Compare buttons.

Draft fills every box from the run log (`utils.postmortem.symptom_check.draft_symptoms`), each
field marked drafted until the learner ticks its confirm box; Compare checks what is typed against
the run log within the stated tolerances (`check_symptoms`).
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets

from utils.postmortem.forms.base import SectionForm
from utils.postmortem.model import DTYPES, SYMPTOM_FIELDS, SYMPTOM_HINTS, PostMortem, Symptoms
from utils.postmortem.symptom_check import SymptomCheck, check_symptoms, draft_symptoms
from utils.text import say


class SymptomsForm(SectionForm):
    """§1: one text box per symptom, a confirm box per drafted field, Draft and Compare buttons.

    `reference` is the run log's symptoms (`utils.spikelab.symptoms.compute(log)`) that Draft fills in and
    Compare checks against; `set_reference` changes it (the workbook does, when it loads a run log).
    """

    section = 1

    def __init__(self, reference: Mapping | None = None) -> None:
        super().__init__()
        self.reference = reference
        self.drafted: set[str] = set()
        self.inputs: dict[str, widgets.Widget] = {}
        self.confirms: dict[str, widgets.Checkbox] = {}
        rows = []
        for name in SYMPTOM_FIELDS:
            if name == "dtype":
                box = widgets.Combobox(options=list(DTYPES), placeholder="float32 / float16 / bfloat16",  # i18n: not shown (dtype names, code)
                                       ensure_option=False)
            elif name == "unusual_tokens":
                box = widgets.TagsInput(value=[], allow_duplicates=False)
            elif name == "recovery_loss":
                box = widgets.Text(placeholder=say("number, or: did not recover / NaN",
                                                   "número, o: did not recover / NaN"))
            else:
                box = widgets.Text(placeholder=say("a number: 2.31 or 2,31", "un número: 2,31 o 2.31"))
            box.layout.width = "260px"
            confirm = widgets.Checkbox(value=False, description=say("confirm", "confirmar"), disabled=True, indent=False)
            confirm.layout.width = "90px"
            self.inputs[name], self.confirms[name] = box, confirm
            label = widgets.Label(name, tooltip=SYMPTOM_HINTS[name])
            label.layout.width = "150px"
            rows.append(widgets.HBox([label, box, confirm, widgets.Label(SYMPTOM_HINTS[name])]))
        self.draft_button = widgets.Button(description=say("Draft from the run log", "Rellenar desde el registro"),
                                           disabled=reference is None)
        self.draft_button.layout.width = "200px"
        self.draft_button.on_click(lambda _button: self.draft())
        self.compare_button = widgets.Button(description=say("Compare with the run log", "Comparar con el registro"),
                                             disabled=reference is None)
        self.compare_button.layout.width = "200px"
        self.compare_button.on_click(lambda _button: self.compare())
        self._assemble(*rows, buttons=(self.draft_button, self.compare_button))

    def set_reference(self, reference: Mapping | None) -> None:
        """Draft from and compare with another run log's symptoms (None: neither button works)."""
        self.reference = reference
        self.draft_button.disabled = self.compare_button.disabled = reference is None

    def draft(self) -> Symptoms:
        """Fill every field from the run log, marked drafted and not confirmed."""
        if self.reference is None:
            raise ValueError(say("no run log to draft from", "no hay registro de la ejecución del que rellenar"))
        drafted = draft_symptoms(self.reference)
        self.fill(drafted)
        self.show([say("Drafted from the run log: check each value on the dashboard, then tick confirm.",
                       "Rellenado desde el registro de la ejecución: comprueba cada valor en el panel de control "
                       "y después marca confirmar.")])
        return drafted

    def compare(self) -> list[SymptomCheck]:
        """Compare what is typed with the run log, within the stated tolerances."""
        if self.reference is None:
            raise ValueError(say("no run log to compare with", "no hay registro de la ejecución con el que comparar"))
        report = check_symptoms(self.collect(), self.reference)
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


def symptoms_form(reference: Mapping | None = None) -> SymptomsForm:
    """§1 form; with a run-log `reference` its "Draft from the run log" and Compare buttons work."""
    return SymptomsForm(reference)
