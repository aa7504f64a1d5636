"""fp32 recurrent and dense kernels vs independent references.

References: the float64 ONNX-spec cells of ``tests/reference.py`` and PyTorch
(``nn.LSTM`` incl. ``proj_size``, ``nn.GRU``, ``nn.RNN``); the reference cells are
themselves checked against onnxruntime on the features PyTorch lacks.
Weights are in ONNX layouts and converted with :func:`edgernn.ir.reorder_gates`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from edgernn.activations import lookup
from edgernn.ir import reorder_gates
from edgernn.kernels.activations import activation_params
from edgernn.kernels.gru import gru_seq
from edgernn.kernels.linalg import dense, gemm_add, gemv_add
from edgernn.kernels.lstm import lstm_seq
from edgernn.kernels.rnn import rnn_seq
from edgernn.reference.cells import dense_ref, gru_ref, lstm_ref, rnn_ref

f32 = np.float32
TOL = 1e-5
E1, E2 = np.zeros(0, f32), np.zeros((0, 0), f32)
T, B, I, H = 50, 3, 7, 16


def rnd(rng, *shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(f32)


def onnx_params(rng, gates, n_in=I, n_h=H, n_rec=None, scale=None):
    """Random ONNX-layout W [gH, I], R [gH, n_rec], B [2gH] with moderate gains."""
    n_rec = n_h if n_rec is None else n_rec
    s = 1.0 / np.sqrt(n_in) if scale is None else scale
    return (rnd(rng, gates * n_h, n_in, scale=s),
            rnd(rng, gates * n_h, n_rec, scale=1.0 / np.sqrt(n_rec)),
            rnd(rng, 2 * gates * n_h, scale=0.3))


# --- kernel wrappers: ONNX layout in, canonical layout to the kernel -----------------

def run_lstm(X, W, R, Bv=None, P=None, h0=None, c0=None, clip=0.0, input_forget=False,
             activations=("Sigmoid", "Tanh", "Tanh"), alphas=(), betas=(),
             cell_clip=0.0, proj=None, proj_clip=0.0):
    n_t, n_b, _ = X.shape
    n_h = W.shape[0] // 4
    n_out = R.shape[1]
    w, r = reorder_gates(W, "iofc", "ifco"), reorder_gates(R, "iofc", "ifco")
    b = E1 if Bv is None else reorder_gates(Bv[: 4 * n_h] + Bv[4 * n_h :], "iofc", "ifco")
    p = E1 if P is None else reorder_gates(P, "iof", "ifo")
    wproj, bproj = (E2, E1) if proj is None else (proj[0], E1 if proj[1] is None else proj[1])
    h = np.zeros((n_b, n_out), f32) if h0 is None else h0.copy()
    c = np.zeros((n_b, n_h), f32) if c0 is None else c0.copy()
    y = np.full((n_t, n_b, n_out), np.nan, f32)
    codes, al, be = activation_params(activations, alphas, betas)
    # float weights are passed packed as 1-tuples (see edgernn.kernels.linalg)
    lstm_seq(X, (w,), (r,), b, p, (wproj,), bproj, h, c, y, np.empty((n_t, n_b, 4 * n_h), f32),
             np.empty(n_h, f32), f32(clip), f32(cell_clip), f32(proj_clip), bool(input_forget),
             codes, al, be)
    return y, h, c


def run_gru(X, W, R, Bv=None, h0=None, linear_before_reset=False, clip=0.0,
            activations=("Sigmoid", "Tanh"), alphas=(), betas=()):
    n_t, n_b, _ = X.shape
    n_h = R.shape[1]
    wb, rb = (E1, E1) if Bv is None else (Bv[: 3 * n_h].copy(), Bv[3 * n_h :].copy())
    h = np.zeros((n_b, n_h), f32) if h0 is None else h0.copy()
    y = np.full((n_t, n_b, n_h), np.nan, f32)
    codes, al, be = activation_params(activations, alphas, betas)
    gru_seq(X, (W,), (R,), wb, rb, h, y, np.empty((n_t, n_b, 3 * n_h), f32),
            np.empty(3 * n_h, f32),
            bool(linear_before_reset), f32(clip), codes, al, be)
    return y, h


def run_rnn(X, W, R, Bv=None, h0=None, clip=0.0, activation="Tanh", alpha=(), beta=()):
    n_t, n_b, _ = X.shape
    n_h = R.shape[1]
    b = E1 if Bv is None else Bv[:n_h] + Bv[n_h:]
    h = np.zeros((n_b, n_h), f32) if h0 is None else h0.copy()
    y = np.full((n_t, n_b, n_h), np.nan, f32)
    codes, al, be = activation_params([activation], alpha, beta)
    rnn_seq(X, (W,), (R,), b, h, y, np.empty((n_t, n_b, n_h), f32), f32(clip), codes[0], al[0],
            be[0])
    return y, h


def assert_close(got, want, tol=TOL):
    err = np.max(np.abs(np.asarray(got, np.float64) - want))
    assert err <= tol, f"max abs error {err:.3g} > {tol:.3g}"


# --- dense -----------------------------------------------------------------------------

@pytest.mark.parametrize("n, i, o", [(1, 40, 512), (5, 13, 11), (3, 1, 3), (2, 64, 6)])
def test_dense_gemv_gemm(n, i, o):
    rng = np.random.default_rng(n * 1000 + o)
    x, w, b = rnd(rng, n, i), rnd(rng, o, i), rnd(rng, o)
    y = np.full((n, o), np.nan, f32)
    dense(x, w, b, y)
    assert_close(y, dense_ref(x, w, b))
    dense(x, w, E1, y)
    assert_close(y, dense_ref(x, w))
    y0 = rnd(rng, n, o)
    y = y0.copy()
    gemm_add(x, w, y)
    assert_close(y, y0 + dense_ref(x, w))
    out = y0[0].copy()
    gemv_add(w, x[0], out)
    assert_close(out, y0[0] + dense_ref(x[:1], w)[0])


# --- LSTM ------------------------------------------------------------------------------

LSTM_CASES = {
    "plain": {},
    "peephole": {"peep": True},
    "clip": {"clip": 0.6},
    "input_forget": {"input_forget": True, "peep": True},
    "acts_hard_leaky_softsign": {"activations": ("HardSigmoid", "LeakyRelu", "Softsign"),
                                 "alphas": (0.3, 0.05, 0.0), "betas": (0.4, 0.0, 0.0)},
    "acts_defaults": {"activations": ("HardSigmoid", "Affine", "ScaledTanh")},
    "acts_elu_softplus": {"activations": ("Sigmoid", "Elu", "Softplus"), "alphas": (0, .7, 0)},
    "acts_thresholded": {"activations": ("Sigmoid", "ThresholdedRelu", "Relu"),
                         "alphas": (0.0, 0.2, 0.0)},
    "cell_clip": {"cell_clip": 0.4, "peep": True},
    "projection": {"proj": 5},
    "projection_clips": {"proj": 5, "proj_clip": 0.15, "cell_clip": 0.5, "clip": 1.0},
}


def lstm_case(rng, peep=False, proj=None, **kw):
    n_out = proj or H
    W, R, Bv = onnx_params(rng, 4, n_rec=n_out)
    X, h0 = rnd(rng, T, B, I), rnd(rng, B, n_out, scale=0.5)
    c0 = rnd(rng, B, H)
    args = {"Bv": Bv, "h0": h0, "c0": c0, **kw}
    if peep:
        args["P"] = rnd(rng, 3 * H, scale=0.5)
    if proj:
        args["proj"] = (rnd(rng, proj, H, scale=0.5), rnd(rng, proj, scale=0.1))
    return X, W, R, args


def lstm_ref_args(args):
    ref = {k: v for k, v in args.items() if k not in ("Bv", "h0", "c0", "alphas", "betas")}
    return dict(ref, B=args["Bv"], initial_h=args["h0"], initial_c=args["c0"],
                activation_alpha=args.get("alphas") or None,
                activation_beta=args.get("betas") or None)


@pytest.mark.parametrize("case", list(LSTM_CASES))
def test_lstm_vs_reference(case):
    rng = np.random.default_rng(len(case))
    X, W, R, args = lstm_case(rng, **LSTM_CASES[case])
    y, h, c = run_lstm(X, W, R, **args)
    Y, Yh, Yc = lstm_ref(X, W, R, **lstm_ref_args(args))
    assert_close(y, Y)
    assert_close(h, Yh)
    assert_close(c, Yc)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("proj_size", [0, 6])
def test_lstm_vs_torch(proj_size):
    torch.manual_seed(proj_size)
    m = torch.nn.LSTM(I, H, proj_size=proj_size)
    n_out = proj_size or H
    rng = np.random.default_rng(7)
    X, h0, c0 = rnd(rng, T, B, I), rnd(rng, B, n_out), rnd(rng, B, H)
    with torch.no_grad():
        state = (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None])
        Y, (Yh, Yc) = m(torch.from_numpy(X), state)
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    # torch rows i,f,g,o -> ONNX i,o,f,c so the wrapper exercises the real conversion
    to_onnx = lambda a: reorder_gates(a, "ifgo", "iofc")  # noqa: E731
    Bv = np.concatenate([to_onnx(sd["bias_ih_l0"]), to_onnx(sd["bias_hh_l0"])])
    proj = (sd["weight_hr_l0"], None) if proj_size else None
    y, h, c = run_lstm(X, to_onnx(sd["weight_ih_l0"]), to_onnx(sd["weight_hh_l0"]), Bv,
                       h0=h0, c0=c0, proj=proj)
    assert_close(y, Y.numpy())
    assert_close(h, Yh.numpy()[0])
    assert_close(c, Yc.numpy()[0])


# --- GRU -------------------------------------------------------------------------------

GRU_CASES = {
    "lbr0": {"linear_before_reset": False},
    "lbr1": {"linear_before_reset": True},
    "lbr0_clip": {"linear_before_reset": False, "clip": 0.5},
    "lbr1_clip": {"linear_before_reset": True, "clip": 0.5},
    "acts": {"activations": ("HardSigmoid", "Softsign"), "alphas": (0.25, 0.0),
             "betas": (0.45, 0.0)},
    "acts_lbr1": {"linear_before_reset": True, "activations": ("Sigmoid", "LeakyRelu"),
                  "alphas": (0.0, 0.1)},
}


@pytest.mark.parametrize("case", list(GRU_CASES))
def test_gru_vs_reference(case):
    kw = GRU_CASES[case]
    rng = np.random.default_rng(len(case))
    W, R, Bv = onnx_params(rng, 3)
    X, h0 = rnd(rng, T, B, I), rnd(rng, B, H)
    y, h = run_gru(X, W, R, Bv, h0, **kw)
    Y, Yh = gru_ref(X, W, R, Bv, h0, kw.get("linear_before_reset", False), kw.get("clip", 0.0),
                    kw.get("activations", ("Sigmoid", "Tanh")), kw.get("alphas"), kw.get("betas"))
    assert_close(y, Y)
    assert_close(h, Yh)


def test_gru_vs_torch():
    torch.manual_seed(1)
    m = torch.nn.GRU(I, H)
    rng = np.random.default_rng(8)
    X, h0 = rnd(rng, T, B, I), rnd(rng, B, H)
    with torch.no_grad():
        Y, Yh = m(torch.from_numpy(X), torch.from_numpy(h0)[None])
    sd = {k: reorder_gates(v.numpy(), "rzn", "zrh") for k, v in m.state_dict().items()}
    Bv = np.concatenate([sd["bias_ih_l0"], sd["bias_hh_l0"]])
    y, h = run_gru(X, sd["weight_ih_l0"], sd["weight_hh_l0"], Bv, h0, linear_before_reset=True)
    assert_close(y, Y.numpy())
    assert_close(h, Yh.numpy()[0])


# --- RNN -------------------------------------------------------------------------------

@pytest.mark.parametrize("act, alpha, beta, clip", [
    ("Tanh", (), (), 0.0), ("Relu", (), (), 0.0), ("Tanh", (), (), 0.4),
    ("LeakyRelu", (0.2,), (), 0.0), ("Affine", (0.5,), (0.1,), 0.0), ("Sigmoid", (), (), 0.7),
])
def test_rnn_vs_reference(act, alpha, beta, clip):
    rng = np.random.default_rng(len(act))
    W, R, Bv = onnx_params(rng, 1, scale=0.3)
    R *= f32(0.6)  # keep the unbounded activations bounded over T frames
    X, h0 = rnd(rng, T, B, I), rnd(rng, B, H)
    y, h = run_rnn(X, W, R, Bv, h0, clip, act, alpha, beta)
    Y, Yh = rnn_ref(X, W, R, Bv, h0, clip, act, *(alpha or (None,)), *(beta or (None,)))
    assert_close(y, Y)
    assert_close(h, Yh)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_vs_torch(nonlinearity):
    torch.manual_seed(2)
    m = torch.nn.RNN(I, H, nonlinearity=nonlinearity)
    rng = np.random.default_rng(9)
    X, h0 = rnd(rng, T, B, I), rnd(rng, B, H)
    with torch.no_grad():
        Y, Yh = m(torch.from_numpy(X), torch.from_numpy(h0)[None])
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    Bv = np.concatenate([sd["bias_ih_l0"], sd["bias_hh_l0"]])
    y, h = run_rnn(X, sd["weight_ih_l0"], sd["weight_hh_l0"], Bv, h0,
                   activation=nonlinearity.capitalize())
    assert_close(y, Y.numpy())
    assert_close(h, Yh.numpy()[0])


# --- streaming properties: chunking and stream independence ---------------------------

def _models(rng):
    """(name, run(X, h-state tuple) -> (y, states)) for each kernel, plain and general."""
    lw = onnx_params(rng, 4)
    peep = {"P": rnd(rng, 3 * H, scale=0.5), "clip": 0.8, "cell_clip": 1.5}
    gw, rw = onnx_params(rng, 3), onnx_params(rng, 1)

    def lstm(extra):
        def run(X, st):
            y, h, c = run_lstm(X, *lw, h0=st[0], c0=st[1], **extra)
            return y, (h, c)
        return run, lambda n_b: (rnd(rng, n_b, H), rnd(rng, n_b, H))

    def gru(lbr):
        run = lambda X, st: (lambda y, h: (y, (h,)))(*run_gru(X, *gw, st[0], lbr))  # noqa: E731
        return run, lambda n_b: (rnd(rng, n_b, H),)

    run_r = lambda X, st: (lambda y, h: (y, (h,)))(*run_rnn(X, *rw, st[0]))  # noqa: E731
    return {"lstm": lstm({}), "lstm_peep_clip": lstm(peep), "gru0": gru(False),
            "gru1": gru(True), "rnn": (run_r, lambda n_b: (rnd(rng, n_b, H),))}


MODELS = _models(np.random.default_rng(3))


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(sorted(MODELS)),
       cuts=st.lists(st.integers(1, T - 1), max_size=4, unique=True))
def test_chunked_equals_whole(name, cuts):
    run, init = MODELS[name]
    rng = np.random.default_rng(len(cuts))
    X, state = rnd(rng, T, B, I), init(B)
    y_whole, st_whole = run(X, state)
    ys, st_chunk = [], state
    for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), T], strict=True):
        y, st_chunk = run(np.ascontiguousarray(X[a:b]), st_chunk)
        ys.append(y)
    np.testing.assert_array_equal(np.concatenate(ys), y_whole)
    for s1, s2 in zip(st_chunk, st_whole, strict=True):
        np.testing.assert_array_equal(s1, s2)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_streams_independent(name):
    run, init = MODELS[name]
    rng = np.random.default_rng(11)
    X, state = rnd(rng, T, B, I), init(B)
    y_all, st_all = run(X, state)
    for s in range(B):
        y, st1 = run(np.ascontiguousarray(X[:, s : s + 1]), tuple(a[s : s + 1] for a in state))
        np.testing.assert_array_equal(y[:, 0], y_all[:, s])
        for a, b in zip(st1, st_all, strict=True):
            np.testing.assert_array_equal(a[0], b[s])


# --- the reference cells themselves vs onnxruntime (features PyTorch lacks) ------------

_TAKES = {"Affine": "ab", "LeakyRelu": "a", "ThresholdedRelu": "a", "ScaledTanh": "ab",
          "HardSigmoid": "ab", "Elu": "a"}


def _ort_run(op, inputs, n_out, **attrs):
    """Run one ONNX recurrent op (forward, opset 14) in onnxruntime; return its outputs."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    names = [k for k, v in inputs.items() if v is not None]
    outs = ["Y", "Y_h", "Y_c"][:n_out]
    node = helper.make_node(op, [k if k in names else "" for k in inputs], outs, **attrs)
    graph = helper.make_graph(
        [node], "g", [], [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
        [numpy_helper.from_array(np.asarray(inputs[k], f32)[None] if k != "X" else inputs[k], k)
         for k in names])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [o[:, 0] if o.ndim == 4 else o[0] for o in sess.run(None, {})]


def _onnx_act_attrs(names, alphas, betas):
    """Our aligned per-activation alpha/beta -> ONNX's lists, consumed in order by the
    activations that take each parameter (onnxruntime's reading of the spec).

    Defaults are written out: onnxruntime defaults only LeakyRelu, HardSigmoid and Elu
    and uses 0 for Affine, ThresholdedRelu and ScaledTanh, where the spec ("same as the
    corresponding ONNX operators") and edgernn use 1 (Affine beta 0, ScaledTanh 1, 1).
    """
    alphas = alphas or [lookup(n).params()[0] for n in names]
    betas = betas or [lookup(n).params()[1] for n in names]
    a = [float(x) for n, x in zip(names, alphas, strict=True) if "a" in _TAKES.get(n, "")]
    b = [float(x) for n, x in zip(names, betas, strict=True) if "b" in _TAKES.get(n, "")]
    attrs = {"activations": list(names)}
    return attrs | ({"activation_alpha": a} if a else {}) | ({"activation_beta": b} if b else {})


@pytest.mark.parametrize("case", ["peephole", "clip", "input_forget", "acts_hard_leaky_softsign",
                                  "acts_defaults", "acts_thresholded"])
def test_lstm_reference_vs_onnxruntime(case):
    rng = np.random.default_rng(len(case))
    X, W, R, args = lstm_case(rng, **LSTM_CASES[case])
    ref = lstm_ref_args(args)
    attrs = _onnx_act_attrs(ref.pop("activations", ("Sigmoid", "Tanh", "Tanh")),
                            ref.pop("activation_alpha"), ref.pop("activation_beta"))
    attrs |= {k: ref[k] for k in ("clip", "input_forget") if k in ref}
    Y, Yh, Yc = _ort_run("LSTM", {"X": X, "W": W, "R": R, "B": args["Bv"], "sequence_lens": None,
                                  "initial_h": args["h0"], "initial_c": args["c0"],
                                  "P": args.get("P")}, 3, hidden_size=H, **attrs)
    want = lstm_ref(X, W, R, **lstm_ref_args(args))
    for got, w in zip((Y, Yh, Yc), want, strict=True):
        assert_close(got, w)


@pytest.mark.parametrize("case", list(GRU_CASES))
def test_gru_reference_vs_onnxruntime(case):
    kw = GRU_CASES[case]
    rng = np.random.default_rng(len(case))
    W, R, Bv = onnx_params(rng, 3)
    X, h0 = rnd(rng, T, B, I), rnd(rng, B, H)
    attrs = _onnx_act_attrs(kw.get("activations", ("Sigmoid", "Tanh")), kw.get("alphas"),
                            kw.get("betas"))
    attrs |= {"clip": kw["clip"]} if "clip" in kw else {}  # onnxruntime refuses clip=0
    Y, Yh = _ort_run("GRU", {"X": X, "W": W, "R": R, "B": Bv, "sequence_lens": None,
                             "initial_h": h0}, 2, hidden_size=H,
                     linear_before_reset=int(kw.get("linear_before_reset", False)), **attrs)
    Yr, Yhr = gru_ref(X, W, R, Bv, h0, kw.get("linear_before_reset", False), kw.get("clip", 0.0),
                      kw.get("activations", ("Sigmoid", "Tanh")), kw.get("alphas"),
                      kw.get("betas"))
    assert_close(Y, Yr)
    assert_close(Yh, Yhr)


# --- odd and degenerate shapes (row tails of the 4-row passes, T = 0) -----------------

@settings(max_examples=25, deadline=None)
@given(n_t=st.integers(1, 5), n_b=st.integers(1, 3), n_in=st.integers(1, 9),
       n_h=st.integers(1, 9), proj=st.integers(0, 6), seed=st.integers(0, 2**16))
def test_random_shapes_vs_reference(n_t, n_b, n_in, n_h, proj, seed):
    rng = np.random.default_rng(seed)
    X = rnd(rng, n_t, n_b, n_in)
    W, R, Bv = onnx_params(rng, 4, n_in, n_h, n_rec=proj or n_h)
    h0, c0, P = rnd(rng, n_b, proj or n_h), rnd(rng, n_b, n_h), rnd(rng, 3 * n_h)
    pj = (rnd(rng, proj, n_h), None) if proj else None
    got = run_lstm(X, W, R, Bv, P, h0, c0, clip=2.0, proj=pj)
    for g, w in zip(got, lstm_ref(X, W, R, Bv, P, h0, c0, clip=2.0, proj=pj), strict=True):
        assert_close(g, w)
    W, R, Bv = onnx_params(rng, 3, n_in, n_h)
    for lbr in (False, True):
        assert_close(run_gru(X, W, R, Bv, c0, lbr)[0], gru_ref(X, W, R, Bv, c0, lbr)[0])
    W, R, Bv = onnx_params(rng, 1, n_in, n_h)
    assert_close(run_rnn(X, W, R, Bv, c0)[0], rnn_ref(X, W, R, Bv, c0)[0])


def test_zero_frames_leave_state_untouched():
    rng = np.random.default_rng(5)
    X, h0, c0 = np.zeros((0, B, I), f32), rnd(rng, B, H), rnd(rng, B, H)
    y, h, c = run_lstm(X, *onnx_params(rng, 4), h0=h0, c0=c0)
    assert y.shape == (0, B, H)
    np.testing.assert_array_equal(h, h0)
    np.testing.assert_array_equal(c, c0)
    np.testing.assert_array_equal(run_gru(X, *onnx_params(rng, 3), h0)[1], h0)
    np.testing.assert_array_equal(run_rnn(X, *onnx_params(rng, 1), h0)[1], h0)
