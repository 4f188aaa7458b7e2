"""The two example learners, and the notes written for them.

``learners/example-complete/`` solved every exercise; its post-mortem is written by running
``notebooks/phase-19-diagnosis/04-post-mortem`` as that learner (``scripts/build_notebooks.py``
builds the notebooks with ``LEARNER=example-complete``), and its lesson of every other notebook
(``utils.course.example_lessons``) by ``write_example_lessons``, as the lesson box at the end of
each notebook saves it. ``learners/example-mistakes/`` made typical mistakes: its notebooks are
``utils.course.learner_copies.example_mistakes_notebooks``, its notes are written here
(``write_example_mistakes_notes``: it trains the broken run once, a few seconds, and saves its run
log beside the post-mortem, as the post-mortem notebook does; ``write_example_lessons``: its
lessons, one box skipped). Their answers to the choice questions (``write_example_answers``):
example-complete's are the right ones (its master notebooks record them when built), example-mistakes
answered the course's first question wrong. Both learners' notes are the worked example of the course and are kept
in the repository.
"""

from __future__ import annotations

import datetime
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from utils.course import postmortem_notes
from utils.course.answers import questions_in, record_answer
from utils.course.example_lessons import EXAMPLE_COMPLETE_LESSONS, EXAMPLE_MISTAKES_LESSONS
from utils.course.lessons import lesson_for, lesson_lines
from utils.course.notes import append_lesson, display_path, read_lessons
from utils.postmortem import Expectation, Hypothesis, PostMortem, Verification, draft_symptoms
from utils.spikelab import symptoms
from utils.spikelab.config import CANONICAL
from utils.spikelab.train import run_variant

EXAMPLE_COMPLETE = "example-complete"
EXAMPLE_MISTAKES = "example-mistakes"
MISTAKES_WRONG_SPIKE_STEP = "328"  # the held-out peak step, typed where the spike step belongs
# The date of each example lesson line (fixed, so that writing the notes again gives the same bytes).
EXAMPLE_LESSON_DATE = {EXAMPLE_COMPLETE: datetime.date(2026, 11, 23), EXAMPLE_MISTAKES: datetime.date(2026, 11, 22)}
MISTAKES_VARIANT, MISTAKES_SEED = "broken", 42    # the run example-mistakes writes its post-mortem about


def example_mistakes_postmortem(reference) -> PostMortem:
    """The example-mistakes post-mortem of run 19-spike-001: complete except for two mistakes.

    §1 is drafted from ``reference`` (``utils.spikelab.symptoms.compute`` of the broken run whose log is
    saved with it) and confirmed,
    except ``spike_step``, typed as 328: the step of the held-out loss peak, not the step where
    the training loss spiked (a wrong symptom). §3 (discriminating evidence) is left empty (a
    missing section). Everything else is valid.
    """
    drafted = draft_symptoms(reference)
    drafted.confirmed = set(drafted.drafted) - {"spike_step"}
    drafted.drafted.discard("spike_step")
    drafted.spike_step = MISTAKES_WRONG_SPIKE_STEP
    limit = reference["heldout_loss_before"] + 3 * reference["heldout_loss_noise"]
    return PostMortem(
        run_id=reference["run_id"],
        date="2026-11-23",
        symptoms=drafted,
        hypotheses=[
            Hypothesis(1, "The late shard's consecutive batches of rare-participle sentences made the "
                          "model forget ordinary sentences", [1, 6]),
            Hypothesis(2, "The rare piece tten's untrained embedding rows gave a gradient spike that "
                          "damaged the shared weights", [3, 7]),
            Hypothesis(3, "The learning rate jumped at the spike step", [2]),
        ],
        evidence=[],
        root_cause=("Feeding the late shard as consecutive batches of the same rare-participle sentences "
                    "made the model forget ordinary sentences for a while."),
        remediation="Shuffle the shard's sentences into the training stream instead of feeding them as one block.",
        verification=Verification(
            seed=str(reference["seed"]), tolerance="0.05", step=str(CANONICAL.steps),
            expectations=[Expectation("heldout_loss_peak", "<", f"{limit:.3g}")]),
        lesson="Check panel 6 for runs of same-kind batches before blaming the gradient spike.",
    )


@contextmanager
def _learners_root(learners_root: Path | None) -> Iterator[None]:
    """Point ``utils.course.notes`` at ``learners_root`` for the block (None: leave it as it is)."""
    old = os.environ.get("COURSE_LEARNERS_DIR")
    if learners_root is not None:
        os.environ["COURSE_LEARNERS_DIR"] = str(learners_root)
    try:
        yield
    finally:
        if learners_root is not None:
            if old is None:
                os.environ.pop("COURSE_LEARNERS_DIR", None)
            else:
                os.environ["COURSE_LEARNERS_DIR"] = old


def write_example_lessons(learners_root: Path | None = None) -> list[str]:
    """Write the example learners' lessons of every notebook (``utils.course.example_lessons``) that
    their ``lessons.md`` lacks, through ``utils.course.notes.append_lesson``, tagged with the notebook
    as the lesson box tags them; returns what was written (nothing when they are there already).

    example-complete has one per notebook (19.04's is its post-mortem's §7, written by the notebook);
    example-mistakes skipped the box of 19.02 (and saved its post-mortem without its lesson).
    """
    written = []
    with _learners_root(learners_root):
        for learner, lessons in ((EXAMPLE_COMPLETE, EXAMPLE_COMPLETE_LESSONS),
                                 (EXAMPLE_MISTAKES, EXAMPLE_MISTAKES_LESSONS)):
            for key, text in sorted(lessons.items()):
                expected = lesson_for(key)
                if not lesson_lines(expected, read_lessons(expected.phase, learner=learner)):
                    append_lesson(expected.phase, text, learner=learner, notebook=expected.tag,
                                  today=EXAMPLE_LESSON_DATE[learner])
                    written.append(f"{learner} lesson of notebook {expected.tag}")
    return written


def write_example_mistakes_notes(run_log=None, learners_root: Path | None = None) -> list[str]:
    """Write example-mistakes' post-mortem through ``utils.course.notes`` (never overwriting); what was written.

    The post-mortem ``example_mistakes_postmortem`` of ``run_log`` (saved without its lesson, with
    its run log beside it, as the post-mortem notebook saves them: ``utils.course.postmortem_notes.save``):
    so notebook 19.04 has no lesson, a third mistake. ``run_log`` defaults to a run of the broken
    variant (seed 42) on this machine. Its lessons: ``write_example_lessons``.
    """
    if run_log is None:
        run_log = run_variant(MISTAKES_VARIANT, seed=MISTAKES_SEED)
    pm = example_mistakes_postmortem(symptoms.compute(run_log))
    with _learners_root(learners_root):
        written = [display_path(postmortem_notes.save(pm, learner=EXAMPLE_MISTAKES, run_log=run_log))]
        written.append(display_path(postmortem_notes.saved_run_log_path(pm.run_id, learner=EXAMPLE_MISTAKES)))
    return written


def write_example_answers(sources: list[Path], learners_root: Path | None = None) -> list[str]:
    """Write the example learners' answers to the choice questions of the master ``sources``
    (``utils.course.answers.questions_in``) where their latest answer is not the one below (a new question,
    or a master whose right option changed); returns what was written.

    example-complete answers every question right (building its master notebooks records the same);
    example-mistakes answers every question right except the course's first, where it picks the
    first wrong option (a mistake the grader reports). Earlier lines are never rewritten (append-only).
    """
    written, first = [], True
    with _learners_root(learners_root):
        for source in sources:
            for spec in questions_in(source):
                for learner in (EXAMPLE_COMPLETE, EXAMPLE_MISTAKES):
                    wrong = learner == EXAMPLE_MISTAKES and first
                    chosen = next(k for k in spec.options if k != spec.right) if wrong else spec.right
                    if record_answer(spec.notebook, spec.question, chosen, chosen == spec.right, learner=learner,
                                     today=EXAMPLE_LESSON_DATE[learner]):     # False: already its latest answer
                        written.append(f"{learner} answer {chosen} to question {spec.question} of notebook "
                                       f"{spec.notebook}")
                first = False
    return written
