#!/usr/bin/env bash
# The main job on the bundled default model, from a fresh clone, in one command:
#     bash demos/quickstart.sh
# Makes (or reuses) .venv, installs edgernn (numpy + numba only), compiles and
# caches every kernel once (`edgernn warmup`), then streams the bundled IMU
# recordings frame by frame through the bundled gesture model (`edgernn demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${EDGERNN_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || {
        echo "could not create a venv: on Debian / Raspberry Pi OS run: sudo apt-get install python3-venv" >&2
        exit 1
    }
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip
python -m pip install -q -e .
edgernn warmup
edgernn demo "$@"
