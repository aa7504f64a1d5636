"""Integer binders of ``LSTM``, ``GRU`` and ``RNN`` (int8 x and h, q8 weights, i32 biases).

LSTM is TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM "8x8_16" (lstm.cc
PopulateQuantizedLstmParams8x8_16, lstm_eval.cc LstmStepInteger8x8_16): gate
pre-activations Q3.12, sigmoid/tanh to Q0.15, int16 cell on ``2**cell_scale_log2``,
``h = o * tanh(c)`` requantized to the hidden scale (the output's without a
projection).  Its effective scales are float32 products, as TFLite computes them.
GRU and RNN have no integer TFLite kernel; their scheme, in the same style, is in
:mod:`edgernn.kernels.gru` and :mod:`edgernn.kernels.rnn`.  Integer recurrent ops take
the default activations only (LSTM sigmoid/tanh/tanh, GRU sigmoid/tanh, RNN tanh,
sigmoid or relu).
"""

from __future__ import annotations

import numpy as np

from ..bindings import Context, each_n
from ..ir import Op
from ..kernels import fixedpoint, gru, lstm, rnn
from .base import need
from .qlinear import bias, folded_bias, weight
from .quant import QParams, f32mul, multipliers, qm_rows, qparams

Q3_12 = float(2.0 ** -12)
EMPTY_I32 = np.zeros(0, dtype=np.int32)
EMPTY_QM = np.zeros((2, 0), dtype=np.int64)
_TABLES: dict[int, np.ndarray] = {}
EMPTY_I8 = np.zeros((0, 0), dtype=np.int8)
RECURRENT_INT = {"x": frozenset({"i8"}), "W": frozenset({"q8"}), "R": frozenset({"q8"}),
                 "B": frozenset({"i32"}), "WB": frozenset({"i32"}), "RB": frozenset({"i32"}),
                 "P": frozenset({"i32"}), "Wproj": frozenset({"q8"}),
                 "Bproj": frozenset({"i32"}), "H0": frozenset({"i32"}),
                 "C0": frozenset({"i32"})}


def state_dtypes(op: Op, graph) -> tuple[type, type]:
    """(h, c) state dtypes: int8 and int16 for an integer op, else float32."""
    if graph.values[op.inputs[0]].dtype == "i8":
        return np.int8, np.int16
    return np.float32, np.float32


def activation_tables(cell_bits: int = 3) -> np.ndarray:
    """i16[3, 65536]: logistic and tanh on Q3.12 and tanh with ``cell_bits`` integer bits
    (the LSTM cell), built once per process (read-only, shared by every stream)."""
    tabs = _TABLES.get(cell_bits)
    if tabs is None:
        tabs = np.zeros((3, 65536), dtype=np.int16)
        fixedpoint.fill_tables(tabs[0], tabs[1], tabs[2], np.int64(cell_bits))
        tabs.flags.writeable = False
        tabs = _TABLES[cell_bits] = tabs
    return tabs


def _gate_qm(ws: np.ndarray, s_in: float, out: float) -> np.ndarray:
    """TFLite's float32 effective scale per row: float32(s_w * s_in) / out."""
    return qm_rows([f32mul(f32mul(w, s_in), 1.0 / out) for w in ws])


def _default_acts(op: Op, want: tuple[str, ...]) -> None:
    acts = tuple(op.attr("activations"))
    need(acts == want and not op.attr("activation_alpha") and not op.attr("activation_beta"),
         op, f"the integer {op.kind} takes activations {want} only, got {acts}; keep it float")


def _h0_codes(ctx: Context, op: Op, hq: QParams) -> None:
    need(bool(ctx.name(op, "H0")) or hq.zero_point == 0, op,
         f"output zero point {hq.zero_point} != 0: the integer {op.kind} needs H0 (i32 codes,"
         f" the zero point for a zero start), else its state starts at code 0")


def _io(ctx: Context, op: Op) -> tuple[QParams, QParams]:
    g = ctx.plan.graph
    xq, hq = qparams(g, op.inputs[0]), qparams(g, op.outputs[0])
    need(hq.dtype == "i8", op, f"the integer {op.kind} writes int8")
    _h0_codes(ctx, op, hq)
    return xq, hq


def _lstm_params(op: Op, hq: QParams, hidq: QParams, has_proj: bool) -> np.ndarray:
    cell_log2 = int(op.attr("cell_scale_log2"))
    need(-15 <= cell_log2 <= -9, op, f"cell_scale_log2 {cell_log2} outside [-15, -9] "
                                     "(TFLite's tanh takes 0..6 integer bits)")
    (hm, hs), = multipliers([f32mul(f32mul(2.0 ** -15, 1.0 / hidq.scale), 2.0 ** -15)])
    cell_clip = float(op.attr("cell_clip"))
    proj_clip = float(op.attr("proj_clip"))
    clip = float(op.attr("clip"))
    return np.array([
        30 + cell_log2, 15 + cell_log2, hm, hs, hidq.zero_point, hq.zero_point,
        int(min(max(np.float32(cell_clip) / np.float32(2.0 ** cell_log2), -32768), 32767))
        if cell_clip > 0 else 0,
        int(min(max(np.float32(proj_clip) / np.float32(hq.scale), -128), 127))
        if proj_clip > 0 and has_proj else 0,
        int(min(clip * 4096, 32767)) if clip > 0 else 0,
        int(bool(op.attr("input_forget")))], dtype=np.int64)


def _peepholes(ctx: Context, op: Op, n: int, cell_log2: int) -> tuple:
    name = ctx.name(op, "P")
    if not name:
        return EMPTY_I32, EMPTY_QM
    t = ctx.plan.graph.consts[name]
    p = t.data.reshape(-1).astype(np.int64)
    need(p.size == 3 * n and np.all(np.abs(p) <= 32767) and t.scale is not None, op,
         "integer peepholes are i32 tensors of int16 values with a scale")
    ps = np.broadcast_to(np.asarray(t.scale, np.float32).reshape(-1), (3 * n,))
    qp = qm_rows([f32mul(f32mul(2.0 ** cell_log2, s), 1.0 / Q3_12) for s in ps])
    return p.astype(np.int32), qp


def bind_lstm_i8(op: Op, ctx: Context):
    _default_acts(op, ("Sigmoid", "Tanh", "Tanh"))
    xq, hq = _io(ctx, op)
    w, ws, _ = weight(ctx, op, "W")
    r, rs, _ = weight(ctx, op, "R")
    n = w.shape[0] // 4
    bx = folded_bias(bias(ctx, op, xq.scale * ws.astype(np.float64)), w, xq.zero_point)
    bh = folded_bias(np.zeros(r.shape[0], np.int64), r, hq.zero_point)
    qx, qh = _gate_qm(ws, xq.scale, Q3_12), _gate_qm(rs, hq.scale, Q3_12)
    p, qp = _peepholes(ctx, op, n, int(op.attr("cell_scale_log2")))
    has_proj = bool(ctx.name(op, "Wproj"))
    hidq = hq
    wp, bp, qj = EMPTY_I8, EMPTY_I32, EMPTY_QM
    if has_proj:
        hidq = QParams(float(np.float32(op.attr("hidden_scale"))),
                       int(op.attr("hidden_zero_point")), "i8")
        need(hidq.scale > 0, op, "an integer LSTM with a projection needs hidden_scale")
        wp, wps, _ = weight(ctx, op, "Wproj")
        bp = folded_bias(bias(ctx, op, hidq.scale * wps.astype(np.float64), "Bproj"), wp,
                         hidq.zero_point)
        qj = qm_rows([f32mul(f32mul(s, hidq.scale), 1.0 / hq.scale) for s in wps])
    prm = _lstm_params(op, hq, hidq, has_proj)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    h, c = ctx.state_of(op, "h"), ctx.state_of(op, "c")
    xw = np.zeros((x.shape[0], ctx.B, 4 * n), dtype=np.int16)
    hid = np.zeros((1, n), dtype=np.int8)
    acc = np.zeros(max(4 * n, wp.shape[0]), dtype=np.int32)
    tabs = activation_tables(15 + int(op.attr("cell_scale_log2")))
    return each_n(x.shape[0], lstm.lstm_seq_i8, lambda k: (
        x[:k], w, r, bx, bh, qx, qh, p, qp, wp, bp, qj, prm, tabs, h, c, y[:k], xw[:k], hid,
        acc))


def _q15_params(hq: QParams) -> tuple[int, int, int, int]:
    """(m, s) of int8 h -> Q0.15 and of Q0.15 -> int8 h (GRU/RNN outputs)."""
    (m_in, s_in), (m_out, s_out) = multipliers([hq.scale * 32768.0, 1.0 / (hq.scale * 32768.0)])
    return m_in, s_in, m_out, s_out


def bind_gru_i8(op: Op, ctx: Context):
    _default_acts(op, ("Sigmoid", "Tanh"))
    xq, hq = _io(ctx, op)
    w, ws, _ = weight(ctx, op, "W")
    r, rs, _ = weight(ctx, op, "R")
    n = w.shape[0] // 3
    bx = folded_bias(bias(ctx, op, xq.scale * ws.astype(np.float64), "WB"), w, xq.zero_point)
    bh = folded_bias(bias(ctx, op, hq.scale * rs.astype(np.float64), "RB"), r, hq.zero_point)
    qx, qh = _gate_qm(ws, xq.scale, Q3_12), _gate_qm(rs, hq.scale, Q3_12)
    prm = np.array([*_q15_params(hq), hq.zero_point, int(bool(op.attr("linear_before_reset"))),
                    int(min(float(op.attr("clip")) * 4096, 32767))], dtype=np.int64)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    h = ctx.state_of(op, "h")
    xw = np.zeros((x.shape[0], ctx.B, 3 * n), dtype=np.int16)
    scratch = np.zeros((ctx.B, 3 * n), dtype=np.int16)
    rh = np.zeros((1, n), dtype=np.int8)
    acc = np.zeros(3 * n, dtype=np.int32)
    return each_n(x.shape[0], gru.gru_seq_i8, lambda k: (
        x[:k], w, r, bx, bh, qx, qh, prm, activation_tables(), h, y[:k], xw[:k], scratch, rh,
        acc))


def bind_rnn_i8(op: Op, ctx: Context):
    acts = tuple(op.attr("activations"))
    need(acts in (("Tanh",), ("Sigmoid",), ("Relu",)) and not op.attr("activation_alpha"),
         op, f"the integer RNN takes Tanh, Sigmoid or Relu, got {acts}; keep it float")
    xq, hq = _io(ctx, op)
    w, ws, _ = weight(ctx, op, "W")
    r, rs, _ = weight(ctx, op, "R")
    bx = folded_bias(bias(ctx, op, xq.scale * ws.astype(np.float64)), w, xq.zero_point)
    bh = folded_bias(np.zeros(r.shape[0], np.int64), r, hq.zero_point)
    relu = acts == ("Relu",)
    unit = hq.scale if relu else Q3_12  # relu sums straight at the output scale
    qx, qh = _gate_qm(ws, xq.scale, unit), _gate_qm(rs, hq.scale, unit)
    code = {"Tanh": 1, "Sigmoid": 0, "Relu": 2}[acts[0]]
    prm = np.array([*_q15_params(hq)[2:], hq.zero_point, code,
                    int(min(float(op.attr("clip")) * 4096, 32767))], dtype=np.int64)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    h = ctx.state_of(op, "h")
    xw = np.zeros((x.shape[0], ctx.B, w.shape[0]), dtype=np.int16)
    acc = np.zeros(w.shape[0], dtype=np.int32)
    return each_n(x.shape[0], rnn.rnn_seq_i8, lambda k: (
        x[:k], w, r, bx, bh, qx, qh, prm, activation_tables(), h, y[:k], xw[:k], acc))

