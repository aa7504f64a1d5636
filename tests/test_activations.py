"""Rational tanh / sigmoid accuracy bounds and every RNN activation code vs numpy formulas.

Measured here (x86, numba 0.68.1): rational tanh max abs error 2.6e-7 (at |x| ~ 5.75),
sigmoid 1.7e-7, vs float64 exact, over 2M grid points in [-20, 20] plus random and
extreme inputs.  The asserted bounds leave a small margin for other CPUs' FMA choices.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgernn.activations import lookup
from edgernn.kernels import kernel
from edgernn.kernels.activations import (
    ACTIVATIONS,
    activation_params,
    apply_activation,
    sigmoid_fast,
    tanh_fast,
)
from edgernn.reference.cells import activation

f32 = np.float32
TANH_BOUND = 3e-7
SIGMOID_BOUND = 2e-7


@kernel
def _tanh_vec(x, y):
    for i in range(x.shape[0]):
        y[i] = tanh_fast(x[i])


@kernel
def _sigmoid_vec(x, y):
    for i in range(x.shape[0]):
        y[i] = sigmoid_fast(x[i])


def _inputs():
    fi = np.finfo(f32)
    special = [0.0, -0.0, fi.tiny, -fi.tiny, fi.smallest_subnormal, -fi.smallest_subnormal,
               1e-30, -1e-30, 4e-4, -4e-4, 7.9053111, -7.9053111, 9.0, -9.0, 88.7, -88.7,
               1e30, -1e30, fi.max, -fi.max, np.inf, -np.inf]
    rng = np.random.default_rng(0)
    return np.concatenate([
        np.linspace(-20, 20, 2_000_001, dtype=f32),
        rng.standard_normal(1_000_000).astype(f32) * f32(3),
        np.geomspace(1e-12, 1e4, 200_000).astype(f32) * np.array([1, -1], f32).repeat(100_000),
        np.array(special, f32),
    ])


def _sigmoid64(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def test_tanh_fast_error_bound():
    x = _inputs()
    y = np.empty_like(x)
    _tanh_vec(x, y)
    err = np.abs(y.astype(np.float64) - np.tanh(x.astype(np.float64)))
    assert err.max() <= TANH_BOUND, f"max abs error {err.max():.3g} at x={x[err.argmax()]}"
    assert np.all(np.abs(y) <= 1)
    assert np.array_equal(np.signbit(y), np.signbit(x))  # sign-preserving (subnormals -> +-0)


def test_sigmoid_fast_error_bound():
    x = _inputs()
    y = np.empty_like(x)
    _sigmoid_vec(x, y)
    err = np.abs(y.astype(np.float64) - _sigmoid64(x.astype(np.float64)))
    assert err.max() <= SIGMOID_BOUND, f"max abs error {err.max():.3g} at x={x[err.argmax()]}"
    assert np.all((y >= 0) & (y <= 1))


def test_scalar_matches_vector_and_nan_passes_through():
    assert np.isnan(tanh_fast(f32(np.nan)))
    assert np.isnan(sigmoid_fast(f32(np.nan)))
    x = np.array([np.nan, 0.5, -np.nan, 3.0], f32)
    y = np.empty_like(x)
    _tanh_vec(x, y)
    assert np.isnan(y[0]) and np.isnan(y[2])
    assert y[1] == f32(tanh_fast(f32(0.5)))
    v = x.copy()
    apply_activation(v, ACTIVATIONS["Sigmoid"], f32(0), f32(0))
    assert np.isnan(v[0]) and abs(v[3] - 1 / (1 + np.exp(-3.0))) <= SIGMOID_BOUND


CASES = [  # name, alpha, beta (None = default via activation_params), tolerance
    ("Sigmoid", None, None, SIGMOID_BOUND),
    ("Tanh", None, None, TANH_BOUND),
    ("Relu", None, None, 0),
    ("Affine", 0.7, -0.2, 1e-6),
    ("Affine", None, None, 0),
    ("LeakyRelu", 0.2, None, 1e-6),
    ("LeakyRelu", None, None, 1e-6),
    ("ThresholdedRelu", 0.5, None, 0),
    ("ThresholdedRelu", None, None, 0),
    ("ScaledTanh", 1.5, 0.7, 1.5 * TANH_BOUND),
    ("ScaledTanh", None, None, TANH_BOUND),
    ("HardSigmoid", 0.3, 0.4, 1e-6),
    ("HardSigmoid", None, None, 1e-6),
    ("Elu", 0.8, None, 1e-6),
    ("Elu", None, None, 1e-6),
    ("Softsign", None, None, 1e-6),
    ("Softplus", None, None, 1e-6),
]


@pytest.mark.parametrize("name, alpha, beta, tol", CASES)
def test_activation_code_vs_numpy(name, alpha, beta, tol):
    rng = np.random.default_rng(len(name))
    x = np.concatenate([rng.standard_normal(4001) * 4, np.linspace(-30, 30, 601),
                        [0.0, 0.5, 1.0, -1.0, 100.0, -100.0]]).astype(f32)
    codes, al, be = activation_params(
        [name], [] if alpha is None else [alpha], [] if beta is None else [beta])
    v = x.copy()
    apply_activation(v, codes[0], al[0], be[0])
    want = activation(name, alpha, beta)(x.astype(np.float64))
    err = np.abs(v - want)
    # float32 rounding of the result itself: allow tol relative to |y| above 1
    assert np.all(err <= tol + 1.2e-7 * np.abs(want)), f"{name}: max error {err.max():.3g}"


def test_activation_params_defaults_and_alignment():
    codes, al, be = activation_params(["sigmoid", "LeakyRelu", "HardSigmoid", "Affine"])
    assert codes.dtype == np.int64 and al.dtype == np.float32 and be.dtype == np.float32
    assert list(codes) == [0, 4, 7, 3]
    np.testing.assert_allclose(al, [0, 0.01, 0.2, 1.0], rtol=1e-7)
    np.testing.assert_allclose(be, [0, 0, 0.5, 0.0], rtol=1e-7)
    codes, al, be = activation_params(["Elu", "ScaledTanh"], [0.5, 2.0], [9.0, 3.0])
    assert list(al) == [0.5, 2.0] and list(be) == [9.0, 3.0]
    gate_codes = [c for n, c in ACTIVATIONS.items() if lookup(n).gate]
    assert sorted(gate_codes) == list(range(11))  # the ONNX recurrent activations
    with pytest.raises(ValueError, match="recurrent-gate"):
        activation_params(["Sigmoid", "Sqrt"])  # an elementwise fn, not a gate


def test_activation_params_errors():
    with pytest.raises(ValueError, match="Swish"):
        activation_params(["Sigmoid", "Swish"])
    with pytest.raises(ValueError, match="activation_alpha"):
        activation_params(["Sigmoid", "Tanh"], [0.1])
