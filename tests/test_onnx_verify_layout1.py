"""``verify`` of recurrent ops with ``layout=1``: onnxruntime on the layout-0 twin.

onnxruntime refuses ``layout=1`` and the ONNX reference evaluator ignores
``clip``, so a layout-1 LSTM with clip used to fail verification falsely.
References here: the float64 ONNX cells of ``tests/reference.py`` (written from
the spec) and onnxruntime.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgernn
from edgernn.converters import convert, load_onnx, verify
from edgernn.converters.onnx.runner import OnnxRunner
from edgernn.reference.cells import gru_ref, lstm_ref, rnn_ref

pytest.importorskip("onnxruntime")

FIXTURE = Path(__file__).parent / "fixtures" / "onnx" / "onnx_lstm_layout1_clip.onnx"
F, H = 8, 16


def _inits(path: Path) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


def _lstm_spec(x_bti: np.ndarray, clip: float) -> np.ndarray:
    """The fixture's LSTM in float64, Y as [B, T, H] (layout 1, one direction)."""
    w = _inits(FIXTURE)
    y, _, _ = lstm_ref(x_bti.transpose(1, 0, 2), w["W"][0], w["R"][0], w["B"][0], w["P"][0],
                       w["h0"][:, 0], w["c0"][:, 0], clip=clip)
    return y.transpose(1, 0, 2)


def test_layout1_lstm_with_clip_converts_with_verify(tmp_path):
    report = convert(FIXTURE, tmp_path / "m.ern", verify=True, tolerance=1e-5, frames=120)
    res = report.verification
    assert res.passed and res.reference.startswith("onnxruntime"), str(res)
    assert set(res.errors) == {"Y", "Y_h"}
    x = np.random.default_rng(5).standard_normal((1, 60, F)).astype(np.float32)
    got = edgernn.load(tmp_path / "m.ern").stream().run(x[0])["Y"][:, 0]  # frame (D, H)
    want = _lstm_spec(x, clip=0.5)[0]
    assert np.max(np.abs(got - want)) < 1e-5
    assert np.max(np.abs(_lstm_spec(x, clip=0.0)[0] - want)) > 0.05  # clip matters here


def test_cli_convert_verify_writes_the_layout1_model(tmp_path):
    dst = tmp_path / "m.ern"
    r = subprocess.run([sys.executable, "-m", "edgernn.cli", "convert", str(FIXTURE), "-o",
                        str(dst), "--verify", "--tolerance", "1e-5", "--frames", "60"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "verified against onnxruntime" in r.stdout and dst.exists()


def test_runner_runs_layout1_fixture_like_the_spec():
    x = np.random.default_rng(6).standard_normal((1, 30, F)).astype(np.float32)
    out = OnnxRunner(onnx.load(FIXTURE)).run({"x": x})
    want = _lstm_spec(x, clip=0.5)
    np.testing.assert_allclose(out["Y"][:, :, 0], want, atol=1e-5)
    np.testing.assert_allclose(out["Y_h"][:, 0], want[:, -1], atol=1e-5)


def _layout1_model(op: str, gates: int, rng) -> tuple[onnx.ModelProto, dict]:
    w = {"W": rng.standard_normal((1, gates * H, F)).astype(np.float32) * 0.6,
         "R": rng.standard_normal((1, gates * H, H)).astype(np.float32) * 0.6,
         "B": rng.standard_normal((1, 2 * gates * H)).astype(np.float32) * 0.3,
         "h0": rng.standard_normal((1, 1, H)).astype(np.float32) * 0.3}
    extra = {"linear_before_reset": 1} if op == "GRU" else {}
    node = helper.make_node(op, ["x", "W", "R", "B", "", "h0"], ["Y", "Y_h"], name="rec",
                            hidden_size=H, layout=1, clip=0.4, **extra)
    vi = helper.make_tensor_value_info
    g = helper.make_graph([node], "t", [vi("x", TensorProto.FLOAT, ["batch", "time", F])],
                          [vi("Y", TensorProto.FLOAT, ["batch", "time", 1, H]),
                           vi("Y_h", TensorProto.FLOAT, ["batch", 1, H])],
                          [numpy_helper.from_array(v, k) for k, v in w.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), w


@pytest.mark.parametrize("op", ["GRU", "RNN"])
def test_layout1_gru_and_rnn_with_clip(op):
    m, w = _layout1_model(op, 3 if op == "GRU" else 1, np.random.default_rng(8))
    x = np.random.default_rng(9).standard_normal((1, 40, F)).astype(np.float32)
    args = (x.transpose(1, 0, 2), w["W"][0], w["R"][0], w["B"][0], w["h0"][:, 0])
    want = (gru_ref(*args, linear_before_reset=True, clip=0.4) if op == "GRU"
            else rnn_ref(*args, clip=0.4))[0].transpose(1, 0, 2)
    np.testing.assert_allclose(OnnxRunner(m).run({"x": x})["Y"][:, :, 0], want, atol=1e-5)
    res = verify(m, load_onnx(m), frames=80, tolerance=1e-5)
    assert res.passed and res.reference.startswith("onnxruntime"), str(res)
