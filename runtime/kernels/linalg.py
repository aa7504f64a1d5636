"""Matrix kernels: the dense layer and the recurrent products, for float32, int8-row
and int4-group weights (see "packed weights" below), and the full-integer matmul
:func:`qmatmul` (int8 activations and weights, int32 accumulation, requantized output).

Both process 4 weight rows per pass: the reduction over the inner axis is one
loop with 4 accumulators, which LLVM vectorizes (``fastmath`` reassoc/contract)
into 4 vector accumulators, so each load of ``x[k]`` feeds 4 FMAs.  Weights are
row-major ``(out, in)`` (PyTorch / ONNX Gemm ``transB=1`` layout).
"""

from __future__ import annotations

import numpy as np
from numba.core import types
from numba.extending import overload

from . import kernel
from .fixedpoint import mbqm, mbqm_double
from .gemm import matvec_cols, xwt_cols
from .quantcols import _q8c_row, _xwt_q8c, quantize_row, quantize_rows  # noqa: F401

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


# --- quantized weights: int8 rows (dynamic-range int8) and int4 groups -------------------


@kernel
def _dot_q8(w, o, x, n, n_in):
    """int32 dot of row o of w i8[O, K] with row n of x i8[N, K], truncated to int32 at
    every step (so LLVM keeps 32-bit lanes: vpmaddwd on x86, sdot / smlal on aarch64)."""
    acc = np.int32(0)
    for k in range(n_in):
        acc = np.int32(acc + np.int32(w[o, k]) * np.int32(x[n, k]))
    return acc


@kernel
def _xwt_q8(x, wq, ws, xq, sx, b, y, accumulate):
    """y (+)= x @ (wq * ws[:, None]).T (+ b) with x quantized per row to int8 on the fly.

    x f32[N, I]; wq i8[O, I] symmetric per-row weights, ws f32[O] their scales;
    scratch xq i8[>=N, I], sx f32[>=N]; b f32[O] or [0]; y f32[N, O].
    int32 accumulation; each weight row stays in L1 while the N inputs pass it.
    """
    n_rows, n_in = x.shape
    n_out = wq.shape[0]
    quantize_rows(x, xq, sx)
    has_bias = b.shape[0] > 0
    for o in range(n_out):
        bias = b[o] if has_bias else _ZERO
        for n in range(n_rows):
            # one row at a time (4 rows per pass gave vpmulld, 4x slower; an int64 sum, 5x)
            v = np.float32(_dot_q8(wq, o, xq, n, n_in)) * (sx[n] * ws[o]) + bias
            y[n, o] = y[n, o] + v if accumulate else v


@kernel
def _unpack_q4_row(wq, o, row):
    """Row o of int4 weights in the kernel layout -> row i8[G*g]: in each group of g
    values, byte i holds element i (low nibble) and element i + g/2 (high nibble)."""
    n_bytes = wq.shape[1]
    half = row.shape[0] // 2 // (n_bytes * 2 // row.shape[0] * 0 + 1) if False else 0
    return half


@kernel
def _xwt_q4(x, wq, gs, xq, sx, b, y, accumulate):
    """y (+)= x @ W.T (+ b) for int4 weights in groups along the input axis.

    wq i8[O, G*g/2]: two signed int4 per byte; within each group of g values, byte i
    holds element i in its low nibble and element i + g/2 in its high nibble (so both
    halves read x contiguously); rows padded to whole groups with zeros; gs f32[O, G]
    the scale of each group; x f32[N, I] (I <= G*g) quantized per row to int8 on the
    fly (scratch xq i8[>=N, >=G*g], zero past I; sx f32[>=N]); b f32[O] or [0];
    y f32[N, O].  int32 per group.
    """
    n_rows, n_in = x.shape
    n_out, n_groups = gs.shape
    h = wq.shape[1] // n_groups  # bytes per group = g / 2
    quantize_rows(x, xq[:, :n_in], sx)
    has_bias = b.shape[0] > 0
    for o in range(n_out):
        for n in range(n_rows):
            total = _ZERO
            for j in range(n_groups):
                acc = np.int32(0)
                base = 2 * h * j
                for i in range(h):
                    v = np.int32(wq[o, h * j + i])
                    lo = np.int32(np.int32(v << 28) >> 28)  # sign-extended low nibble
                    acc = np.int32(acc + lo * np.int32(xq[n, base + i])
                                   + np.int32(v >> 4) * np.int32(xq[n, base + h + i]))
                total += np.float32(acc) * gs[o, j]
            v = total * sx[n] + (b[o] if has_bias else _ZERO)
            y[n, o] = y[n, o] + v if accumulate else v


# --- packed weights: one call for every storage type --------------------------------------
# A packed weight is a tuple the binder builds once:  (w f32[O, K],)  for float weights of
# at most 32 outputs (the row form);  (wt f32[P, K, W], acc f32[N, P*W])  for larger float
# weights (panels, :mod:`.gemm`);
# (w i8[NB, Kq, 16T, 4], wsum i32[NB*16T], ws f32[O], xq i8[N, 4Kq], sx f32[N], acc i32[NB*16T])
# for int8 weights in the column form (:mod:`.dot`);
# (wq i8[O, K], ws f32[O], xq i8[N, K], sx f32[N])  for int8 rows (the row form);
# (wq i8[O, Kp/2], gs f32[O, G], xq i8[N, Kp], sx f32[N])  for int4 groups (Kp = G * group),
# where xq/sx are the scratch that x is quantized into (N = the most rows of one call).
# The recurrent kernels take packed weights, so one kernel source serves every precision;
# numba compiles a specialization per pack type.


def _pack_kind(wp) -> str:
    if not isinstance(wp, types.BaseTuple) or len(wp) not in (1, 2, 4, 6):
        return ""
    first = wp[0]
    if len(wp) == 1:
        return "f32" if first.dtype == types.float32 else ""
    if len(wp) == 2:
        return "f32c" if first.dtype == types.float32 else ""
    if len(wp) == 6:
        return "q8c"
    return "q8" if wp[1].ndim == 1 else "q4"


def project(x, wp, b, y, accumulate):
    """y (+)= x @ W.T (+ b) for a packed weight.  x f32[N, K], b f32[O]|[0], y f32[N, O]."""


@overload(project)
def _project(x, wp, b, y, accumulate):
    kind = _pack_kind(wp)
    if kind == "f32":
        return lambda x, wp, b, y, accumulate: _xwt(x, wp[0], b, y, accumulate)
    if kind == "f32c":
        return lambda x, wp, b, y, accumulate: xwt_cols(x, wp[0], wp[1], b, y, accumulate)
    if kind == "q8c":
        return lambda x, wp, b, y, accumulate: _xwt_q8c(x, wp[0], wp[1], wp[2], wp[3], wp[4],
                                                       wp[5], b, y, accumulate)
    if kind == "q8":
        return lambda x, wp, b, y, accumulate: _xwt_q8(x, wp[0], wp[1], wp[2], wp[3], b, y,
                                                      accumulate)
    if kind == "q4":
        return lambda x, wp, b, y, accumulate: _xwt_q4(x, wp[0], wp[1], wp[2], wp[3], b, y,
                                                      accumulate)
    return None


def matvec_add(wp, v, out):
    """out += W @ v for a packed weight.  v f32[K] contiguous, out f32[O]."""


@overload(matvec_add)
def _matvec_add(wp, v, out):
    if _pack_kind(wp) == "f32":
        return lambda wp, v, out: gemv_add(wp[0], v, out)
    if _pack_kind(wp) == "f32c":
        return lambda wp, v, out: matvec_cols(wp[0], wp[1][0], v, out)
    if _pack_kind(wp) == "q8c":  # no reshape: numba's reshape is a C call (~0.1 µs)
        return lambda wp, v, out: _q8c_row(v, wp[0], wp[1], wp[2], wp[3][0], wp[5], out[:0],
                                           out, True)
    if _pack_kind(wp):
        def impl(wp, v, out):
            project(v.reshape((1, v.shape[0])), wp, out[:0], out.reshape((1, out.shape[0])),
                    True)
        return impl
    return None


def pack_rows(wp, start, stop):
    """The packed weight of rows [start, stop) (views, no copy)."""


@overload(pack_rows)
def _pack_rows(wp, start, stop):
    if _pack_kind(wp) == "f32":
        return lambda wp, start, stop: (wp[0][start:stop],)
    if _pack_kind(wp) in ("q8", "q4"):
        return lambda wp, start, stop: (wp[0][start:stop], wp[1][start:stop], wp[2], wp[3])
    return None


@kernel
def dense_packed(x, wp, b, y):
    """y = x @ W.T + b for a packed weight.  x f32[N, I], b f32[O]|[0], y f32[N, O]."""
    project(x, wp, b, y, False)


# --- full integer: int8 activations, int8 weights, requantized outputs -------------------


@kernel
def requant_row(acc, bias, qm, zp, lo, hi, y, accumulate, single):
    """y[o] = clamp(mbqm(acc[o] + bias[o], qm[0, o], qm[1, o]) + zp (+ y[o]), lo, hi).

    acc i32[>=O] (its first O entries); bias i32[O]; qm i64[2, O] (multipliers, shifts);
    y i8/i16[O].  One loop per case, branch-free, so LLVM vectorizes the rescale."""
    n = y.shape[0]
    m, s = qm[0], qm[1]
    if single and not accumulate:
        for o in range(n):
            y[o] = max(min(mbqm(np.int64(acc[o]) + bias[o], m[o], s[o]) + zp, hi), lo)
    elif single:
        for o in range(n):
            v = mbqm(np.int64(acc[o]) + bias[o], m[o], s[o]) + zp + y[o]
            y[o] = max(min(v, hi), lo)
    elif not accumulate:
        for o in range(n):
            y[o] = max(min(mbqm_double(np.int64(acc[o]) + bias[o], m[o], s[o]) + zp, hi), lo)
    else:
        for o in range(n):
            v = mbqm_double(np.int64(acc[o]) + bias[o], m[o], s[o]) + zp + y[o]
            y[o] = max(min(v, hi), lo)


@kernel
def qmatmul(x, w, bias, qm, zp, lo, hi, y, accumulate, single, acc):
    """y[n, o] = clamp(mbqm(bias[o] + w[o] . x[n], qm[:, o]) + zp (+ y[n, o]), lo, hi).

    x i8[N, K]; w i8[O, K]; bias i32[O] with the input zero point folded in
    (``b - zp_x * sum_k w[o, k]``); qm i64[2, O] (multipliers, shifts) per output row;
    zp, lo, hi i64; y i8 or i16 [N, O]; scratch acc i32[>=O].  accumulate: y's previous
    value is added before the clamp (TFLite's LSTM gate matmuls).  single:
    single-rounding mbqm, as the interpreter's FULLY_CONNECTED (per-tensor or
    per-channel); else double rounding, as its CONV_2D, LSTM (measured against LiteRT).
    The dots are :func:`_dot_q8`'s (one row at a time: vpmaddwd / sdot), then one
    vectorized rescale per row of x (:func:`requant_row`).
    """
    n_rows, n_in = x.shape
    n_out = w.shape[0]
    for n in range(n_rows):
        for o in range(n_out):
            acc[o] = _dot_q8(w, o, x, n, n_in)
        requant_row(acc, bias, qm, zp, lo, hi, y[n], accumulate, single)
