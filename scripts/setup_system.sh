#!/usr/bin/env bash
# System packages napari-mrrecon needs on Debian/Ubuntu: a virtual X server with Mesa GL
# for napari, Qt's xcb libraries, and the ISMRMRD command-line tools (interoperability tests).
# Run as root (or with sudo). Safe to run again.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    python3 python3-venv python3-pip \
    xvfb xauth libgl1 libgl1-mesa-dri libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 \
    libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
    libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xfixes0 libxcb-xkb1 \
    libxcb-sync1 libxcb-render0 libxcb-shm0 libxcb1 libx11-xcb1 libxrender1 libxi6 \
    ismrmrd-tools >/dev/null
