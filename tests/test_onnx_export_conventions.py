"""PyTorch export conventions the importer must understand (issue #7, item 12).

* with batch fixed at 1 and only time named (``dynamic_axes={"x": {1: "T"}}``),
  the leading 1 is the batch axis whatever op the input reaches first: frames
  are ``(12,)`` and ``step()`` of such a frame matches onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgernn
from edgernn.converters import load_onnx

ort = pytest.importorskip("onnxruntime")

FIXTURES = Path(__file__).parent / "fixtures" / "onnx"


@pytest.mark.parametrize("name", ["torch_T_gru_first_op17", "torch_T_conv_first_op17"])
def test_fixed_leading_1_before_a_named_time_axis_is_the_batch_axis(name):
    path = FIXTURES / f"{name}.onnx"
    g = load_onnx(path)
    assert [v.shape for v in g.inputs] == [(12,)]
    info = g.metadata["source_inputs"]["x"]
    assert (info["dims"], info["time"], info["batch"]) == ([1, "T", 12], 1, 0)
    x = np.random.default_rng(4).standard_normal((1, 50, 12)).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0][0]
    s = edgernn.Model(g).stream()
    got = np.stack([s.step(frame) for frame in x[0]])
    assert got.shape == want.shape == (50, 4)
    assert np.max(np.abs(got - want)) <= 1e-5
