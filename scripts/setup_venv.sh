#!/usr/bin/env bash
# Create .venv and install napari-mrrecon with PyQt6 and the test tools.
# torch==2.13.0 (CPU) is installed first so that pip does not pull a CUDA build;
# set MRRECON_TORCH="torch" (or a CUDA wheel spec) for a GPU machine, and add the
# "gpu" extra for cufinufft.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "${MRRECON_TORCH:-torch==2.13.0}"
"$VENV/bin/python" -m pip install -q -e ".[pyqt6,test]"
