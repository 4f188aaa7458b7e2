#!/usr/bin/env bash
# Prepare the environment (scripts/setup.sh), then open the course in JupyterLab.
# Extra arguments go to jupyter lab, e.g.: bash scripts/start.sh --no-browser
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# The CPU code paths the course's numbers depend on (the values of utils/cpu_kernels.py).
export ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE DNNL_MAX_CPU_ISA=SSE41
exec .venv/bin/jupyter lab notebooks/00-start-here.ipynb "$@"
