#!/usr/bin/env bash
# Prepare the course's Python environment in .venv/ (safe to run again and again).
#
# - creates .venv with python3.11 (or python3, if that is 3.11 or newer) when it is missing;
# - installs the pinned packages (requirements.txt) and the course package (pip install -e .)
#   only when requirements.txt or pyproject.toml changed since the last install; a hash of
#   both is kept in .venv/.course-installed.
# Jupyter runs from the venv, so its ipykernel is the kernel: no kernel to register.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS
venv=.venv
marker="$venv/.course-installed"

say() { printf '[setup] %s\n' "$*"; }

python_ok() {  # is "$1" a Python 3.11 or newer?
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

if [[ ! -x "$venv/bin/python" ]]; then
    base=""
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            base=$candidate
            break
        fi
    done
    if [[ -z "$base" ]]; then
        say "ERROR: Python 3.11 or newer is needed (tried python3.11 and python3)."
        say "Install Python 3.11, or use conda: conda env create -f environment.yml"
        exit 1
    fi
    say "creating $venv with $base ($("$base" --version 2>&1))"
    "$base" -m venv "$venv"
fi

if ! python_ok "$venv/bin/python"; then
    say "ERROR: $venv holds $("$venv/bin/python" --version 2>&1); 3.11 or newer is needed."
    say "Remove the folder ($venv) and run this script again."
    exit 1
fi

wanted=$("$venv/bin/python" - <<'EOF'
import hashlib, sys
digest = hashlib.sha256()
for name in ("requirements.txt", "pyproject.toml"):
    digest.update(name.encode() + b"\0" + open(name, "rb").read() + b"\0")
digest.update(sys.version.split()[0].encode())
print(digest.hexdigest())
EOF
)
installed=$(cat "$marker" 2>/dev/null || true)

if [[ "$wanted" == "$installed" ]]; then
    say "packages up to date (requirements.txt and pyproject.toml unchanged)"
else
    if [[ -n "$installed" ]]; then
        say "requirements.txt or pyproject.toml changed: installing"
    else
        say "first install into $venv"
    fi
    rm -f "$marker"
    say "upgrading pip"
    "$venv/bin/python" -m pip install --quiet --upgrade pip \
        || say "WARNING: could not upgrade pip; going on with $("$venv/bin/python" -m pip --version)"
    say "pip install -r requirements.txt"
    "$venv/bin/python" -m pip install --quiet -r requirements.txt
    say "pip install -e . (the course package: utils)"
    "$venv/bin/python" -m pip install --quiet -e .
    echo "$wanted" > "$marker"
fi

# JupyterLab settings the course ships (scripts/jupyterlab-overrides.json): widget state is saved with
# the notebook, so a reopened copy shows its forms; no news or update pop-ups.
settings="$venv/share/jupyter/lab/settings"
mkdir -p "$settings"
cp scripts/jupyterlab-overrides.json "$settings/overrides.json"

say "ready: $("$venv/bin/python" --version 2>&1) in $venv ($((SECONDS - started)) s)"
