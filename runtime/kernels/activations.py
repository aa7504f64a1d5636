"""Activation kernels: every code of :mod:`edgernn.activations`, for gates and ``Unary``.

* :func:`tanh_fast` / :func:`sigmoid_fast`: a branch-free rational tanh (Eigen's
  13/6 rational, float32 constants) and ``sigmoid(x) = 0.5 * tanh(x / 2) + 0.5``.
  They vectorize when inlined into an element loop.  Max abs error vs float64
  exact, measured over 3.2M inputs in ``tests/test_activations.py``: tanh 2.6e-7,
  sigmoid 1.7e-7 (asserted there: <= 3e-7 and <= 2e-7).
  NaN in gives NaN out (the clamp is written so a NaN passes through it);
  ``±inf`` is clamped like any large input: tanh -> ``±0.99999976``, sigmoid ->
  ``0.99999988`` / ``1.2e-7`` (within the error bound, never exactly 0 or 1);
  subnormal inputs flush to ``±0`` (abs error < 1e-38).
* :func:`activation`: any activation over a vector (the ``Unary`` op, fused epilogues);
  :func:`apply_activation` the same in place (recurrent gates).  Codes 0..10 are
  the ONNX recurrent-gate activations, 11.. elementwise math; names, codes and
  defaults live in the one table, :mod:`edgernn.activations`.
* :func:`activation_params`: gate names / alpha / beta lists -> the arrays kernels take.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..activations import ACTIVATIONS as _TABLE
from ..activations import lookup
from . import kernel

#: activation name -> kernel code (the one table: :mod:`edgernn.activations`)
ACTIVATIONS: dict[str, int] = {a.name: a.code for a in _TABLE.values()}

SIGMOID, TANH, RELU, AFFINE, LEAKY_RELU, THRESHOLDED_RELU = 0, 1, 2, 3, 4, 5
SCALED_TANH, HARD_SIGMOID, ELU, SOFTSIGN, SOFTPLUS = 6, 7, 8, 9, 10
SQRT, EXP, LOG, ABS, NEG, RECIPROCAL, CLIP, ERF, GELU = 11, 12, 13, 14, 15, 16, 17, 18, 19
RSQRT, SQUARE, HARD_SWISH, SILU = 20, 21, 22, 23

# Eigen's float tanh: p(x) / q(x) with x clamped to +-_CLAMP (where p/q reaches 1 in float32).
_CLAMP = np.float32(7.90531110763549805)
_A1 = np.float32(4.89352455891786e-03)
_A3 = np.float32(6.37261928875436e-04)
_A5 = np.float32(1.48572235717979e-05)
_A7 = np.float32(5.12229709037114e-08)
_A9 = np.float32(-8.60467152213735e-11)
_A11 = np.float32(2.00018790482477e-13)
_A13 = np.float32(-2.76076847742355e-16)
_B0 = np.float32(4.89352518554385e-03)
_B2 = np.float32(2.26843463243900e-03)
_B4 = np.float32(1.18534705686654e-04)
_B6 = np.float32(1.19825839466702e-06)
_HALF = np.float32(0.5)
_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_THREE = np.float32(3.0)
_SIX = np.float32(6.0)
_SIXTH = np.float32(1.0 / 6.0)
_SQRT_HALF = np.float32(0.7071067811865476)


@kernel
def tanh_fast(x):
    """Rational float32 tanh of a scalar; max abs error 2.6e-7 (see module doc)."""
    x = np.float32(x)
    # written as two selects so a NaN fails both tests and passes through
    x = _CLAMP if x > _CLAMP else x
    x = -_CLAMP if x < -_CLAMP else x
    x2 = x * x
    p = x2 * _A13 + _A11
    p = x2 * p + _A9
    p = x2 * p + _A7
    p = x2 * p + _A5
    p = x2 * p + _A3
    p = x2 * p + _A1
    p = x * p
    q = x2 * _B6 + _B4
    q = x2 * q + _B2
    q = x2 * q + _B0
    return p / q


@kernel
def sigmoid_fast(x):
    """Float32 logistic sigmoid of a scalar via the rational tanh."""
    return _HALF * tanh_fast(_HALF * np.float32(x)) + _HALF


@kernel
def _act_gate(x, y, code, alpha, beta, fast):
    """Codes 0..10 (the ONNX recurrent-gate activations). x, y f32[n]; y may alias x.
    ``fast``: the rational sigmoid/tanh (gates), else libm (elementwise ops)."""
    n = x.shape[0]
    if code == SIGMOID and fast:
        for i in range(n):
            y[i] = sigmoid_fast(x[i])
    elif code == SIGMOID:
        for i in range(n):
            y[i] = _ONE / (_ONE + np.exp(-x[i]))
    elif code == TANH and fast:
        for i in range(n):
            y[i] = tanh_fast(x[i])
    elif code == TANH:
        for i in range(n):
            y[i] = np.tanh(x[i])
    elif code == RELU:
        for i in range(n):
            y[i] = _ZERO if x[i] < _ZERO else x[i]
    elif code == AFFINE:
        for i in range(n):
            y[i] = alpha * x[i] + beta
    elif code == LEAKY_RELU:
        for i in range(n):
            y[i] = alpha * x[i] if x[i] < _ZERO else x[i]
    elif code == THRESHOLDED_RELU:
        for i in range(n):
            y[i] = x[i] if x[i] > alpha else _ZERO
    elif code == SCALED_TANH and fast:
        for i in range(n):
            y[i] = alpha * tanh_fast(beta * x[i])
    elif code == SCALED_TANH:
        for i in range(n):
            y[i] = alpha * np.tanh(beta * x[i])
    elif code == HARD_SIGMOID:
        for i in range(n):
            s = alpha * x[i] + beta
            s = _ONE if s > _ONE else s
            y[i] = _ZERO if s < _ZERO else s
    elif code == ELU:
        for i in range(n):
            y[i] = alpha * np.float32(math.expm1(x[i])) if x[i] < _ZERO else x[i]
    elif code == SOFTSIGN:
        for i in range(n):
            y[i] = x[i] / (_ONE + abs(x[i]))
    elif code == SOFTPLUS:
        for i in range(n):
            a = x[i]
            # log(1 + e^a) = max(a, 0) + log1p(e^-|a|), exact for large |a|
            y[i] = (a if a > _ZERO else _ZERO) + np.float32(math.log1p(math.exp(-abs(a))))


@kernel
def _act_math(x, y, code, alpha, beta):
    """Codes 11..23 (elementwise math). x, y f32[n]; y may alias x."""
    n = x.shape[0]
    if code == SQRT:
        for i in range(n):
            y[i] = np.sqrt(x[i])
    elif code == EXP:
        for i in range(n):
            y[i] = np.exp(x[i])
    elif code == LOG:
        for i in range(n):
            y[i] = np.log(x[i])
    elif code == ABS:
        for i in range(n):
            y[i] = abs(x[i])
    elif code == NEG:
        for i in range(n):
            y[i] = -x[i]
    elif code == RECIPROCAL:
        for i in range(n):
            y[i] = _ONE / x[i]
    elif code == CLIP:
        for i in range(n):
            y[i] = min(max(x[i], alpha), beta)
    elif code == ERF:
        for i in range(n):
            y[i] = math.erf(x[i])
    elif code == GELU:  # exact: x/2 (1 + erf(x/sqrt 2))
        for i in range(n):
            v = x[i]
            y[i] = _HALF * v * (_ONE + math.erf(v * _SQRT_HALF))
    elif code == RSQRT:
        for i in range(n):
            y[i] = _ONE / np.sqrt(x[i])
    elif code == SQUARE:
        for i in range(n):
            y[i] = x[i] * x[i]
    elif code == HARD_SWISH:
        for i in range(n):
            v = x[i]
            r = min(max(v + _THREE, _ZERO), _SIX)
            y[i] = v * r * _SIXTH
    elif code == SILU:
        for i in range(n):
            y[i] = x[i] / (_ONE + np.exp(-x[i]))


@kernel
def activation(x, y, code, alpha, beta):
    """y = act(x) elementwise for any code of :data:`edgernn.activations.ACTIVATIONS`.

    x, y f32[n] (flat; y may alias x); code i64; alpha, beta f32 (see the table).
    Exact libm math: the ``Unary`` op and fused epilogues.
    """
    a = np.float32(alpha)
    b = np.float32(beta)
    if code <= SOFTPLUS:
        _act_gate(x, y, code, a, b, False)
    else:
        _act_math(x, y, code, a, b)


@kernel
def apply_activation(v, code, alpha, beta):
    """v f32[n] <- act(v) in place, a recurrent gate's activation (codes 0..10):
    Sigmoid and Tanh are the rational approximations above (2.6e-7)."""
    _act_gate(v, v, code, np.float32(alpha), np.float32(beta), True)


def activation_params(
    names: Sequence[str],
    alphas: Sequence[float] = (),
    betas: Sequence[float] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gate activation names and aligned alpha/beta lists -> (codes i64[k], alpha f32[k],
    beta f32[k]).

    ``alphas`` / ``betas`` hold one entry per activation (empty = the ONNX defaults of
    each; an entry for an activation without that parameter is ignored).  Raises
    ``ValueError`` naming an unknown activation or a misaligned list.
    """
    names = list(names)
    k = len(names)
    for label, vals in (("activation_alpha", alphas), ("activation_beta", betas)):
        if len(vals) not in (0, k):
            raise ValueError(
                f"{label} has {len(vals)} values for {k} activations {names}: "
                "give one per activation or none (ONNX defaults)"
            )
    codes = np.empty(k, dtype=np.int64)
    alpha = np.zeros(k, dtype=np.float32)
    beta = np.zeros(k, dtype=np.float32)
    for j, name in enumerate(names):
        act = lookup(name, gate=True)
        codes[j] = act.code
        alpha[j], beta[j] = act.params(alphas[j] if len(alphas) else None,
                                       betas[j] if len(betas) else None)
    return codes, alpha, beta
