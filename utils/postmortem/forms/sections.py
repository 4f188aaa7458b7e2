"""§2-§7 of the post-mortem workbook: rows for the hypotheses, the evidence and §6's expectations,
one text box for the root cause, the remediation and the lesson.
"""

from __future__ import annotations

import ipywidgets as widgets

from utils.postmortem.forms.base import (RowsForm, TextForm, panel_legend, panel_options, parse_list,
                                         parse_optional_int, select)
from utils.postmortem.model import COMPARATORS, Evidence, Expectation, Hypothesis, PostMortem, Verification
from utils.postmortem.typed_numbers import format_int_list
from utils.text import say


class HypothesesForm(RowsForm):
    """§2: rows of (rank, hypothesis, supporting panels)."""

    section = 2

    def __init__(self) -> None:
        super().__init__()
        self._assemble(widgets.Label(say(f"Panels: {panel_legend()}", f"Paneles: {panel_legend()}")), self.rows_box,
                       buttons=(self.add_button,))

    def new_row(self, index: int) -> dict[str, widgets.Widget]:
        rank = widgets.Text(value=str(index + 1), placeholder=say("rank", "rango"), layout=widgets.Layout(width="60px"))
        text = widgets.Text(placeholder=say("hypothesis", "hipótesis"), layout=widgets.Layout(width="480px"))
        panels = widgets.Text(placeholder=say("panels, comma-separated", "paneles, separados por comas"),
                              layout=widgets.Layout(width="200px"))
        return {"rank": rank, "text": text, "panels": panels}

    def collect(self) -> list[Hypothesis]:
        out = []
        for i, row in enumerate(self.rows, start=1):
            if not row["text"].value.strip() and not row["panels"].value.strip():
                continue
            out.append(Hypothesis(
                rank=parse_optional_int(row["rank"].value, say(f"§2 row {i} rank", f"§2 fila {i} rango")),
                text=row["text"].value,
                panels=parse_list(row["panels"].value, say(f"§2 row {i} panels", f"§2 fila {i} paneles")),
            ))
        return out

    def fill(self, value: list[Hypothesis]) -> None:
        self.set_row_count(len(value))
        for row, h in zip(self.rows, value):
            row["rank"].value = "" if h.rank is None else str(h.rank)
            row["text"].value = h.text
            row["panels"].value = format_int_list(h.panels)

    def put(self, pm: PostMortem) -> None:
        pm.hypotheses = self.collect()

    def take(self, pm: PostMortem) -> None:
        self.fill(pm.hypotheses)


class EvidenceForm(RowsForm):
    """§3: rows of (panel, observation, favours rank, rules out ranks)."""

    section = 3

    def __init__(self) -> None:
        super().__init__()
        self._assemble(self.rows_box, buttons=(self.add_button,))

    def new_row(self, index: int) -> dict[str, widgets.Widget]:
        panel = widgets.Dropdown(options=panel_options(), value=None, layout=widgets.Layout(width="230px"))
        observation = widgets.Text(placeholder=say("observation", "observación"), layout=widgets.Layout(width="380px"))
        favours = widgets.Text(placeholder=say("favours rank", "favorece rango"), layout=widgets.Layout(width="110px"))
        rules_out = widgets.Text(placeholder=say("rules out ranks", "descarta rangos"), layout=widgets.Layout(width="130px"))
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
                favours=parse_optional_int(row["favours"].value, say(f"§3 row {i} favours", f"§3 fila {i} favorece")),
                rules_out=parse_list(row["rules_out"].value, say(f"§3 row {i} rules out", f"§3 fila {i} descarta")),
            ))
        return out

    def fill(self, value: list[Evidence]) -> None:
        self.set_row_count(len(value))
        for row, e in zip(self.rows, value):
            select(row["panel"], e.panel)
            row["observation"].value = e.observation
            row["favours"].value = "" if e.favours is None else str(e.favours)
            row["rules_out"].value = format_int_list(e.rules_out)

    def put(self, pm: PostMortem) -> None:
        pm.evidence = self.collect()

    def take(self, pm: PostMortem) -> None:
        self.fill(pm.evidence)


class RootCauseForm(TextForm):
    """§4: exactly one sentence."""

    section, attribute = 4, "root_cause"

    def placeholder(self) -> str:
        return say("one sentence: what caused the spike, and through which mechanism",
                   "una frase: qué causó el pico y por qué mecanismo")


class RemediationForm(TextForm):
    """§5: the smallest change that removes the cause."""

    section, attribute = 5, "remediation"

    def placeholder(self) -> str:
        return say("the smallest change", "el cambio más pequeño")


class LessonForm(TextForm):
    """§7: exactly one line."""

    section, attribute, multiline = 7, "lesson", False

    def placeholder(self) -> str:
        return say("one line for your future self", "una línea para tu yo del futuro")


class VerificationForm(RowsForm):
    """§6: seed, tolerance ε, step T, and rows of (metric, comparator, value)."""

    section = 6
    min_rows = 2

    def __init__(self) -> None:
        self.metric_options: list[str] = []   # the run's metric names, once known (set_metrics)
        super().__init__()
        self.seed = widgets.Text(description=say("seed", "semilla"), placeholder=say("whole number", "número entero"))
        self.tolerance = widgets.Text(description=say("tolerance ε", "tolerancia ε"), placeholder=say("number", "número"))
        self.step = widgets.Text(description=say("step T", "paso T"), placeholder=say("whole number", "número entero"))
        self._assemble(widgets.HBox([self.seed, self.tolerance, self.step]),
                       widgets.Label(say("Expectations at step T (metric, comparator, value):",
                                         "Expectativas en el paso T (métrica, comparador, valor):")),
                       self.rows_box, buttons=(self.add_button,))

    def new_row(self, index: int) -> dict[str, widgets.Widget]:
        metric = widgets.Combobox(options=list(self.metric_options), ensure_option=False,
                                  placeholder=say("metric", "métrica"),
                                  layout=widgets.Layout(width="360px"))
        comparator = widgets.Dropdown(options=[(c, c) for c in COMPARATORS], value="<",
                                      layout=widgets.Layout(width="80px"))
        value = widgets.Text(placeholder=say("number", "número"), layout=widgets.Layout(width="140px"))
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
            select(row["comparator"], e.comparator)
            row["value"].value = e.value

    def put(self, pm: PostMortem) -> None:
        pm.verification = self.collect()

    def take(self, pm: PostMortem) -> None:
        self.fill(pm.verification)


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

