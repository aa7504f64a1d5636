"""Integer binders of ``Dense`` and ``Conv`` (int8 x, q8 W, i32 B -> int8 y).

Semantics are TFLite's FULLY_CONNECTED and CONV_2D / DEPTHWISE_CONV_2D int8 kernels:
``y = clamp(mbqm(B + sum (x - zp_x) * W, m, s) + zp_y, lo, hi)``, one (m, s) per
output channel.  The rescale factor is computed as TFLite does: per-channel
weights (and every conv) in float64, ``s_x * s_w[c] / s_y``; a per-tensor
FULLY_CONNECTED weight as ``float32(s_x * s_w) / s_y``.  A ``Unary`` the plan fused
into the op becomes the clamp range when it is a Relu/Relu6/Clip at the same scale
(TFLite's fused activation), otherwise a 256-entry table applied after the kernel.
"""

from __future__ import annotations

import numpy as np

from ..bindings import Context, direct, each_n, rows
from ..ir import GraphError, Op, Tensor
from ..kernels import conv, linalg, quant
from .base import need
from .qtables import activation_range, unary_table
from .quant import I64, QParams, f32mul, qm_rows, qparams

Q8_ONLY = {"x": frozenset({"i8"}), "W": frozenset({"q8"}), "B": frozenset({"i32"})}


def weight(ctx: Context, op: Op, role: str = "W") -> tuple[np.ndarray, np.ndarray, bool]:
    """(int8 data in its shape, float32 scale per output row, per_channel) of a q8 weight."""
    t: Tensor = ctx.plan.graph.consts[ctx.name(op, role)]
    zp = 0 if t.zero_point is None else np.asarray(t.zero_point)
    need(np.all(zp == 0), op, f"{role} must be symmetric (zero point 0) for integer kernels")
    need(t.scale is not None, op, f"{role} has no scale")
    scale = np.asarray(t.scale, dtype=np.float32).reshape(-1)
    rows_ = t.shape[0]
    need(scale.size in (1, rows_) and (scale.size == 1 or t.axis in (0, None)), op,
         f"{role} scale must be per tensor or per output channel (axis 0)")
    data = np.ascontiguousarray(t.data.reshape(t.shape))
    return data, np.broadcast_to(scale, (rows_,)).astype(np.float32), scale.size > 1


def bias(ctx: Context, op: Op, want_scale: np.ndarray, role: str = "B") -> np.ndarray:
    """The int32 bias (zeros if absent) as int64; its scale must be s_x * s_w."""
    name = ctx.name(op, role)
    if not name:
        return np.zeros(want_scale.size, dtype=np.int64)
    t: Tensor = ctx.plan.graph.consts[name]
    if t.scale is not None:
        got = np.broadcast_to(np.asarray(t.scale, np.float64).reshape(-1), want_scale.shape)
        if not np.allclose(got, want_scale, rtol=1e-5, atol=0):
            raise GraphError(f"op {op.name!r}: bias {name!r} is quantized at scale "
                             f"{got[:3]}..., the kernel needs input scale * weight scale "
                             f"{want_scale[:3]}...; re-quantize the bias")
    return t.data.reshape(-1).astype(np.int64)


def folded_bias(b: np.ndarray, w2: np.ndarray, zp_x: int) -> np.ndarray:
    """b - zp_x * sum_k w[o, k], wrapped to int32 as TFLite's int32 accumulator."""
    return (b - zp_x * w2.astype(np.int64).sum(axis=1)).astype(np.int64).astype(np.int32)


def epilogue(ctx: Context, op: Op, yq: QParams) -> tuple[int, int, np.ndarray | None]:
    """(lo, hi, table or None) for the Unary fused into ``op`` (TFLite's activation range
    when the Unary is a clamp at the same scale, else a table over the op's output)."""
    act = ctx.plan.fusions.get(op.name)
    lo, hi = yq.range
    if act is None:
        return lo, hi, None
    aq = qparams(ctx.plan.graph, act.outputs[0])
    if (aq.scale, aq.zero_point, aq.dtype) == tuple(yq):
        rng = activation_range(act, aq)
        if rng is not None:
            return rng[0], rng[1], None
    return lo, hi, unary_table(act, yq, aq)


def with_table(call, y: np.ndarray, table: np.ndarray | None):
    """Apply a fused activation's table in place to the frames ``call`` wrote."""
    if table is None:
        return call
    lut = direct(quant.lut8)
    table = table.astype(y.dtype)

    def run(n: int) -> int:
        m = call(n)
        flat = y[:m].reshape(-1)
        lut(flat, table, flat)
        return m

    return run


def bind_dense_i8(op: Op, ctx: Context):
    g = ctx.plan.graph
    xq, yq = qparams(g, op.inputs[0]), qparams(g, op.outputs[0])
    need(yq.dtype == "i8", op, "the integer Dense writes int8")
    w, ws, per_channel = weight(ctx, op)
    if per_channel:  # TFLite: double(s_x) * double(s_w) / double(s_y)
        reals = xq.scale * ws.astype(np.float64) / yq.scale
    else:  # TFLite GetQuantizedConvolutionMultipler: the product in float32
        reals = np.full(ws.size, f32mul(xq.scale, ws[0]) / yq.scale)
    qm = qm_rows(reals)
    b = folded_bias(bias(ctx, op, xq.scale * ws.astype(np.float64)), w, xq.zero_point)
    lo, hi, table = epilogue(ctx, op, yq)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    k, o = w.shape[1], w.shape[0]
    consts = (I64(yq.zero_point), I64(lo), I64(hi))
    acc = np.zeros(o, dtype=np.int32)
    call = each_n(x.shape[0], linalg.qmatmul, lambda n: (
        rows(x, n, k), w, b, qm, *consts, rows(y, n, o), False, True, acc))
    return with_table(call, y, table)


def bind_conv_i8(op: Op, ctx: Context):
    g = ctx.plan.graph
    xq, yq = qparams(g, op.inputs[0]), qparams(g, op.outputs[0])
    need(yq.dtype == "i8", op, "the integer Conv writes int8")
    w, ws, _ = weight(ctx, op)
    w4 = w.reshape(*w.shape[:3], w.shape[3] if w.ndim == 4 else 1)
    qm = qm_rows(xq.scale * ws.astype(np.float64) / yq.scale)  # PopulateConvolution...
    b = bias(ctx, op, xq.scale * ws.astype(np.float64)).astype(np.int32)
    lo, hi, table = epilogue(ctx, op, yq)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    x4 = x.reshape(x.shape[0], ctx.B, x.shape[2], -1)
    y4 = y.reshape(y.shape[0], ctx.B, y.shape[2], -1)
    hist, count = ctx.state_of(op, "hist"), ctx.state_of(op, "count")
    ints = [I64(op.attr(k)) for k in ("stride", "dilation", "delay", "groups",
                                      "freq_stride", "freq_dilation")]
    col = np.zeros(w4.shape[1] * w4.shape[2] * w4.shape[3], dtype=np.int16)
    pos = np.zeros(w4.shape[2], dtype=np.int64)
    zq = np.array([xq.zero_point, yq.zero_point, lo, hi], dtype=np.int64)
    kernel = direct(conv.conv_time_i8)
    rest = (w4, b, qm, zq, hist, count, y4, *ints, I64(op.attr("freq_pads")[0]), col, pos)
    cap = x4.shape[0]

    def call(n: int) -> int:
        return kernel(x4 if n == cap else x4[:n], *rest)

    return with_table(call, y, table)
