#!/usr/bin/env bash
# The command a JupyterHub spawner starts for each user (c.Spawner.cmd; README "A class on JupyterHub").
# It makes (or completes) the user's own course home, then starts their single-user server in it:
#   ~/course/learners/<login>/   their notebook copies and notes (never overwritten: python -m utils.hub provision)
#   ~/course/.run-cache/         their own run cache (COURSE_RUN_CACHE), shared with no other user
#   ~/course/notebooks, theory   links to the course's read-only install (this repository)
# Extra arguments go to jupyterhub-singleuser.
set -euo pipefail

python=${COURSE_PYTHON:-python}
export COURSE_HOME="${COURSE_HOME:-$HOME/course}"
export COURSE_RUN_CACHE="${COURSE_RUN_CACHE:-$COURSE_HOME/.run-cache}"
"$python" -m utils.hub provision
cd "$COURSE_HOME"
exec "$python" -m jupyterhub.singleuser "$@"
