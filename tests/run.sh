#!/usr/bin/env bash
# The whole test suite, from a fresh clone, in one command:   bash tests/run.sh [pytest args]
#
# Makes (or reuses) a virtual environment in .venv, installs edgernn with its
# [dev] extra (onnx, onnxruntime, ai-edge-litert, torch CPU, pytest, hypothesis,
# ruff), checks style with ruff, then runs pytest.  System packages for the
# audio tests (libportaudio2, alsa-utils, espeak-ng, sox) come from apt; run as
# root (as CI does) it installs them itself, otherwise it says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${EDGERNN_VENV:-.venv}
export EDGERNN_CACHE_DIR=${EDGERNN_CACHE_DIR:-$PWD/.cache/numba}
export NUMBA_CACHE_DIR=$EDGERNN_CACHE_DIR

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || {
        echo "could not create a venv: on Debian / Raspberry Pi OS run: sudo apt-get install python3-venv" >&2
        exit 1
    }
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip
# torch is pinned: an unpinned torch pulls a multi-GB CUDA build on x86.
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev]"

echo "== ruff"
ruff check .
echo "== pytest"
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$rc"
