"""``python -m utils.grading``: grade learners' notebooks and notes. The code is in ``utils.course.grading``."""
from utils.course.grading import main

if __name__ == "__main__":
    raise SystemExit(main())
