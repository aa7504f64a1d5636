#!/usr/bin/env bash
# The whole test suite, from a fresh clone, in one command:   bash tests/run.sh [pytest args]
#
# Makes (or reuses) a virtual environment in .venv, installs edgernn with its
# [dev] extra (onnx, onnxruntime, ai-edge-litert, torch CPU, pytest, hypothesis,
# ruff), checks style with ruff, then runs pytest.  The system packages the
# audio tests use (libportaudio2, alsa-utils, espeak-ng, sox) and the C step entry
# needs (gcc, python3-dev: edgernn.cstep) come from apt: as root or with password-less
# sudo it installs them, otherwise it names them.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="libportaudio2 alsa-utils espeak-ng sox gcc python3-dev"
if command -v apt-get >/dev/null; then
    missing=$(for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
    if [ -n "$missing" ]; then
        sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
        # shellcheck disable=SC2086
        if $sudo true 2>/dev/null; then
            export DEBIAN_FRONTEND=noninteractive
            $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
        else
            echo "note: missing apt packages (their tests will skip): sudo apt-get install" $missing >&2
        fi
    fi
fi

export EDGERNN_CACHE_DIR=${EDGERNN_CACHE_DIR:-$PWD/.cache/numba}
export NUMBA_CACHE_DIR=$EDGERNN_CACHE_DIR
# shellcheck source=demos/venv.sh
. demos/venv.sh
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
