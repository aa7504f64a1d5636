#!/usr/bin/env bash
# The main job, from a fresh clone, in one command: live keyword spotting.
#     bash demos/quickstart.sh [edgernn listen options, e.g. --json or --device USB]
# Makes (or reuses) .venv, installs edgernn with the [audio] extra (numpy, numba,
# sounddevice), compiles and caches every kernel once (`edgernn warmup`), then runs
# `edgernn listen`: the bundled `kws` model (yes, no, stop, go, left, right) on the
# default microphone until Ctrl-C, which ends it with a summary.  Without a microphone
# (or without PortAudio: apt-get install libportaudio2) it listens to the bundled
# recording instead and says so.  The gesture demo: `edgernn demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=demos/venv.sh
. demos/venv.sh
python -m pip install -q -e ".[audio]"
edgernn warmup
edgernn listen "$@"
