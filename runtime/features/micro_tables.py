"""Constant tables of TFLM's micro front end, computed as its C code computes them.

TFLM builds its window, filterbank and PCAN tables in float32 C arithmetic with libm
(``cosf``, ``log1pf``, ``powf``), then rounds them to integers.  A one-ulp difference
can move a filterbank edge, so the float32 steps are replayed with numpy float32
scalars and libm's own functions through ctypes (numpy's float32 transcendental
functions are not guaranteed to round like libm's).  Sources:
``tensorflow/lite/experimental/microfrontend/lib/{window,filterbank,noise_reduction,
pcan_gain_control}_util.c`` (as vendored by pymicro-features 2.0.2).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

import numpy as np

F = np.float32
FILTERBANK_BITS = 12
WINDOW_BITS = 12
NOISE_REDUCTION_BITS = 14
PCAN_SNR_BITS = 12
WIDE_DYNAMIC_BITS = 32


@cache
def _libm() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("m")
    try:
        lib = ctypes.CDLL(name or "libm.so.6")
    except OSError:
        return None
    for fn, n_args in (("cosf", 1), ("log1pf", 1), ("powf", 2)):
        f = getattr(lib, fn)
        f.argtypes, f.restype = [ctypes.c_float] * n_args, ctypes.c_float
    return lib


def cosf(x: np.float32) -> np.float32:
    lib = _libm()
    return F(lib.cosf(x)) if lib else np.cos(F(x))


def log1pf(x: np.float32) -> np.float32:
    lib = _libm()
    return F(lib.log1pf(x)) if lib else np.log1p(F(x))


def powf(x: np.float32, y: np.float32) -> np.float32:
    lib = _libm()
    return F(lib.powf(x, y)) if lib else np.power(F(x), F(y))


def window_coefficients(size: int) -> np.ndarray:
    """Hann window (sampled at i + 0.5) in Q12, int16[size]."""
    arg = F(np.pi) * F(2.0) / F(size)
    out = np.zeros(size, np.int16)
    for i in range(size):
        v = F(0.5) - F(0.5) * cosf(arg * (F(i) + F(0.5)))
        out[i] = int(np.floor(v * F(1 << WINDOW_BITS) + F(0.5)))
    return out


def freq_to_mel(freq: np.float32) -> np.float32:
    return F(1127.0) * log1pf(F(freq) / F(700.0))


def filterbank(num_channels: int, lower: float, upper: float, sample_rate: int,
               spectrum_size: int) -> dict[str, np.ndarray | int]:
    """FilterbankPopulateState: channel starts/widths and Q12 weights/unweights."""
    nc1 = num_channels + 1
    mel_low = freq_to_mel(F(lower))
    spacing = (freq_to_mel(F(upper)) - mel_low) / F(nc1)
    center = [mel_low + spacing * F(i + 1) for i in range(nc1)]
    hz_per_sbin = F(0.5) * F(sample_rate) / (F(spectrum_size) - F(1))
    start_index = int(F(1.5) + F(lower) / hz_per_sbin)
    layout, actual, n_weights = _channel_layout(center, hz_per_sbin, start_index)
    weights, unweights = np.zeros(n_weights, np.int64), np.zeros(n_weights, np.int64)
    end_index = 0
    for c, (first, count) in enumerate(actual):
        denom = mel_low if c == 0 else center[c - 1]
        for j in range(count):
            w = (center[c] - freq_to_mel(F(first + j) * hz_per_sbin)) / (center[c] - denom)
            k = layout[c][1] + first - layout[c][0] + j
            weights[k] = _int16(np.floor(w * F(1 << FILTERBANK_BITS) + F(0.5)))
            unweights[k] = _int16(np.floor((F(1.0) - w) * F(1 << FILTERBANK_BITS) + F(0.5)))
        end_index = max(end_index, first + count)
    if end_index >= spectrum_size:
        raise ValueError("the filterbank's upper band limit is above the spectrum")
    return {"start": start_index, "end": end_index, "channels": np.array(layout, np.int64),
            "weights": weights, "unweights": unweights}


def _channel_layout(center: list, hz_per_sbin: np.float32,
                    start_index: int) -> tuple[list[list[int]], list[tuple[int, int]], int]:
    """Per channel: [first bin read, first weight, width read] (aligned to 2, padded to
    4; an empty channel reads 4 zero weights kept at the front), the bins it really
    covers (first, count), and the number of weights."""
    layout, actual = [], []
    chan_start, weight_index, needs_zeros = start_index, 0, False
    for c in range(len(center)):
        f = chan_start
        while freq_to_mel(F(f) * hz_per_sbin) <= center[c]:
            f += 1
        width = f - chan_start
        actual.append((chan_start, width))
        if width == 0:
            layout.append([0, 0, 4])
            if not needs_zeros:
                needs_zeros = True
                for row in layout[:-1]:
                    row[1] += 4
                weight_index += 4
        else:
            aligned = (chan_start // 2) * 2
            padded = ((chan_start - aligned + width - 1) // 4 + 1) * 4
            layout.append([aligned, weight_index, padded])
            weight_index += padded
        chan_start = f
    return layout, actual, weight_index


def _int16(v: np.float32) -> int:
    return (int(v) + 32768) % 65536 - 32768


def noise_constants(even: float, odd: float, min_remaining: float) -> np.ndarray:
    """(even, odd, min_signal_remaining) in Q14, truncated like the C float -> uint16."""
    one = F(1 << NOISE_REDUCTION_BITS)
    return np.array([int(F(v) * one) for v in (even, odd, min_remaining)], np.int64)


def pcan_lut(strength: float, offset: float, gain_bits: int, input_bits: int) -> np.ndarray:
    """PCAN gain LUT int64[4 * 32 - 3] (int16 values): ``lut[4*interval - 6 + {0,1,2}]``."""
    def gain(x: int) -> int:
        xf = F(x) / F(1 << input_bits)
        g = F(1 << gain_bits) * powf(xf + F(offset), -F(strength))
        return 0x7FFF if g > F(0x7FFF) else _int16(g + F(0.5))

    lut = np.zeros(4 * WIDE_DYNAMIC_BITS - 3, np.int64)
    lut[0], lut[1] = gain(0), gain(1)
    for interval in range(2, WIDE_DYNAMIC_BITS + 1):
        x0 = 1 << (interval - 1)
        x1 = x0 + (x0 >> 1)
        x2 = x0 + (x0 - 1) if interval == WIDE_DYNAMIC_BITS else 2 * x0
        y0, y1, y2 = gain(x0), gain(x1), gain(x2)
        a1 = 4 * (y1 - y0) - (y2 - y0)
        a2 = (y2 - y0) - a1
        k = 4 * interval - 6
        lut[k], lut[k + 1], lut[k + 2] = y0, _int16(a1), _int16(a2)
    return lut
