"""Build course notebooks from their percent-format sources, executed, with stable outputs.

A source ``notebooks/**/<name>.py`` is a jupytext percent-format notebook (the format, its
cell tags and the nbval header: ``utils/course/notebook_source.py``). It is turned into
``<name>.ipynb`` beside it and executed in place (``utils/course/notebook_build.py``, where this command line lives), with
``LEARNER=example-complete`` unless ``LEARNER`` is set; ``COURSE_LEARNERS_DIR`` is passed
through.

Usage::

    .venv/bin/python scripts/build_notebooks.py notebooks/00-start-here.py [more.py ...]
    .venv/bin/python scripts/build_notebooks.py --all
    .venv/bin/python scripts/build_notebooks.py --check [--all | files]   # no execution
    .venv/bin/python scripts/build_notebooks.py --sync [--all | files]    # no execution

``--check`` only verifies that each ``.ipynb`` holds exactly the cells (text, tags, ids and
nbval mode) of its ``.py`` source; it exits 1 and lists the notebooks that drifted.
``--sync`` copies each source's cells (text, tags, ids) into its ``.ipynb`` without
executing, keeping every cell's outputs; it refuses a notebook whose cell count or cell types
differ from its source (that one must be built).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for `utils`

from utils.course.notebook_build import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
