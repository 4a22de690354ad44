#!/usr/bin/env bash
# Set up (system packages, .venv), then lint, type-check, validate the napari manifest
# and run the whole test suite (GUI tests under Xvfb). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_system.sh
bash scripts/setup_venv.sh
V=.venv/bin
$V/ruff check src napari_mrrecon tests scripts
$V/ruff format --check src napari_mrrecon tests scripts
$V/mypy
$V/npe2 validate napari-mrrecon
if [ -n "${DISPLAY:-}" ]; then
    $V/python -m pytest "$@"
else
    xvfb-run -a -s "-screen 0 1600x1000x24" $V/python -m pytest "$@"
fi
