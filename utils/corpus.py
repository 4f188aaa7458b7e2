"""``python -m utils.corpus``: write the corpus's text files under data/. The code is in ``utils.spikelab.corpus``."""
from utils.spikelab.corpus import main

if __name__ == "__main__":
    raise SystemExit(main())
