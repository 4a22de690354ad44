#!/usr/bin/env bash
# Set up (system packages, .venv) and open napari with the plugin docked and the
# sample dataset loaded and reconstructed. Extra arguments go to `mrrecon gui`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_system.sh
bash scripts/setup_venv.sh
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    echo "no display found: running napari under Xvfb (use --screenshot PNG --quit to see it)" >&2
    exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/mrrecon gui "$@"
fi
exec .venv/bin/mrrecon gui "$@"
