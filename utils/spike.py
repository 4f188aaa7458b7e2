"""``python -m utils.spike``: train a named variant and print its symptoms. The code is in ``utils.spikelab.spike``."""
from utils.spikelab.spike import main

if __name__ == "__main__":
    raise SystemExit(main())
