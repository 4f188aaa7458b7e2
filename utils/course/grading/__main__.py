"""``python -m utils.course.grading``: the same command line as ``python -m utils.grading``."""
from utils.course.grading.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
