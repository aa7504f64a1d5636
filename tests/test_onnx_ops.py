"""Each ONNX op of the table, in small hand-built graphs, against onnxruntime (<= 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgernn.converters import UnsupportedModelError, load_onnx, verify

F = 8
rng = np.random.default_rng(11)


def c(*shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def i64(*vals):
    return np.array(vals, np.int64)


def node(op, ins, outs, **kw):
    return helper.make_node(op, ins, [outs] if isinstance(outs, str) else outs, **kw)


def check(nodes, inits, in_dims=("time", "batch", F), opset=17, outputs=("y",), frames=60,
          **kw):
    graph = helper.make_graph(
        nodes, "ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_dims))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    g = load_onnx(model, **kw)
    res = verify(model, g, frames=frames, tolerance=1e-5)
    assert res.passed, str(res)
    return g


def test_unary_functions():
    nodes = [node("Abs", ["x"], "a"), node("Add", ["a", "half"], "b"), node("Sqrt", ["b"], "s"),
             node("Log", ["s"], "l"), node("Exp", ["l"], "e"), node("Neg", ["e"], "n"),
             node("Reciprocal", ["n"], "r"), node("Softplus", ["r"], "sp"),
             node("Softsign", ["sp"], "ss"), node("Erf", ["ss"], "er"),
             node("Elu", ["x"], "el", alpha=0.7), node("LeakyRelu", ["el"], "lr", alpha=0.2),
             node("HardSigmoid", ["lr"], "hs", alpha=0.3, beta=0.4), node("Tanh", ["x"], "t"),
             node("Sigmoid", ["t"], "sg"), node("Clip", ["x", "lo", "hi"], "cl"),
             node("Relu", ["cl"], "re"), node("Identity", ["er"], "er1"),
             node("Add", ["er1", "hs"], "u"), node("Add", ["u", "sg"], "v"),
             node("Add", ["v", "re"], "y")]
    inits = {"half": np.float32(0.5).reshape(()), "lo": np.float32(-0.5).reshape(()),
             "hi": np.float32(0.7).reshape(())}
    g = check(nodes, inits)
    assert {op.kind for op in g.ops} == {"Unary", "Binary"}


def test_gelu_opset20():
    check([node("Gelu", ["x"], "y")], {}, opset=20)


def test_binary_with_constants_and_broadcast():
    nodes = [node("Sub", ["x", "c1"], "a"), node("Mul", ["c2", "a"], "b"),
             node("Div", ["b", "c3"], "d"), node("Abs", ["d"], "ab"),
             node("Pow", ["ab", "p"], "pw"), node("Max", ["pw", "c1"], "mx"),
             node("Min", ["mx", "c2"], "mn"), node("Add", ["mn", "x"], "y")]
    inits = {"c1": c(F), "c2": c(1, 1, F), "c3": (np.abs(c(F)) + 1).astype(np.float32),
             "p": np.float32(1.5).reshape(())}
    check(nodes, inits)


def test_comparisons_cast_and_where():
    """A gate on data, Where(x > c, x, 0.1 x), and every comparison cast to float, vs ORT;
    the input is on a grid of halves and the constants too, so == and >= meet ties."""
    nodes = [node("Greater", ["x", "c1"], "gt"), node("Mul", ["x", "tenth"], "small"),
             node("Where", ["gt", "x", "small"], "w")]
    outs = ["w"]
    for k, op in enumerate(["Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal"]):
        nodes += [node(op, ["x", "c2"], f"b{k}"), node("Cast", [f"b{k}"], f"f{k}", to=1)]
        outs.append(f"f{k}")
    nodes.append(node("Concat", outs, "y", axis=-1))
    inits = {"tenth": np.float32(0.1).reshape(()), "c1": c(F),
             "c2": (np.round(c(F) * 4) / 2).astype(np.float32)}
    graph = helper.make_graph(
        nodes, "ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", 1, F])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    g = load_onnx(model)
    assert {"Where", "Binary"} <= {op.kind for op in g.ops}
    x = (np.round(c(80, 1, F) * 4) / 2).astype(np.float32)
    assert np.mean(x == inits["c2"]) > 0.1
    res = verify(model, g, inputs={"x": x}, tolerance=0.0)
    assert res.passed, str(res)


def test_gemm_and_matmul_variants():
    nodes = [node("Gemm", ["x", "w", "bias"], "g", transB=1, alpha=0.5, beta=2.0),
             node("MatMul", ["g", "w2"], "m"), node("MatMul", ["m", "v"], "y")]
    check(nodes, {"w": c(6, F), "bias": c(6), "w2": c(6, 4), "v": c(4)}, in_dims=("time", F))


def test_batchnorm_after_gemm_is_folded():
    nodes = [node("Gemm", ["x", "w"], "g"),
             node("BatchNormalization", ["g", "s", "b", "m", "v"], "y", epsilon=1e-3)]
    inits = {"w": c(F, 6), "s": c(6), "b": c(6), "m": c(6),
             "v": (np.abs(c(6)) + 0.5).astype(np.float32)}
    g = check(nodes, inits, in_dims=("time", F))
    assert [op.kind for op in g.ops] == ["Dense"]


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_reduce(opset):
    axes = {"axes": [2]} if opset < 13 else {}
    ins = ["x"] if opset < 13 else ["x", "ax"]
    nodes = [node("Softmax", ["x"], "s", axis=2), node("LogSoftmax", ["x"], "ls", axis=-1),
             node("ReduceMax", ["x"], "mx", axes=[-1], keepdims=1),
             node("ReduceMin", ["x"], "mn", axes=[2], keepdims=0),
             node("ReduceSum", ins, "sm", keepdims=1, **axes),
             node("Unsqueeze", ["mn"] + ([] if opset < 13 else ["ax"]), "mn2", **axes),
             node("Add", ["s", "ls"], "a"), node("Sub", ["a", "mx"], "b"),
             node("Mul", ["b", "sm"], "d"), node("Add", ["d", "mn2"], "y")]
    check(nodes, {"ax": i64(2)} if opset >= 13 else {}, opset=opset)


def test_layer_normalization():
    check([node("LayerNormalization", ["x", "s", "b"], "y", axis=-1, epsilon=1e-4)],
          {"s": c(F), "b": c(F)})


def test_layout_ops_and_shape_plumbing():
    """Reshape/Transpose/Split/Concat (with a Shape-derived constant), Gather, Slice, Pad."""
    nodes = [node("Reshape", ["x", "shp"], "r"),  # [T, B, 2, 4]
             node("Transpose", ["r"], "t", perm=[0, 1, 3, 2]),
             node("Reshape", ["t", "shp2"], "f"),  # [T, B, 8]
             node("Split", ["f", "sizes"], ["p", "q"], axis=2),
             node("Shape", ["x"], "sh"), node("Slice", ["sh", "z", "two"], "tb"),
             node("Concat", ["tb", "two"], "cshape", axis=0),
             node("ConstantOfShape", ["cshape"], "k",
                  value=numpy_helper.from_array(np.array([0.25], np.float32))),
             node("Concat", ["q", "p", "k"], "cat", axis=2),  # [T, B, 10]
             node("Gather", ["cat", "idx"], "ga", axis=2),  # [T, B, 3]
             node("Gather", ["cat", "one"], "g1", axis=-1),  # [T, B]
             node("Unsqueeze", ["g1", "ax2"], "g1u"),
             node("Slice", ["cat", "st", "en", "ax2", "neg"], "sl"),  # reversed features
             node("Pad", ["ga", "pads", "pv"], "pd"),  # [T, B, 5]
             node("Dropout", ["pd"], "dr"), node("Cast", ["dr"], "ca", to=TensorProto.FLOAT),
             node("Expand", ["ca", "sh5"], "ex"),
             node("Concat", ["ex", "sl", "g1u"], "y", axis=-1)]
    inits = {"shp": i64(0, 0, 2, 4), "shp2": i64(0, 0, -1), "sizes": i64(3, 5),
             "z": i64(0), "two": i64(2), "idx": i64(5, 0, 9), "one": np.array(1, np.int64),
             "ax2": i64(2), "st": i64(-1), "en": i64(-(2 ** 62)), "neg": i64(-1),
             "pads": i64(0, 0, 1, 0, 0, 1), "pv": np.float32(0.5).reshape(()),
             "sh5": i64(1, 1, 5)}
    check(nodes, inits)


def test_conv1d_same_upper_and_conv2d_time_last():
    nodes = [node("Transpose", ["x"], "xt", perm=[1, 2, 0]),  # [B, F, T]
             node("Conv", ["xt", "w1", "b1"], "c1", auto_pad="SAME_UPPER", kernel_shape=[3]),
             node("Unsqueeze", ["c1", "ax1"], "c1u"),  # [B, 1, 6, T]
             node("Conv", ["c1u", "w2"], "c2", pads=[1, 2, 0, 0], kernel_shape=[3, 3]),
             node("BatchNormalization", ["c2", "s", "b", "m", "v"], "bn"),
             node("Transpose", ["bn"], "y", perm=[3, 0, 1, 2])]  # [T, B, 2, 6]
    inits = {"w1": c(6, F, 3), "b1": c(6), "ax1": i64(1), "w2": c(2, 1, 3, 3), "s": c(2),
             "b": c(2), "m": c(2), "v": (np.abs(c(2)) + 0.5).astype(np.float32)}
    g = check(nodes, inits)
    convs = [op for op in g.ops if op.kind == "Conv"]
    assert [op.attr("delay") for op in convs] == [1, 0]
    assert "Binary" not in [op.kind for op in g.ops]  # BatchNormalization folded


def test_variadic_max_with_one_input():
    check([node("Max", ["x"], "m"), node("Relu", ["m"], "y")], {})


H = 6


@pytest.mark.parametrize(("op", "gates", "attrs"), [
    ("LSTM", 4, {"activations": ["HardSigmoid", "LeakyRelu", "Softsign"],
                 "activation_alpha": [0.3, 0.05], "activation_beta": [0.45], "clip": 2.0}),
    ("GRU", 3, {"activations": ["Sigmoid", "Affine"], "activation_alpha": [0.8],
                "activation_beta": [0.1], "linear_before_reset": 1, "clip": 1.0}),
    ("RNN", 1, {"activations": ["ScaledTanh"], "activation_alpha": [1.2],
                "activation_beta": [0.7], "clip": 0.9}),
])
def test_recurrent_activations_and_clip(op, gates, attrs):
    inits = {"W": c(1, gates * H, F), "R": c(1, gates * H, H), "B": c(1, 2 * gates * H),
             "h0": c(1, 1, H)}
    nodes = [node(op, ["x", "W", "R", "B", "", "h0"], ["Y", "Y_h"], hidden_size=H, **attrs),
             node("Squeeze", ["Y", "one"], "y")]
    inits["one"] = i64(1)
    g = check(nodes, inits, outputs=("y", "Y_h"))
    (rec,) = [o for o in g.ops if o.kind == op]
    assert tuple(rec.attr("activations")) == tuple(attrs["activations"])


def test_flatten_keeps_time_and_refuses_merging_it():
    g = check([node("Flatten", ["x"], "y", axis=1)], {}, in_dims=("time", 2, 4))
    assert g.shape("y") == (8,)
    with pytest.raises(UnsupportedModelError, match="time axis together"):
        load_onnx(helper.make_model(helper.make_graph(
            [node("Flatten", ["x"], "y", axis=1)], "f",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 2, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]),
            opset_imports=[helper.make_opsetid("", 17)]))


def test_last_step_after_a_strided_conv():
    """Y_h of a GRU behind a stride-2 causal conv: a value every 2nd frame, = the source
    on the prefix up to that frame."""
    nodes = [node("Transpose", ["x"], "xt", perm=[1, 2, 0]),
             node("Conv", ["xt", "w"], "cv", pads=[1, 0], strides=[2], kernel_shape=[2]),
             node("Transpose", ["cv"], "seq", perm=[2, 0, 1]),
             node("GRU", ["seq", "W", "R"], ["", "y"], hidden_size=H, linear_before_reset=1)]
    g = check(nodes, {"w": c(4, F, 2), "W": c(1, 3 * H, 4), "R": c(1, 3 * H, H)})
    out = g.metadata["source_outputs"]["y"]
    assert out["reduced"] and out["stride"] == 2
