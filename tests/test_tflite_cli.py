"""``edgernn convert model.tflite`` end to end in a subprocess: verification against the
TFLite interpreter, the report, a loadable ``.ern`` that streams like the source."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import edgernn

FIXTURES = Path(__file__).parent / "fixtures" / "tflite"


def convert_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgernn.cli", "convert", *args],
                          capture_output=True, text=True, timeout=600)


def test_convert_and_verify_a_keras3_gru(tmp_path):
    dst = tmp_path / "gru.ern"
    r = convert_cli(str(FIXTURES / "k3_gru_ra1_f32.tflite"), "-o", str(dst), "--verify",
                    "--tolerance", "1e-5")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "source: tflite" in out and "TFLite interpreter" in out and "ok" in out
    assert "time axis 1" in out and "WHILE" in out
    m = edgernn.load(dst)
    assert list(m.inputs.values()) == [(16,)] and list(m.outputs.values()) == [(4,)]
    assert m.stream().run(np.zeros((3, 16), np.float32)).shape == (3, 4)


def test_convert_and_verify_a_step_model_with_variables(tmp_path):
    """No time axis: one invoke is one step; the interpreter carries its variables from
    call to call during verification, as a stream does."""
    dst = tmp_path / "ring.ern"
    r = convert_cli(str(FIXTURES / "stream_ringbuf_f32.tflite"), "-o", str(dst), "--verify",
                    "--frames", "300", "--tolerance", "1e-5")
    assert r.returncode == 0, r.stderr
    assert "one call = one frame" in r.stdout
    assert "state: variable 'ring1', [4, 16]" in r.stdout
    assert edgernn.load(dst).inputs == {"frames": (3, 16)}


def test_refused_tflite_exits_2_naming_the_operator(tmp_path):
    """openWakeWord-style data-dependent IF is refused; here the fused LSTM over a
    window given no time axis (--axes) is."""
    dst = tmp_path / "m.ern"
    graph = subprocess.run([sys.executable, "-c", "from edgernn.converters import "
                            "load_tflite as l; import sys; print(l(sys.argv[1]).inputs[0]"
                            ".name)", str(FIXTURES / "k2_lstm_f32.tflite")],
                           capture_output=True, text=True, timeout=300)
    name = graph.stdout.strip()
    r = convert_cli(str(FIXTURES / "k2_lstm_f32.tflite"), "-o", str(dst), "--axes",
                    f"{name}=BFF")
    assert r.returncode == 2
    assert r.stderr.startswith("edgernn: error:") and "Traceback" not in r.stderr
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM node 'operator 0'" in r.stderr
    assert not dst.exists()
