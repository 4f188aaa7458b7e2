#!/usr/bin/env bash
# Prepare the environment (scripts/setup.sh), then open the course in JupyterLab on the start page.
# Extra arguments go to jupyter lab, e.g.: bash scripts/start.sh --no-browser
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# The repository is JupyterLab's root, so notebooks/, learners/ and theory/ are all in its file browser.
exec .venv/bin/jupyter lab --ServerApp.root_dir="$PWD" notebooks/00-start-here.ipynb "$@"
