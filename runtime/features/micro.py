"""TFLM micro front end (``"type": "micro"``), bit-exact: what microWakeWord models eat.

Per 10 ms hop of int16 audio at 16 kHz: a 30 ms Hann window in Q12, kiss_fft's
16-bit real FFT, |X|^2, a 40-channel mel filterbank with Q12 weights, integer square
root, noise reduction (a per-channel low-pass noise estimate), PCAN gain control and
a fixed-point log, each in TFLM's integer arithmetic
(``tensorflow/lite/experimental/microfrontend/lib``).  The defaults are the
configuration of the ``pymicro-features`` package (``pymicro_features.MicroFrontend``),
and the output equals its ``features`` bit for bit: the uint16 log values times
``output_scale`` (0.0390625 = 1/25.6).  Float input is converted to int16 by
``round(x * 32768)``, clipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import kernel
from . import micro_ops as ops
from . import micro_tables as tables
from .base import FrontEnd
from .framing import Framing, fill_frame, next_frame
from .kissfft16 import KissTables, kiss_fftr
from .spec import FrontEndError, Param, boolean, integer, number

PARAMS: dict[str, Param] = {
    "sample_rate": Param(16000, integer(1000)),
    "window_ms": Param(30, integer(1)),
    "step_ms": Param(10, integer(1)),
    "num_channels": Param(40, integer(1)),
    "lower_band_limit": Param(125.0, number(0.0)),
    "upper_band_limit": Param(7500.0, number(0.0, open_lo=True)),
    "smoothing_bits": Param(10, integer(0, 16)),
    "even_smoothing": Param(0.025, number(0.0, 1.0)),
    "odd_smoothing": Param(0.06, number(0.0, 1.0)),
    "min_signal_remaining": Param(0.05, number(0.0, 1.0)),
    "pcan": Param(True, boolean),
    "pcan_strength": Param(0.95, number(0.0)),
    "pcan_offset": Param(80.0, number(0.0)),
    "pcan_gain_bits": Param(21, integer(1, 30)),
    "log": Param(True, boolean),
    "log_scale_shift": Param(6, integer(0, 16)),
    "output_scale": Param(0.0390625, number(0.0, open_lo=True)),
}
FILTERBANK_BITS = 12
PCAN_SNR_BITS = 12


class MicroFrontEnd(FrontEnd):
    """TFLM micro front end features, ``n_features = num_channels``."""

    kind = "micro"
    params = PARAMS

    def _configure(self, s: dict[str, Any]) -> None:
        sr = s["sample_rate"]
        win, hop = _check_sizes(s)
        self._sample_rate, self._hop, self._n_features = sr, hop, s["num_channels"]
        self._framing = Framing(win, hop)
        self._delay = self._framing.delay
        self._kiss = KissTables(1 << (win - 1).bit_length())  # TFLM: next power of two
        nfft = self._kiss.nfft
        self._coeffs = tables.window_coefficients(win)
        try:
            self._fb = tables.filterbank(s["num_channels"], s["lower_band_limit"],
                                         s["upper_band_limit"], sr, nfft // 2 + 1)
        except ValueError as e:
            raise FrontEndError(f"front end 'micro': {e}") from None
        correction = (nfft.bit_length()) - 1 - FILTERBANK_BITS // 2
        input_bits = s["smoothing_bits"] - correction
        if s["pcan"] and (input_bits < 0 or s["pcan_gain_bits"] < correction + PCAN_SNR_BITS):
            raise FrontEndError(f"front end 'micro': with 'pcan' at this window size "
                                f"'smoothing_bits' must be >= {correction} and "
                                f"'pcan_gain_bits' >= {correction + PCAN_SNR_BITS}")
        self._noise = tables.noise_constants(s["even_smoothing"], s["odd_smoothing"],
                                             s["min_signal_remaining"])
        self._lut = tables.pcan_lut(s["pcan_strength"], s["pcan_offset"], s["pcan_gain_bits"],
                                    max(input_bits, 0))
        k, fb = self._kiss, self._fb
        ints = np.array([
            s["smoothing_bits"], int(s["pcan"]), s["pcan_gain_bits"] - correction - PCAN_SNR_BITS,
            int(s["log"]), s["log_scale_shift"], correction, self._fb["start"], self._fb["end"],
        ], np.int64)
        self._kernel = micro_run
        self._consts = (hop, self._coeffs, k.perm, k.stages, k.tw, k.super_tw, fb["channels"],
                        fb["weights"], fb["unweights"], self._noise, self._lut, ops.LOG_LUT,
                        ints, np.float32(s["output_scale"]))

    def _new_state(self) -> tuple:
        buf, st = self._framing.new_state(np.int16)
        nfft, c = self._kiss.nfft, self._n_features
        tmp, freq = self._kiss.scratch()
        return (buf, st, np.zeros(c, np.int64), np.zeros(nfft, np.int16), tmp, freq,
                np.zeros(nfft // 2 + 8, np.int64), np.zeros(c + 1, np.int64),
                np.zeros(c, np.int64))

    def _count(self, n: int, state: tuple) -> int:
        return self._framing.count(n, state[1])

    def _convert(self, x: np.ndarray) -> np.ndarray:
        if x.dtype == np.int16:
            return np.ascontiguousarray(x)
        return np.clip(np.rint(x.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def _check_sizes(s: dict[str, Any]) -> tuple[int, int]:
    """Window and hop in samples, as TFLM computes them; FrontEndError if unusable."""
    sr = s["sample_rate"]
    win, hop = s["window_ms"] * sr // 1000, s["step_ms"] * sr // 1000
    if win < 8 or hop < 1:
        raise FrontEndError(f"front end 'micro': 'window_ms' and 'step_ms' give {win} and "
                            f"{hop} samples at {sr} Hz; need at least 8 and 1")
    if s["upper_band_limit"] > sr / 2 or s["lower_band_limit"] >= s["upper_band_limit"]:
        raise FrontEndError("front end 'micro': need 0 <= 'lower_band_limit' < "
                            f"'upper_band_limit' <= sample_rate / 2 ({sr / 2})")
    return win, hop


@kernel
def micro_run(x, buf, st, estimate, fft_in, tmp, freq, energy, work, signal, out, hop, coeffs,
              perm, stages, tw, super_tw, channels, weights, unweights, noise, pcan_lut, log_lut,
              ints, output_scale):
    """Consume x int16[n]; each complete frame -> out f32[t, C] (uint16 log value * scale).

    State: buf int16[win], st (framing), estimate int64[C] (noise); scratch fft_in
    int16[nfft], tmp/freq (kiss_fftr), energy int64[>= nfft/2 + 4], work int64[C+1],
    signal int64[C].  Constants: coeffs int16[win]; channels int64[C+1, 3] = (first bin,
    first weight, width); weights/unweights int64[W]; ints = (smoothing_bits, pcan,
    snr_shift, log, scale_shift, correction_bits, first bin, end bin).
    """
    pos = 0
    t = 0
    win = buf.shape[0]
    while pos < x.shape[0]:
        pos = fill_frame(x, pos, buf, st)
        if st[0] < win:
            break
        shift = 15 - ops.msb32(_window(buf, coeffs, fft_in))
        for i in range(win):
            fft_in[i] = np.int16(np.int64(fft_in[i]) << shift)
        next_frame(buf, st, hop)
        kiss_fftr(fft_in, perm, stages, tw, super_tw, tmp, freq)
        _filterbank(freq, energy, channels, weights, unweights, work, ints[6], ints[7])
        for c in range(signal.shape[0]):
            signal[c] = ops.sqrt64(work[c + 1]) >> shift
        ops.noise_reduce(signal, estimate, noise, ints[0])
        if ints[1]:
            ops.pcan(signal, estimate, pcan_lut, ints[2])
        _log_out(signal, ints[3], ints[4], ints[5], log_lut, output_scale, out[t])
        t += 1


@kernel
def _window(buf, coeffs, w):
    """w[i] = (buf[i] * coeffs[i]) >> 12 as int16; returns max |w| in int16 semantics
    (|-32768| wraps to -32768 and never wins)."""
    peak = 0
    for i in range(buf.shape[0]):
        v = np.int64(np.int16((np.int64(buf[i]) * np.int64(coeffs[i])) >> 12))
        w[i] = v
        a = -v if v < 0 else v
        peak = max(peak, a if a < 32768 else 0)
    return peak


@kernel
def _filterbank(freq, energy, channels, weights, unweights, work, first, end):
    """|X|^2 (int32 wrap) of bins [first, end), then the weighted channel sums (uint64)."""
    for i in range(end - first):
        r = np.int64(freq[first + i, 0])
        m = np.int64(freq[first + i, 1])
        e = r * r + m * m
        energy[first + i] = e - (1 << 32) if e >= (1 << 31) else e
    acc_w = 0
    acc_u = 0
    for c in range(channels.shape[0]):
        f0 = channels[c, 0]
        w0 = channels[c, 1]
        for j in range(channels[c, 2]):
            acc_w += weights[w0 + j] * energy[f0 + j]
            acc_u += unweights[w0 + j] * energy[f0 + j]
        work[c] = acc_w
        acc_w = acc_u
        acc_u = 0


@kernel
def _log_out(signal, log, scale_shift, correction, lut, scale, row):
    """LogScaleApply, clamped to uint16, times the output scale."""
    for c in range(signal.shape[0]):
        v = signal[c]
        if log:
            v = ((v << correction) & ops.U32) if correction >= 0 else v >> -correction
            v = ops.log_scale(v, scale_shift, lut) if v > 1 else 0
        row[c] = np.float32(min(v, 65535)) * scale
