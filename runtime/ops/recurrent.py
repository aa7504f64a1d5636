"""``LSTM``, ``GRU``, ``RNN``: one forward recurrent layer each, state kept per stream.

Canonical gate layouts (see :mod:`edgernn.ir`): LSTM rows i, f, c, o and peepholes
i, f, o; GRU rows z, r, h.  The reference implementations reorder to the ONNX
layouts and run the ONNX-spec cells of :mod:`edgernn.reference.cells`.
"""

from __future__ import annotations

import numpy as np

from ..bindings import EMPTY1, F32, PACKED, Context, each_n, pack
from ..ir import Op, reorder_gates
from ..kernels import gru, lstm, rnn
from ..kernels.activations import activation_params
from ..reference import cells
from .base import Binder, OpDef, RefCall, Shape, StateDecl, need, opt, register, size
from .qrecurrent import RECURRENT_INT, bind_gru_i8, bind_lstm_i8, bind_rnn_i8, state_dtypes

_ACT = {"activation_alpha": (), "activation_beta": ()}
#: attributes only the integer LSTM reads (neutral for float): see edgernn.ops.qrecurrent
_LSTM_INT = {"cell_scale_log2": 0, "hidden_scale": 0.0, "hidden_zero_point": 0}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
N_ACTS = {"LSTM": 3, "GRU": 2, "RNN": 1}


def _optional_sizes(kind: str, rows: int, hidden: int, out: int) -> dict[str, int]:
    """Role -> required element count of the optional recurrent inputs."""
    if kind == "LSTM":
        return {"B": rows, "P": 3 * hidden, "Bproj": out, "H0": out, "C0": hidden}
    if kind == "GRU":
        return {"WB": rows, "RB": rows, "H0": out}
    return {"B": rows, "H0": out}


def _check_attrs(op: Op) -> None:
    acts = op.attr("activations")
    need(len(acts) == N_ACTS[op.kind], op,
         f"needs {N_ACTS[op.kind]} activations, got {acts}")
    try:
        activation_params(acts, op.attr("activation_alpha"), op.attr("activation_beta"))
    except (TypeError, ValueError) as e:
        need(False, op, f"bad attribute ({e})")
    need(float(op.attr("clip")) >= 0, op, "clip must be >= 0")


def infer(op: Op, s: list, consts=None) -> Shape:
    _check_attrs(op)
    gates, roles = GATES[op.kind], OPDEFS[op.kind].roles
    x, w, r = s[0], s[1], s[2]
    need(len(x) == 1, op, f"input must be a vector per frame, got {x}")
    need(len(w) == 2 and w[1] == x[0] and w[0] % gates == 0, op, f"W {w} vs x {x}")
    hidden = w[0] // gates
    need(op.attr("hidden_size") in (0, hidden), op, "hidden_size does not match W")
    out = hidden
    if op.kind == "LSTM" and opt(s, roles.index("Wproj")) is not None:
        wp = s[roles.index("Wproj")]
        need(len(wp) == 2 and wp[1] == hidden, op, f"Wproj {wp} vs hidden {hidden}")
        out = wp[0]
    need(r == (gates * hidden, out), op, f"R {r} should be {(gates * hidden, out)}")
    for role, want in _optional_sizes(op.kind, gates * hidden, hidden, out).items():
        i = roles.index(role)
        got = opt(s, i)
        need(got is None or size(got) == want, op,
             f"input {i} ({role}) has shape {got}, needs {want} values"
             + (" (sum the input and recurrent biases)"
                if got and size(got) == 2 * want and role == "B" else ""))
    return (out,)


def states(op: Op, graph) -> list[StateDecl]:
    out = graph.shape(op.outputs[0])
    h_dtype, c_dtype = state_dtypes(op, graph)
    decls = [StateDecl("h", out, h_dtype, "H0")]
    if op.kind == "LSTM":
        hidden = graph.shape(op.inputs[1])[0] // 4
        decls.append(StateDecl("c", (hidden,), c_dtype, "C0"))
    return decls


def macs(op: Op, graph) -> int:
    total = size(graph.shape(op.inputs[1])) + size(graph.shape(op.inputs[2]))
    if op.kind == "LSTM" and len(op.inputs) > 5 and op.inputs[5]:
        total += size(graph.shape(op.inputs[5]))
    return total


def _acts(op: Op) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return activation_params(op.attr("activations"), op.attr("activation_alpha"),
                             op.attr("activation_beta"))


def _packs(op: Op, ctx: Context, x: np.ndarray, *roles: str) -> list[tuple]:
    """Packed W (rows: every frame of a chunk) and the recurrent weights (rows: B)."""
    return [pack(ctx, op, "W", x.shape[0] * ctx.B)] + [pack(ctx, op, r, ctx.B)
                                                         for r in roles]


def bind_lstm(op: Op, ctx: Context):
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    w, r, wp = _packs(op, ctx, x, "R", "Wproj")
    b, p = ctx.const(op, "B", EMPTY1).reshape(-1), ctx.const(op, "P", EMPTY1).reshape(-1)
    bp = ctx.const(op, "Bproj", EMPTY1).reshape(-1)
    hidden = ctx.shape(op.inputs[1])[0] // 4
    h, c = ctx.state_of(op, "h"), ctx.state_of(op, "c")
    xw = np.zeros((x.shape[0], ctx.B, 4 * hidden), dtype=F32)
    hs = np.zeros(hidden, dtype=F32)
    codes, alpha, beta = _acts(op)
    clips = (F32(op.attr("clip")), F32(op.attr("cell_clip")), F32(op.attr("proj_clip")))
    forget = bool(op.attr("input_forget"))
    return each_n(x.shape[0], lstm.lstm_seq, lambda n: (
        x[:n], w, r, b, p, wp, bp, h, c, y[:n], xw[:n], hs, *clips, forget, codes, alpha,
        beta))


def bind_gru(op: Op, ctx: Context):
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    rows = ctx.shape(op.inputs[1])[0]
    w = pack(ctx, op, "W", x.shape[0] * ctx.B)
    rz, rh_ = (pack(ctx, op, "R", ctx.B, part)
               for part in ((0, rows * 2 // 3), (rows * 2 // 3, rows)))
    wb, rb = ctx.const(op, "WB", EMPTY1).reshape(-1), ctx.const(op, "RB", EMPTY1).reshape(-1)
    h = ctx.state_of(op, "h")
    xw = np.zeros((x.shape[0], ctx.B, rows), dtype=F32)
    rh = np.zeros((ctx.B, rows), dtype=F32)
    codes, alpha, beta = _acts(op)
    lbr, clip = bool(op.attr("linear_before_reset")), F32(op.attr("clip"))
    return each_n(x.shape[0], gru.gru_seq, lambda n: (
        x[:n], w, (rz, rh_), wb, rb, h, y[:n], xw[:n], rh, lbr, clip, codes, alpha, beta))


def bind_rnn(op: Op, ctx: Context):
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    w, r = _packs(op, ctx, x, "R")
    b, h = ctx.const(op, "B", EMPTY1).reshape(-1), ctx.state_of(op, "h")
    xw = np.zeros((x.shape[0], ctx.B, ctx.shape(op.inputs[1])[0]), dtype=F32)
    codes, alpha, beta = _acts(op)
    clip = F32(op.attr("clip"))
    return each_n(x.shape[0], rnn.rnn_seq, lambda n: (
        x[:n], w, r, b, h, y[:n], xw[:n], clip, codes[0], alpha[0], beta[0]))


def _with_zero_recurrent_bias(b: np.ndarray | None) -> np.ndarray | None:
    return None if b is None else np.concatenate([b.reshape(-1), np.zeros(b.size)])


def _ref_acts(c: RefCall) -> dict:
    return dict(activations=c.attr("activations"),
                activation_alpha=c.attr("activation_alpha") or None,
                activation_beta=c.attr("activation_beta") or None)


def ref_lstm(c: RefCall) -> np.ndarray:
    w, r, b = (None if v is None else reorder_gates(v, "ifco", "iofc")
               for v in (c.arg("W"), c.arg("R"), c.arg("B")))
    p = c.arg("P")
    p = None if p is None else reorder_gates(p.reshape(-1), "ifo", "iof")
    proj = None if c.arg("Wproj") is None else (c.arg("Wproj"), c.arg("Bproj"))
    y, h, cell = cells.lstm_ref(
        c.arg("x"), w, r, _with_zero_recurrent_bias(b), p, c.state["h"], c.state["c"],
        clip=c.attr("clip"), input_forget=c.attr("input_forget"),
        cell_clip=c.attr("cell_clip"), proj=proj, proj_clip=c.attr("proj_clip"),
        **_ref_acts(c))
    c.state["h"][...], c.state["c"][...] = h, cell
    return y


def ref_gru(c: RefCall) -> np.ndarray:
    w = c.arg("W")
    zeros = np.zeros(w.shape[0])
    wb, rb = (zeros if v is None else v.reshape(-1) for v in (c.arg("WB"), c.arg("RB")))
    y, h = cells.gru_ref(c.arg("x"), w, c.arg("R"), np.concatenate([wb, rb]), c.state["h"],
                         linear_before_reset=c.attr("linear_before_reset"),
                         clip=c.attr("clip"), **_ref_acts(c))
    c.state["h"][...] = h
    return y


def ref_rnn(c: RefCall) -> np.ndarray:
    alpha = (c.attr("activation_alpha") or [None])[0]
    beta = (c.attr("activation_beta") or [None])[0]
    y, h = cells.rnn_ref(c.arg("x"), c.arg("W"), c.arg("R"),
                         _with_zero_recurrent_bias(c.arg("B")), c.state["h"],
                         clip=c.attr("clip"), activation_name=c.attr("activations")[0],
                         alpha=alpha, beta=beta)
    c.state["h"][...] = h
    return y


_COMMON = dict(infer=infer, states=states, macs=macs)
_GR = dict(weights=("W", "R"), **_COMMON)
_WEIGHTS = {"W": PACKED, "R": PACKED}  # float, int8 rows, int4 groups
OPDEFS = {
    "LSTM": OpDef(
        "LSTM", ("x", "W", "R", "B?", "P?", "Wproj?", "Bproj?", "H0?", "C0?"),
        {"hidden_size": 0, "proj_size": 0, "clip": 0.0, "input_forget": False,
         "cell_clip": 0.0, "proj_clip": 0.0,
         "activations": ("Sigmoid", "Tanh", "Tanh"), **_ACT, **_LSTM_INT},
        "One forward LSTM layer, x (I,) -> h (Hout,). W (4H, I) and R (4H, Hout) in gate "
        "order i,f,c,o; B (4H,) = input bias + recurrent bias; P (3H,) peepholes i,f,o "
        "(the o peephole uses the new cell); Wproj (P, H), Bproj (P,): "
        "h = Wproj @ (o*h(c)) + Bproj. clip > 0 clips gate pre-activations (ONNX); "
        "cell_clip > 0 clips c, proj_clip > 0 clips the projection (TFLite); "
        "input_forget couples f = 1 - i. activations (f, g, h) as in ONNX, "
        "activation_alpha/beta aligned one per activation (empty = ONNX defaults). "
        "H0/C0 are optional constant initial states. Integer (int8 x, q8 weights): "
        "cell_scale_log2 is the int16 cell's power-of-two scale, hidden_scale/"
        "hidden_zero_point quantize o*tanh(c) before a projection (edgernn.ops.quant).",
        reference=ref_lstm, binders=(Binder(bind_lstm, _WEIGHTS | {"Wproj": PACKED}),
                                     Binder(bind_lstm_i8, RECURRENT_INT)),
        weights=("W", "R", "Wproj"),
        kernels=(lstm.lstm_seq, lstm.lstm_seq_i8),
        **_COMMON),
    "GRU": OpDef(
        "GRU", ("x", "W", "R", "WB?", "RB?", "H0?"),
        {"hidden_size": 0, "linear_before_reset": True, "clip": 0.0,
         "activations": ("Sigmoid", "Tanh"), **_ACT},
        "One forward GRU layer, gate order z,r,h. W (3H, I), R (3H, H), WB and RB (3H,). "
        "h~ = g(x Wh + (r*h) Rh + Rbh + Wbh) or, linear_before_reset, "
        "g(x Wh + r*(h Rh + Rbh) + Wbh); h' = (1-z) h~ + z h.",
        reference=ref_gru,
        binders=(Binder(bind_gru, _WEIGHTS), Binder(bind_gru_i8, RECURRENT_INT)),
        kernels=(gru.gru_seq, gru.gru_seq_i8), **_GR),
    "RNN": OpDef(
        "RNN", ("x", "W", "R", "B?", "H0?"),
        {"hidden_size": 0, "clip": 0.0, "activations": ("Tanh",), **_ACT},
        "One forward Elman RNN layer: h' = f(W x + R h + B). W (H, I), R (H, H), B (H,).",
        reference=ref_rnn,
        binders=(Binder(bind_rnn, _WEIGHTS), Binder(bind_rnn_i8, RECURRENT_INT)),
        kernels=(rnn.rnn_seq, rnn.rnn_seq_i8), **_GR),
}
register(*OPDEFS.values())
