"""The course's own tooling, not the lesson: learners and their notes, exercises, learner
copies of the notebooks, grading, the measured ranges prose quotes. Content (the other
subpackages) never imports from here."""

# Every notebook imports from utils.course before it shows anything: from here on, its widgets and
# messages are in the language its learner chose on the start page (utils.course.profile).
from utils.course.profile import apply_learner_language  # noqa: E402

apply_learner_language()
