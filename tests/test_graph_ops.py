"""Every op kind through the whole runtime (plan, bindings, kernels) vs a numpy interpreter."""

from __future__ import annotations

import numpy as np
import pytest

import edgernn
from edgernn.builder import GraphBuilder
from edgernn.reference.backend import evaluate
from edgernn.warmup import kitchen_sink

TOL = 1e-5


def rnd(rng, *shape, scale=0.4):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def check(graph, T=23, B=2, seed=0, tol=TOL):
    rng = np.random.default_rng(seed)
    model = edgernn.Model(graph)
    xs = {v.name: rnd(rng, T, B, *v.shape, scale=1.0) for v in graph.inputs}
    want = evaluate(graph, xs)
    got = model.streams(B).run(**xs)
    got = got if isinstance(got, dict) else {graph.outputs[0]: got}
    for name in graph.outputs:
        assert got[name].shape == want[name].shape, name
        assert np.abs(got[name] - want[name]).max() <= tol, name
    # and one stream, frame by frame
    s = model.stream()
    name = graph.outputs[0]
    stepped = [s.step(**{k: v[t, 0] for k, v in xs.items()}) for t in range(T)]
    stepped = np.stack([y if not isinstance(y, dict) else y[name]
                        for y in stepped if y is not None])
    assert np.abs(stepped - want[name][:, 0]).max() <= tol


def test_kitchen_sink_every_op_kind():
    g = kitchen_sink()
    assert {op.kind for op in g.ops} >= {
        "Conv", "LSTM", "GRU", "RNN", "Dense", "Reshape", "Unary", "Binary", "LayerNorm",
        "Transpose", "Slice", "Gather", "Pad", "Reduce", "Concat", "Softmax", "FrameConv",
        "FrameConvTranspose", "Pool", "Where"}
    check(g)


@pytest.mark.parametrize("variant", ["peephole_clip", "input_forget_acts", "cell_proj_clip"])
def test_lstm_variants(variant):
    rng = np.random.default_rng(1)
    H, I = 6, 5
    b = GraphBuilder()
    x = b.input("x", (I,))
    kw = {}
    if variant == "peephole_clip":
        kw = dict(P=rnd(rng, 3 * H), clip=0.7, h0=rnd(rng, H), c0=rnd(rng, H))
    elif variant == "input_forget_acts":
        kw = dict(input_forget=True, activations=("HardSigmoid", "LeakyRelu", "Softsign"),
                  activation_alpha=(0.3, 0.05, 0.0), activation_beta=(0.4, 0.0, 0.0))
    else:
        kw = dict(proj=rnd(rng, 4, H), proj_bias=rnd(rng, 4), cell_clip=0.5, proj_clip=0.3)
    hr = 4 if "proj" in kw else H
    y = b.lstm(x, rnd(rng, 4 * H, I, scale=1.0), rnd(rng, 4 * H, hr), rnd(rng, 4 * H), **kw)
    b.output(y, "y")
    check(b.build())


@pytest.mark.parametrize("lbr", [False, True])
def test_gru_both_reset_forms_with_initial_state(lbr):
    rng = np.random.default_rng(2)
    b = GraphBuilder()
    y = b.gru(b.input("x", (4,)), rnd(rng, 15, 4), rnd(rng, 15, 5), rnd(rng, 15), rnd(rng, 15),
              linear_before_reset=lbr, h0=rnd(rng, 5), clip=1.5)
    b.output(y, "y")
    check(b.build())


def test_rnn_leaky_relu_activation():
    rng = np.random.default_rng(3)
    b = GraphBuilder()
    y = b.rnn(b.input("x", (3,)), rnd(rng, 7, 3), rnd(rng, 7, 7), rnd(rng, 7),
              activation="LeakyRelu", activation_alpha=(0.2,))
    b.output(y, "y")
    check(b.build())


@pytest.mark.parametrize("delay,stride,groups", [(0, 1, 1), (2, 1, 2), (1, 2, 4), (4, 3, 1)])
def test_conv2d_time_by_frequency(delay, stride, groups):
    rng = np.random.default_rng(4)
    b = GraphBuilder()
    x = b.input("x", (4, 9))
    y = b.conv(x, rnd(rng, 8, 4 // groups, 3, 3), rnd(rng, 8), stride=stride, dilation=2,
               delay=delay, groups=groups, freq_stride=2, freq_pads=(1, 1))
    b.output(b.reduce("Mean", y, axes=(1,)), "y")
    check(b.build(), T=31)


def test_multiple_inputs_and_outputs():
    rng = np.random.default_rng(5)
    b = GraphBuilder()
    a, c = b.input("a", (3,)), b.input("c", (2,))
    h = b.concat([a, c, np.ones(1, np.float32)], axis=0)
    b.output(b.binary("Sub", b.dense(h, rnd(rng, 4, 6)), b.dense(c, rnd(rng, 4, 2))), "d")
    b.output(b.softmax(h, log=True), "s")
    check(b.build())


def test_activation_fusion_only_where_the_value_is_private():
    rng = np.random.default_rng(6)
    b = GraphBuilder()
    x = b.input("x", (4,))
    shared = b.dense(x, rnd(rng, 5, 4))            # two readers: not fused
    fused = b.relu(b.dense(x, rnd(rng, 5, 4)))     # fused
    conv = b.conv(x, rnd(rng, 5, 4, 2))            # also a graph output: not fused
    y = b.concat([b.tanh(shared), shared, fused, b.sigmoid(conv)], axis=0)
    b.output(y, "y")
    b.output(conv, "conv")
    g = b.build()
    plan = edgernn.Model(g).plan
    assert [op.kind for op in g.ops if op.name in plan.fusions] == ["Dense"]
    check(g)
