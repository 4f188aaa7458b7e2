"""The lessons of the two example learners, one per notebook (``utils.course.lessons`` says which
lessons a learner owes), keyed by the notebook's number.

``EXAMPLE_COMPLETE_LESSONS`` are the worked example's: what good lessons look like (one line,
specific, something to do differently next time). The post-mortem notebook 19.04 has none here:
its lesson is the worked example's post-mortem §7. ``EXAMPLE_MISTAKES_LESSONS`` are those of the
learner with typical mistakes, who skipped the lesson box of 19.02 (and saved the post-mortem
without its lesson). ``utils.course.example_learners`` writes both into the learners' notes; the
lesson box refuses a copy of any of them.
"""

from __future__ import annotations

EXAMPLE_COMPLETE_LESSONS = {
    "17.01": "Before training, list the pieces with fewer than 10 occurrences and check which words they spell.",
    "17.02": "Keep the healthy run's loss curve and held-out loss as the baseline every later run is compared with.",
    "18.01": "When a batch brings rows Adam has never seen, expect a first step near the full learning rate.",
    "18.02": "Check the learning rate at the step of a spike before suspecting the schedule.",
    "19.01": "Reproduce a spike with its seed and run the one-change controls before naming a cause.",
    "19.02": "Read panel 6 (the batch mix) next to panel 3 before blaming the gradient spike for the damage.",
    "19.03": "Read the stability check's decision path, not only the pattern it names.",
    "19.05": "Write §6 expectations that the broken run fails, or the verification proves nothing.",
    "20.01": "Choose a detector's threshold from its false alarms on healthy runs, not from the spike I already saw.",
    "20.02": "Quarantine the whole run of suspect batches, and judge a roll-back by the held-out loss afterwards.",
    "20.03": "Run a callback recipe exactly as written on the Lightning version I use before trusting it.",
}

EXAMPLE_MISTAKES_LESSONS = {
    "17.01": "a rare piece like tten gets an embedding row that almost never trains",
    "17.02": "the healthy run has no spike, so its curve is the one to compare with",
    "18.01": "Adam's first step on an untrained row is about as large as the learning rate",
    "18.02": "warmup and the peak learning rate set how far one bad batch can push the weights",
    "19.01": "the controls separate the gradient spike from the damage",
    "19.03": "the decision tree names the most likely pattern, not a proof",
    "19.05": "a fix is verified only when the broken run fails the same expectations",
    "20.01": "a detector that watches only for NaN misses a finite loss spike",
    "20.02": "a roll-back needs the data position too, or the replay is not the same run",
    "20.03": "Lightning 2 renamed hooks, so old recipes fail before they run",
}
