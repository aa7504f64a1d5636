"""Ops over axes inside a frame (FrameConv, FrameConvTranspose, Pool, Pad modes, PRelu)
against onnxruntime: one ONNX node with random weights, the same op as an edgernn graph.

The ONNX batch axis holds the T*B frames of B streams; each frame is one instance.
Every case also runs the float64 reference backend (``backend="reference"``), and a
channels-last twin of the graph where the op has one (TFLite's NHWC without N).
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import edgernn
from edgernn.builder import GraphBuilder

T, B = 5, 2
TOL = 2e-5


def ort_node(op_type: str, x: np.ndarray, consts: dict, out_rank: int, opset: int = 17,
             **attrs) -> np.ndarray:
    """Run one ONNX node on x with constant inputs ``consts`` (name -> array, in order)."""
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()]
    node = helper.make_node(op_type, ["x", *consts], ["y"], **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * out_rank)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    so = ort.SessionOptions()
    so.log_severity_level = 4
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def run_edgernn(kind: str, frames: np.ndarray, consts: list, attrs: dict,
                channels_last: bool = False, nsp: int = 1):
    """(compiled, reference) outputs of one op on frames (T, B, *frame)."""
    if channels_last:
        frames = np.moveaxis(frames, 2, -1)
        attrs = {**attrs, "channels_last": True}
    b = GraphBuilder()
    x = b.input("x", frames.shape[2:])
    b.output(b.add(kind, [x, *consts], attrs), "y")
    model = edgernn.Model(b.build())
    got = model.streams(B).run(frames)
    ref = model.streams(B, backend="reference").run(frames)
    stepped = np.stack([model.streams(B).step(f) for f in frames])
    if channels_last:
        got, ref, stepped = (np.moveaxis(a, -1, 2 + (a.ndim - 3 - nsp)) for a in
                             (got, ref, stepped))
    return got, ref, stepped


def check(kind, x_onnx, onnx_out, consts, attrs, nsp, layouts=(False, True), tol=TOL):
    frames = x_onnx.reshape(T, B, *x_onnx.shape[1:])
    want = onnx_out.reshape(T, B, *onnx_out.shape[1:])
    for last in layouts:
        got, ref, stepped = run_edgernn(kind, frames, consts, attrs, last, nsp)
        assert got.shape == want.shape
        assert np.abs(ref - want).max() <= tol, f"reference, channels_last={last}"
        assert np.abs(got - want).max() <= tol, f"kernels, channels_last={last}"
        assert np.abs(stepped - want).max() <= tol, f"step, channels_last={last}"


def rnd(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


CONVS = [  # (x frame, W shape, attrs)
    ((3, 17), (4, 3, 5), dict(strides=(2,), dilations=(2,), pads=(1, 3))),
    ((6, 11), (9, 2, 3), dict(groups=3, pads=(2, 0))),
    ((5, 9), (10, 1, 3), dict(groups=5, strides=(3,), pads=(1, 1))),  # depthwise x2
    ((4, 7, 9), (6, 2, 3, 2), dict(groups=2, strides=(2, 1), dilations=(1, 2),
                                   pads=(1, 0, 2, 1))),
    ((3, 6, 5), (5, 3, 1, 1), dict()),
    ((1, 640), (258, 1, 256), dict(strides=(128,))),  # Silero's STFT
    ((129, 4), (128, 129, 3), dict(pads=(1, 1))),  # Silero's first encoder conv
]


@pytest.mark.parametrize("frame,wshape,attrs", CONVS)
def test_frame_conv_matches_onnxruntime(frame, wshape, attrs):
    rng = np.random.default_rng(len(frame) * 7 + wshape[0])
    x, w, bias = rnd(rng, T * B, *frame), rnd(rng, *wshape, scale=0.3), rnd(rng, wshape[0])
    onnx_attrs = {("group" if k == "groups" else k): list(v) if isinstance(v, tuple) else v
                  for k, v in attrs.items()}
    y = ort_node("Conv", x, {"W": w, "B": bias}, len(frame) + 1, **onnx_attrs)
    check("FrameConv", x, y, [w, bias], attrs, len(wshape) - 2, tol=1e-4)


@pytest.mark.parametrize("mode", ["reflect", "edge"])
@pytest.mark.parametrize("frame,wshape,pads", [((2, 12), (3, 2, 4), (3, 2)),
                                                ((2, 5, 6), (3, 2, 2, 3), (1, 2, 4, 0))])
def test_frame_conv_pad_modes_match_onnx_pad_then_conv(mode, frame, wshape, pads):
    """pad_mode folds an ONNX Pad(reflect/edge) into the conv: compare with both nodes."""
    rng = np.random.default_rng(3)
    x, w = rnd(rng, T * B, *frame), rnd(rng, *wshape)
    nsp = len(frame) - 1
    full = [0, 0, *pads[:nsp], 0, 0, *pads[nsp:]]
    padded = ort_node("Pad", x, {"pads": np.array(full, np.int64)}, len(frame) + 1, mode=mode)
    y = ort_node("Conv", padded, {"W": w}, len(frame) + 1)
    check("FrameConv", x, y, [w], dict(pads=pads, pad_mode=mode), nsp)


CONV_T = [
    ((3, 6), (3, 2, 4), dict(strides=(2,), pads=(1, 2), output_padding=(1,))),
    ((4, 5), (4, 3, 3), dict(groups=2, dilations=(2,))),
    ((2, 4, 3), (2, 3, 3, 2), dict(strides=(2, 3), pads=(1, 0, 0, 1), output_padding=(1, 2))),
]


@pytest.mark.parametrize("frame,wshape,attrs", CONV_T)
def test_frame_conv_transpose_matches_onnxruntime(frame, wshape, attrs):
    rng = np.random.default_rng(wshape[1])
    x, w = rnd(rng, T * B, *frame), rnd(rng, *wshape)
    bias = rnd(rng, wshape[1] * attrs.get("groups", 1))
    onnx_attrs = {("group" if k == "groups" else k): list(v) if isinstance(v, tuple) else v
                  for k, v in attrs.items()}
    y = ort_node("ConvTranspose", x, {"W": w, "B": bias}, len(frame) + 1, **onnx_attrs)
    check("FrameConvTranspose", x, y, [w, bias], attrs, len(wshape) - 2)


POOLS = [
    ("MaxPool", (3, 11), dict(kernel=(3,), strides=(2,), pads=(1, 1))),
    ("MaxPool", (2, 10), dict(kernel=(3,), strides=(2,), dilations=(2,), ceil_mode=True)),
    ("MaxPool", (2, 7, 8), dict(kernel=(2, 3), strides=(2, 2), pads=(1, 0, 1, 2),
                                ceil_mode=True)),
    ("AveragePool", (3, 12), dict(kernel=(4,), strides=(3,), pads=(2, 1))),
    ("AveragePool", (3, 12), dict(kernel=(4,), strides=(3,), pads=(2, 1),
                                  count_include_pad=True)),
    ("AveragePool", (2, 7, 8), dict(kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1),
                                    ceil_mode=True, count_include_pad=True)),
    ("AveragePool", (2, 9, 6), dict(kernel=(2, 2), strides=(3, 2), ceil_mode=True)),
]


@pytest.mark.parametrize("onnx_op,frame,attrs", POOLS)
def test_pool_matches_onnxruntime(onnx_op, frame, attrs):
    rng = np.random.default_rng(11)
    x = rnd(rng, T * B, *frame)
    onnx_attrs = {("kernel_shape" if k == "kernel" else k): list(v) if isinstance(v, tuple)
                  else int(v) for k, v in attrs.items()}
    y = ort_node(onnx_op, x, {}, len(frame) + 1, **onnx_attrs)
    fn = "max" if onnx_op == "MaxPool" else "avg"
    check("Pool", x, y, [], {"fn": fn, **attrs}, len(attrs["kernel"]))


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("frame,pads", [((7,), (3, 6)), ((3, 5), (0, 4, 2, 1))])
def test_pad_modes_match_onnxruntime(mode, frame, pads):
    rng = np.random.default_rng(5)
    x = rnd(rng, T * B, *frame)
    n = len(frame)
    onnx_pads = np.array([0, *pads[:n], 0, *pads[n:]], np.int64)
    consts = {"pads": onnx_pads}
    if mode == "constant":
        consts["value"] = np.array(1.5, np.float32)
    y = ort_node("Pad", x, consts, n + 1, mode=mode)
    attrs = {"pads": pads, "mode": mode, "value": 1.5 if mode == "constant" else 0.0}
    check("Pad", x, y, [], attrs, 0, layouts=(False,))


@pytest.mark.parametrize("slope_shape", [(), (3, 1), (1, 6), (3, 6)])
def test_prelu_matches_onnxruntime(slope_shape):
    rng = np.random.default_rng(6)
    x, slope = rnd(rng, T * B, 3, 6), rnd(rng, *slope_shape)
    y = ort_node("PRelu", x, {"slope": slope}, 3)
    b = GraphBuilder()
    b.output(b.binary("PRelu", b.input("x", (3, 6)), slope), "y")
    model = edgernn.Model(b.build())
    frames, want = x.reshape(T, B, 3, 6), y.reshape(T, B, 3, 6)
    assert np.abs(model.streams(B).run(frames) - want).max() <= TOL
    ref = model.streams(B, backend="reference").run(frames)
    assert np.abs(ref - want).max() <= TOL


@settings(max_examples=30, deadline=None)
@given(cin=st.integers(1, 4), cmul=st.integers(1, 3), groups=st.sampled_from([1, 2]),
       length=st.integers(4, 20), k=st.integers(1, 4), stride=st.integers(1, 3),
       dil=st.integers(1, 2), p0=st.integers(0, 2), p1=st.integers(0, 2),
       two_d=st.booleans(), seed=st.integers(0, 1000))
def test_frame_conv_any_geometry_matches_onnxruntime(cin, cmul, groups, length, k, stride, dil,
                                                     p0, p1, two_d, seed):
    rng = np.random.default_rng(seed)
    cin *= groups
    frame = (cin, 5, length) if two_d else (cin, length)
    kernel = (2, k) if two_d else (k,)
    if length + p0 + p1 < dil * (k - 1) + 1:
        return
    wshape = (cmul * groups, cin // groups, *kernel)
    attrs = dict(strides=(1, stride) if two_d else (stride,),
                 dilations=(1, dil) if two_d else (dil,),
                 pads=(1, p0, 0, p1) if two_d else (p0, p1), groups=groups)
    x, w = rnd(rng, T * B, *frame), rnd(rng, *wshape)
    onnx_attrs = {("group" if kk == "groups" else kk): list(v) if isinstance(v, tuple) else v
                  for kk, v in attrs.items()}
    y = ort_node("Conv", x, {"W": w}, len(frame) + 1, **onnx_attrs)
    check("FrameConv", x, y, [w], attrs, len(kernel))


@pytest.mark.parametrize("frame,pads", [((6,), (6, 2)), ((3, 4), (3, 4, 1, 0))])
def test_symmetric_mode_matches_numpy(frame, pads):
    """TFLite MIRROR_PAD SYMMETRIC (no ONNX twin): Pad and FrameConv vs numpy's pad."""
    rng = np.random.default_rng(8)
    x = rnd(rng, T, B, *frame)
    n = len(frame)
    want = np.pad(x, [(0, 0), (0, 0), *zip(pads[:n], pads[n:], strict=True)],
                  mode="symmetric")
    b = GraphBuilder()
    b.output(b.add("Pad", [b.input("x", frame)], {"pads": pads, "mode": "symmetric"}), "y")
    assert np.array_equal(edgernn.Model(b.build()).streams(B).run(x), want)
    if n == 2:  # a 1x1 identity conv over the padded width only
        b = GraphBuilder()
        w = np.eye(3, dtype=np.float32)[:, :, None]
        y = b.add("FrameConv", [b.input("x", frame), w],
                  {"pads": (pads[1], pads[3]), "pad_mode": "symmetric"})
        b.output(y, "y")
        got = edgernn.Model(b.build()).streams(B).run(x)
        assert np.array_equal(got, np.pad(x, [(0, 0)] * 3 + [(pads[1], pads[3])],
                                          mode="symmetric"))


def test_bad_geometry_is_a_graph_error():
    b = GraphBuilder()
    x = b.input("x", (2, 5))
    with pytest.raises(edgernn.GraphError, match="too short"):
        b.add("FrameConv", [x, np.zeros((3, 2, 7), np.float32)])
    with pytest.raises(edgernn.GraphError, match="reflect pads"):
        b.add("FrameConv", [x, np.zeros((3, 2, 2), np.float32)],
              {"pads": (5, 0), "pad_mode": "reflect"})
    with pytest.raises(edgernn.GraphError, match="channels"):
        b.add("FrameConv", [x, np.zeros((3, 3, 2), np.float32)])
    with pytest.raises(edgernn.GraphError, match="pads"):
        b.add("Pool", [x], {"fn": "max", "kernel": (2,), "pads": (2, 0)})


def test_new_attribute_values_are_required_features(tmp_path):
    """An older reader must refuse, not misread, reflect padding and PRelu."""
    b = GraphBuilder()
    x = b.input("x", (2, 5))
    y = b.add("Pad", [x], {"pads": (0, 1, 0, 1), "mode": "reflect"})
    b.output(b.binary("PRelu", y, np.float32(0.1)), "y")
    path = edgernn.save(b.build(), tmp_path / "m.ern")
    from edgernn.weightfile import requirements

    assert requirements(edgernn.load(path).graph) == ["binary-prelu", "pad-modes"]

