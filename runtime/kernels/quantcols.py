"""Dynamic-range int8 products in the column form: activations quantized per row on the
fly, int8 weights as :func:`edgernn.packing.q8_cols` lays them out, the products by the
machine's dot instruction (:mod:`.dot`).  The row-form int8 and int4 kernels, and the
dispatch on packed weights, are in :mod:`.linalg`.
"""

from __future__ import annotations

import numpy as np

from . import kernel
from .dot import dot4_block, dot_offset

_ZERO = np.float32(0.0)


@kernel
def quantize_row(x, xq):
    """Symmetric int8 quantization of one row of activations, on the fly: x f32[K] ->
    xq i8[K] = round(x / s); returns s = max|x| / 127 (0 for an all-zero row, whose xq
    is 0)."""
    m = _ZERO
    for k in range(x.shape[0]):
        m = max(m, abs(x[k]))
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
def _q8c_row(x, w, wsum, ws, xq, acc, b, y, accumulate):
    """y (+)= W @ x (+ b) for one row, int8 weights in the column form: x f32[I],
    xq i8[4*Kq] scratch (zero past I), y f32[O]; the rest as in :func:`_xwt_q8c`."""
    n_blocks, tiles = w.shape[0], w.shape[2] // 16
    s = quantize_row(x, xq[: x.shape[0]])
    x32 = xq.view(np.int32)
    off = dot_offset()
    for o in range(acc.shape[0]):
        acc[o] = np.int32(-off * wsum[o])
    for blk in range(n_blocks):
        if tiles == 4:
            dot4_block(acc, w, x32, blk, 4)
        else:
            dot4_block(acc, w, x32, blk, 1)
    has_bias = b.shape[0] > 0
    for o in range(y.shape[0]):
        v = np.float32(acc[o]) * (s * ws[o]) + (b[o] if has_bias else _ZERO)
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
