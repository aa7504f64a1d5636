"""Quantize, Dequantize and Requantize kernels (TFLite QUANTIZE / DEQUANTIZE semantics).

Activations are flat rows (``N = T*B*frame`` elements); integer outputs are
clamped to ``[lo, hi]`` (the dtype's range):

* :func:`quantize`: ``q = clamp(round(x / scale) + zp)`` with the division in float64
  and ties away from zero (TFLite AffineQuantize, ``TfLiteRound(val / scale)``);
* :func:`dequantize`: ``x = float32(scale * (q - zp))`` (one rounding, as TFLite);
* :func:`requantize`: ``q' = clamp(mbqm(q - zp_in, m, s) + zp_out)`` (TFLite Requantize,
  QUANTIZE from one integer scale to another).
"""

from __future__ import annotations

import numpy as np

from . import kernel
from .fixedpoint import mbqm


@kernel
def quantize(x, scale, zp, lo, hi, y):
    """y = clamp(round_half_away(x / scale) + zp, lo, hi).

    x f32/f64 (N,); scale f64 (the value's float32 scale, widened); zp, lo, hi i64;
    y int (N,).  NaN maps to zp (stream inputs are checked for NaN before this).
    """
    for i in range(x.shape[0]):
        v = np.float64(x[i]) / scale
        if v != v:
            v = 0.0
        v = min(max(v, -3.0e9), 3.0e9)
        r = np.floor(v + 0.5) if v >= 0 else np.ceil(v - 0.5)
        y[i] = max(min(zp + np.int64(r), hi), lo)


@kernel
def dequantize(x, scale, zp, y):
    """y f32 (N,) = float32(scale * (x - zp)).  x int (N,); scale f64; zp i64."""
    for i in range(x.shape[0]):
        y[i] = np.float32(scale * np.float64(np.int64(x[i]) - zp))


@kernel
def requantize(x, multiplier, shift, zp_in, zp_out, lo, hi, y):
    """y = clamp(mbqm(x - zp_in, multiplier, shift) + zp_out, lo, hi); x, y int (N,)."""
    for i in range(x.shape[0]):
        v = mbqm(np.int64(x[i]) - zp_in, multiplier, shift) + zp_out
        y[i] = max(min(v, hi), lo)


@kernel
def lut8(x, table, y):
    """y[i] = table[x[i] + 128]: any function of one int8 value.  x i8 (N,),
    table (256,) of y's dtype, y (N,).  Unary ops, requantization and concat parts."""
    for i in range(x.shape[0]):
        y[i] = table[np.int64(x[i]) + 128]
