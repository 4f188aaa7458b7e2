"""``python -m utils.learner_copies``: make a learner's own copies of the notebooks. The code is in ``utils.course.learner_copies``."""
from utils.course.learner_copies import main

if __name__ == "__main__":
    raise SystemExit(main())
