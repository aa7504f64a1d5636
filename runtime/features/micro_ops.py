"""Integer stages of TFLM's micro front end, one jitted function each, bit for bit.

C's ``uint32``/``uint64``/``int16`` wrap-around is replayed explicitly: values are
carried in int64 (wide enough for every intermediate here) and masked or wrapped
where the C code stores into a narrower type.  The one place that needs the full
unsigned 64-bit range (a filterbank sum that wrapped, ``Sqrt64``) works in uint64.
Sources: ``filterbank.c`` (Sqrt32/Sqrt64), ``noise_reduction.c``,
``pcan_gain_control.c``, ``log_scale.c``, ``log_lut.c``.
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels import kernel

U32 = 0xFFFFFFFF
LOG_SCALE_BITS = 16
LOG_SEGMENTS_BITS = 7
LOG_COEFF = 45426  # round(2^16 * ln 2)
# kLogLut: 2^16 * (log2(1 + f) - f) at f = i / 128, rounded, plus one padding zero
# (this formula reproduces TFLM's table exactly).
LOG_LUT = np.array([round(65536 * (math.log2(1 + i / 128) - i / 128)) for i in range(129)]
                   + [0], np.int64)


@kernel
def msb32(x):
    """MostSignificantBit32: 32 - clz(x) for 0 <= x < 2^32 (0 for 0)."""
    n = 0
    if x >= 65536:
        n += 16
        x >>= 16
    if x >= 256:
        n += 8
        x >>= 8
    if x >= 16:
        n += 4
        x >>= 4
    if x >= 4:
        n += 2
        x >>= 2
    if x >= 2:
        n += 1
        x >>= 1
    return n + x


@kernel
def _round_sqrt(num, root, limit):
    """TFLM's rounding of the square root of 0 <= num < 2^52, from a float estimate
    ``root`` (off by at most one): the floor root, then up when the remainder exceeds
    it, unless it is already ``limit``."""
    if root * root > num:
        root -= 1
    elif (root + 1) * (root + 1) <= num:
        root += 1
    if num - root * root > root and root != limit:
        return root + 1
    return root


@kernel
def sqrt32(num):
    """Sqrt32: rounded integer square root of 0 <= num < 2^32.

    TFLM computes the floor root bit by bit; float64 ``sqrt`` and one correction step
    give the same integer, faster.
    """
    return _round_sqrt(num, np.int64(np.sqrt(np.float64(num))), 0xFFFF)


@kernel
def sqrt64(num_bits):
    """Sqrt64 of the uint64 whose bits are ``num_bits`` (int64); the result as uint32."""
    if 0 <= num_bits < (1 << 32):
        return sqrt32(num_bits)
    if 0 < num_bits < (1 << 52):
        return _round_sqrt(num_bits, np.int64(np.sqrt(np.float64(num_bits))), U32) & U32
    return _sqrt64_bits(np.uint64(num_bits))


@kernel
def _sqrt64_bits(num):
    """Sqrt64 as TFLM writes it (bit by bit, uint64), for num >= 2^52."""
    max_bit = (64 - 32 - msb32(np.int64(num >> np.uint64(32)))) | 1
    bit = np.uint64(1) << np.uint64(63 - max_bit)
    res = np.uint64(0)
    for _ in range((63 - max_bit) // 2 + 1):
        t = res + bit
        if num >= t:
            num = num - t
            res = (res >> np.uint64(1)) + bit
        else:
            res = res >> np.uint64(1)
        bit = bit >> np.uint64(2)
    if num > res and res != np.uint64(U32):
        res = res + np.uint64(1)
    return np.int64(res & np.uint64(U32))


@kernel
def noise_reduce(signal, estimate, consts, smoothing_bits):
    """NoiseReductionApply: signal, estimate int64[C] (uint32 values), consts Q14 (even,
    odd, min_signal_remaining).  Updates the noise estimate; signal -> denoised."""
    one = 1 << 14
    for i in range(signal.shape[0]):
        smoothing = consts[0] if (i & 1) == 0 else consts[1]
        scaled = (signal[i] << smoothing_bits) & U32
        est = ((scaled * smoothing + estimate[i] * (one - smoothing)) >> 14) & U32
        estimate[i] = est
        est = min(est, scaled)
        floor = ((signal[i] * consts[2]) >> 14) & U32
        sub = (scaled - est) >> smoothing_bits
        signal[i] = max(sub, floor)


@kernel
def _wide_dynamic(x, lut):
    """WideDynamicFunction: the PCAN gain for noise estimate x, as C's int16 result."""
    if x <= 2:
        return lut[x]
    interval = msb32(x)
    base = 4 * interval - 6
    frac = ((x << (11 - interval)) if interval < 11 else (x >> (interval - 11))) & 0x3FF
    result = (lut[base + 2] * frac) >> 5
    result += lut[base + 1] * 32
    result = _wrap32(result * frac)
    result = _wrap32(result + (1 << 14)) >> 15
    result += lut[base]
    return ((result + 32768) & 0xFFFF) - 32768


@kernel
def _wrap32(v):
    return ((v + (1 << 31)) & U32) - (1 << 31)


@kernel
def pcan(signal, estimate, lut, snr_shift):
    """PcanGainControlApply: signal int64[C] (uint32 values) -> gain-normalized, shrunk."""
    for i in range(signal.shape[0]):
        gain = _wide_dynamic(estimate[i], lut) & U32
        snr = np.int64(((np.uint64(signal[i]) * np.uint64(gain)) >> np.uint64(snr_shift))
                       & np.uint64(U32))
        if snr < (2 << 12):
            signal[i] = (snr * snr) >> 20
        else:
            signal[i] = (snr >> 6) - (1 << 6)


@kernel
def log_scale(value, scale_shift, lut):
    """Log(value) for value > 1: fixed-point ln, scaled by 2^scale_shift (uint32)."""
    integer = msb32(value) - 1
    frac = value - (1 << integer)
    if integer < LOG_SCALE_BITS:
        frac <<= LOG_SCALE_BITS - integer
    else:
        frac >>= integer - LOG_SCALE_BITS
    seg = frac >> (LOG_SCALE_BITS - LOG_SEGMENTS_BITS)
    c0 = lut[seg]
    c1 = lut[seg + 1]
    rel = ((c1 - c0) * (frac - seg * (1 << (LOG_SCALE_BITS - LOG_SEGMENTS_BITS)))) >> 16
    log2 = ((integer << 16) + ((frac + c0 + rel) & U32)) & U32
    loge = ((LOG_COEFF * log2 + 32768) >> 16) & U32
    return ((((loge << scale_shift) & U32) + 32768) & U32) >> 16
