"""``python -m utils.claims``: check, measure and fix the numbers prose quotes. The code is in ``utils.course.claims``."""
from utils.course.claims import main

if __name__ == "__main__":
    raise SystemExit(main())
