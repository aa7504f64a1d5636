"""demos/wakeword/detect.py end to end: espeak-ng says the wake word, edgernn detects it,
and its model outputs equal the TFLite interpreter's (the demo's --check)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_tflite_reader import _real_models

DEMO = Path(__file__).resolve().parents[1] / "demos" / "wakeword" / "detect.py"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt)")
def test_wakeword_demo_detects_okay_nabu_and_matches_the_interpreter():
    _real_models()  # fetches the wheels (or skips when offline)
    r = subprocess.run([sys.executable, str(DEMO), "--check"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "DETECTED" in r.stdout
    assert "edgernn == the TFLite interpreter" in r.stdout


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt)")
def test_wakeword_demo_stays_quiet_on_other_speech(tmp_path):
    _real_models()
    wav = tmp_path / "hello.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "130", "-w", str(wav),
                    "hello there, what a nice day"], check=True)
    r = subprocess.run([sys.executable, str(DEMO), str(wav)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "not detected" in r.stdout
