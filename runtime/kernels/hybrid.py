"""TFLite's dynamic-range ("hybrid") product: float rows quantized to int8 on the fly,
an int32 dot product with int8 weight rows, the result scaled back to float.

The quantization follows TFLite's ``tensor_utils`` exactly (portable kernels):

* symmetric (``SymmetricQuantizeFloats``): ``s = max|x| / 127``,
  ``q = clamp(round(x * (127 / max|x|)), -127, 127)``, float32 arithmetic;
* asymmetric (``AsymmetricQuantizeFloats``, ``asymmetric_quantize_inputs``): the range
  ``[min(0, min x), max(0, max x)]`` in float64, ``s = range / 255``, the zero point
  nudged to int8, ``q = clamp(round(float32(1 / s) * x) + zp, -128, 127)``;

``round`` is half away from zero (``TfLiteRound``).  An all-zero row gives ``s = 1``,
``q = 0``.  Then ``y = b + float(dot(w, q) - zp * rowsum(w)) * (s * s_w)``, as
``MatrixBatchVectorMultiplyAccumulate`` accumulates into a bias-initialized output.
"""

from __future__ import annotations

import numpy as np

from . import kernel

_F0 = np.float32(0.0)
_F05 = np.float32(0.5)


@kernel
def _round(v):
    """Half away from zero (std::round) of a float32."""
    return np.floor(v + _F05) if v >= _F0 else -np.floor(-v + _F05)


@kernel
def _symmetric(x, r, xq, lo, hi):
    """SymmetricQuantizeFloats of row r (range lo..hi) into xq; (scale, 0)."""
    rng = max(abs(lo), abs(hi))
    if rng == _F0:
        for k in range(x.shape[1]):
            xq[k] = 0
        return np.float32(1.0), 0
    inv = np.float32(127.0) / rng
    for k in range(x.shape[1]):
        q = _round(x[r, k] * inv)
        xq[k] = np.int8(min(np.float32(127.0), max(np.float32(-127.0), q)))
    return rng / np.float32(127.0), 0


@kernel
def _asymmetric(x, r, xq, lo, hi):
    """AsymmetricQuantizeFloats of row r (range lo..hi) into xq; (scale, zero point)."""
    rmin = min(0.0, np.float64(lo))
    rmax = max(0.0, np.float64(hi))
    if rmin == rmax:
        for k in range(x.shape[1]):
            xq[k] = 0
        return np.float32(1.0), 0
    scale = (rmax - rmin) / 255.0
    zp_min, zp_max = -128.0 - rmin / scale, 127.0 - rmax / scale
    zp_d = zp_min if abs(-128.0) + abs(rmin / scale) < abs(127.0) + abs(rmax / scale) \
        else zp_max
    if zp_d <= -128.0:
        zp = -128
    elif zp_d >= 127.0:
        zp = 127
    else:
        zp = int(np.floor(zp_d + 0.5) if zp_d >= 0.0 else -np.floor(-zp_d + 0.5))
    inv = np.float32(1.0 / scale)
    for k in range(x.shape[1]):
        q = np.int64(_round(inv * x[r, k])) + zp
        xq[k] = np.int8(min(127, max(-128, q)))
    return np.float32(scale), zp


@kernel
def quantize_row(x, r, xq, asymmetric):
    """Row r of x f32[N, K] -> xq i8[K]; returns (scale f32, zero point int)."""
    lo = np.float32(np.inf)
    hi = np.float32(-np.inf)
    for k in range(x.shape[1]):
        v = x[r, k]
        lo = min(lo, v)
        hi = max(hi, v)
    if asymmetric:
        return _asymmetric(x, r, xq, lo, hi)
    return _symmetric(x, r, xq, lo, hi)


@kernel
def hybrid_dense(x, wq, ws, rowsum, b, y, xq, asymmetric):
    """y = b + (wq @ quantize(x) - zp * rowsum) * (s_x * ws), row by row of x.

    x f32[N, K]; wq i8[O, K]; ws f32[O] (per-row weight scale); rowsum i32[O] (sum of each
    weight row); b f32[O] or [0]; y f32[N, O]; scratch xq i8[K].
    """
    n_rows = x.shape[0]
    n_out, n_in = wq.shape
    has_bias = b.shape[0] > 0
    for n in range(n_rows):
        sx, zp = quantize_row(x, n, xq, asymmetric)
        for o in range(n_out):
            acc = np.int32(0)
            for k in range(n_in):
                acc = np.int32(acc + np.int32(wq[o, k]) * np.int32(xq[k]))
            acc = np.int32(acc - np.int32(zp) * rowsum[o])
            v = np.float32(acc) * np.float32(sx * ws[o])
            y[n, o] = (b[o] + v) if has_bias else v


@kernel
def dynamic_quantize(x, y, xq, asymmetric):
    """y = s * (q - zp): each row of x f32[N, K] quantized as above and back (TFLite's
    hybrid convs quantize their whole input this way); y f32[N, K]; scratch xq i8[K]."""
    n_rows, n_in = x.shape
    for n in range(n_rows):
        sx, zp = quantize_row(x, n, xq, asymmetric)
        for k in range(n_in):
            y[n, k] = sx * np.float32(np.int32(xq[k]) - np.int32(zp))
