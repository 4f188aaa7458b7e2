#!/usr/bin/env bash
# Run every check of the course, in three stages:
#   1. unit tests:          python -m pytest tests -q   (extra arguments go here, e.g. -k notes)
#   2. strict notebooks:    pytest --nbval      on notebooks whose metadata says course.nbval = strict
#   3. the other notebooks: pytest --nbval-lax  (only cells tagged nbval-check-output compare output)
# Notes are written to a temporary copy of learners/ (COURSE_LEARNERS_DIR), as learner
# $LEARNER (default: ci-learner). Every stage runs; the exit status is non-zero if any failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS

bash scripts/setup.sh || { echo "[test] setup failed"; exit 1; }
python=.venv/bin/python
# The test-only packages (requirements-test.txt: Playwright for the browser test), installed once.
test_marker=.venv/.course-test-installed
if [[ "$(cat "$test_marker" 2>/dev/null)" != "$(sha256sum requirements-test.txt | cut -d' ' -f1)" ]]; then
    echo "[test] pip install -r requirements-test.txt"
    if "$python" -m pip install --quiet -r requirements-test.txt; then
        sha256sum requirements-test.txt | cut -d' ' -f1 > "$test_marker"
    else
        echo "[test] could not install requirements-test.txt: the browser test will skip"
    fi
fi

# configurable-http-proxy for the JupyterHub test (tests/test_hub.py), from the npm registry into .venv/hub-proxy,
# once per version; without npm the test skips and says why.
chp_version=$(sed -n 's/^# configurable-http-proxy==//p' requirements-test.txt)
chp=.venv/hub-proxy/node_modules/.bin/configurable-http-proxy
if [[ -n "$chp_version" && "$(cat .venv/hub-proxy/.version 2>/dev/null)" != "$chp_version" ]]; then
    if command -v npm >/dev/null 2>&1 \
        && npm install --prefix .venv/hub-proxy --no-audit --no-fund --loglevel=error \
            "configurable-http-proxy@$chp_version" >/dev/null && [[ -x "$chp" ]]; then
        echo "$chp_version" > .venv/hub-proxy/.version
    else
        echo "[test] could not npm install configurable-http-proxy@$chp_version: the JupyterHub test will skip"
    fi
fi

export MPLBACKEND=Agg
export LEARNER="${LEARNER:-ci-learner}"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/course-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/learners"
if [[ -d learners ]]; then
    cp -R learners/. "$scratch/learners/"
fi
export COURSE_LEARNERS_DIR="$scratch/learners"
# The example learners' notebooks are not kept in the repository: generate them into the copy (no training:
# their notes are in learners/).
"$python" -m utils.learner_copies --examples >/dev/null || { echo "[test] generating the example learners failed"; exit 1; }
# Runs trained in this session are shared by the tests and every notebook kernel (utils/spikelab/runstore.py);
# the folder is new for each session and removed at the end, so every number is computed fresh.
mkdir -p "$scratch/runs"
export COURSE_RUN_CACHE="$scratch/runs"
echo "[test] LEARNER=$LEARNER, learners folder: a temporary copy of learners/"
# Train every run the tests and notebooks use once, two at a time (one thread each): on 2 cores this
# halves the time the first stage would spend training them one after the other.
echo "[test] training the course runs into the session cache (python -m utils.run_cache)"
cache_start=$SECONDS
jobs="${COURSE_TEST_JOBS:-2}"
"$python" -m utils.run_cache --jobs "$jobs" || { echo "[test] training the runs failed"; exit 1; }
compgen -G "$scratch/runs/*.json" >/dev/null || { echo "[test] training the runs wrote no run"; exit 1; }
echo "[test] runs trained in $((SECONDS - cache_start)) s"

# Notebooks under notebooks/, split by their metadata course.nbval (strict or lax).
strict=()
lax=()
while IFS=$'\t' read -r mode path; do
    if [[ "$mode" == strict ]]; then strict+=("$path"); else lax+=("$path"); fi
done < <("$python" - <<'EOF'
import json
from pathlib import Path
for path in sorted(Path("notebooks").rglob("*.ipynb")):
    if ".ipynb_checkpoints" in path.parts:
        continue
    mode = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("course", {}).get("nbval", "lax")
    print(f"{'strict' if mode == 'strict' else 'lax'}\t{path.as_posix()}")
EOF
)

summary=()
failed=0
nbval_flags=(--nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider)
# The tests and notebooks then run $jobs at a time (pytest-xdist); --dist loadfile keeps each test file,
# and each notebook's cells, in one worker and in order. COURSE_TEST_JOBS=1 runs everything in one process.
parallel=()
if (( jobs > 1 )); then
    parallel=(-n "$jobs" --dist loadfile)
fi

stage() {  # stage <notebooks|units> <label> <command...>: run it, remember a one-line summary
    local kind=$1 label=$2; shift 2
    local stage_start=$SECONDS status
    echo
    echo "[test] === $label ==="
    "$@"
    status=$?
    local took=$((SECONDS - stage_start))
    # pytest exit 5 = no tests collected: fine for notebooks without code cells, not for units.
    if [[ $status -eq 0 || ( $status -eq 5 && $kind == notebooks ) ]]; then
        summary+=("ok      $label (${took} s)")
    else
        summary+=("FAILED  $label (exit $status, ${took} s)")
        failed=1
    fi
}

stage units "1. unit tests" "$python" -m pytest tests -q -p no:cacheprovider --durations=12 "${parallel[@]}" "$@"

if (( ${#strict[@]} )); then
    stage notebooks "2. strict notebooks (${#strict[@]}, --nbval)" \
        "$python" -m pytest -q "${nbval_flags[@]}" --nbval "${strict[@]}"
else
    summary+=("ok      2. strict notebooks (none found)")
fi

if (( ${#lax[@]} )); then
    stage notebooks "3. other notebooks (${#lax[@]}, --nbval-lax)" \
        "$python" -m pytest -q "${nbval_flags[@]}" "${parallel[@]}" --nbval-lax "${lax[@]}"
else
    summary+=("ok      3. other notebooks (none found)")
fi

echo
echo "[test] summary"
for line in "${summary[@]}"; do
    echo "[test]   $line"
done
echo "[test] total $((SECONDS - started)) s: $([[ $failed -eq 0 ]] && echo 'all stages passed' || echo 'SOME STAGES FAILED')"
exit $failed
