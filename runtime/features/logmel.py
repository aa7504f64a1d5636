"""Log-mel spectrogram front end (``"type": "logmel"``), librosa-compatible.

Equals ``librosa.feature.melspectrogram(y, sr, n_fft, hop_length, win_length,
window, center=False, power, n_mels, fmin, fmax, htk, norm)`` followed by
``log(S + log_offset)`` or ``power_to_db(S, ref=1, amin, top_db=None)``
(``amplitude_to_db`` for ``power = 1``).  librosa centres a window shorter than
``n_fft`` inside the FFT frame; frames here start at that window, so the first
``(n_fft - win_length) // 2`` samples are skipped and a frame is emitted as soon as
its window is full.  Every frame librosa computes comes out identical (the zero
padding only rotates the phase); a stream may emit frames past librosa's last one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import kernel
from . import mel
from .base import FrontEnd
from .fft import SpectrumTables, power_spectrum
from .framing import Framing, fill_frame, next_frame
from .spec import FrontEndError, Param, choice, fail, integer, number

LOG_MODES = {None: 0, "log": 1, "db": 2}


def _no_top_db(kind: str, key: str, v: Any) -> None:
    if v is not None:
        raise fail(kind, key, "null (clipping at the maximum minus top_db needs the whole "
                   "signal, which a stream never has)", v)
    return None


def _pow2_at_least(n: int) -> int:
    return 1 << max(int(n) - 1, 1).bit_length()


PARAMS: dict[str, Param] = {
    "sample_rate": Param(16000, integer(1)),
    "win_length": Param(lambda s: round(0.025 * s["sample_rate"]), integer(1)),
    "hop_length": Param(lambda s: round(0.010 * s["sample_rate"]), integer(1)),
    "n_fft": Param(lambda s: _pow2_at_least(s["win_length"]), integer(2)),
    "window": Param("hann", choice("hann", "hamming", "boxcar")),
    "n_mels": Param(40, integer(1)),
    "fmin": Param(0.0, number(0.0)),
    "fmax": Param(lambda s: s["sample_rate"] / 2.0, number(0.0, open_lo=True)),
    "mel_scale": Param("slaney", choice("slaney", "htk")),
    "mel_norm": Param("slaney", choice("slaney", None)),
    "power": Param(2, choice(2, 1)),
    "log": Param("log", choice("log", "db", None)),
    "log_offset": Param(1e-6, number(0.0, open_lo=True)),
    "amin": Param(lambda s: 1e-10 if s["power"] == 2 else 1e-5, number(0.0, open_lo=True)),
    "top_db": Param(None, _no_top_db),
}


class LogMel(FrontEnd):
    """Log-mel filterbank energies, ``n_features = n_mels``."""

    kind = "logmel"
    params = PARAMS

    def _configure(self, s: dict[str, Any]) -> None:
        _check_ranges(self.kind, s)
        self._sample_rate, self._hop = s["sample_rate"], s["hop_length"]
        self._framing = Framing(s["win_length"], s["hop_length"],
                                skip=(s["n_fft"] - s["win_length"]) // 2)
        self._delay = self._framing.delay
        weights = mel.mel_filters(s["sample_rate"], s["n_fft"], s["n_mels"], s["fmin"],
                                  s["fmax"], s["mel_scale"], s["mel_norm"])
        self._limits = mel.band_limits(weights)
        n_bins = max(int(self._limits[:, 1].max()), 1)
        self._mel_w = np.ascontiguousarray(weights[:, :n_bins], np.float64)
        self._tables = SpectrumTables(s["n_fft"], s["win_length"], n_bins)
        power = s["power"]
        self._dct = self._cepstrum(s)
        self._n_features = self._dct.shape[0] or s["n_mels"]
        t = self._tables
        self._kernel = melspec_run
        self._consts = (self._hop, mel.window(s["window"], s["win_length"]), t.bitrev, t.tw,
                        t.post, t.dft, power, self._mel_w, self._limits, LOG_MODES[s["log"]],
                        s["log_offset"], s["amin"], 10.0 if power == 2 else 20.0, self._dct)

    def _cepstrum(self, s: dict[str, Any]) -> np.ndarray:
        """The DCT applied to the log-mel: none (0 rows) for plain log-mel."""
        return np.zeros((0, s["n_mels"]))

    def _new_state(self) -> tuple:
        buf, st = self._framing.new_state(np.float32)
        return (buf, st, np.zeros(self._framing.win), self._tables.scratch(),
                np.zeros(self._mel_w.shape[0]))

    def _count(self, n: int, state: tuple) -> int:
        return self._framing.count(n, state[1])

def _check_ranges(kind: str, s: dict[str, Any]) -> None:
    nyquist = s["sample_rate"] / 2.0
    if s["win_length"] > s["n_fft"]:
        raise FrontEndError(f"front end {kind!r}: 'win_length' ({s['win_length']}) must be "
                            f"<= 'n_fft' ({s['n_fft']})")
    if s["fmax"] > nyquist:
        raise FrontEndError(f"front end {kind!r}: 'fmax' ({s['fmax']}) must be <= "
                            f"sample_rate / 2 ({nyquist})")
    if s["fmin"] >= s["fmax"]:
        raise FrontEndError(f"front end {kind!r}: 'fmin' ({s['fmin']}) must be < 'fmax' "
                            f"({s['fmax']})")


@kernel
def melspec_run(x, buf, st, frame, work, melv, out, hop, window, bitrev, tw, post, dft,
                power_exp, mel_w, limits, log_mode, log_offset, amin, db_mul, dct):
    """Consume x f32[n] into the frame buffer; each complete frame -> one row of out.

    State: buf f32[win], st (framing); scratch frame f64[win], work (``power_spectrum``),
    melv f64[n_mels]; out f32[T, n_out or n_mels].  Constants: window f64[win], FFT/DFT
    tables as in ``power_spectrum``, mel_w f64[n_mels, n_bins], limits int64[n_mels, 2],
    dct f64[n_out, n_mels] (0 rows: out holds the log-mel itself).
    """
    pos = 0
    t = 0
    win = buf.shape[0]
    while pos < x.shape[0]:
        pos = fill_frame(x, pos, buf, st)
        if st[0] < win:
            break
        for i in range(win):
            frame[i] = np.float64(buf[i]) * window[i]
        next_frame(buf, st, hop)
        power_spectrum(frame, bitrev, tw, post, dft, work, power_exp)
        _mel_log(work[2], mel_w, limits, melv, log_mode, log_offset, amin, db_mul)
        _emit(melv, dct, out[t])
        t += 1


@kernel
def _mel_log(pw, mel_w, limits, melv, log_mode, log_offset, amin, db_mul):
    """melv[m] = log(sum_k mel_w[m, k] * pw[k]) over the filter's nonzero bins."""
    for m in range(mel_w.shape[0]):
        lo = limits[m, 0]
        w = mel_w[m, lo:]
        p = pw[lo:]
        acc = 0.0
        for k in range(limits[m, 1] - lo):
            acc += w[k] * p[k]
        if log_mode == 1:
            acc = np.log(acc + log_offset)
        elif log_mode == 2:
            acc = db_mul * np.log10(max(acc, amin))
        melv[m] = acc


@kernel
def _emit(melv, dct, row):
    """row = melv, or dct @ melv when dct has rows."""
    if dct.shape[0] == 0:
        for m in range(melv.shape[0]):
            row[m] = melv[m]
        return
    for k in range(dct.shape[0]):
        acc = 0.0
        for m in range(melv.shape[0]):
            acc += dct[k, m] * melv[m]
        row[k] = acc
