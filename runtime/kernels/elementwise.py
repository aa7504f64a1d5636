"""fp32 elementwise kernels: the IR ``Unary`` and ``Binary`` ops.

The planner flattens activations to rows: ``N = T*B`` rows of one frame each.
``unary`` works on any flat array; ``binary`` takes two row arrays whose frames
broadcast to the output frame through index arrays precomputed at plan time
(:func:`broadcast_index`); a side with one row is a constant shared by all rows.

Sigmoid and Tanh here are exact libm math; the fast rational approximations used
inside recurrent gates live with the recurrent kernels.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernel

UNARY: dict[str, int] = {
    name: code
    for code, name in enumerate((
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Sqrt", "Exp", "Log", "Abs", "Neg",
        "Reciprocal", "Softplus", "Softsign", "Elu", "HardSigmoid", "Clip", "Erf", "Gelu",
    ))
}

BINARY: dict[str, int] = {
    name: code
    for code, name in enumerate(("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"))
}


@kernel
def _unary_a(x, y, code, alpha, beta):
    """Codes 0..8 (Relu .. Neg). x, y (n,)."""
    zero = np.float32(0.0)
    one = np.float32(1.0)
    n = x.shape[0]
    if code == 0:  # Relu
        for i in range(n):
            v = x[i]
            y[i] = v if v > zero else zero
    elif code == 1:  # LeakyRelu
        for i in range(n):
            v = x[i]
            y[i] = v if v >= zero else alpha * v
    elif code == 2:  # Sigmoid
        for i in range(n):
            y[i] = one / (one + np.exp(-x[i]))
    elif code == 3:  # Tanh
        for i in range(n):
            y[i] = np.tanh(x[i])
    elif code == 4:  # Sqrt
        for i in range(n):
            y[i] = np.sqrt(x[i])
    elif code == 5:  # Exp
        for i in range(n):
            y[i] = np.exp(x[i])
    elif code == 6:  # Log
        for i in range(n):
            y[i] = np.log(x[i])
    elif code == 7:  # Abs
        for i in range(n):
            y[i] = abs(x[i])
    elif code == 8:  # Neg
        for i in range(n):
            y[i] = -x[i]


@kernel
def _unary_b(x, y, code, alpha, beta):
    """Codes 9..16 (Reciprocal .. Gelu). x, y (n,)."""
    zero = np.float32(0.0)
    one = np.float32(1.0)
    half = np.float32(0.5)
    n = x.shape[0]
    if code == 9:  # Reciprocal
        for i in range(n):
            y[i] = one / x[i]
    elif code == 10:  # Softplus = log(1 + exp(x)), overflow-free form
        for i in range(n):
            v = x[i]
            y[i] = max(v, zero) + np.log1p(np.exp(-abs(v)))
    elif code == 11:  # Softsign
        for i in range(n):
            v = x[i]
            y[i] = v / (one + abs(v))
    elif code == 12:  # Elu
        for i in range(n):
            v = x[i]
            y[i] = v if v > zero else alpha * np.expm1(v)
    elif code == 13:  # HardSigmoid
        for i in range(n):
            y[i] = max(zero, min(one, alpha * x[i] + beta))
    elif code == 14:  # Clip(min=alpha, max=beta)
        for i in range(n):
            y[i] = min(max(x[i], alpha), beta)
    elif code == 15:  # Erf
        for i in range(n):
            y[i] = math.erf(x[i])
    elif code == 16:  # Gelu, exact: x/2 (1 + erf(x/sqrt 2))
        r2 = np.float32(0.7071067811865476)
        for i in range(n):
            v = x[i]
            y[i] = half * v * (one + math.erf(v * r2))


@kernel
def unary(x, y, code, alpha, beta):
    """y = fn(x) elementwise, fn = UNARY code. x, y (n,) flat, y may alias x.

    alpha/beta (float32): LeakyRelu and Elu alpha; HardSigmoid alpha*x+beta;
    Clip min=alpha, max=beta.
    """
    a = np.float32(alpha)
    b = np.float32(beta)
    if code <= 8:
        _unary_a(x, y, code, a, b)
    else:
        _unary_b(x, y, code, a, b)


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


@kernel
def _take(src, idx, dst):
    """dst[k] = src[idx[k]]. src (Ks,), idx (K,), dst (K,)."""
    for k in range(idx.shape[0]):
        dst[k] = src[idx[k]]


@kernel
def binary(a, b, y, code, ia, ib):
    """y[n, k] = fn(a[na, ia[k]], b[nb, ib[k]]), fn = BINARY code.

    a (Na, Ka), b (Nb, Kb), y (N, K); Na, Nb in (N, 1) (1 = the same row for every n);
    ia, ib (K,) int64 broadcast maps (see broadcast_index) or (0,) for identity (Ka == K).
    y may alias a or b when that side is identity.
    """
    nrows, kout = y.shape
    ga = ia.shape[0] > 0
    gb = ib.shape[0] > 0
    sa = np.empty(kout if ga else 0, dtype=np.float32)
    sb = np.empty(kout if gb else 0, dtype=np.float32)
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
