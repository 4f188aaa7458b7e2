"""The course's own tooling, not the lesson: learners and their notes, exercises, learner
copies of the notebooks, grading, the measured ranges prose quotes. Content (the other
subpackages) never imports from here."""
