"""ipywidgets forms for the seven sections of the phase-19 loss-spike post-mortem.

A thin layer over `utils.postmortem`: every form only moves values between widgets and the
dataclasses there, and its Check button shows what `utils.postmortem.validate` says about its section.

    from utils.course.postmortem_notes import LearnerPostmortems
    wb = PostMortemWorkbook("19-spike-001", run_log=log, notes=LearnerPostmortems())
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

- ``base``           what every section form shares (`SectionForm`, its Check button);
- ``symptoms_form``  §1, with Draft and Compare;
- ``sections``       §2-§7;
- ``workbook``       `PostMortemWorkbook`, the seven together, and `PostmortemNotes`, where it saves.
"""

from utils.postmortem.forms.base import RowsForm, SectionForm, TextForm, panel_legend, panel_options
from utils.postmortem.forms.sections import (
    EvidenceForm,
    HypothesesForm,
    LessonForm,
    RemediationForm,
    RootCauseForm,
    VerificationForm,
    evidence_form,
    hypotheses_form,
    lesson_form,
    remediation_form,
    root_cause_form,
    verification_form,
)
from utils.postmortem.forms.symptoms_form import SymptomsForm, symptoms_form
from utils.postmortem.forms.workbook import PostMortemWorkbook, PostmortemNotes

__all__ = [
    "panel_legend", "panel_options", "EvidenceForm", "HypothesesForm", "LessonForm", "PostMortemWorkbook",
    "PostmortemNotes", "RemediationForm", "RootCauseForm", "RowsForm", "SectionForm", "SymptomsForm", "TextForm",
    "VerificationForm", "evidence_form", "hypotheses_form", "lesson_form", "remediation_form", "root_cause_form",
    "symptoms_form", "verification_form",
]
