"""Activation functions of the recurrent ops, as jitted scalar and in-place vector kernels.

* :func:`tanh_fast` / :func:`sigmoid_fast`: a branch-free rational tanh (Eigen's
  13/6 rational, float32 constants) and ``sigmoid(x) = 0.5 * tanh(x / 2) + 0.5``.
  They vectorize when inlined into an element loop.  Max abs error vs float64
  exact, measured over 3.2M inputs in ``tests/test_activations.py``: tanh 2.6e-7,
  sigmoid 1.7e-7 (asserted there: <= 3e-7 and <= 2e-7).
  NaN in gives NaN out (the clamp is written so a NaN passes through it);
  ``±inf`` is clamped like any large input: tanh -> ``±0.99999976``, sigmoid ->
  ``0.99999988`` / ``1.2e-7`` (within the error bound, never exactly 0 or 1);
  subnormal inputs flush to ``±0`` (abs error < 1e-38).
* :data:`ACTIVATIONS`: integer codes of the ONNX RNN activation names.
* :func:`apply_activation`: one activation over a vector, in place.
* :func:`activation_params`: names / alpha / beta lists -> the arrays kernels take.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import kernel

#: ONNX RNN activation names -> kernel codes (the planner passes codes as int64).
ACTIVATIONS: dict[str, int] = {
    "Sigmoid": 0,
    "Tanh": 1,
    "Relu": 2,
    "Affine": 3,
    "LeakyRelu": 4,
    "ThresholdedRelu": 5,
    "ScaledTanh": 6,
    "HardSigmoid": 7,
    "Elu": 8,
    "Softsign": 9,
    "Softplus": 10,
}

SIGMOID, TANH, RELU, AFFINE, LEAKY_RELU, THRESHOLDED_RELU = 0, 1, 2, 3, 4, 5
SCALED_TANH, HARD_SIGMOID, ELU, SOFTSIGN, SOFTPLUS = 6, 7, 8, 9, 10

#: ONNX default (alpha, beta) per activation; NaN = the activation takes no such parameter.
DEFAULT_PARAMS: dict[str, tuple[float, float]] = {
    "Affine": (1.0, 0.0),
    "LeakyRelu": (0.01, math.nan),
    "ThresholdedRelu": (1.0, math.nan),
    "ScaledTanh": (1.0, 1.0),
    "HardSigmoid": (0.2, 0.5),
    "Elu": (1.0, math.nan),
}

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
def apply_activation(v, code, alpha, beta):
    """v f32[n] <- act(v) in place; code from :data:`ACTIVATIONS`, alpha/beta f32 scalars."""
    n = v.shape[0]
    alpha = np.float32(alpha)
    beta = np.float32(beta)
    if code == SIGMOID:
        for i in range(n):
            v[i] = sigmoid_fast(v[i])
    elif code == TANH:
        for i in range(n):
            v[i] = tanh_fast(v[i])
    elif code == RELU:
        for i in range(n):
            v[i] = _ZERO if v[i] < _ZERO else v[i]
    elif code == AFFINE:
        for i in range(n):
            v[i] = alpha * v[i] + beta
    elif code == LEAKY_RELU:
        for i in range(n):
            v[i] = alpha * v[i] if v[i] < _ZERO else v[i]
    elif code == THRESHOLDED_RELU:
        for i in range(n):
            v[i] = _ZERO if v[i] < alpha else v[i]
    elif code == SCALED_TANH:
        for i in range(n):
            v[i] = alpha * tanh_fast(beta * v[i])
    elif code == HARD_SIGMOID:
        for i in range(n):
            s = alpha * v[i] + beta
            s = _ONE if s > _ONE else s
            v[i] = _ZERO if s < _ZERO else s
    elif code == ELU:
        for i in range(n):
            v[i] = alpha * np.float32(math.expm1(v[i])) if v[i] < _ZERO else v[i]
    elif code == SOFTSIGN:
        for i in range(n):
            v[i] = v[i] / (_ONE + abs(v[i]))
    elif code == SOFTPLUS:
        for i in range(n):
            a = v[i]
            # log(1 + e^a) = max(a, 0) + log1p(e^-|a|), exact for large |a|
            v[i] = (a if a > _ZERO else _ZERO) + np.float32(math.log1p(math.exp(-abs(a))))


def activation_params(
    names: Sequence[str],
    alphas: Sequence[float] = (),
    betas: Sequence[float] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Activation names and aligned alpha/beta lists -> (codes i64[k], alpha f32[k], beta f32[k]).

    ``alphas`` / ``betas`` hold one entry per activation (empty = ONNX defaults for
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
        canon = _canonical_name(name)
        codes[j] = ACTIVATIONS[canon]
        da, db = DEFAULT_PARAMS.get(canon, (0.0, 0.0))
        alpha[j] = alphas[j] if len(alphas) else (0.0 if math.isnan(da) else da)
        beta[j] = betas[j] if len(betas) else (0.0 if math.isnan(db) else db)
    return codes, alpha, beta


def _canonical_name(name: str) -> str:
    for canon in ACTIVATIONS:  # ONNX names are case-sensitive, but exporters write "tanh"
        if canon.lower() == str(name).lower():
            return canon
    raise ValueError(
        f"unknown RNN activation {name!r}; supported: {', '.join(ACTIVATIONS)}"
    )
