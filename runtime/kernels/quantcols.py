"""Dynamic-range int8 products in the column form: activations quantized per row on the
fly, int8 weights as :func:`edgernn.packing.q8_cols` lays them out, the products by the
machine's dot instruction (:mod:`.dot`).  The row-form int8 and int4 kernels, and the
dispatch on packed weights, are in :mod:`.linalg`.
"""

from __future__ import annotations

import llvmlite.ir as lir
import numpy as np
from numba.core import types
from numba.extending import intrinsic

from . import kernel
from .dot import dot4_block, dot_offset

_ZERO = np.float32(0.0)


@intrinsic
def _f32_from_bits(typingctx, bits):
    """The float32 whose bits the low 32 bits of the unsigned integer ``bits`` hold."""
    if not isinstance(bits, types.Integer) or bits.signed:
        return None

    def codegen(context, builder, sig, args):
        low = builder.trunc(args[0], lir.IntType(32)) if bits.bitwidth > 32 else args[0]
        return builder.bitcast(low, lir.FloatType())

    return types.float32(bits), codegen


@kernel
def abs_max(x):
    """max |x[k]| of x f32[K] (0 for K = 0; NaN if any element is NaN).  Taken on the
    bits with the sign cleared, whose integer order is the float order: an integer max
    vectorizes, a float max does not without fastmath's no-NaN flag."""
    bits = x.view(np.uint32)
    m = np.uint32(0)
    for k in range(bits.shape[0]):
        m = max(m, bits[k] & np.uint32(0x7FFFFFFF))
    return _f32_from_bits(m)


@kernel
def quantize_row(x, xq):
    """Symmetric int8 quantization of one row of activations, on the fly: x f32[K]
    (contiguous) -> xq i8[K] = round(x / s); returns s = max|x| / 127 (0 for an all-zero
    row, whose xq is 0)."""
    m = abs_max(x)
    if not m > _ZERO:  # zero (or NaN: the caller's input check stops those)
        for k in range(x.shape[0]):
            xq[k] = 0
        return _ZERO
    inv = np.float32(127.0) / m
    for k in range(x.shape[0]):
        xq[k] = np.int8(np.floor(x[k] * inv + np.float32(0.5)))
    return m / np.float32(127.0)


@kernel
def quantize_rows(x, xq, sx):
    """:func:`quantize_row` for every row: x f32[N, K] -> xq i8[N, K], sx f32[N]."""
    for n in range(x.shape[0]):
        sx[n] = quantize_row(x[n], xq[n])


@kernel
def q8c_products(x32, w, wsum, acc):
    """acc i32[NB*16T] <- W @ xq, exact: xq the int8 activations 4 to an int32 (x32
    i32[Kq]), W int8 in the column form (w, wsum as :func:`_xwt_q8c` takes them)."""
    off = dot_offset()
    for o in range(acc.shape[0]):
        acc[o] = np.int32(-off * wsum[o])
    tiles = w.shape[2] // 16
    for blk in range(w.shape[0]):
        if tiles == 4:
            dot4_block(acc, w, x32, blk, 4)
        else:
            dot4_block(acc, w, x32, blk, 1)


@kernel
def q8c_quantized(x, wp):
    """x f32[K] quantized into the scratch of the int8 column pack ``wp`` (its row 0):
    (those codes 4 to an int32, the scale) for :func:`q8c_products` with this pack or
    any other of K inputs.  ``W @ x`` is then ``acc * (scale * ws)``."""
    xq = wp[3][0]
    s = quantize_row(x, xq[: x.shape[0]])
    return xq.view(np.int32), s


@kernel
def q8c_value(acc, s, ws, o):
    """Output o of a product from :func:`q8c_products`: acc i32 scaled by the
    activations' scale s and the weight row's ws f32[o]."""
    return np.float32(acc[o]) * (s * ws[o])


@kernel
def _q8c_row(x, w, wsum, ws, xq, acc, b, y, accumulate):
    """y (+)= W @ x (+ b) for one row, int8 weights in the column form: x f32[I],
    xq i8[4*Kq] scratch (zero past I), y f32[O]; the rest as in :func:`_xwt_q8c`."""
    s = quantize_row(x, xq[: x.shape[0]])
    q8c_products(xq.view(np.int32), w, wsum, acc)
    has_bias = b.shape[0] > 0
    for o in range(y.shape[0]):
        v = q8c_value(acc, s, ws, o) + (b[o] if has_bias else _ZERO)
        y[o] = y[o] + v if accumulate else v


@kernel
def _xwt_q8c(x, w, wsum, ws, xq, sx, acc, b, y, accumulate):
    """y (+)= x @ (wq * ws[:, None]).T (+ b), int8 weights in the column form.

    x f32[N, I] quantized per row to int8 on the fly (the same rounding as
    :func:`_xwt_q8`, so the results are identical); w i8[NB, Kq, 16T, 4] and wsum
    i32[NB*16T] as :func:`edgernn.packing.q8_cols` makes them, ws f32[O]; scratch
    xq i8[>=N, 4*Kq] (zero past I), sx f32[>=N], acc i32[NB*16T]; b f32[O] or [0];
    y f32[N, O].  :func:`edgernn.kernels.dot.dot4_block` does the products: each
    block of 16T outputs walks all the inputs with its accumulators in registers.
    """
    for n in range(x.shape[0]):
        _q8c_row(x[n], w, wsum, ws, xq[n], acc, b, y[n], accumulate)
