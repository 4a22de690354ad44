#!/usr/bin/env bash
# Regenerate every screenshot of docs/teaching.md with `mrrecon gui --explorer-settings … --screenshot`.
#
#   bash scripts/make_teaching_screenshots.sh            # all pictures
#   bash scripts/make_teaching_screenshots.sh r4_regular # only docs/images/teaching_r4_regular.png
#
# Uses .venv/bin/mrrecon when it exists (make venv), else `mrrecon` on PATH (MRRECON overrides);
# runs under Xvfb when there is no display. Each picture is one command, listed below: the
# settings are those of the K-space Explorer dock (docs/teaching.md explains them).
set -euo pipefail
cd "$(dirname "$0")/.."
MRRECON="${MRRECON:-}"
if [ -z "$MRRECON" ]; then
    if [ -x .venv/bin/mrrecon ]; then MRRECON=.venv/bin/mrrecon; else MRRECON=mrrecon; fi
fi
RUN=("$MRRECON")
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    RUN=(xvfb-run -a -s "-screen 0 1600x1000x24" "$MRRECON")
fi
ONLY="${1:-}"

shot() {  # shot NAME JSON
    local name="$1" settings="$2"
    if [ -n "$ONLY" ] && [ "$ONLY" != "$name" ]; then return 0; fi
    echo "docs/images/teaching_${name}.png" >&2
    "${RUN[@]}" gui --no-sample --explorer-settings "$settings" \
        --screenshot "docs/images/teaching_${name}.png" --quit
}

shot kspace '{"visible": ["mask", "kspace", "aliased"], "select": "kspace"}'
shot r4_regular '{"pattern": "regular", "acceleration": 4, "calibration": 0,
  "visible": ["mask", "psf", "aliased", "difference"], "select": "aliased"}'
shot r4_random '{"pattern": "random", "acceleration": 4, "calibration": 16,
  "visible": ["mask", "psf", "aliased", "difference"], "select": "psf"}'
shot sense_gfactor '{"pattern": "regular", "acceleration": 3, "calibration": 0, "recon": "sense",
  "iterations": 20, "gfactor": true, "visible": ["aliased", "recon", "difference", "gfactor"],
  "select": "gfactor", "group": "recon"}'
shot grappa '{"pattern": "regular", "acceleration": 3, "calibration": 24, "recon": "grappa",
  "visible": ["mask", "aliased", "recon", "difference"], "select": "recon", "group": "recon"}'
shot cs '{"pattern": "variable_density", "acceleration": 4, "calibration": 16, "recon": "cs",
  "iterations": 15, "regularization": 0.01, "keep_iterates": true,
  "visible": ["mask", "aliased", "recon", "iterations"], "select": "iterations", "group": "recon"}'
shot partial_fourier '{"partial_fourier": 0.625, "partial_fourier_method": "homodyne",
  "visible": ["kspace", "aliased", "recon", "difference"], "select": "recon", "group": "partial_fourier"}'
shot noise_spikes '{"snr": 30, "spikes": [[150, 170]], "spike_amplitude": 500,
  "visible": ["kspace", "aliased", "difference"], "select": "kspace", "group": "noise"}'
shot resolution_window '{"phase_resolution": 0.5, "readout_resolution": 0.75, "window": "hamming",
  "visible": ["kspace", "aliased", "difference"], "select": "aliased", "group": "resolution"}'
shot filter '{"filter": "highpass", "filter_radius": 0.08,
  "visible": ["kspace", "aliased"], "select": "kspace", "group": "filter"}'
shot radial '{"radial_spokes": 48, "golden_angle": true, "recon": "zero_filled",
  "visible": ["mask", "psf", "aliased", "difference"], "select": "psf", "group": "radial"}'
shot acquisition_movie '{"acquisition_movie": "centric", "movie_frames": 16, "movie_frame": 5,
  "visible": ["acquisition_kspace", "acquisition_image"], "select": "acquisition_image",
  "group": "movies"}'
