#!/usr/bin/env bash
# Prepare the environment (scripts/setup.sh), then open the course in JupyterLab.
# Extra arguments go to jupyter lab, e.g.: bash scripts/start.sh --no-browser
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/jupyter lab notebooks/00-start-here.ipynb "$@"
