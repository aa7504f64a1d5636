"""TFLite / gemmlowp fixed-point arithmetic, exact, for the integer kernels.

Every function is a scalar numba function (inlined into the kernels' loops) that
reproduces one TFLite or gemmlowp primitive bit for bit.  Values travel as int64
holding the int16/int32 value the C++ code would hold; where C++ wraps (plain
``+``/``-`` on int16 fixed-point raws) we wrap with :func:`wrap16`.  Sources:
``tensorflow/lite/kernels/internal/common.{h,cc}`` (MultiplyByQuantizedMultiplier in
both builds: :func:`mbqm` rounds the 64-bit product once (TFLITE_SINGLE_ROUNDING), as
the LiteRT interpreter's FULLY_CONNECTED does; :func:`mbqm_double` rounds twice
(SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT), as its CONV_2D,
DEPTHWISE_CONV_2D, ADD, MUL and LSTM do; the two differ on ~0.3 % of outputs,
measured against the interpreter in tests/test_qint_tflite.py) and
``gemmlowp/fixedpoint/fixedpoint.h`` (exp, 1/(1+x), logistic and tanh on int16 or int32
raws: the integer LSTM's gates, Q3.12 in and Q0.15 out, as tables; int8 Softmax).

:func:`quantize_multiplier` (plain Python, bind time) is TFLite's QuantizeMultiplier.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernel

_I32_MIN = -2147483648
_I32_MAX = 2147483647


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: ``real ~= m * 2**(s - 31)``, m in [2**30, 2**31).

    Returns (m, s) as Python ints; 0 -> (0, 0); tiny values flush to (0, 0).
    ``real`` is taken as a C double (pass float32 products through float() first
    when TFLite computes them in float).
    """
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:  # single rounding saturates the shift
        return (1 << 31) - 1, 30
    return int(q_fixed), int(shift)


def _round_half_away(x: float) -> int:
    """std::round: halves away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


@kernel
def wrap16(x):
    """x (int) wrapped to int16, as a C++ int16_t conversion does."""
    return np.int64(np.int16(x))


@kernel
def wrap32(x):
    """x (int) wrapped to int32."""
    return np.int64(np.int32(x))


@kernel
def sat16(x):
    """x clamped to [-32768, 32767]."""
    return max(min(x, np.int64(32767)), np.int64(-32768))


@kernel
def sat8(x):
    """x clamped to [-128, 127]."""
    return max(min(x, np.int64(127)), np.int64(-128))


@kernel
def _trunc_shift(x, n):
    """C++ ``x / 2**n`` on an int64 (truncates toward zero); branch-free."""
    return (x >> n) if x >= 0 else -((-x) >> n)


@kernel
def srdhm32(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32: round(a*b / 2**31)."""
    ab = np.int64(a) * np.int64(b)
    v = ab + ((np.int64(1) << 30) if ab >= 0 else (np.int64(1) - (np.int64(1) << 30)))
    q = _trunc_shift(v, 31)
    return np.int64(_I32_MAX) if (a == _I32_MIN and b == _I32_MIN) else q


@kernel
def srdhm16(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int16: round(a*b / 2**15)."""
    ab = np.int64(a) * np.int64(b)
    v = ab + (np.int64(1 << 14) if ab >= 0 else np.int64(1 - (1 << 14)))
    q = wrap16(_trunc_shift(v, 15))
    return np.int64(32767) if (a == -32768 and b == -32768) else q


@kernel
def rdbpot(x, exponent):
    """gemmlowp RoundingDivideByPOT: x / 2**exponent, rounded to nearest, ties away."""
    mask = (np.int64(1) << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


@kernel
def mbqm(x, multiplier, shift):
    """TFLite MultiplyByQuantizedMultiplier, single rounding: round(x * m * 2**(shift-31)),
    ties toward +inf, clamped to int32 (x is taken as int32, wrapped)."""
    total = 31 - shift
    v = (wrap32(x) * multiplier + (np.int64(1) << (total - 1))) >> total
    return max(min(v, np.int64(_I32_MAX)), np.int64(_I32_MIN))


@kernel
def mbqm_double(x, multiplier, shift):
    """The double-rounding MultiplyByQuantizedMultiplier (TFLITE_SINGLE_ROUNDING off):
    RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << left, m), right).
    Written without branches, so a loop over rows of (m, s) vectorizes."""
    left = max(shift, 0)
    return rdbpot(srdhm32(wrap32(x << left), multiplier), max(-shift, 0))


# --- gemmlowp fixed point on int16 or int32 raws (``bits`` = 16 or 32) -------------------


@kernel
def _wrap(x, bits):
    return wrap16(x) if bits == 16 else wrap32(x)


@kernel
def _srdhm(a, b, bits):
    return srdhm16(a, b) if bits == 16 else srdhm32(a, b)


@kernel
def _c(raw32, bits):
    """A gemmlowp constant given as its int32 raw (RescaleConstantInitializer)."""
    return rdbpot(np.int64(raw32), 16) if bits == 16 else np.int64(raw32)


@kernel
def _pot_sat(x, exponent, bits):
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent> on a raw of ``bits`` bits."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rdbpot(x, -exponent)
    top = (np.int64(1) << (bits - 1)) - 1
    threshold = (np.int64(1) << (bits - 1 - exponent)) - 1
    if x > threshold:
        return top
    if x < -threshold:
        return -top - 1
    return x << exponent


@kernel
def _exp_quarter(a, bits):
    """exp(a) for a in [-1/4, 0): F0 raws in and out (Taylor around -1/8)."""
    constant_term = _c(1895147668, bits)
    one_third = _c(715827883, bits)
    x = _wrap(a + (np.int64(1) << (bits - 4)), bits)  # a + 1/8
    x2 = _srdhm(x, x, bits)
    x3 = _srdhm(x2, x, bits)
    x4 = _srdhm(x2, x2, bits)
    x4_4 = rdbpot(x4, 2)
    poly = rdbpot(_wrap(_srdhm(_wrap(x4_4 + x3, bits), one_third, bits) + x2, bits), 1)
    v = constant_term + _srdhm(constant_term, _wrap(x + poly, bits), bits)
    return sat16(v) if bits == 16 else _wrap(v, bits)  # AddSaturatingIf16Bit


@kernel
def exp_neg(a, int_bits, bits):
    """gemmlowp exp_on_negative_values: exp(a) for a <= 0 with ``int_bits`` integer bits
    -> F0 raw."""
    frac = bits - 1 - int_bits
    quarter = np.int64(1) << (frac - 2)
    a_mod = _wrap((a & (quarter - 1)) - quarter, bits)
    result = _exp_quarter(_pot_sat(a_mod, int_bits, bits), bits)
    remainder = _wrap(a_mod - a, bits)
    mults = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)
    for k in range(7):
        e = k - 2
        if int_bits > e and remainder & (np.int64(1) << (frac + e)):
            result = _srdhm(result, _c(mults[k], bits), bits)
    if int_bits > 5 and a < _c(-(1 << (36 - int_bits)), bits):
        result = np.int64(0)
    if a == 0:
        result = (np.int64(1) << (bits - 1)) - 1
    return result


@kernel
def _newton(a, bits):
    """The Newton-Raphson loop of 1/(1+a) and (1-a)/(1+a) for a in (0, 1): F2 raw."""
    one = (np.int64(1) << (bits - 1)) - 1
    total = a + one  # RoundingHalfSum(a, One)
    half_denominator = _trunc_shift(total + (1 if total >= 0 else -1), 1)
    x = _wrap(_c(1515870810, bits) + _srdhm(half_denominator, _c(-1010580540, bits), bits),
              bits)
    f2_one = np.int64(1) << (bits - 3)
    for _ in range(3):
        one_minus = _wrap(f2_one - _srdhm(half_denominator, x, bits), bits)
        x = _wrap(x + _pot_sat(_srdhm(x, one_minus, bits), 2, bits), bits)
    return x


@kernel
def one_over_one_plus_x(a, bits):
    """gemmlowp one_over_one_plus_x_for_x_in_0_1: F0 raw in and out."""
    return _pot_sat(_newton(a, bits), 1, bits)  # Rescale<0>(ExactMulByPot<-1>(x))


@kernel
def logistic16(a, int_bits):
    """gemmlowp logistic on an int16 raw with ``int_bits`` integer bits -> Q0.15 raw."""
    if a == 0:
        return np.int64(1 << 14)
    positive = a > 0
    abs_a = a if positive else wrap16(-a)
    r = one_over_one_plus_x(exp_neg(wrap16(-abs_a), int_bits, 16), 16)
    return r if positive else wrap16(32767 - r)


@kernel
def tanh16(a, int_bits):
    """gemmlowp tanh on an int16 raw with ``int_bits`` integer bits -> Q0.15 raw."""
    if a == 0:
        return np.int64(0)
    negative = a < 0
    n = a if negative else wrap16(-a)
    e = exp_neg(n, int_bits + 1, 16)  # ExactMulByPot<1>
    t = _pot_sat(wrap16(_newton(e, 16) - (np.int64(1) << 13)), 2, 16)
    return wrap16(-t) if negative else t


@kernel
def fill_tables(sig, tanh3, tanh_cell, cell_bits):
    """The int16 activations as 65536-entry tables (index = raw + 32768), exact by
    construction: sig = logistic16(., 3), tanh3 = tanh16(., 3), tanh_cell =
    tanh16(., cell_bits).  A lookup replaces ~150 scalar operations per gate."""
    for i in range(65536):
        v = np.int64(i - 32768)
        sig[i] = logistic16(v, 3)
        tanh3[i] = tanh16(v, 3)
        tanh_cell[i] = tanh16(v, cell_bits)
