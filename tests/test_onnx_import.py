"""The ONNX importer's IR: structure, axes, gate layouts, states, and every refusal."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper, version_converter

from edgernn.converters import (
    ConversionError,
    UnsupportedModelError,
    convert,
    load_onnx,
    verify,
)
from edgernn.converters.onnx.io import normalize_name, parse_axes
from edgernn.converters.verify import from_source, to_source
from edgernn.ir import reorder_gates

FIXTURES = Path(__file__).parent / "fixtures" / "onnx"
F, H = 8, 16


@functools.cache
def graph(name: str):
    return load_onnx(FIXTURES / f"{name}.onnx")


def kinds(g) -> list[str]:
    return [op.kind for op in g.ops]


def _vi(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def _model(nodes, inputs, outputs, inits, opset=17):
    g = helper.make_graph(nodes, "t", inputs, outputs,
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _lstm_inits(rng, dirs=1):
    return {"W": rng.standard_normal((dirs, 4 * H, F)).astype(np.float32) * 0.3,
            "R": rng.standard_normal((dirs, 4 * H, H)).astype(np.float32) * 0.3}


# --- structure -------------------------------------------------------------------------


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_stacked_lstm_is_two_lstm_ops_and_a_dense(opset):
    g = graph(f"torch_lstm2_op{opset}")
    assert kinds(g) == ["LSTM", "LSTM", "Dense"]
    assert [(v.name, v.shape) for v in g.inputs] == [("x", (F,))]
    assert g.outputs == ("y",) and g.shape("y") == (5,)
    assert g.metadata["source_inputs"]["x"]["time"] == 1
    assert g.metadata["source_inputs"]["x"]["batch"] == 0


def test_time_axis_from_the_recurrent_op_when_dims_are_unnamed():
    g = graph("torch_lstm3_tmajor_op13")
    info = g.metadata["source_inputs"]["x"]
    assert (info["time"], info["batch"]) == (0, 1)
    assert "layout" in info["how"]
    assert kinds(g) == ["LSTM", "LSTM", "LSTM"]


def test_lstm_gates_are_reordered_and_biases_summed():
    model = onnx.load(FIXTURES / "onnx_lstm_peephole_clip.onnx")
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    g = graph("onnx_lstm_peephole_clip")
    (op,) = [op for op in g.ops if op.kind == "LSTM"]
    c = {role: g.consts[n].to_float() for role, n in zip(
        ("x", "W", "R", "B", "P", "Wproj", "Bproj", "H0", "C0"), op.inputs, strict=False) if n
        and role != "x"}
    np.testing.assert_array_equal(c["W"], reorder_gates(init["W"][0], "iofc", "ifco"))
    np.testing.assert_array_equal(c["R"], reorder_gates(init["R"][0], "iofc", "ifco"))
    b = init["B"][0]
    np.testing.assert_allclose(c["B"], reorder_gates(b[:4 * H] + b[4 * H:], "iofc", "ifco"))
    np.testing.assert_array_equal(c["P"], reorder_gates(init["P"][0], "iof", "ifo"))
    np.testing.assert_array_equal(c["H0"], init["h0"].reshape(-1))
    np.testing.assert_array_equal(c["C0"], init["c0"].reshape(-1))
    assert op.attr("clip") == 1.5 and op.attr("input_forget") is True


def test_gru_keeps_input_and_recurrent_biases_apart():
    g = graph("onnx_gru_lbr0")
    (op,) = [op for op in g.ops if op.kind == "GRU"]
    assert op.attr("linear_before_reset") is False
    assert len(op.inputs) == 6 and op.inputs[5]  # WB, RB and a constant H0
    torch_gru = graph("torch_gru2_op13")
    assert all(op.attr("linear_before_reset") for op in torch_gru.ops if op.kind == "GRU")


def test_crnn_conv_front_end_is_causal_and_batchnorm_folded():
    g = graph("torch_crnn_op17")
    assert kinds(g) == ["Conv", "Unary", "Conv", "GRU", "Dense", "Softmax"]
    convs = [op for op in g.ops if op.kind == "Conv"]
    assert [op.attr("delay") for op in convs] == [0, 0]
    assert convs[1].attr("dilation") == 2 and convs[1].attr("groups") == 3
    assert g.metadata["source_outputs"]["y"]["tail"] == 0


def test_conv2d_time_by_frequency():
    g = graph("torch_crnn2d_op13")
    assert g.inputs[0].shape == (1, 10)
    (conv,) = [op for op in g.ops if op.kind == "Conv"]
    assert g.consts[conv.inputs[1]].shape == (3, 1, 3, 3)
    assert conv.attr("freq_stride") == 2 and tuple(conv.attr("freq_pads")) == (1, 1)
    assert g.shape(conv.outputs[0]) == (3, 5)


def test_same_padding_conv_streams_with_a_reported_delay():
    g = graph("torch_same_conv_lstm_op13")
    (conv,) = [op for op in g.ops if op.kind == "Conv"]
    assert conv.attr("delay") == 1
    out = g.metadata["source_outputs"]["y"]
    assert (out["delay"], out["tail"]) == (1, 1)
    report = convert(FIXTURES / "torch_same_conv_lstm_op13.onnx")
    assert any("delayed by 1" in n for n in report.notes)


def test_strided_conv_output_rate():
    g = graph("torch_strided_conv_gru_op13")
    (conv,) = [op for op in g.ops if op.kind == "Conv"]
    assert conv.attr("stride") == 2 and conv.attr("delay") == 0
    assert g.metadata["source_outputs"]["y"]["stride"] == 2


@pytest.mark.parametrize("name", ["torch_classifier_last_op13", "torch_classifier_hn_op17",
                                  "torch_classifier_hn_op11"])
def test_last_step_outputs_are_per_frame_values(name):
    g = graph(name)
    assert g.metadata["source_outputs"]["probs"]["reduced"] is True
    assert not any(op.kind in ("Slice", "Gather", "Concat") for op in g.ops)


def test_constant_if_is_inlined():
    g = graph("onnx_if_const_gru")
    assert kinds(g)[:2] == ["Unary", "GRU"]
    assert g.ops[0].attr("fn") == "Relu"


# --- step models -----------------------------------------------------------------------


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_explicit_lstm_state_becomes_the_ops_own_state(opset):
    g = graph(f"torch_step_lstm_op{opset}")
    assert [v.name for v in g.inputs] == ["x"] and g.outputs == ("y",)
    assert g.states == ()
    states = g.metadata["source_states"]
    assert states["h"]["output"] == "h_out" and states["c"]["output"] == "c_out"
    assert states["h"]["mode"] == states["c"]["mode"] == "internal"
    assert kinds(g) == ["LSTM", "LSTM", "Dense"]


def test_plain_op_step_model_gets_a_graph_state():
    g = graph("torch_step_cell_op13")
    assert [v.name for v in g.inputs] == ["x"]
    (st,) = g.states
    assert (st.input, st.shape) == ("state", (H,))
    assert g.metadata["source_states"]["state"]["mode"] == "graph"


def _renamed_step_cell(new_out: str) -> onnx.ModelProto:
    m = onnx.load(FIXTURES / "torch_step_cell_op13.onnx")
    for n in m.graph.node:
        n.output[:] = [new_out if o == "state_out" else o for o in n.output]
        n.input[:] = [new_out if i == "state_out" else i for i in n.input]
    for o in m.graph.output:
        if o.name == "state_out":
            o.name = new_out
    return m


def test_state_pairs_override_when_names_do_not_match():
    m = _renamed_step_cell("zzz")
    g = load_onnx(m)
    assert sorted(v.name for v in g.inputs) == ["state", "x"]  # not recognized as a state
    g = load_onnx(m, state_pairs={"state": "zzz"})
    assert [v.name for v in g.inputs] == ["x"] and len(g.states) == 1
    assert verify(m, g, frames=40, tolerance=1e-5).passed
    with pytest.raises(ConversionError, match="no output"):
        load_onnx(m, state_pairs={"state": "nope"})


@pytest.mark.parametrize(("name", "key"), [("h_out", "h"), ("hidden_in", "hidden"),
                                            ("c0", "c"), ("hn", "h"), ("state.1", "state"),
                                            ("new_state", "state"), ("x", "x")])
def test_normalize_state_names(name, key):
    assert normalize_name(name) == key


# --- axes and helpers ------------------------------------------------------------------


def test_axes_override():
    g = load_onnx(FIXTURES / "torch_lstm3_tmajor_op13.onnx", axes={"x": "TBF"})
    assert g.metadata["source_inputs"]["x"]["how"] == "given"
    assert parse_axes("BTF", 3, "x") == (1, 0)
    with pytest.raises(ConversionError, match="one letter per axis"):
        load_onnx(FIXTURES / "torch_lstm3_tmajor_op13.onnx", axes={"x": "TF"})
    with pytest.raises(ConversionError, match="unknown inputs"):
        load_onnx(FIXTURES / "torch_lstm3_tmajor_op13.onnx", axes={"y": "TBF"})


def test_fixed_shape_exports():
    g = graph("torch_fixed_lstm2_op17")
    assert g.metadata["source_inputs"]["x"]["dims"] == [1, 7, F]
    assert kinds(g) == ["LSTM", "LSTM", "Dense"]
    with pytest.raises(UnsupportedModelError, match="--axes x=BCTF") as e:
        load_onnx(FIXTURES / "torch_fixed_crnn2d_op17.onnx")
    # the Conv could be one inside each frame; the GRU after it cannot run inside a frame
    assert e.value.problems[0].op_type == "GRU"
    assert "no input axis was taken as time" in e.value.problems[0].reason
    g = load_onnx(FIXTURES / "torch_fixed_crnn2d_op17.onnx", axes={"x": "BCTF"})
    assert g.inputs[0].shape == (1, 10)


@pytest.mark.parametrize(("time", "batch", "rank"), [(1, 0, 3), (0, 1, 3), (2, 0, 4), (2, 0, 3),
                                                     (None, 0, 2), (0, None, 2)])
def test_layout_round_trip(time, batch, rank):
    nframe = rank - (time is not None) - (batch is not None)
    frames = np.arange(5 * 3 ** nframe, dtype=np.float32).reshape(5, *([3] * nframe))
    if time is None:
        frames = frames[0]
    src = to_source(frames, time, batch, rank)
    assert src.ndim == rank
    np.testing.assert_array_equal(from_source(src, time, batch), frames)


@pytest.mark.parametrize(("name", "opset"), [("torch_classifier_hn_op13", 18),
                                             ("torch_crnn_op13", 21)])
def test_newer_opsets(name, opset):
    m = version_converter.convert_version(onnx.load(FIXTURES / f"{name}.onnx"), opset)
    assert verify(m, frames=60, tolerance=1e-5).passed


# --- refusals --------------------------------------------------------------------------


def test_bidirectional_is_refused_naming_the_node():
    with pytest.raises(UnsupportedModelError) as e:
        load_onnx(FIXTURES / "onnx_lstm_bidirectional.onnx")
    (p,) = e.value.problems
    assert (p.op_type, p.node) == ("LSTM", "bilstm")
    assert "bidirectional" in p.reason and "forward" in p.reason
    assert isinstance(e.value, ValueError)


def test_every_unsupported_node_is_listed():
    with pytest.raises(UnsupportedModelError) as e:
        load_onnx(FIXTURES / "onnx_unsupported_ops.onnx")
    assert {(p.op_type, p.node) for p in e.value.problems} == {
        ("CumSum", "running_sum"), ("Hardmax", "hardmax_feat")}
    assert "running_sum" in str(e.value) and "hardmax_feat" in str(e.value)


def test_mean_over_time_is_refused():
    with pytest.raises(UnsupportedModelError, match="time axis") as e:
        load_onnx(FIXTURES / "torch_refused_mean_over_time_op17.onnx")
    assert e.value.problems[0].op_type == "ReduceMean"


def _refused(nodes, inits, out_dims=("time", 1, "batch", H), extra_outputs=()):
    m = _model(nodes, [_vi("x", ["time", "batch", F])],
               [_vi(nodes[-1].output[0], list(out_dims)), *extra_outputs], inits)
    with pytest.raises(UnsupportedModelError) as e:
        load_onnx(m)
    return e.value.problems


def test_reverse_lstm_is_refused():
    rng = np.random.default_rng(0)
    (p,) = _refused([helper.make_node("LSTM", ["x", "W", "R"], ["Y"], name="rev",
                                      hidden_size=H, direction="reverse")], _lstm_inits(rng))
    assert p.node == "rev" and "forward" in p.reason


def test_partial_sequence_lens_is_refused():
    rng = np.random.default_rng(0)
    inits = {**_lstm_inits(rng), "lens": np.array([3], np.int32)}
    (p,) = _refused([helper.make_node("LSTM", ["x", "W", "R", "", "lens"], ["Y"], name="l",
                                      hidden_size=H)], inits)
    assert "sequence_lens" in p.reason


def test_slicing_the_middle_of_time_is_refused():
    inits = {"s": np.array([2], np.int64), "e": np.array([2 ** 62], np.int64),
             "a": np.array([0], np.int64)}
    (p,) = _refused([helper.make_node("Slice", ["x", "s", "e", "a"], ["y"], name="cut")], inits,
                    out_dims=("t2", "batch", F))
    assert p.node == "cut" and "time" in p.reason


def test_matmul_across_time_is_refused():
    inits = {"w": np.ones((6, 3), np.float32)}
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 2, 0], name="tr"),
             helper.make_node("MatMul", ["xt", "w"], ["y"], name="mix")]
    m = _model(nodes, [_vi("x", [6, 1, F])], [_vi("y", [1, F, 3])], inits)
    with pytest.raises(UnsupportedModelError) as e:
        load_onnx(m, axes={"x": "TBF"})
    (p,) = e.value.problems
    assert p.node == "mix" and "time" in p.reason


def test_cell_state_used_as_data_is_refused():
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("LSTM", ["x", "W", "R"], ["Y", "", "Yc"], name="l", hidden_size=H),
             helper.make_node("Relu", ["Yc"], ["y"], name="use_c")]
    (p,) = _refused(nodes, _lstm_inits(rng), out_dims=(1, "batch", H))
    assert p.node == "use_c" and "Y_c" in p.reason


def test_old_opset_and_tflite_and_missing_files():
    m = onnx.load(FIXTURES / "torch_lstm1_op13.onnx")
    m.opset_import[0].version = 9
    with pytest.raises(ConversionError, match="opset 9"):
        load_onnx(m)
    with pytest.raises(ConversionError, match="cannot read model.tflite"):  # TFLite importer
        convert("model.tflite", "model.ern")
    with pytest.raises(ConversionError, match="no such file"):
        load_onnx("/nonexistent/model.onnx")


def test_custom_domain_op_is_named_even_when_the_model_cannot_run():
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("FancyNorm", ["x"], ["z"], name="fancy", domain="com.example"),
             helper.make_node("LSTM", ["z", "W", "R"], ["Y"], name="bi", hidden_size=H,
                              direction="bidirectional")]
    m = helper.make_model(
        helper.make_graph(nodes, "t", [_vi("x", ["time", "batch", F])],
                          [_vi("Y", ["time", 2, "batch", H])],
                          [numpy_helper.from_array(v, k) for k, v in
                           _lstm_inits(rng, dirs=2).items()]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    with pytest.raises(UnsupportedModelError) as e:
        load_onnx(m)
    assert {p.node for p in e.value.problems} == {"fancy", "bi"}
    assert "com.example" in str(e.value)


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_layer_norm_is_one_op_at_every_opset(opset):
    assert kinds(graph(f"torch_classifier_hn_op{opset}")) == ["LayerNorm", "GRU", "GRU", "Dense"]


def test_step_cell_with_a_one_frame_chunk():
    """x [1, 1, F] (time fixed to one frame) mixed with a state h [1, H] in plain ops."""
    rng = np.random.default_rng(0)
    inits = {"shape": np.array([1, F], np.int64),
             "W": rng.standard_normal((F, H)).astype(np.float32) * 0.5,
             "U": rng.standard_normal((H, H)).astype(np.float32) * 0.5}
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["x2"]),
             helper.make_node("MatMul", ["x2", "W"], ["a"]),
             helper.make_node("MatMul", ["h", "U"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["s"]),
             helper.make_node("Tanh", ["s"], ["h_out"]),
             helper.make_node("Sigmoid", ["h_out"], ["y"])]
    m = _model(nodes, [_vi("x", [1, 1, F]), _vi("h", [1, H])],
               [_vi("y", [1, H]), _vi("h_out", [1, H])], inits)
    for axes in (None, {"x": "BTF"}):
        g = load_onnx(m, axes=axes)
        assert g.shape("y") == (H,) and len(g.states) == 1
        assert verify(m, g, frames=50, tolerance=1e-5).passed


def test_outputs_at_different_frame_rates_are_refused():
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 2, 0]),
             helper.make_node("Conv", ["xt", "w"], ["cv"], pads=[1, 0], strides=[2],
                              kernel_shape=[2], name="strided"),
             helper.make_node("Relu", ["x"], ["y"], name="per_frame")]
    m = _model(nodes, [_vi("x", ["time", "batch", F])], [_vi("y", None), _vi("cv", None)],
               {"w": rng.standard_normal((4, F, 2)).astype(np.float32)})
    with pytest.raises(UnsupportedModelError, match="one frame schedule") as e:
        load_onnx(m)
    assert e.value.problems[0].node == "cv"
