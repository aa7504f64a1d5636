#!/usr/bin/env bash
# The main job on the bundled default model, from a fresh clone, in one command:
#     bash demos/quickstart.sh
# Makes (or reuses) .venv, installs edgernn (numpy + numba only), compiles and
# caches every kernel once (`edgernn warmup`), then streams the bundled IMU
# recordings frame by frame through the bundled gesture model (`edgernn demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=demos/venv.sh
. demos/venv.sh
python -m pip install -q -e .
edgernn warmup
edgernn demo "$@"
