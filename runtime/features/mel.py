"""Windows, mel filterbanks and the DCT, built once in float64 at construction.

The definitions follow librosa 0.10/0.11 (``filters.get_window`` with ``fftbins=True``,
``filters.mel``, ``scipy.fft.dct(type=2, norm="ortho")``) so that a model trained on
librosa features gets the same numbers here.
"""

from __future__ import annotations

import numpy as np


def window(name: str, length: int) -> np.ndarray:
    """Periodic (DFT-even) window f64[length]: ``"hann"``, ``"hamming"`` or ``"boxcar"``."""
    n = np.arange(length)
    if name == "boxcar":
        return np.ones(length)
    a = 0.5 if name == "hann" else 0.54
    return a - (1 - a) * np.cos(2 * np.pi * n / length)


def hz_to_mel(f: np.ndarray, scale: str) -> np.ndarray:
    f = np.asarray(f, np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    mels = f / f_sp
    log_part = min_log_hz / f_sp + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log_part, mels)


def mel_to_hz(m: np.ndarray, scale: str) -> np.ndarray:
    m = np.asarray(m, np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float,
                scale: str, norm: str | None) -> np.ndarray:
    """Triangular mel filters f32[n_mels, n_fft//2 + 1] (librosa's, float32-rounded)."""
    fft_freqs = np.arange(n_fft // 2 + 1) * (sr / n_fft)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale), n_mels + 2),
                      scale)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.astype(np.float32)


def band_limits(weights: np.ndarray) -> np.ndarray:
    """int64[n_mels, 2]: the first and one-past-last bin where each filter is nonzero."""
    out = np.zeros((weights.shape[0], 2), np.int64)
    for m, row in enumerate(weights):
        nz = np.flatnonzero(row)
        if nz.size:
            out[m] = nz[0], nz[-1] + 1
    return out


def dct_ortho(n_out: int, n_in: int) -> np.ndarray:
    """DCT-II with orthonormal scaling, f64[n_out, n_in]: ``y = D @ x``."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    d = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    d[0] *= np.sqrt(0.5)
    return d


def lifter(n_mfcc: int, lift: float) -> np.ndarray:
    """librosa's sinusoidal liftering weights f64[n_mfcc] (ones when ``lift == 0``)."""
    if lift == 0:
        return np.ones(n_mfcc)
    return 1.0 + (lift / 2.0) * np.sin(np.pi * np.arange(1, n_mfcc + 1) / lift)
