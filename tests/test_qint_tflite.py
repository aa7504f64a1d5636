"""Integer kernels vs the TFLite (LiteRT) interpreter on full-int8 .tflite fixtures.

The fixtures (tests/fixtures/qint/make_qint_fixtures.py, TensorFlow 2.21 + tf_keras)
are read with the ``tflite`` package; each test builds the same IR op by hand from the
model's own int8 weights and quantization, streams the same int8 inputs through it and
compares with the interpreter invoke by invoke.  Three interpreter configurations:
``ref`` (BUILTIN_REF, TFLite's reference kernels), ``builtin`` (the optimized builtin
kernels, no delegate) and ``auto`` (the default: XNNPACK).  Measured here (x86,
ai-edge-litert, these seeds), share of outputs one step off:

=================  =====  ==========================  ===========================
op                 ref    builtin                     auto (XNNPACK, the default)
=================  =====  ==========================  ===========================
FULLY_CONNECTED    0      0.20-0.33 % (rounds twice)  0
CONV_2D            0      0                           0.17 %
DEPTHWISE_CONV_2D  0      0.15 %                      0.38 %
dilated Conv1D     0      0.40 %                      0.16 %
LOGISTIC, TANH     0      0                           0
ADD / MUL          0      0 / 0                       0 / 0.60 %
LSTM 8x8_16        0      0                           0
SOFTMAX            0      0                           0
=================  =====  ==========================  ===========================

Asserted: equal to ``ref``; one step on at most 1 % of the values otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.qint.qbuild import QB
from fixtures.qint.tflite_ir import TFLiteFile, interpreter, invoke

import edgernn

pytest.importorskip("tflite", reason="the tflite package reads the fixtures ([dev] extra)")
try:
    import ai_edge_litert  # noqa: F401
except ImportError:  # pragma: no cover
    pytest.importorskip("tflite_runtime", reason="needs ai-edge-litert (the [dev] extra)")

RESOLVERS = ("ref", "builtin", "auto")
ACTS = {0: None, 1: ("Relu", {}), 3: ("Clip", {"alpha": 0.0, "beta": 6.0})}
RNG = np.random.default_rng(20261202)


def agree(got: np.ndarray, want: np.ndarray, resolver: str) -> float:
    """Assert equality with ``ref``, else one step on <= 1 %; return the differing share."""
    d = np.abs(got.astype(np.int64) - want.astype(np.int64))
    share = float(np.mean(d != 0))
    if resolver == "ref":
        assert share == 0, f"{share:.2%} differ from TFLite's reference kernels (max {d.max()})"
    else:
        assert d.max() <= 1 and share <= 0.01, f"{share:.2%} differ, max {d.max()} steps"
    return share


def run(graph, **inputs) -> dict[str, np.ndarray]:
    """All outputs of a fresh compiled stream over whole sequences, by name."""
    res = edgernn.Model(graph).run(**inputs)
    return res if isinstance(res, dict) else {graph.outputs[0]: res}


def frames(n: int, *shape: int) -> np.ndarray:
    return RNG.integers(-128, 128, (n, *shape)).astype(np.int8)


def _dense(b: QB, f: TFLiteFile, op, x: str, k: int) -> str:
    w, out = f.t(op.inputs[1]), f.t(op.outputs[0])
    ins = [x, b.const(f"W{k}", w.data, "q8", w.scale if w.scale.size > 1 else w.scale[0])]
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bias = f.t(op.inputs[2])
        ins.append(b.const(f"B{k}", bias.data, "i32",
                           bias.scale if bias.scale.size > 1 else bias.scale[0]))
    act = ACTS[op.options.FusedActivationFunction()]
    if act is None:
        return b.op("Dense", ins, f"y{k}", "i8", out.s, out.z)
    d = b.op("Dense", ins, f"d{k}", "i8", out.s, out.z)
    return b.op("Unary", [d], f"y{k}", "i8", out.s, out.z, {"fn": act[0], **act[1]})


def stateless(name: str, resolver: str, feeds: dict[int, np.ndarray], outs: list[int]):
    """Invoke the interpreter once per frame of ``feeds`` (tensor -> (N, ...) frames)."""
    it = interpreter(name, resolver)
    n = len(next(iter(feeds.values())))
    res = [invoke(it, {k: v[t] for k, v in feeds.items()}, outs) for t in range(n)]
    return [np.stack([r[j].reshape(r[j].shape[1:]) for r in res]) for j in range(len(outs))]


@pytest.mark.parametrize("resolver", RESOLVERS)
@pytest.mark.parametrize("name", ["fc", "fc_per_tensor"])
def test_fully_connected(name, resolver):
    """FULLY_CONNECTED, per-channel and per-tensor weights, fused ReLU/ReLU6."""
    f = TFLiteFile(name)
    xin = f.t(f.inputs[0])
    b = QB()
    b.input("x", xin.shape[1:], "i8", xin.s, xin.z)
    ys = {o.outputs[0]: _dense(b, f, o, "x", k)
          for k, o in enumerate(f.ops) if o.name == "FULLY_CONNECTED"}
    xs = frames(200, *xin.shape[1:])
    got = run(b.build(*ys.values()), x=xs)
    want = stateless(name, resolver, {f.inputs[0]: xs}, list(ys))
    for y, w in zip(ys.values(), want, strict=True):
        agree(got[y], w, resolver)


def _conv_ir(f: TFLiteFile, kind: str) -> tuple:
    """(graph, x frames -> TFLite input, TFLite output -> frames) of a PAD + conv model."""
    pad = f.op("PAD")
    cv = f.op(kind)
    x, w, bias, out = (f.t(i) for i in (f.inputs[0], cv.inputs[1], cv.inputs[2],
                                         cv.outputs[0]))
    pads = f.t(pad.inputs[1]).data  # (rank, 2): begin/end per NHWC axis
    o = cv.options
    if kind == "CONV_2D":  # filter (Cout, Kt, Kf, Cin) -> (Cout, Cin, Kt, Kf)
        wk = np.transpose(w.data, (0, 3, 1, 2))
        groups = 1
    else:  # depthwise filter (1, Kt, Kf, Cout) -> (Cout, 1, Kt, Kf)
        wk = np.transpose(w.data[0], (2, 0, 1))[:, None]
        groups = x.shape[3]
    kt = wk.shape[2]
    attrs = {"groups": groups, "dilation": o.DilationHFactor(), "stride": o.StrideH(),
             "freq_dilation": o.DilationWFactor(), "freq_stride": o.StrideW(),
             "freq_pads": (int(pads[2, 0]), int(pads[2, 1])),
             "delay": (kt - 1) * o.DilationHFactor() - int(pads[1, 0])}
    b = QB()
    b.input("x", (x.shape[3], x.shape[2]), "i8", x.s, x.z)
    b.const("W", wk, "q8", w.scale)
    b.const("B", bias.data, "i32", bias.scale)
    act = ACTS[o.FusedActivationFunction()]
    y = b.op("Conv", ["x", "W", "B"], "c" if act else "y", "i8", out.s, out.z, attrs)
    if act:
        y = b.op("Unary", [y], "y", "i8", out.s, out.z, {"fn": act[0], **act[1]})
    return b.build(y), cv.outputs[0]


@pytest.mark.parametrize("resolver", RESOLVERS)
@pytest.mark.parametrize("name,kind", [("conv", "CONV_2D"), ("depthwise", "DEPTHWISE_CONV_2D")])
def test_conv_over_time_and_frequency(name, kind, resolver):
    """CONV_2D / DEPTHWISE_CONV_2D after a PAD op: time padded causally (conv, the ring
    buffer's zero-point start) or not at all (depthwise: delay 1), frequency by 1 on
    each side (freq_pads), per-channel weights, fused ReLU (conv)."""
    f = TFLiteFile(name)
    graph, out = _conv_ir(f, kind)
    x = f.t(f.inputs[0])
    seqs = [frames(x.shape[1], x.shape[2], x.shape[3]) for _ in range(20)]
    it = interpreter(name, resolver)
    got, want = [], []
    for seq in seqs:  # (T, F, C) per invoke = one whole sequence
        y = run(graph, x=np.transpose(seq, (0, 2, 1)))["y"]  # frames (C, F)
        got.append(np.transpose(y, (0, 2, 1)))
        want.append(invoke(it, {f.inputs[0]: seq}, [out])[0][0])
    agree(np.stack(got), np.stack(want), resolver)


@pytest.mark.parametrize("resolver", RESOLVERS)
def test_conv1d_causal_dilated(resolver):
    """Conv1D(padding="causal", dilation 2): PAD + RESHAPE + CONV_2D; the PAD's zero
    point is what the int8 ring buffer starts with."""
    f = TFLiteFile("conv1d")
    cv = f.op("CONV_2D")
    x, w, bias, out = (f.t(i) for i in (f.inputs[0], cv.inputs[1], cv.inputs[2],
                                         f.outputs[0]))
    b = QB()
    b.input("x", (x.shape[2],), "i8", x.s, x.z)
    b.const("W", np.transpose(w.data[:, 0], (0, 2, 1)), "q8", w.scale)
    b.const("B", bias.data, "i32", bias.scale)
    b.op("Conv", ["x", "W", "B"], "y", "i8", out.s, out.z,
         {"dilation": cv.options.DilationWFactor()})
    graph = b.build("y")
    it = interpreter("conv1d", resolver)
    got, want = [], []
    for _ in range(30):
        seq = frames(x.shape[1], x.shape[2])
        got.append(run(graph, x=seq)["y"])
        want.append(invoke(it, {f.inputs[0]: seq}, [f.outputs[0]])[0][0])
    agree(np.stack(got), np.stack(want), resolver)


@pytest.mark.parametrize("resolver", RESOLVERS)
@pytest.mark.parametrize("name,fn", [("logistic", "Sigmoid"), ("tanh", "Tanh")])
def test_logistic_tanh_all_256_inputs(name, fn, resolver):
    f = TFLiteFile(name)
    x, out = f.t(f.inputs[0]), f.t(f.outputs[0])
    b = QB()
    b.input("x", (x.shape[1],), "i8", x.s, x.z)
    b.op("Unary", ["x"], "y", "i8", out.s, out.z, {"fn": fn})
    codes = np.resize(np.arange(-128, 128, dtype=np.int8), (7, x.shape[1]))
    got = run(b.build("y"), x=codes)["y"]
    want = stateless(name, resolver, {f.inputs[0]: codes}, [f.outputs[0]])[0]
    agree(got, want, resolver)


@pytest.mark.parametrize("resolver", RESOLVERS)
def test_add_mul(resolver):
    f = TFLiteFile("add_mul")
    b = QB()
    add, mul = f.op("ADD"), f.op("MUL")
    names = {}
    for k, i in enumerate(add.inputs):
        t = f.t(i)
        names[i] = b.input(f"in{k}", (t.shape[1],), "i8", t.s, t.z)
    for kind, op in (("Add", add), ("Mul", mul)):
        o = f.t(op.outputs[0])
        b.op("Binary", [names[i] for i in op.inputs], kind, "i8", o.s, o.z, {"fn": kind})
    feeds = {i: frames(300, f.t(i).shape[1]) for i in add.inputs}
    got = run(b.build("Add", "Mul"), **{names[i]: v for i, v in feeds.items()})
    want = stateless("add_mul", resolver, feeds, [add.outputs[0], mul.outputs[0]])
    agree(got["Add"], want[0], resolver)
    agree(got["Mul"], want[1], resolver)


def lstm_ir(f: TFLiteFile):
    """The IR LSTM of the fixture's UNIDIRECTIONAL_SEQUENCE_LSTM (gates i, f, c, o; one
    scale per gate matrix, repeated per row; H0 = the output state's zero point)."""
    op = f.op("UNIDIRECTIONAL_SEQUENCE_LSTM")
    ins = op.inputs
    x, h, c, out = f.t(ins[0]), f.t(ins[18]), f.t(ins[19]), f.t(op.outputs[0])
    n = f.t(ins[4]).shape[0]
    stack = lambda idx: np.concatenate([f.t(i).data for i in idx])  # noqa: E731
    per_row = lambda idx: np.repeat([f.t(i).s for i in idx], n)  # noqa: E731
    b = QB()
    b.input("x", (x.shape[2],), "i8", x.s, x.z)
    b.const("W", stack(ins[1:5]), "q8", per_row(ins[1:5]), axis=0)
    b.const("R", stack(ins[5:9]), "q8", per_row(ins[5:9]), axis=0)
    b.const("B", stack(ins[12:16]), "i32", per_row(ins[12:16]))
    b.const("H0", np.full(out.shape[-1], h.z), "i32")
    b.op("LSTM", ["x", "W", "R", "B", "", "", "", "H0"], "y", "i8", out.s, out.z,
         {"cell_scale_log2": int(round(np.log2(c.s))),
          "cell_clip": op.options.CellClip(), "proj_clip": op.options.ProjClip()})
    return b.build("y"), op


@pytest.mark.parametrize("resolver", RESOLVERS)
def test_lstm_8x8_16_streams_invoke_by_invoke(resolver):
    """UNIDIRECTIONAL_SEQUENCE_LSTM (Keras 2, 8 -> 16): h and c are variable tensors that
    persist across invoke(), so 8 invokes of 6 frames are one 48-frame stream; each
    invoke is compared with the stream's next run() of the same 6 frames, then the
    same 48 frames are stepped one at a time."""
    f = TFLiteFile("lstm")
    graph, op = lstm_ir(f)
    x = f.t(op.inputs[0])
    it = interpreter("lstm", resolver)
    stream = edgernn.Model(graph).stream()
    chunks = [frames(x.shape[1], x.shape[2]) for _ in range(8)]
    got = np.stack([stream.run(ch) for ch in chunks])
    want = np.stack([invoke(it, {op.inputs[0]: ch}, [op.outputs[0]])[0][0] for ch in chunks])
    agree(got, want, resolver)
    stepper = edgernn.Model(graph).stream()
    steps = np.stack([stepper.step(fr) for fr in np.concatenate(chunks)])
    assert np.array_equal(steps, got.reshape(steps.shape))


@pytest.mark.parametrize("resolver", RESOLVERS)
def test_softmax(resolver):
    f = TFLiteFile("softmax")
    x, out = f.t(f.inputs[0]), f.t(f.outputs[0])
    b = QB()
    b.input("x", (x.shape[1],), "i8", x.s, x.z)
    b.op("Softmax", ["x"], "y", "i8", out.s, out.z)
    xs = frames(300, x.shape[1])
    xs[:5] = xs[:5] // 8  # near-uniform rows too
    got = run(b.build("y"), x=xs)["y"]
    agree(got, stateless("softmax", resolver, {f.inputs[0]: xs}, [f.outputs[0]])[0], resolver)
