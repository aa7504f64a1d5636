"""Normalization kernels: Softmax / LogSoftmax, Reduce, LayerNorm (fp32) and the int8
Softmax (:func:`softmax_i8`).

Frames are viewed as ``(O, L, I)`` around the axis (or axes) being normalized or
reduced: ``O`` = product of the axes before, ``L`` = the axis, ``I`` = the axes after.
With ``N = T*B`` rows the arrays are ``(N, O, L, I)``.  When ``I == 1`` (the last
axis, the common case) the loops run contiguous over ``L``; otherwise ``I`` is
innermost so they stay contiguous too.
"""

from __future__ import annotations

import numpy as np

from . import kernel
from .fixedpoint import one_over_one_plus_x, rdbpot, srdhm32, wrap32

REDUCE: dict[str, int] = {"Mean": 0, "Max": 1, "Min": 2, "Sum": 3}


@kernel
def _softmax_row(x, y, log):
    """(Log)softmax of x (L,) into y (L,); y may alias x."""
    n = x.shape[0]
    mx = x[0]
    for i in range(n):
        mx = max(mx, x[i])
    s = np.float32(0.0)
    if log:
        for i in range(n):
            d = x[i] - mx
            y[i] = d
            s += np.exp(d)
        ls = np.log(s)
        for i in range(n):
            y[i] -= ls
    else:
        for i in range(n):
            e = np.exp(x[i] - mx)
            y[i] = e
            s += e
        inv = np.float32(1.0) / s
        for i in range(n):
            y[i] *= inv


@kernel
def _softmax_cols(x, y, log, mx, s):
    """(Log)softmax over axis 0 of x (L, I) into y (L, I); mx, s (I,) scratch."""
    nl, ni = x.shape
    mx[:] = x[0]
    s[:] = np.float32(0.0)
    for l in range(nl):
        for i in range(ni):
            mx[i] = max(mx[i], x[l, i])
    for l in range(nl):
        for i in range(ni):
            s[i] += np.exp(x[l, i] - mx[i])
    if log:  # (x - max) first, exact for nearby values; then - log(sum)
        for i in range(ni):
            s[i] = np.log(s[i])
        for l in range(nl):
            for i in range(ni):
                y[l, i] = x[l, i] - mx[i]
        for l in range(nl):
            for i in range(ni):
                y[l, i] -= s[i]
    else:
        for i in range(ni):
            s[i] = np.float32(1.0) / s[i]
        for l in range(nl):
            for i in range(ni):
                y[l, i] = np.exp(x[l, i] - mx[i]) * s[i]


@kernel
def softmax(x, y, log, mx, s):
    """Softmax (log=False) or LogSoftmax over axis 2. x, y (N, O, L, I); y may alias x;
    scratch mx, s f32 (I,)."""
    nrows, no, nl, ni = x.shape
    for n in range(nrows):
        for o in range(no):
            if ni == 1:
                _softmax_row(x[n, o].reshape(nl), y[n, o].reshape(nl), log)
            else:
                _softmax_cols(x[n, o], y[n, o], log, mx, s)


@kernel
def _reduce_row(x, code):
    """fn over x (L,) for a REDUCE code."""
    n = x.shape[0]
    acc = x[0]
    if code == 1:
        for i in range(n):
            acc = max(acc, x[i])
    elif code == 2:
        for i in range(n):
            acc = min(acc, x[i])
    else:
        acc = np.float32(0.0)
        for i in range(n):
            acc += x[i]
        if code == 0:
            acc = acc / np.float32(n)
    return acc


@kernel
def _reduce_cols(x, y, code):
    """y[i] = fn over l of x[l, i] for a REDUCE code. x (L, I), y (I,)."""
    nl, ni = x.shape
    if code == 1 or code == 2:
        y[:] = x[0]
    else:
        y[:] = np.float32(0.0)
    for l in range(nl):
        xl = x[l]
        if code == 1:
            for i in range(ni):
                y[i] = max(y[i], xl[i])
        elif code == 2:
            for i in range(ni):
                y[i] = min(y[i], xl[i])
        else:
            for i in range(ni):
                y[i] += xl[i]
    if code == 0:
        inv = np.float32(1.0) / np.float32(nl)
        for i in range(ni):
            y[i] *= inv


@kernel
def reduce(x, y, code):
    """y[n, o, i] = fn over l of x[n, o, l, i], fn = REDUCE code. x (N, O, L, I), y (N, O, I)."""
    nrows, no, nl, ni = x.shape
    for n in range(nrows):
        for o in range(no):
            if ni == 1:
                y[n, o, 0] = _reduce_row(x[n, o].reshape(nl), code)
            else:
                _reduce_cols(x[n, o], y[n, o], code)


@kernel
def layernorm(x, scale, bias, eps, y):
    """ONNX LayerNormalization over the last axis: (x - mean) / sqrt(var + eps) * scale + bias.

    x, y (N, O, L); scale (L,); bias (L,) or (0,); population variance; y may alias x.
    """
    nrows, no, nl = x.shape
    has_bias = bias.shape[0] > 0
    e = np.float32(eps)
    inv_n = np.float32(1.0) / np.float32(nl)
    for n in range(nrows):
        for o in range(no):
            xr = x[n, o]
            yr = y[n, o]
            s = np.float32(0.0)
            for l in range(nl):
                s += xr[l]
            mean = s * inv_n
            v = np.float32(0.0)
            for l in range(nl):
                d = xr[l] - mean
                v += d * d
            r = np.float32(1.0) / np.sqrt(v * inv_n + e)
            if has_bias:
                for l in range(nl):
                    yr[l] = (xr[l] - mean) * r * scale[l] + bias[l]
            else:
                for l in range(nl):
                    yr[l] = (xr[l] - mean) * r * scale[l]


@kernel
def _clz32(x):
    """Leading zeros of x (0 < x < 2**32) as a uint32."""
    n = 0
    while x < (np.int64(1) << 31):
        x <<= 1
        n += 1
    return n


@kernel
def softmax_i8(x, y, table, diff_min):
    """int8 Softmax over axis 2 with TFLite's reference semantics (reference_ops::Softmax,
    gemmlowp fixed point); output scale 1/256, zero point -128.

    x, y i8[N, O, L, I]; table i32[256]: exp(rescaled d) as Q0.31 for d = code - max
    in [-255, 0] (index d + 255, :func:`~edgernn.ops.qelementwise.softmax_table`);
    diff_min i64: differences below it give -128.  Per softmax row: sum the exps in
    Q12.19, GetReciprocal (1/(1+x) Newton-Raphson), then each output
    RoundingDivideByPOT(recip * exp, bits over unit + 23) - 128.
    """
    nrows, no, nl, ni = x.shape
    for n in range(nrows):
        for o in range(no):
            for i in range(ni):
                top = np.int64(-128)
                for k in range(nl):
                    top = max(top, np.int64(x[n, o, k, i]))
                total = np.int64(0)
                for k in range(nl):
                    d = np.int64(x[n, o, k, i]) - top
                    if d >= diff_min:
                        total = wrap32(total + rdbpot(np.int64(table[d + 255]), 12))
                headroom = _clz32(total)
                over = 12 - headroom
                scale = one_over_one_plus_x(((total << headroom) & 0xFFFFFFFF) - (1 << 31), 32)
                for k in range(nl):
                    d = np.int64(x[n, o, k, i]) - top
                    v = np.int64(-128)
                    if d >= diff_min:
                        v = rdbpot(srdhm32(scale, np.int64(table[d + 255])), over + 23) - 128
                    y[n, o, k, i] = max(min(v, np.int64(127)), np.int64(-128))
