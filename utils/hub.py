"""``python -m utils.hub``: a class on JupyterHub (provision a user's course home, collect the class). The code is in ``utils.course.hub``."""
from utils.course.hub import main

if __name__ == "__main__":
    raise SystemExit(main())
