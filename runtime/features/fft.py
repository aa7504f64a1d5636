"""Power spectrum of one real frame: a radix-2 real FFT, or a DFT for other sizes.

numba has no ``np.fft``, so the transform is written here.  For ``n_fft = 2^k`` the
real frame is packed into a complex sequence of ``M = n_fft/2`` points
(``z[j] = x[2j] + i·x[2j+1]``), transformed by an iterative radix-2
decimation-in-time FFT (bit-reversal table and per-stage twiddles precomputed), and
split into the ``M + 1`` bins of the real spectrum.  Other sizes (e.g. 400) use a
DFT by matrix product over the bins the filterbank needs.  The arithmetic is float64:
log features amplify the relative error of weak bins, and a float32 FFT's error is
relative to the whole frame's energy: on espeak speech with digital silence a
float32 FFT (numpy's pocketfft) is 2.7e-4 dB off, float64 here 4e-6 (float32 output).
"""

from __future__ import annotations

import numpy as np

from ..kernels import kernel


class SpectrumTables:
    """Constant tables of the transform: FFT (``fft=True``) or DFT over ``n_bins`` bins.

    ``n_bins`` (≤ n_fft//2 + 1) limits the bins computed by the DFT; the FFT always
    yields all ``n_fft//2 + 1``.
    """

    def __init__(self, n_fft: int, win: int, n_bins: int) -> None:
        self.n_fft, self.win = n_fft, win
        self.fft = n_fft >= 4 and (n_fft & (n_fft - 1)) == 0
        m = n_fft // 2
        if self.fft:
            self.bitrev = _bit_reverse(m)
            self.tw = _stage_twiddles(m)
            k = np.arange(m + 1)
            self.post = np.stack([np.cos(2 * np.pi * k / n_fft), -np.sin(2 * np.pi * k / n_fft)])
            self.dft = np.zeros((2, 0, 0))
        else:
            self.bitrev = np.zeros(0, np.int64)
            self.tw = np.zeros((2, 0))
            self.post = np.zeros((2, 0))
            ang = 2 * np.pi * np.outer(np.arange(n_bins), np.arange(win)) / n_fft
            self.dft = np.ascontiguousarray(np.stack([np.cos(ang), -np.sin(ang)]))

    def scratch(self) -> np.ndarray:
        """f64[3, n_fft//2 + 1]: complex work rows (re, im) and the power row."""
        return np.zeros((3, self.n_fft // 2 + 1))


def _bit_reverse(m: int) -> np.ndarray:
    bits = m.bit_length() - 1
    j = np.arange(m)
    rev = np.zeros(m, np.int64)
    for b in range(bits):
        rev |= ((j >> b) & 1) << (bits - 1 - b)
    return rev


def _stage_twiddles(m: int) -> np.ndarray:
    """f64[2, m - 1]: for the stage of butterfly span ``h`` (1, 2, 4, ...), the ``h``
    twiddles ``exp(-iπj/h)`` at offset ``h - 1`` (so each stage reads them contiguously)."""
    out = np.zeros((2, max(m - 1, 0)))
    h = 1
    while h < m:
        j = np.arange(h)
        out[0, h - 1:2 * h - 1] = np.cos(np.pi * j / h)
        out[1, h - 1:2 * h - 1] = -np.sin(np.pi * j / h)
        h *= 2
    return out


@kernel
def _cfft(re, im, tw, m):
    """In place radix-2 DIT FFT of ``re + i·im`` [m] (already in bit-reversed order)."""
    h = 1
    while h < m:
        wr = tw[0, h - 1:2 * h - 1]
        wi = tw[1, h - 1:2 * h - 1]
        for b in range(m // (2 * h)):
            r0 = re[b * 2 * h:]
            i0 = im[b * 2 * h:]
            r1 = re[b * 2 * h + h:]
            i1 = im[b * 2 * h + h:]
            for j in range(h):
                tr = wr[j] * r1[j] - wi[j] * i1[j]
                ti = wr[j] * i1[j] + wi[j] * r1[j]
                r1[j] = r0[j] - tr
                i1[j] = i0[j] - ti
                r0[j] += tr
                i0[j] += ti
        h *= 2


@kernel
def power_spectrum(frame, bitrev, tw, post, dft, work, power_exp):
    """|X[k]|^p of the real frame f64[win] zero-padded to n_fft, into work[2, :n_bins].

    FFT path: bitrev int64[M], tw f64[2, M-1], post f64[2, M+1] (M = n_fft/2).
    DFT path (empty bitrev): dft f64[2, n_bins, win].  work f64[3, M+1]; p is 1 or 2.
    """
    re = work[0]
    im = work[1]
    pw = work[2]
    m = bitrev.shape[0]
    if m == 0:
        _dft_power(frame, dft, pw, power_exp)
        return
    win = frame.shape[0]
    for j in range(m):
        t = bitrev[j]
        a = 2 * j
        re[t] = frame[a] if a < win else 0.0
        im[t] = frame[a + 1] if a + 1 < win else 0.0
    _cfft(re, im, tw, m)
    re[m] = re[0]
    im[m] = im[0]
    for k in range(m + 1):
        ar = re[k]
        ai = im[k]
        br = re[m - k]
        bi = im[m - k]
        er = 0.5 * (ar + br)
        ei = 0.5 * (ai - bi)
        odr = 0.5 * (ai + bi)
        odi = 0.5 * (br - ar)
        xr = er + post[0, k] * odr - post[1, k] * odi
        xi = ei + post[0, k] * odi + post[1, k] * odr
        p = xr * xr + xi * xi
        pw[k] = p if power_exp == 2 else np.sqrt(p)


@kernel
def _dft_power(frame, dft, pw, power_exp):
    n_bins = dft.shape[1]
    win = frame.shape[0]
    for k in range(n_bins):
        xr = 0.0
        xi = 0.0
        for n in range(win):
            v = frame[n]
            xr += dft[0, k, n] * v
            xi += dft[1, k, n] * v
        p = xr * xr + xi * xi
        pw[k] = p if power_exp == 2 else np.sqrt(p)
