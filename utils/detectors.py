"""``python -m utils.detectors``: evaluate detectors on labelled traces. The code is in ``utils.recovery.detectors``."""
from utils.recovery.detectors import main

if __name__ == "__main__":
    raise SystemExit(main())
