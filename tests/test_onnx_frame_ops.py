"""The ONNX importer on ops over axes inside a frame, configuration inputs, chunk axes and
spelled-out LSTM cells: small ONNX models built here, converted, and streamed against
onnxruntime (``verify``: whole, frame by frame and in random chunks)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgernn
from edgernn.converters import ConversionError, UnsupportedModelError, convert, load_onnx, verify

TOL = 1e-5


def _model(nodes, inputs, outputs, inits, opset=17):
    g = helper.make_graph(nodes, "t", inputs, outputs,
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def _rnd(rng, *shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def test_step_model_of_chunks_with_frame_ops(tmp_path):
    """x [1, 32] -> Pad(reflect) -> Conv(stride) -> MaxPool -> AveragePool -> ConvTranspose
    -> PRelu -> GlobalAveragePool -> ... one call = one frame, nothing over time."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect"),
        helper.make_node("Unsqueeze", ["p", "ax1"], ["u"]),
        helper.make_node("Conv", ["u", "W1", "B1"], ["c1"], strides=[2]),
        helper.make_node("MaxPool", ["c1"], ["m"], kernel_shape=[3], strides=[1], pads=[1, 1]),
        helper.make_node("AveragePool", ["m"], ["a"], kernel_shape=[2], strides=[2],
                         pads=[1, 0], count_include_pad=1),
        helper.make_node("ConvTranspose", ["a", "W2"], ["t"], strides=[2], group=2),
        helper.make_node("PRelu", ["t", "slope"], ["pr"]),
        helper.make_node("Pad", ["pr", "pads2"], ["pe"], mode="edge"),
        helper.make_node("GlobalAveragePool", ["pe"], ["y"]),
    ]
    inits = {"pads": np.array([0, 4, 0, 4], np.int64), "ax1": np.array([1], np.int64),
             "W1": _rnd(rng, 4, 1, 5), "B1": _rnd(rng, 4), "W2": _rnd(rng, 4, 3, 2),
             "slope": _rnd(rng, 6, 1), "pads2": np.array([0, 0, 2, 0, 0, 3], np.int64)}
    m = _model(nodes, [_vi("x", [1, 32])], [_vi("y", [1, 6, 1])], inits)
    report = convert(m, tmp_path / "m.ern", verify=True, tolerance=TOL, frames=40)
    assert report.verification.passed
    kinds = {op.kind for op in report.graph.ops}
    assert {"FrameConv", "Pool", "FrameConvTranspose", "Binary", "Pad", "Reduce"} <= kinds
    conv = next(op for op in report.graph.ops if op.kind == "FrameConv")
    assert conv.attr("pad_mode") == "reflect"  # the Pad folded into the conv
    assert conv.attr("pads") == (4, 4)
    assert edgernn.load(tmp_path / "m.ern").inputs == {"x": (32,)}


def test_sequence_of_chunks_runs_the_conv_inside_each_frame():
    """x [T, 1, 40] (time named): Conv over the 40 samples of each frame, then an LSTM
    over time fed with each frame's features."""
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["c"], strides=[4], pads=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("ReduceMean", ["r"], ["f"], axes=[2], keepdims=0),
        helper.make_node("Unsqueeze", ["f", "ax1"], ["fx"]),
        helper.make_node("LSTM", ["fx", "Wl", "Rl"], ["Y"], hidden_size=5),
        helper.make_node("Squeeze", ["Y", "ax1"], ["y"]),
    ]
    inits = {"W": _rnd(rng, 6, 1, 8), "B": _rnd(rng, 6), "ax1": np.array([1], np.int64),
             "Wl": _rnd(rng, 1, 20, 6), "Rl": _rnd(rng, 1, 20, 5)}
    m = _model(nodes, [_vi("x", ["time", 1, 40])], [_vi("y", ["time", 1, 5])], inits, opset=13)
    g = load_onnx(m)
    assert [op.kind for op in g.ops if op.kind != "Reshape"][:1] == ["FrameConv"]
    assert verify(m, g, frames=50, tolerance=TOL).passed


def _sr_model():
    """If sr == 16000: x * 2 else x * 3; sr an int64 scalar input."""
    then = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["o1"])], "then", [],
                             [_vi("o1", [1, 4])], [numpy_helper.from_array(
                                 np.array(2.0, np.float32), "two")])
    other = helper.make_graph([helper.make_node("Mul", ["x", "three"], ["o2"])], "else", [],
                              [_vi("o2", [1, 4])], [numpy_helper.from_array(
                                  np.array(3.0, np.float32), "three")])
    nodes = [helper.make_node("Equal", ["sr", "k"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)]
    return _model(nodes, [_vi("x", [1, 4]), _vi("sr", [], TensorProto.INT64)],
                  [_vi("y", [1, 4])], {"k": np.array(16000, np.int64)})


@pytest.mark.parametrize("sr,factor", [(16000, 2.0), (8000, 3.0)])
def test_const_input_resolves_the_if_and_is_reported(sr, factor):
    report = convert(_sr_model(), consts={"sr": sr}, verify=True, frames=10)
    assert report.graph.metadata["source_consts"]["sr"]["ifs"] == 1
    assert f"const  sr = {sr}" in str(report) and "1 If node(s)" in str(report)
    x = np.arange(4, dtype=np.float32)
    assert np.array_equal(edgernn.Model(report.graph).stream().step(x), x * factor)


def test_const_missing_or_wrong_is_a_clear_error():
    with pytest.raises(ConversionError, match=r"input 'sr'.*--const sr=16000.*16000"):
        load_onnx(_sr_model())
    with pytest.raises(ConversionError, match="does not take"):
        load_onnx(_sr_model(), consts={"rate": 1})
    with pytest.raises(ConversionError, match="not a int64 value"):
        load_onnx(_sr_model(), consts={"sr": "16k"})


def _chunk_model(length="samples"):
    """A step model: x [1, ?] (a chunk) -> strided convs to one position -> Gemm with a
    carried state h, like Silero: the chunk length must be chosen."""
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("Unsqueeze", ["x", "ax1"], ["u"]),
        helper.make_node("Conv", ["u", "W1"], ["c1"], strides=[8]),   # k 16, stride 8
        helper.make_node("Conv", ["c1", "W2"], ["c2"], strides=[2], pads=[1, 1]),  # k 3
        helper.make_node("ReduceMean", ["c2"], ["f"], axes=[2], keepdims=0),
        helper.make_node("Add", ["f", "h"], ["s"]),
        helper.make_node("Tanh", ["s"], ["h_out"]),
        helper.make_node("Identity", ["h_out"], ["y"]),
    ]
    inits = {"ax1": np.array([1], np.int64), "W1": _rnd(rng, 3, 1, 16), "W2": _rnd(rng, 3, 3, 3)}
    return _model(nodes, [_vi("x", [1, length]), _vi("h", [1, 3])],
                  [_vi("y", [1, 3]), _vi("h_out", [1, 3])], inits, opset=13)


def test_chunk_length_is_chosen_and_explained():
    """Stride 8 then 2: one position for chunks up to 31 samples (16 + 8 + 7), 24 uses
    every sample of the first conv; the report says how and how to override."""
    g = load_onnx(_chunk_model())
    assert g.inputs[0].shape == (24,)
    how = g.metadata["source_inputs"]["x"]["how"]
    assert "24 samples" in how and "--frame x=N" in how and "stride 8" in how
    g = load_onnx(_chunk_model(), frame={"x": 16})
    assert g.inputs[0].shape == (16,)
    assert verify(_chunk_model(), g, frames=30, tolerance=TOL).passed


def test_chunk_named_like_time_in_a_step_model_is_retried_as_a_chunk():
    g = load_onnx(_chunk_model(length="sequence"))
    assert g.inputs[0].shape == (24,)
    assert "chunk of samples, not time" in g.metadata["source_inputs"]["x"]["how"]


def test_reflect_padding_over_time_is_refused():
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect"),
             helper.make_node("Conv", ["p", "W"], ["y"])]
    m = _model(nodes, [_vi("x", [1, 2, "time"])], [_vi("y", [1, 3, "time"])],
               {"pads": np.array([0, 0, 2, 0, 0, 0], np.int64),
                "W": np.ones((3, 2, 3), np.float32)})
    with pytest.raises(UnsupportedModelError, match="reflect padding over the time axis"):
        load_onnx(m)


def test_spelled_out_lstm_cell_becomes_one_lstm_with_its_state_inside():
    """Gemm + Gemm + Split + Sigmoid/Tanh + c/h updates (PyTorch LSTMCell traced) with the
    state (2, 1, H) in and out, as Silero's ifless variant."""
    rng = np.random.default_rng(3)
    H, In = 6, 4
    nodes = [
        helper.make_node("Gather", ["state", "zero"], ["h"], axis=0),
        helper.make_node("Gather", ["state", "one"], ["c"], axis=0),
        helper.make_node("Gemm", ["x", "Wih", "bih"], ["gx"], transB=1),
        helper.make_node("Gemm", ["h", "Whh", "bhh"], ["gh"], transB=1),
        helper.make_node("Add", ["gh", "gx"], ["gates"]),
        helper.make_node("Split", ["gates", "split"], ["i", "f", "g", "o"], axis=1),
        helper.make_node("Sigmoid", ["i"], ["si"]), helper.make_node("Sigmoid", ["f"], ["sf"]),
        helper.make_node("Tanh", ["g"], ["tg"]), helper.make_node("Sigmoid", ["o"], ["so"]),
        helper.make_node("Mul", ["sf", "c"], ["fc"]), helper.make_node("Mul", ["si", "tg"], ["ig"]),
        helper.make_node("Add", ["fc", "ig"], ["c2"]), helper.make_node("Tanh", ["c2"], ["tc"]),
        helper.make_node("Mul", ["so", "tc"], ["h2"]),
        helper.make_node("Unsqueeze", ["h2", "ax0"], ["h2u"]),
        helper.make_node("Unsqueeze", ["c2", "ax0"], ["c2u"]),
        helper.make_node("Concat", ["h2u", "c2u"], ["stateN"], axis=0),
        helper.make_node("Sigmoid", ["h2"], ["y"]),
    ]
    inits = {"zero": np.array(0, np.int64), "one": np.array(1, np.int64),
             "Wih": _rnd(rng, 4 * H, In), "bih": _rnd(rng, 4 * H), "Whh": _rnd(rng, 4 * H, H),
             "bhh": _rnd(rng, 4 * H), "split": np.array([H] * 4, np.int64),
             "ax0": np.array([0], np.int64)}
    m = _model(nodes, [_vi("x", [1, In]), _vi("state", [2, 1, H])],
               [_vi("y", [1, H]), _vi("stateN", [2, 1, H])], inits)
    g = load_onnx(m)
    assert [op.kind for op in g.ops if op.kind != "Reshape"] == ["LSTM", "Unary"]
    assert g.metadata["source_states"]["state"]["mode"] == "internal"
    assert verify(m, g, frames=40, tolerance=TOL).passed
