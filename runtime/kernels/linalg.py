"""Matrix kernels: the dense layer and the recurrent matrix-vector product, float32
(:func:`dense`, :func:`gemm_add`, :func:`gemv_add`) and int8 (:func:`qmatmul`).

All process 4 weight rows per pass: the reduction over the inner axis is one
loop with 4 accumulators, which LLVM vectorizes (``fastmath`` reassoc/contract)
into 4 vector accumulators, so each load of ``x[k]`` feeds 4 FMAs.  Weights are
row-major ``(out, in)`` (PyTorch / ONNX Gemm ``transB=1`` layout).
"""

from __future__ import annotations

import numpy as np

from . import kernel
from .fixedpoint import mbqm, mbqm_double

_ZERO = np.float32(0.0)


@kernel
def _xwt(x, w, b, y, accumulate):
    """y (+)= x @ w.T (+ b): the shared body of :func:`dense` and :func:`gemm_add`."""
    n_rows, n_in = x.shape
    n_out = w.shape[0]
    has_bias = b.shape[0] > 0
    n4 = n_out - n_out % 4
    for o in range(0, n4, 4):
        b0 = b1 = b2 = b3 = _ZERO
        if has_bias:
            b0, b1, b2, b3 = b[o], b[o + 1], b[o + 2], b[o + 3]
        for n in range(n_rows):
            a0, a1, a2, a3 = b0, b1, b2, b3
            if accumulate:
                a0 += y[n, o]
                a1 += y[n, o + 1]
                a2 += y[n, o + 2]
                a3 += y[n, o + 3]
            s0 = s1 = s2 = s3 = _ZERO
            for k in range(n_in):
                xk = x[n, k]
                s0 += w[o, k] * xk
                s1 += w[o + 1, k] * xk
                s2 += w[o + 2, k] * xk
                s3 += w[o + 3, k] * xk
            y[n, o] = a0 + s0
            y[n, o + 1] = a1 + s1
            y[n, o + 2] = a2 + s2
            y[n, o + 3] = a3 + s3
    for o in range(n4, n_out):
        for n in range(n_rows):
            a0 = b[o] if has_bias else _ZERO
            if accumulate:
                a0 += y[n, o]
            s0 = _ZERO
            for k in range(n_in):
                s0 += w[o, k] * x[n, k]
            y[n, o] = a0 + s0


@kernel
def dense(x, w, b, y):
    """y = x @ w.T + b.

    x f32[N, I], w f32[O, I], b f32[O] or f32[0] (no bias), y f32[N, O] (written).
    The 4 weight rows of a pass stay in L1 while all N inputs stream past them.
    """
    _xwt(x, w, b, y, False)


@kernel
def gemm_add(x, w, y):
    """y += x @ w.T.   x f32[N, K], w f32[O, K], y f32[N, O] (accumulated in place).

    The recurrent product of N streams in one pass over the weights.
    """
    _xwt(x, w, w[0, :0], y, True)


@kernel
def gemv_add(w, v, out):
    """out += w @ v.   w f32[O, K], v f32[K], out f32[O] (accumulated in place)."""
    n_out, n_in = w.shape
    n4 = n_out - n_out % 4
    for o in range(0, n4, 4):
        a0 = a1 = a2 = a3 = _ZERO
        for k in range(n_in):
            vk = v[k]
            a0 += w[o, k] * vk
            a1 += w[o + 1, k] * vk
            a2 += w[o + 2, k] * vk
            a3 += w[o + 3, k] * vk
        out[o] += a0
        out[o + 1] += a1
        out[o + 2] += a2
        out[o + 3] += a3
    for o in range(n4, n_out):
        a0 = _ZERO
        for k in range(n_in):
            a0 += w[o, k] * v[k]
        out[o] += a0


@kernel
def _qstore(y, n, o, acc, qm, zp, lo, hi, accumulate, single):
    """y[n, o] = clamp(mbqm(acc, qm[o]) + zp (+ y[n, o] if accumulate), lo, hi)."""
    if single:
        v = mbqm(acc, qm[o, 0], qm[o, 1]) + zp
    else:
        v = mbqm_double(acc, qm[o, 0], qm[o, 1]) + zp
    if accumulate:
        v += y[n, o]
    y[n, o] = max(min(v, hi), lo)


@kernel
def qmatmul(x, w, bias, qm, zp, lo, hi, y, accumulate, single):
    """y[n, o] = clamp(mbqm(bias[o] + w[o] . x[n], qm[o]) + zp (+ y[n, o]), lo, hi).

    x i8[N, K]; w i8[O, K]; bias i32[O] with the input zero point folded in
    (``b - zp_x * sum_k w[o, k]``); qm i64[O, 2] (multiplier, shift) per output row;
    zp, lo, hi i64; y i8 or i16 [N, O].  accumulate: y's previous value is added
    before the clamp (TFLite's LSTM gate matmuls).  single: single-rounding mbqm, as
    the interpreter's FULLY_CONNECTED (per-tensor or per-channel); else double rounding,
    as its LSTM's MatrixBatchVectorMultiplyAccumulate (both measured against LiteRT).
    One row per pass (``acc = int32(acc + int32(w) * int32(x))``): x86 vectorizes it
    to vpmaddwd, aarch64 to sdot/smlal; four interleaved rows give vpmulld instead.
    """
    n_rows, n_in = x.shape
    n_out = w.shape[0]
    for o in range(n_out):
        for n in range(n_rows):
            acc = np.int32(0)
            for k in range(n_in):
                acc = np.int32(acc + np.int32(w[o, k]) * np.int32(x[n, k]))
            _qstore(y, n, o, np.int64(acc) + bias[o], qm, zp, lo, hi, accumulate, single)
