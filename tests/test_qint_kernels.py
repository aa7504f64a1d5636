"""Every integer kernel vs a plain-numpy integer reference written from the TFLite and
gemmlowp sources (tests/fixtures/qint/intref.py), bit for bit, through the op records
(so the binders' multipliers, folded biases and state layout are checked too)."""

from __future__ import annotations

import platform
import re

import numba
import numpy as np
import pytest
from fixtures.qint import intref as R
from fixtures.qint.qbuild import F32, QB, codes, f32q, rows_qm, run

import edgernn
from edgernn.kernels import FASTMATH, linalg
from edgernn.kernels import fixedpoint as fp

# --- fixed point ------------------------------------------------------------------------


@pytest.mark.parametrize("bits", range(7))
def test_int16_tanh_and_logistic_on_every_input(bits):
    """gemmlowp tanh/logistic on all 65536 int16 raws (tanh with 0..6 integer bits, as
    TFLite's ApplyTanh takes; logistic on Q3.12 as the gates)."""
    raws = np.arange(-32768, 32768, dtype=np.int64)
    tanh = np.array([fp.tanh16(int(v), bits) for v in raws[::3]])
    assert np.array_equal(tanh, R.tanh16(raws[::3], bits))
    if bits == 3:
        logi = np.array([fp.logistic16(int(v), 3) for v in raws[::3]])
        assert np.array_equal(logi, R.logistic16(raws[::3], 3))


def test_multiply_by_quantized_multiplier_single_and_double():
    rng = np.random.default_rng(1)
    x = rng.integers(-2 ** 31, 2 ** 31, 3000)
    for real in (0.7, 3.1e-4, 1.9e-7, 2.5, 0.5, 7.3e-10):
        m, s = fp.quantize_multiplier(real)
        assert (m, s) == R.qmul(real)
        got1 = np.array([fp.mbqm(int(v), m, s) for v in x])
        got2 = np.array([fp.mbqm_double(int(v), m, s) for v in x])
        assert np.array_equal(got1, R.mbqm(x, m, s, True))
        assert np.array_equal(got2, R.mbqm(x, m, s, False))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 assembly")
def test_int8_matmul_emits_the_int8_dot_instructions():
    """x86: the int8 dot product of qmatmul vectorizes to vpmaddwd (or the VNNI vpdp*),
    not to 32-bit multiplies.  A private uncached compile of the same function: numba
    does not keep assembly for kernels loaded from its cache."""
    fresh = numba.njit(nogil=True, fastmath=FASTMATH, error_model="numpy")(
        linalg.qmatmul.py_func)
    args = (np.zeros((1, 64), np.int8), np.zeros((8, 64), np.int8), np.zeros(8, np.int32),
            np.zeros((2, 8), np.int64), np.int64(0), np.int64(-128), np.int64(127),
            np.zeros((1, 8), np.int8), False, True, np.zeros(8, np.int32))
    fresh(*args)
    asm = fresh.inspect_asm(fresh.signatures[0])
    found = set(re.findall(r"\b(vpmaddwd|vpdpwssd|vpdpbusd)\b", asm))
    assert found, "no int8 dot-product instruction in qmatmul's assembly"
    assert not re.search(r"\bvpmulld\b", asm), "32-bit multiplies: the dot did not widen"


# --- Dense, Conv ------------------------------------------------------------------------


@pytest.mark.parametrize("per_channel,act", [(True, None), (False, "Relu"), (True, "Relu6"),
                                             (True, "Sigmoid")])
def test_dense(per_channel, act):
    rng = np.random.default_rng(2)
    xq, yq, o, k = (0.04, 7), (0.02, -11), 9, 13
    w = codes(rng, o, k, lo=-127)
    ws = rng.uniform(0.002, 0.02, o).astype(F32) if per_channel else F32(0.01)
    wsr = np.broadcast_to(ws, (o,))
    bs = F32(xq[0]) * wsr
    b = rng.integers(-3000, 3000, o)
    g = QB()
    g.input("x", (k,), "i8", *xq)
    g.const("W", w, "q8", ws, axis=0 if per_channel else None)
    g.const("B", b, "i32", bs)
    fn = {"Relu6": ("Clip", {"alpha": 0.0, "beta": 6.0}), "Relu": ("Relu", {}),
          "Sigmoid": ("Sigmoid", {})}.get(act)
    g.op("Dense", ["x", "W", "B"], "d", "i8", *yq)
    out = g.op("Unary", ["d"], "y", "i8", *(yq if act != "Sigmoid" else (1 / 256, -128)),
               {"fn": fn[0], **fn[1]}) if fn else "d"
    x = codes(rng, 40, k)
    got = run(g.build(out), x=x)[out]
    reals = ([xq[0] * float(s) / yq[0] for s in wsr] if per_channel
             else [f32q(xq[0], "*", ws) / yq[0]] * o)
    m, s = rows_qm(reals)
    want = R.sat(R.mbqm((x.astype(np.int64) - xq[1]) @ w.T.astype(np.int64) + b, m, s) + yq[1],
                 -128, 127)
    if act == "Relu":
        want = np.maximum(want, yq[1])
    if act == "Relu6":
        want = np.clip(want, yq[1], min(127, yq[1] + int(R.np.floor(6 / F32(yq[0]) + 0.5))))
    if act == "Sigmoid":
        deq = F32(yq[0]) * (want - yq[1]).astype(F32)
        sig = (F32(1) / (F32(1) + np.exp(-deq))).astype(F32) * F32(256)
        want = np.clip(np.floor(sig.astype(np.float64) + 0.5) - 128, -128, 127)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("case", [
    dict(kt=3, dilation=2, delay=0, stride=1, groups=1, f=1, kf=1),
    dict(kt=3, dilation=1, delay=1, stride=2, groups=1, f=7, kf=3, fpads=(1, 1)),
    dict(kt=2, dilation=1, delay=0, stride=1, groups=4, f=5, kf=3, fpads=(1, 1), mult=2),
    dict(kt=4, dilation=1, delay=2, stride=1, groups=2, f=6, kf=2, fstride=2),
])
def test_conv_over_time(case):
    """Causal conv over time (ring buffer starting at the input zero point), frequency
    padding, stride, dilation, delay, groups and depthwise multipliers."""
    rng = np.random.default_rng(3)
    cin, kt, kf, groups = 4, case["kt"], case["kf"], case["groups"]
    cout = groups * case.get("mult", 1) if groups > 1 else 5
    xq, yq = (0.05, 13), (0.03, -4)
    w = codes(rng, cout, cin // groups, kt, kf, lo=-127)
    ws = rng.uniform(0.002, 0.01, cout).astype(F32)
    b = rng.integers(-2000, 2000, cout)
    frame = (cin, case["f"]) if case["f"] > 1 or kf > 1 else (cin,)
    attrs = {k: case[k] for k in ("dilation", "delay", "stride", "groups")}
    attrs.update(freq_pads=case.get("fpads", (0, 0)), freq_stride=case.get("fstride", 1))
    g = QB()
    g.input("x", frame, "i8", *xq)
    g.const("W", w if len(frame) == 2 else w[..., 0], "q8", ws, axis=0)
    g.const("B", b, "i32", F32(xq[0]) * ws)
    g.op("Conv", ["x", "W", "B"], "y", "i8", *yq, attrs)
    x = codes(rng, 17, *frame)
    m, s = rows_qm(xq[0] * ws.astype(np.float64) / yq[0])
    want = R.conv_causal(x.reshape(17, cin, -1), w, b, m, s, xq[1], yq[1], -128, 127,
                         case["dilation"], case["stride"], case["delay"], groups,
                         case.get("fpads", (0, 0)), case.get("fstride", 1))
    g1 = g.build("y")
    got = run(g1, x=x)["y"].reshape(want.shape)
    assert np.array_equal(got, want)
    s1 = edgernn.Model(g1).stream()  # frame by frame == whole sequence
    steps = [y for y in (s1.step(fr) for fr in x) if y is not None]
    assert np.array_equal(np.stack(steps).reshape(want.shape), want)


# --- elementwise, layout, quantize --------------------------------------------------------


@pytest.mark.parametrize("fn", ["Add", "Sub", "Mul"])
def test_binary_with_broadcasting(fn):
    rng = np.random.default_rng(7)
    qa, qb, qy = (0.02, -5), (0.07, 9), (0.05, 3)
    g = QB()
    g.input("a", (3, 4), "i8", *qa)
    g.input("b", (4,), "i8", *qb)
    g.op("Binary", ["a", "b"], "y", "i8", *qy, {"fn": fn})
    a, b = codes(rng, 20, 3, 4), codes(rng, 20, 4)
    got = run(g.build("y"), a=a, b=b)["y"]
    assert np.array_equal(got, R.binary(fn, a, b[:, None, :], qa, qb, qy))


@pytest.mark.parametrize("fn,attrs", [("Exp", {}), ("LeakyRelu", {"alpha": 0.1}),
                                      ("Tanh", {}), ("Clip", {"alpha": -1.0, "beta": 1.0})])
def test_unary_tables(fn, attrs):
    """Every int8 Unary is a table over the 256 codes: TFLite's float LUT for Tanh,
    ReluX for clamps, dequantize -> f -> round half away for the rest."""
    qx, qy = (0.03, 10), ((1 / 128, 0) if fn == "Tanh" else (0.02, -20))
    g = QB()
    g.input("x", (256,), "i8", *qx)
    g.op("Unary", ["x"], "y", "i8", *qy, {"fn": fn, **attrs})
    x = np.arange(-128, 128, dtype=np.int8)[None]
    got = run(g.build("y"), x=x)["y"][0].astype(np.int64)
    deq32 = F32(qx[0]) * (x[0].astype(F32) - F32(qx[1]))
    deq = float(F32(qx[0])) * (x[0].astype(np.float64) - qx[1])  # IR scales are float32
    if fn == "Tanh":
        want = np.floor(np.tanh(deq32).astype(F32) * F32(128) + 0.5)
    elif fn == "Clip":
        m, s = R.qmul(qx[0] / qy[0])
        lo = qy[1] + int(np.floor(F32(-1) / F32(qy[0]) - 0.5) + 1)
        hi = qy[1] + int(np.floor(F32(1) / F32(qy[0]) + 0.5))
        want = np.clip(R.mbqm(x[0].astype(np.int64) - qx[1], m, s) + qy[1], max(lo, -128),
                       min(hi, 127))
    else:
        f = np.exp(deq) if fn == "Exp" else np.where(deq >= 0, deq, 0.1 * deq)
        v = f / float(F32(qy[0]))
        want = np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5)) + qy[1]
    assert np.array_equal(got, np.clip(want, -128, 127))


def test_quantize_dequantize_requantize():
    rng = np.random.default_rng(8)
    q1, q2 = (0.013, -7), (0.004, 20)
    g = QB()
    g.input("x", (50,))
    g.op("Quantize", ["x"], "q", "i8", *q1, {"scale": q1[0], "zero_point": q1[1]})
    g.op("Requantize", ["q"], "r", "i8", *q2,
         {"scale": q2[0], "zero_point": q2[1], "in_scale": q1[0], "in_zero_point": q1[1]})
    g.op("Dequantize", ["r"], "y", "f32", attrs={"in_scale": q2[0], "in_zero_point": q2[1]})
    x = (rng.standard_normal((9, 50)) * 1.5).astype(F32)
    x[0, :4] = np.array([0.5, -0.5, 1.5, -2.5], F32) * F32(q1[0])  # ties round away
    got = run(g.build("q", "r", "y"), x=x)
    v = x.astype(np.float64) / F32(q1[0])
    q = np.clip(np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5)) + q1[1], -128, 127)
    assert np.array_equal(got["q"], q)
    m, s = R.qmul(float(F32(q1[0])) / float(F32(q2[0])))
    r = np.clip(R.mbqm(q.astype(np.int64) - q1[1], m, s, single=False) + q2[1], -128, 127)
    assert np.array_equal(got["r"], r)
    assert np.array_equal(got["y"], (F32(q2[0]) * (r - q2[1]).astype(F32)).astype(F32))


def test_layout_ops_keep_codes_and_pad_with_the_zero_point():
    rng = np.random.default_rng(9)
    qa, qb = (0.02, -6), (0.05, 11)
    g = QB()
    g.input("a", (3, 4), "i8", *qa)
    g.input("b", (2, 4), "i8", *qb)
    g.op("Pad", ["a"], "p", "i8", *qa, {"pads": (1, 0, 0, 2)})
    g.op("Transpose", ["a"], "t", "i8", *qa, {"perm": (1, 0)})
    g.op("Gather", ["a", g.const("idx", [2, 0], "i64")], "ga", "i8", *qa, {"axis": 0})
    g.op("Reshape", ["a"], "re", "i8", *qa, {"shape": (12,)})
    g.op("Concat", ["a", "b"], "c", "i8", *qa, {"axis": 0})
    a, b = codes(rng, 6, 3, 4), codes(rng, 6, 2, 4)
    got = run(g.build("p", "t", "ga", "re", "c"), a=a, b=b)
    assert np.array_equal(got["p"], np.pad(a, ((0, 0), (1, 0), (0, 2)),
                                           constant_values=qa[1]))
    assert np.array_equal(got["t"], np.transpose(a, (0, 2, 1)))
    assert np.array_equal(got["ga"], a[:, [2, 0]])
    assert np.array_equal(got["re"], a.reshape(6, 12))
    m, s = R.qmul(float(F32(qb[0])) / float(F32(qa[0])))
    b_in_a = np.clip(R.mbqm(b.astype(np.int64) - qb[1], m, s, single=False) + qa[1], -128, 127)
    assert np.array_equal(got["c"], np.concatenate([a, b_in_a], axis=1))


def test_softmax_int8():
    rng = np.random.default_rng(10)
    qx = (0.07, -4)
    g = QB()
    g.input("x", (3, 9), "i8", *qx)
    g.op("Softmax", ["x"], "y", "i8", 1 / 256, -128, {"axis": -1})
    g.op("Softmax", ["x"], "z", "i8", 1 / 256, -128, {"axis": 0})
    x = codes(rng, 30, 3, 9)
    x[:3] //= 16  # flat rows
    got = run(g.build("y", "z"), x=x)
    s = float(F32(qx[0]))
    assert np.array_equal(got["y"], R.softmax_int8(x.reshape(-1, 9), s).reshape(x.shape))
    cols = np.transpose(x, (0, 2, 1)).reshape(-1, 3)
    assert np.array_equal(np.transpose(got["z"], (0, 2, 1)).reshape(-1, 3),
                          R.softmax_int8(cols, s))
