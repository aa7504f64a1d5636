"""``HybridDense``: TFLite's dynamic-range FULLY_CONNECTED (float activations, int8
weights, activations quantized per row on the fly as TFLite does them), and
``DynamicQuantize``: a frame quantized to int8 and back the same way (what TFLite's
hybrid convs do to their input before an integer convolution).

The ``Dense`` record with q8 weights quantizes activations symmetrically with its own
rounding; TFLite's hybrid kernels (FULLY_CONNECTED, LSTM, RNN with
``asymmetric_quantize_inputs``) quantize asymmetrically, and a model converted from
TFLite must reproduce them (:mod:`edgernn.kernels.hybrid`): the TFLite importer emits
this op for hybrid products.  ``W`` is ``q8`` (symmetric, per tensor or per row).
"""

from __future__ import annotations

import numpy as np

from ..bindings import EMPTY1, Context, each_n, rows
from ..ir import Op
from ..kernels import hybrid
from .base import Binder, OpDef, RefCall, register, same_shape
from .dense import infer, macs


def _weights(ctx: Context, op: Op) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    wq, ws = ctx.plan.const(op.inputs[1], "q8rows")
    rowsum = np.ascontiguousarray(wq.astype(np.int64).sum(axis=1).astype(np.int32))
    return wq, ws, rowsum


def bind(op: Op, ctx: Context):
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    wq, ws, rowsum = _weights(ctx, op)
    n_out, n_in = wq.shape
    b = ctx.const(op, "B", EMPTY1).reshape(-1)
    xq = np.zeros(n_in, np.int8)
    asym = bool(op.attr("asymmetric"))
    return each_n(x.shape[0], hybrid.hybrid_dense, lambda n: (
        rows(x, n, n_in), wq, ws, rowsum, b, rows(y, n, n_out), xq, asym))


def _round(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, np.floor(v + 0.5), -np.floor(-v + 0.5))


def quantize_rows(x: np.ndarray, asymmetric: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference: (q, scale, zero point) per row of x [N, K], TFLite's rules in numpy."""
    x = x.astype(np.float32)
    q = np.zeros(x.shape, np.int64)
    s = np.ones(x.shape[0], np.float32)
    z = np.zeros(x.shape[0], np.int64)
    for n, row in enumerate(x):
        lo, hi = float(row.min()), float(row.max())
        if not asymmetric:
            rng = np.float32(max(abs(lo), abs(hi)))
            if rng > 0:
                q[n] = np.clip(_round(row * (np.float32(127) / rng)), -127, 127)
                s[n] = rng / np.float32(127)
            continue
        rmin, rmax = min(0.0, lo), max(0.0, hi)
        if rmin == rmax:
            continue
        scale = (rmax - rmin) / 255.0
        zmin, zmax = -128 - rmin / scale, 127 - rmax / scale
        zd = zmin if 128 + abs(rmin / scale) < 127 + abs(rmax / scale) else zmax
        z[n] = -128 if zd <= -128 else 127 if zd >= 127 else int(_round(np.float64(zd)))
        q[n] = np.clip(_round(np.float32(1.0 / scale) * row) + z[n], -128, 127)
        s[n] = np.float32(scale)
    return q, s, z


def reference(c: RefCall) -> np.ndarray:
    """W arrives dequantized (codes times scales), so s_x * ((q - zp) @ W.T) is the spec."""
    x, w, b = c.arg("x"), c.arg("W"), c.arg("B")
    q, s, z = quantize_rows(x.reshape(-1, x.shape[-1]), bool(c.attr("asymmetric")))
    y = ((q - z[:, None]).astype(np.float64) @ w.T) * s[:, None].astype(np.float64)
    y = y if b is None else y + b.reshape(-1)
    return y.reshape(*x.shape[:-1], w.shape[0])


def bind_dq(op: Op, ctx: Context):
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    k = int(np.prod(ctx.shape(op.inputs[0]), dtype=np.int64))
    xq = np.zeros(k, np.int8)
    asym = bool(op.attr("asymmetric"))
    return each_n(x.shape[0], hybrid.dynamic_quantize, lambda n: (
        rows(x, n, k), rows(y, n, k), xq, asym))


def ref_dq(c: RefCall) -> np.ndarray:
    x = c.arg("x")
    q, s, z = quantize_rows(x.reshape(x.shape[0] * x.shape[1], -1), bool(c.attr("asymmetric")))
    return ((q - z[:, None]) * s[:, None].astype(np.float64)).reshape(x.shape)


register(OpDef(
    "DynamicQuantize", ("x",), {"asymmetric": True},
    "Each frame quantized to int8 and back with TFLite's dynamic-range rules: "
    "y = s * (q - zp).", infer=same_shape, reference=ref_dq,
    binders=(Binder(bind_dq),), kernels=(hybrid.dynamic_quantize,)))
register(OpDef(
    "HybridDense", ("x", "W", "B?"), {"asymmetric": True},
    "TFLite dynamic-range FULLY_CONNECTED: y = B + (W_q8 @ q(x)) * s_x * s_w with each row "
    "of x quantized to int8 on the fly (asymmetric or symmetric, TFLite's rounding).",
    infer=infer, reference=reference, macs=macs, weights=("W",),
    binders=(Binder(bind, {"W": frozenset({"q8"})}),), kernels=(hybrid.hybrid_dense,),
))
