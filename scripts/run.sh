#!/usr/bin/env bash
# The README's two commands:
#   bash scripts/run.sh demo   # set up, then run biotag's main job on the default model
#   bash scripts/run.sh test   # set up, then run the whole test suite
# Extra arguments go to the command (e.g. `bash scripts/run.sh test -m "not slow"`).
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT="${1:?usage: bash scripts/run.sh demo|test [args...]}"
shift
export BIOTAG_DATA_DIR="${BIOTAG_DATA_DIR:-$(cd .. && pwd)/shared/data}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
VENV="${BIOTAG_VENV:-.venv}"
bash scripts/setup.sh "$VENV" test
case "$WHAT" in
    demo) exec "$VENV/bin/biotag" demo "$@" ;;
    test) exec "$VENV/bin/python" -m pytest "$@" ;;
    *) echo "unknown command '$WHAT': use demo or test" >&2; exit 2 ;;
esac
