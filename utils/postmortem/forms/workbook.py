"""The post-mortem workbook: the seven section forms of one run's post-mortem, with Save / Load.

Where it saves to and loads from is given to it (`notes`, a `PostmortemNotes`): in the course, a
learner's notes folder, ``utils.course.postmortem_notes.LearnerPostmortems()``. Without one the
workbook still drafts, compares and checks; it only cannot save or load.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Protocol

import ipywidgets as widgets

from utils.postmortem import run as postmortem_run
from utils.postmortem.files import check_run_id, postmortem_relpath, same_run_log
from utils.postmortem.forms.base import SectionForm
from utils.postmortem.forms.sections import (evidence_form, hypotheses_form, lesson_form, remediation_form,
                                             root_cause_form, verification_form)
from utils.postmortem.forms.symptoms_form import symptoms_form
from utils.postmortem.model import RECOVERY_WORDS, PostMortem, Problem
from utils.postmortem.validation import validate
from utils.spikelab import symptoms
from utils.spikelab.runlog import RunLog
from utils.text import say


class PostmortemNotes(Protocol):
    """Where a workbook keeps its post-mortem, the run log §1 was read from, and its lesson.

    Saving never overwrites: an earlier, different version is kept aside (`kept_versions`,
    `run_log_versions` list them, oldest first). `display_path` writes a path for printing.
    """

    def save(self, pm: PostMortem, run_log: RunLog | None = None) -> Path: ...

    def save_with_lesson(self, pm: PostMortem, run_log: RunLog | None = None) -> tuple[Path, str]: ...

    def load_saved(self, run_id: str) -> PostMortem | None: ...

    def saved_run_log_path(self, run_id: str) -> Path | None: ...

    def kept_versions(self, run_id: str) -> list[Path]: ...

    def run_log_versions(self, run_id: str) -> list[Path]: ...

    def lessons(self) -> list[str]: ...

    def display_path(self, path: Path) -> str: ...


class PostMortemWorkbook:
    """All seven forms of one run's post-mortem, with Save / Load.

    `run_log` is the run §1 is read from (the notebook's run): §1's Draft and Compare use its
    symptoms (`reference`), and Save saves it beside the post-mortem, so that §1 is checked
    against it on any machine. `load()` takes back the run log saved with the post-mortem when it
    is another run than this one (`use_run_log` switches by hand). Without a run log,
    `reference` (symptoms only) serves Draft and Compare, and nothing is saved beside the
    post-mortem. `notes` is where Save and Load keep it (the buttons show only with it).

    `date` defaults to today (pass it for a deterministic notebook output); `load()` takes the
    date of the saved post-mortem. Each form's Check sees the whole workbook, so §3 knows the
    ranks of §2 and §6 knows the spike step of §1; with a run log (or `reference`), §6 also
    knows the run's metric names (offered in its metric boxes) and, with a run log, its length.
    """

    def __init__(self, run_id: str, *, reference: Mapping | None = None, date: str | None = None,
                 run_log: RunLog | None = None, notes: PostmortemNotes | None = None) -> None:
        check_run_id(run_id)
        if run_log is not None and reference is not None:
            raise ValueError("give the run log or its symptoms (reference), not both")  # i18n: not shown (a programming error)
        self.run_id = run_id
        self.reference = reference
        self.run_log: RunLog | None = None
        self.notes = notes
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
            self.verification.set_metrics(postmortem_run.metric_names(reference, RECOVERY_WORDS))
        self.messages: list[str] = []
        self.status = widgets.Output()
        buttons = []
        for label, action in ((say("Save", "Guardar"), self.save),
                              (say("Save + record lesson", "Guardar + anotar lección"), self.save_with_lesson),
                              (say("Load saved", "Cargar lo guardado"), self.load)):
            button = widgets.Button(description=label)
            button.layout.width = "180px"
            button.on_click(lambda _button, act=action: self._safely(act))
            buttons.append(button)
        self.save_button, self.lesson_button, self.load_button = buttons
        header = widgets.HTML(f"<b>Loss spike post-mortem — {html.escape(run_id)}</b>")  # i18n: not shown (the template's title)
        self.widget = widgets.VBox([header] + [f.widget for f in self.forms.values()]
                                   + ([widgets.HBox(buttons)] if notes is not None else []) + [self.status])
        if run_log is not None:
            self.use_run_log(run_log)

    def use_run_log(self, run_log: RunLog) -> None:
        """Read §1 from `run_log` from now on: Draft and Compare use its symptoms
        (`utils.spikelab.symptoms.compute`), Save saves it with the post-mortem."""
        if run_log.run_id != self.run_id:
            raise ValueError(say(f"the run log is of run {run_log.run_id!r}, this post-mortem of run {self.run_id!r}",
                                 f"el registro es de la ejecución {run_log.run_id!r}, este post-mortem de la "
                                 f"ejecución {self.run_id!r}"))
        self.run_log = run_log
        self.reference = symptoms.compute(run_log)
        self.symptoms.set_reference(self.reference)
        self.verification.set_metrics(postmortem_run.metric_names(self.reference, RECOVERY_WORDS))

    def _run(self) -> dict:
        """The run this post-mortem is about, as `validate` takes it (§6's metrics and length)."""
        return {"run_log": self.run_log, "reference": self.reference}

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"Post-mortem workbook for {self.run_id}"  # i18n: not shown (stable text for nbval; JupyterLab shows the widget)
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
                notes.append(say(f"not checked against §{other.section}, which cannot be read: {err}",
                                 f"no comprobado frente a §{other.section}, que no se puede leer: {err}"))
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

    def problems(self) -> list[Problem]:
        """What the validator says about the whole post-mortem (§6 against the workbook's run)."""
        return validate(self.to_postmortem(), **self._run())

    def _store(self) -> PostmortemNotes:
        """Where to save and load; ValueError when the workbook was given none."""
        if self.notes is None:
            raise ValueError(say("this workbook has no notes folder to save to or load from: give it one, "
                                 "PostMortemWorkbook(..., notes=LearnerPostmortems()) from utils.course.postmortem_notes",
                                 "este cuaderno de post-mortem no tiene carpeta de notas donde guardar o de donde "
                                 "cargar: dale una, PostMortemWorkbook(..., notes=LearnerPostmortems()) de "
                                 "utils.course.postmortem_notes"))
        return self.notes

    def _saved_line(self, path: Path, before: list[Path]) -> str:
        """"saved <path>", plus which earlier version was kept aside (never overwritten)."""
        notes = self._store()
        kept = [p for p in notes.kept_versions(self.run_id) if p not in before]
        line = say(f"saved {notes.display_path(path)}", f"guardado {notes.display_path(path)}")
        return line + (say(f" (kept the earlier version as {notes.display_path(kept[-1])})",
                           f" (la versión anterior se conserva como {notes.display_path(kept[-1])})") if kept else "")

    def _run_log_line(self, before: list[Path]) -> list[str]:
        """"run log: <path>" after a save with a run log (and which earlier run log was kept aside)."""
        if self.run_log is None:
            return []
        notes = self._store()
        path = notes.saved_run_log_path(self.run_id)
        kept = [p for p in notes.run_log_versions(self.run_id) if p not in before]
        line = say(f"run log: {notes.display_path(path)}", f"registro de la ejecución: {notes.display_path(path)}")
        return [line + (say(f" (kept the earlier one as {notes.display_path(kept[-1])})",
                            f" (el anterior se conserva como {notes.display_path(kept[-1])})") if kept else "")]

    def save(self) -> Path:
        """Save to the notes' postmortems/<run-id>.md (earlier versions are kept), with the run log
        beside it (run-logs/<run-id>.json.gz). Refuses (ValueError) a post-mortem with every section empty."""
        notes = self._store()
        pm = self.to_postmortem()
        if pm.is_empty():   # an empty save would only be kept as an old version forever
            raise ValueError(say("nothing saved: all seven sections are empty; fill at least one form first",
                                 "no se guardó nada: las siete secciones están vacías; rellena antes al menos "
                                 "un formulario"))
        before = notes.kept_versions(self.run_id)
        logs_before = notes.run_log_versions(self.run_id)
        path = notes.save(pm, run_log=self.run_log)
        left = validate(pm, **self._run())
        self._say([self._saved_line(path, before)
                   + (say(f" ({len(left)} problem(s) left; press Check in each section)",
                              f" (quedan {len(left)} problema(s); pulsa Comprobar en cada sección)")
                      if left else say(" (complete)", " (completo)"))]
                  + self._run_log_line(logs_before))
        return path

    def save_with_lesson(self) -> Path:
        """Save (with the run log), then append the one-line lesson to the learner's lessons (once:
        saving again does not repeat it)."""
        notes = self._store()
        pm = self.to_postmortem()
        before = notes.kept_versions(self.run_id)
        logs_before = notes.run_log_versions(self.run_id)
        lessons_before = notes.lessons()
        path, line = notes.save_with_lesson(pm, run_log=self.run_log)
        recorded = (say("lesson already recorded", "lección ya anotada") if line in lessons_before
                    else say("lesson recorded", "lección anotada"))
        self._say([self._saved_line(path, before), f"{recorded}: {line}"] + self._run_log_line(logs_before))
        return path

    def load(self) -> PostMortem | None:
        """Fill the forms from the saved post-mortem of this run; None (forms untouched) when there is none.

        The run log saved with it becomes the workbook's run log when it is another run than the
        one the workbook holds (e.g. §1 was written on another machine): §1 goes with its own run.
        The second message line says which run log §1 is now read from.
        """
        notes = self._store()
        pm = notes.load_saved(self.run_id)
        if pm is None:
            self._say([say(f"no saved post-mortem for {self.run_id} yet",
                           f"todavía no hay ningún post-mortem guardado de {self.run_id}")])
            return None
        self.fill(pm)
        lines = [say(f"loaded {postmortem_relpath(self.run_id)}", f"cargado {postmortem_relpath(self.run_id)}")]
        try:
            path = notes.saved_run_log_path(self.run_id)
            saved = None if path is None else RunLog.load(path)
        except ValueError as err:
            lines.append(say(f"its run log cannot be read ({err}): Save saves this notebook's run beside it",
                             f"su registro no se puede leer ({err}): Guardar guarda a su lado la ejecución de "
                             "este cuaderno"))
            path = saved = None
        if saved is None:
            if len(lines) == 1:
                lines.append(say("no run log saved with it yet: Save saves this notebook's run beside it",
                                 "aún no tiene registro guardado: Guardar guarda a su lado la ejecución de este "
                                 "cuaderno")
                             if self.run_log is not None else say("no run log saved with it yet",
                                                                  "aún no tiene registro guardado"))
        elif self.run_log is not None and same_run_log(saved, self.run_log):
            lines.append(say(f"its run log: {notes.display_path(path)} (the same run as this notebook's)",
                             f"su registro: {notes.display_path(path)} (la misma ejecución que la de este cuaderno)"))
        else:
            other = self.run_log is not None
            self.use_run_log(saved)
            lines.append(say(f"its run log: {notes.display_path(path)}", f"su registro: {notes.display_path(path)}")
                         + (say(" (another run than this notebook's, e.g. from another machine: §1 is read from "
                                "the saved one; use_run_log(log) starts over from this notebook's run)",
                                " (otra ejecución que la de este cuaderno, p. ej. de otra máquina: §1 se lee de la "
                                "guardada; use_run_log(log) vuelve a la ejecución de este cuaderno)") if other else ""))
        self._say(lines)
        return pm
