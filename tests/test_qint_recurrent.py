"""The integer LSTM (TFLite 8x8_16), GRU and RNN kernels vs plain-numpy integer references
(tests/fixtures/qint/intref.py: TFLite's lstm_eval.cc step, and edgernn's documented
GRU/RNN schemes), bit for bit, through the op records on several streams."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.qint import intref as R
from fixtures.qint.qbuild import F32, QB, G, codes, f32q, rows_qm, run

# --- recurrent --------------------------------------------------------------------------


def _q8(rng, *shape):
    return codes(rng, *shape, lo=-127), rng.uniform(0.002, 0.02, shape[0]).astype(F32)


@pytest.mark.parametrize("variant", ["plain", "peephole", "input_forget", "projection",
                                     "clips"])
def test_lstm_8x8_16(variant):
    """TFLite's integer LSTM step (lstm_eval.cc) on 3 streams, per-row weight scales,
    nonzero zero points; parameters computed here with TFLite's float32 formulas."""
    rng = np.random.default_rng(4)
    n_in, n, n_out = 6, 8, 5 if variant == "projection" else 8
    xq, hq, cell_log2 = (0.03, 5), (0.008, -3), -12
    (w, ws), (r, rs) = _q8(rng, 4 * n, n_in), _q8(rng, 4 * n, n_out)
    b = rng.integers(-4000, 4000, 4 * n)
    g = QB()
    g.input("x", (n_in,), "i8", *xq)
    ins = ["x", g.const("W", w, "q8", ws, axis=0), g.const("R", r, "q8", rs, axis=0),
           g.const("B", b, "i32", F32(xq[0]) * ws), "", "", "",
           g.const("H0", np.full(n_out, hq[1]), "i32")]
    attrs = {"cell_scale_log2": cell_log2, "input_forget": variant == "input_forget"}
    p = dict(W=w, R=r, bx=b - xq[1] * w.astype(np.int64).sum(1),
             bh=-hq[1] * r.astype(np.int64).sum(1), cell_log2=cell_log2, hzp=hq[1],
             ozp=hq[1], cifg=variant == "input_forget")
    p["mx"], p["sx"] = rows_qm([f32q(s, "*", xq[0], "/", G) for s in ws])
    p["mh"], p["sh"] = rows_qm([f32q(s, "*", hq[0], "/", G) for s in rs])
    hid = hq
    if variant == "peephole":
        pv, ps = rng.integers(-30000, 30000, 3 * n), rng.uniform(1e-5, 1e-4, 3 * n)
        ins[4] = g.const("P", pv, "i32", ps.astype(F32), axis=0)
        p["P"] = pv
        p["mp"], p["sp"] = rows_qm([f32q(2.0 ** cell_log2, "*", s, "/", G) for s in ps])
    if variant == "projection":
        hid = (1 / 128, 2)
        wp, wps = _q8(rng, n_out, n)
        bp = rng.integers(-500, 500, n_out)
        ins[5] = g.const("Wp", wp, "q8", wps, axis=0)
        ins[6] = g.const("Bp", bp, "i32", F32(hid[0]) * wps)
        attrs.update(hidden_scale=hid[0], hidden_zero_point=hid[1], proj_clip=0.3)
        p.update(Wp=wp, bp=bp - hid[1] * wp.astype(np.int64).sum(1), proj_clip=int(
            F32(0.3) / F32(hq[0])))
        p["mj"], p["sj"] = rows_qm([f32q(s, "*", hid[0], "/", hq[0]) for s in wps])
    if variant == "clips":
        attrs["cell_clip"] = 0.25
        p["cell_clip"] = int(F32(0.25) / F32(2.0 ** cell_log2))
    p["hm"], p["hs"] = R.qmul(f32q(2.0 ** -15, "/", hid[0], "*", 2.0 ** -15))
    p["hzp"] = hid[1]
    g.op("LSTM", ins, "y", "i8", *hq, attrs)
    x = codes(rng, 12, 3, n_in)
    got = run(g.build("y"), batch=3, x=x)["y"]
    for k in range(3):
        want, _, _ = R.lstm_8x8_16(x[:, k], p, np.full(n_out, hq[1]), np.zeros(n, np.int64),
                                   single=False)
        assert np.array_equal(got[:, k], want), k


@pytest.mark.parametrize("lbr", [True, False])
def test_gru(lbr):
    rng = np.random.default_rng(5)
    n_in, n = 5, 7
    xq, hq = (0.04, -9), (0.009, 4)
    (w, ws), (r, rs) = _q8(rng, 3 * n, n_in), _q8(rng, 3 * n, n)
    wb, rb = rng.integers(-3000, 3000, 3 * n), rng.integers(-3000, 3000, 3 * n)
    g = QB()
    g.input("x", (n_in,), "i8", *xq)
    g.op("GRU", ["x", g.const("W", w, "q8", ws, axis=0), g.const("R", r, "q8", rs, axis=0),
                 g.const("WB", wb, "i32", F32(xq[0]) * ws),
                 g.const("RB", rb, "i32", F32(hq[0]) * rs),
                 g.const("H0", np.full(n, hq[1]), "i32")],
         "y", "i8", *hq, {"linear_before_reset": lbr})
    p = dict(W=w, R=r, bx=wb - xq[1] * w.astype(np.int64).sum(1),
             bh=rb - hq[1] * r.astype(np.int64).sum(1), zh=hq[1], lbr=lbr)
    p["mx"], p["sx"] = rows_qm([f32q(s, "*", xq[0], "/", G) for s in ws])
    p["mh"], p["sh"] = rows_qm([f32q(s, "*", hq[0], "/", G) for s in rs])
    p["m_in"], p["s_in"] = R.qmul(hq[0] * 32768.0)
    p["m_out"], p["s_out"] = R.qmul(1.0 / (hq[0] * 32768.0))
    x = codes(rng, 15, n_in)
    got = run(g.build("y"), x=x)["y"]
    assert np.array_equal(got, R.gru_int(x, p, np.full(n, hq[1])))


@pytest.mark.parametrize("act", ["Tanh", "Sigmoid", "Relu"])
def test_rnn(act):
    rng = np.random.default_rng(6)
    n_in, n = 4, 6
    xq, hq = (0.05, 3), ((0.01, -2) if act == "Tanh" else (0.006, -128))
    (w, ws), (r, rs) = _q8(rng, n, n_in), _q8(rng, n, n)
    b = rng.integers(-2000, 2000, n)
    g = QB()
    g.input("x", (n_in,), "i8", *xq)
    g.op("RNN", ["x", g.const("W", w, "q8", ws, axis=0), g.const("R", r, "q8", rs, axis=0),
                 g.const("B", b, "i32", F32(xq[0]) * ws),
                 g.const("H0", np.full(n, hq[1]), "i32")],
         "y", "i8", *hq, {"activations": (act,)})
    unit = hq[0] if act == "Relu" else G
    p = dict(W=w, R=r, bx=b - xq[1] * w.astype(np.int64).sum(1),
             bh=-hq[1] * r.astype(np.int64).sum(1), zh=hq[1], act=act)
    p["mx"], p["sx"] = rows_qm([f32q(s, "*", xq[0], "/", unit) for s in ws])
    p["mh"], p["sh"] = rows_qm([f32q(s, "*", hq[0], "/", unit) for s in rs])
    p["m_out"], p["s_out"] = R.qmul(1.0 / (hq[0] * 32768.0))
    x = codes(rng, 15, n_in)
    got = run(g.build("y"), x=x)["y"]
    assert np.array_equal(got, R.rnn_int(x, p, np.full(n, hq[1])))


