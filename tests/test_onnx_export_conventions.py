"""PyTorch export conventions the importer must understand (issue #7, items 6 and 12).

* every offending node is listed, also one after an already refused node
  (a bidirectional GRU followed by a mean over time);
* with batch fixed at 1 and only time named (``dynamic_axes={"x": {1: "T"}}``),
  the leading 1 is the batch axis whatever op the input reaches first: frames
  are ``(12,)`` and ``step()`` of such a frame matches onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgernn
from edgernn.converters import UnsupportedModelError, load_onnx

ort = pytest.importorskip("onnxruntime")

FIXTURES = Path(__file__).parent / "fixtures" / "onnx"


def test_bidirectional_gru_and_the_mean_over_time_after_it_are_both_listed():
    with pytest.raises(UnsupportedModelError) as e:
        load_onnx(FIXTURES / "torch_refused_bigru_mean_op17.onnx")
    problems = {p.op_type: p for p in e.value.problems}
    assert sorted(problems) == ["GRU", "ReduceMean"]
    assert "bidirectional" in problems["GRU"].reason
    assert "time axis" in problems["ReduceMean"].reason
    assert problems["ReduceMean"].node in str(e.value)


def _model(nodes, inits, out="y"):
    g = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", "batch", 8])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("after", "listed"), [
    ("ReduceMean", {"running_sum", "mean_t"}),  # refused on its own: listed too
    ("Relu", {"running_sum"}),  # fine on its own: not blamed
])
def test_nodes_after_a_refused_one_are_checked_on_their_own(after, listed):
    extra = {"axes": [0], "keepdims": 0} if after == "ReduceMean" else {}
    nodes = [helper.make_node("CumSum", ["x", "ax"], ["c"], name="running_sum"),
             helper.make_node(after, ["c"], ["y"], name="mean_t", **extra)]
    with pytest.raises(UnsupportedModelError) as e:
        load_onnx(_model(nodes, {"ax": np.array(2, np.int64)}))
    assert {p.node for p in e.value.problems} == listed


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
