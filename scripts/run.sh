#!/usr/bin/env bash
# The README's two commands:
#   bash scripts/run.sh benchmark --quick  # set up, then run biotag's main job on the default model
#   bash scripts/run.sh test               # set up, then run the whole test suite
# Extra arguments go to the command (e.g. `bash scripts/run.sh test -m "not slow"`).
# `benchmark` needs PyTDC, which pins older transformers/numpy/rdkit releases, so it gets its own
# environment (.venv-tdc) with the `bench` extra; `demo` and `test` use .venv with current releases.
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT="${1:?usage: bash scripts/run.sh benchmark|demo|test [args...]}"
shift
export BIOTAG_DATA_DIR="${BIOTAG_DATA_DIR:-$(cd .. && pwd)/shared/data}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
case "$WHAT" in
    benchmark)
        VENV="${BIOTAG_VENV:-.venv-tdc}"
        bash scripts/setup.sh "$VENV" "bench,test"
        exec "$VENV/bin/biotag" benchmark run --out "${BIOTAG_BENCHMARK_OUT:-benchmark-results}" "$@" ;;
    demo|test)
        VENV="${BIOTAG_VENV:-.venv}"
        bash scripts/setup.sh "$VENV" test
        if [ "$WHAT" = demo ]; then exec "$VENV/bin/biotag" demo "$@"; fi
        exec "$VENV/bin/python" -m pytest "$@" ;;
    *) echo "unknown command '$WHAT': use benchmark, demo or test" >&2; exit 2 ;;
esac
