"""Elementwise kernels: the IR ``Binary`` op, fp32 (:func:`binary`) and int8
(:func:`binary_i8`).  ``Unary`` is :func:`edgernn.kernels.activations.activation`
(fp32) and :func:`edgernn.kernels.quant.lut8` (int8, a 256-entry table).

The planner flattens activations to rows: ``N = T*B`` rows of one frame each.
``binary`` takes two row arrays whose frames
broadcast to the output frame through index arrays precomputed at plan time
(:func:`broadcast_index`); a side with one row is a constant shared by all rows.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernel
from .fixedpoint import mbqm_double, wrap32

BINARY: dict[str, int] = {
    name: code
    for code, name in enumerate(("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu",
                                 "Greater", "GreaterEqual", "Less", "LessEqual", "Equal",
                                 "NotEqual"))
}
#: the comparisons among BINARY: 1.0 where true, 0.0 where false
COMPARISONS = ("Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual")


@kernel
def _binary_row(a, b, y, code):
    """y = fn(a, b), all (K,)."""
    k = y.shape[0]
    if code == 0:
        for i in range(k):
            y[i] = a[i] + b[i]
    elif code == 1:
        for i in range(k):
            y[i] = a[i] - b[i]
    elif code == 2:
        for i in range(k):
            y[i] = a[i] * b[i]
    elif code == 3:
        for i in range(k):
            y[i] = a[i] / b[i]
    elif code == 4:
        for i in range(k):
            y[i] = a[i] ** b[i]
    elif code == 5:
        for i in range(k):
            y[i] = max(a[i], b[i])
    elif code == 6:
        for i in range(k):
            y[i] = min(a[i], b[i])
    elif code == 7:  # PRelu: b is the slope of the negative side
        for i in range(k):
            v = a[i]
            y[i] = v * b[i] if v < np.float32(0.0) else v
    elif code >= 8:
        one, zero = np.float32(1.0), np.float32(0.0)
        for i in range(k):
            u, v = a[i], b[i]
            if code == 8:
                t = u > v
            elif code == 9:
                t = u >= v
            elif code == 10:
                t = u < v
            elif code == 11:
                t = u <= v
            elif code == 12:
                t = u == v
            else:
                t = u != v
            y[i] = one if t else zero


@kernel
def _take(src, idx, dst):
    """dst[k] = src[idx[k]]. src (Ks,), idx (K,), dst (K,)."""
    for k in range(idx.shape[0]):
        dst[k] = src[idx[k]]


@kernel
def binary(a, b, y, code, ia, ib, sa, sb):
    """y[n, k] = fn(a[na, ia[k]], b[nb, ib[k]]), fn = BINARY code.

    a (Na, Ka), b (Nb, Kb), y (N, K); Na, Nb in (N, 1) (1 = the same row for every n);
    ia, ib (K,) int64 broadcast maps (see broadcast_index) or (0,) for identity (Ka == K);
    sa, sb f32 (K,) scratch for a gathered row (or (0,) where that side is identity).
    y may alias a or b when that side is identity.
    """
    nrows = y.shape[0]
    ga = ia.shape[0] > 0
    gb = ib.shape[0] > 0
    a_const = a.shape[0] == 1 and nrows != 1
    b_const = b.shape[0] == 1 and nrows != 1
    if ga and a_const:
        _take(a[0], ia, sa)
    if gb and b_const:
        _take(b[0], ib, sb)
    for n in range(nrows):
        ra = a[0] if a_const else a[n]
        rb = b[0] if b_const else b[n]
        if ga:
            if not a_const:
                _take(ra, ia, sa)
            ra = sa
        if gb:
            if not b_const:
                _take(rb, ib, sb)
            rb = sb
        _binary_row(ra, rb, y[n], code)


@kernel
def where(c, a, b, y, ic, ia, ib):
    """y[n, k] = a[na, ia[k]] if c[nc, ic[k]] != 0 else b[nb, ib[k]] (ONNX Where, TFLite
    SELECT_V2 and an IF whose branches both ran).

    c (Nc, Kc), a (Na, Ka), b (Nb, Kb), y (N, K) f32; each N* in (N, 1) (1 = a constant
    row); ic, ia, ib (K,) int64 broadcast maps or (0,) for identity.
    """
    nrows, k = y.shape
    zero = np.float32(0.0)
    gc, ga, gb = ic.shape[0] > 0, ia.shape[0] > 0, ib.shape[0] > 0
    for n in range(nrows):
        rc = c[0] if c.shape[0] == 1 else c[n]
        ra = a[0] if a.shape[0] == 1 else a[n]
        rb = b[0] if b.shape[0] == 1 else b[n]
        for i in range(k):
            if rc[ic[i] if gc else i] != zero:
                y[n, i] = ra[ia[i] if ga else i]
            else:
                y[n, i] = rb[ib[i] if gb else i]


def broadcast_index(shape, out_shape) -> np.ndarray:
    """Index map of a frame of ``shape`` broadcast (numpy rules) to ``out_shape``.

    Returns int64 (prod(out_shape),): output element k reads element idx[k] of the
    flattened input; empty when no broadcasting is needed (shape == out_shape).
    Leading size-1 axes beyond out_shape's rank are dropped.
    """
    shape = tuple(int(d) for d in shape)
    out_shape = tuple(int(d) for d in out_shape)
    while len(shape) > len(out_shape) and shape[0] == 1:
        shape = shape[1:]
    if shape == out_shape:
        return np.zeros(0, dtype=np.int64)
    src = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    try:
        return np.ascontiguousarray(np.broadcast_to(src, out_shape).ravel())
    except ValueError:
        raise ValueError(f"shape {shape} does not broadcast to {out_shape}") from None


@kernel
def binary_i8(a, b, y, code, ia, ib, prm):
    """Int8 Add (0), Sub (1) or Mul (2) with TFLite's integer rescaling and broadcasting.

    a i8[Na, Ka], b i8[Nb, Kb], y i8[N, K], ia/ib as :func:`binary` (no scratch);
    prm i64[11] = (zp_a, zp_b, zp_y, lo, hi, m_a, s_a, m_b, s_b, m_y, s_y).
    Add/Sub (TFLite add.h, left shift 20): ``mbqm((mbqm((a-zp_a) << 20, m_a, s_a) +-
    mbqm((b-zp_b) << 20, m_b, s_b)), m_y, s_y) + zp_y``; Mul (mul.h):
    ``mbqm((a-zp_a) * (b-zp_b), m_y, s_y) + zp_y``; then clamped to [lo, hi].  mbqm
    rounds twice (:func:`~edgernn.kernels.fixedpoint.mbqm_double`), as the interpreter.
    """
    nrows, k = y.shape
    a_const = a.shape[0] == 1 and nrows != 1
    b_const = b.shape[0] == 1 and nrows != 1
    ga, gb = ia.shape[0] > 0, ib.shape[0] > 0
    for n in range(nrows):
        ra = a[0] if a_const else a[n]
        rb = b[0] if b_const else b[n]
        for i in range(k):
            va = np.int64(ra[ia[i]] if ga else ra[i]) - prm[0]
            vb = np.int64(rb[ib[i]] if gb else rb[i]) - prm[1]
            if code == 2:
                v = mbqm_double(wrap32(va * vb), prm[9], prm[10])
            else:
                sa = mbqm_double(va << 20, prm[5], prm[6])
                sb = mbqm_double(vb << 20, prm[7], prm[8])
                v = mbqm_double(wrap32(sa - sb if code == 1 else sa + sb), prm[9], prm[10])
            y[n, i] = max(min(v + prm[2], prm[4]), prm[3])
