"""Instructor grading: run each learner's notebooks with the hidden checks, and check their notes.

    python -m utils.grading --learner José            # one learner (repeatable)
    python -m utils.grading --all                     # every folder under learners/
        [--out grading-out] [--jobs 2] [--timeout 300] [--notebook-timeout 1800]
        [--notebooks notebooks]                       # where the master sources are

``learners/<name>/`` holds what a learner hands in: notebooks ``phase-NN/*.ipynb`` (their
copies, see ``utils.course.learner_copies``) and notes ``phase-NN/notes/`` (see ``utils.course.notes``).

Notebooks. For each submitted notebook the grader builds a *graded copy* (``graded_copy``): the
learner's cells (outputs cleared) with the instructor's hidden ``[check]`` cells of the master
source ``notebooks/phase-NN-<theme>/<name>.py`` inserted right after the learner's cell of the
same exercise. The copy runs under nbval in a subprocess and a temporary folder of its own
(``runner``; a kernel that dies is reported at once by its pytest plugin ``dead_kernel``), whose
junit XML says how each cell went (``junit``); each check then passes or
fails with the message the learner reads (``notebook``). A cell that runs too long, a notebook
that runs too long, or a kernel that dies stops nothing but that notebook.

Answers. The latest answer to each choice question (``utils.course.choice``) of each notebook handed
in, against the master's right option (``answers``).

Notes. The lesson of each notebook handed in (``utils.course.lessons``, the rule the lesson boxes
share) and each post-mortem, checked against the run log saved with it; the grader trains nothing
(``notes_checks``).

Output (``--out``, default ``grading-out/``): ``<learner>.md`` per learner and the class summary
``summary.md`` and ``summary.csv`` (``report``), with no timings and no absolute paths.
``learners`` finds the learners' folders and grades them all; ``cli`` is the command line.

Graded code is untrusted: it runs with the grader's permissions. Run the grader in a sandbox
or container (see learners/README.md, "Grading").

The names below are the package's public interface, importable as ``grading.<name>``.
"""

from utils.course.grading.answers import answer_check_name, grade_answers
from utils.course.grading.cli import DEFAULT_OUT, main
from utils.course.grading.graded_copy import GradedCopy, graded_copy
from utils.course.grading.junit import CellOutcome, failure_message, parse_junit
from utils.course.grading.learners import (all_learners, grade, learner_folders, master_source,
                                           skipped_folders, submitted_notebooks)
from utils.course.grading.notebook import grade_notebook, grade_results
from utils.course.grading.notes_checks import (POSTMORTEM_NOTEBOOK, POSTMORTEM_PHASE, SavedRun, check_lesson,
                                               check_section1, grade_notes, lesson_check_name,
                                               missing_run_log_message, postmortem_files, saved_run,
                                               section1_check_name)
from utils.course.grading.report import (SUMMARY_COLUMNS, learner_report, summary_csv, summary_markdown,
                                         write_reports)
from utils.course.grading.results import MESSAGE_MAX_CHARS, Check, LearnerGrade, NotebookGrade
from utils.course.grading.runner import (DEFAULT_CELL_TIMEOUT_S, DEFAULT_NOTEBOOK_TIMEOUT_S,
                                         KERNEL_STARTUP_TIMEOUT_S, Run, run_nbval)

__all__ = [
    "answer_check_name", "grade_answers",
    "CellOutcome", "Check", "DEFAULT_CELL_TIMEOUT_S", "DEFAULT_NOTEBOOK_TIMEOUT_S", "DEFAULT_OUT",
    "GradedCopy", "KERNEL_STARTUP_TIMEOUT_S", "LearnerGrade", "MESSAGE_MAX_CHARS", "NotebookGrade",
    "POSTMORTEM_NOTEBOOK", "POSTMORTEM_PHASE", "Run", "SUMMARY_COLUMNS", "SavedRun", "all_learners",
    "check_lesson", "check_section1", "failure_message", "grade", "grade_notebook", "grade_notes", "grade_results",
    "graded_copy", "learner_folders", "learner_report", "lesson_check_name", "main", "master_source", "missing_run_log_message",
    "parse_junit", "postmortem_files", "run_nbval", "saved_run", "section1_check_name", "skipped_folders",
    "submitted_notebooks", "summary_csv", "summary_markdown", "write_reports",
]
