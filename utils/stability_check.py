"""``python -m utils.stability_check``: the stability check of a run log. The code is in ``utils.diagnosis.stability_check``."""
from utils.diagnosis.stability_check import main

if __name__ == "__main__":
    raise SystemExit(main())
