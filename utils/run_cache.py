"""``python -m utils.run_cache``: train every course run into the session's run store. The code is in ``utils.course.warm_runs``."""
from utils.course.warm_runs import main

if __name__ == "__main__":
    raise SystemExit(main())
