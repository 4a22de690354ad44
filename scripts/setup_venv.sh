#!/usr/bin/env bash
# Create .venv and install napari-mrrecon with PyQt6 and the test tools.
# torch==2.13.0 is installed first so that the project's torch range is already
# satisfied and pip does not pull another build. MRRECON_TORCH overrides that pip
# argument list, e.g. MRRECON_TORCH="torch==2.13.0 --index-url <PyTorch CPU wheel index>"
# for a CPU-only build on a machine where PyPI's default wheel is the CUDA one.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# shellcheck disable=SC2086  # MRRECON_TORCH is a list of pip arguments
"$VENV/bin/python" -m pip install -q ${MRRECON_TORCH:-torch==2.13.0}
"$VENV/bin/python" -m pip install -q -e ".[pyqt6,test]"
