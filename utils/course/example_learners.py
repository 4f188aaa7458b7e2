"""The two example learners, and the notes of example-mistakes.

``learners/example-complete/`` solved every exercise; its notes are written by running
``notebooks/phase-19-diagnosis/04-post-mortem`` as that learner (``scripts/build_notebooks.py``
builds the notebooks with ``LEARNER=example-complete``). ``learners/example-mistakes/`` made
typical mistakes: its notebooks are ``utils.course.learner_copies.example_mistakes_notebooks``,
its notes are written here (``write_example_mistakes_notes``: it trains the broken run once, a
few seconds, and saves its run log beside the post-mortem, as the post-mortem notebook does).
Both learners' notes are the worked example of the course and are kept in the repository.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from utils.course import postmortem_notes
from utils.course.notes import append_lesson, display_path, read_lessons
from utils.postmortem import Expectation, Hypothesis, PostMortem, Verification, draft_symptoms
from utils.spikelab import symptoms
from utils.spikelab.config import CANONICAL
from utils.spikelab.train import run_variant

EXAMPLE_COMPLETE = "example-complete"
EXAMPLE_MISTAKES = "example-mistakes"
MISTAKES_WRONG_SPIKE_STEP = "328"  # the held-out peak step, typed where the spike step belongs
MISTAKES_LESSONS = {
    17: "a rare piece like tten gets an embedding row that almost never trains",
    18: "warmup and the peak learning rate set how far one bad batch can push the weights",
    20: "a detector that watches only for NaN misses a finite loss spike",
}
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


def write_example_mistakes_notes(run_log=None, learners_root: Path | None = None) -> list[str]:
    """Write example-mistakes' notes through ``utils.course.notes`` (never overwriting); what was written.

    The post-mortem ``example_mistakes_postmortem`` of ``run_log`` (saved without its lesson, with
    its run log beside it, as the post-mortem notebook saves them: ``utils.course.postmortem_notes.save``)
    and one lesson line for phases 17, 18 and 20 (``MISTAKES_LESSONS``), none for phase 19: a third
    mistake. ``run_log`` defaults to a run of the broken variant (seed 42) on this machine.
    """
    if run_log is None:
        run_log = run_variant(MISTAKES_VARIANT, seed=MISTAKES_SEED)
    pm = example_mistakes_postmortem(symptoms.compute(run_log))
    old = os.environ.get("COURSE_LEARNERS_DIR")
    if learners_root is not None:
        os.environ["COURSE_LEARNERS_DIR"] = str(learners_root)
    try:
        written = [display_path(postmortem_notes.save(pm, learner=EXAMPLE_MISTAKES, run_log=run_log))]
        written.append(display_path(postmortem_notes.saved_run_log_path(pm.run_id, learner=EXAMPLE_MISTAKES)))
        for day, (phase, text) in enumerate(sorted(MISTAKES_LESSONS.items()), start=20):
            if not read_lessons(phase, learner=EXAMPLE_MISTAKES):
                append_lesson(phase, text, learner=EXAMPLE_MISTAKES, today=datetime.date(2026, 11, day))
                written.append(f"{EXAMPLE_MISTAKES} phase {phase} lesson")
    finally:
        if learners_root is not None:
            if old is None:
                os.environ.pop("COURSE_LEARNERS_DIR", None)
            else:
                os.environ["COURSE_LEARNERS_DIR"] = old
    return written
