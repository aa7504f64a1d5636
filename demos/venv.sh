# Sourced by demos/quickstart.sh and tests/run.sh: make (or reuse) the project's
# virtual environment and activate it.  PYTHON picks the interpreter, EDGERNN_VENV the place.
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
