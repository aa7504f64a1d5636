"""kiss_fft's 16-bit fixed-point real FFT (``FIXED_POINT=16``), bit for bit, in numba.

TFLM's micro front end calls ``kiss_fftr`` on int16 data: a complex FFT of half the
size (radix 4, then a radix-2 stage when needed; sizes are powers of two) followed
by the real-split pass.  Every int16 store wraps like the C code; every product is
rounded by ``sround(x) = (x + 2^14) >> 15`` and every stage pre-scales its inputs by
``C_FIXDIV``.  kiss_fft's recursion is flattened: the input permutation the recursion
reads is a table, and each stage's butterflies run over all blocks of that stage
(independent blocks, so the order does not change any result).
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels import kernel


class KissTables:
    """Twiddles, stage list and input permutation of kiss_fftr for ``nfft`` (a power of two)."""

    def __init__(self, nfft: int) -> None:
        if nfft < 4 or nfft & (nfft - 1):
            raise ValueError(f"kiss_fftr size must be a power of two >= 4, got {nfft}")
        n = nfft // 2
        self.nfft = nfft
        self.tw = np.array([_cexp(-2 * math.pi * i / n) for i in range(n)], np.int64)
        self.super_tw = np.array([_cexp(-math.pi * ((i + 1) / n + 0.5)) for i in range(n // 2)],
                                 np.int64).reshape(-1, 2)
        factors = _factor(n)
        self.perm = np.array(_permutation(n, factors), np.int64)
        stages, fstride = [], 1
        for p, m in factors:  # (radix, m, fstride) in recursion order; run innermost first
            stages.append((p, m, fstride))
            fstride *= p
        self.stages = np.array(stages[::-1], np.int64)

    def scratch(self) -> tuple[np.ndarray, np.ndarray]:
        """(tmp int16[n, 2], freq int16[n + 1, 2]) for :func:`kiss_fftr`."""
        n = self.nfft // 2
        return np.zeros((n, 2), np.int16), np.zeros((n + 1, 2), np.int16)


def _cexp(phase: float) -> tuple[int, int]:
    return (int(math.floor(0.5 + 32767 * math.cos(phase))),
            int(math.floor(0.5 + 32767 * math.sin(phase))))


def _factor(n: int) -> list[tuple[int, int]]:
    """kf_factor: powers of 4 first, then 2 (only these occur for powers of two)."""
    out, p = [], 4
    while n > 1:
        while n % p:
            p = 2
        n //= p
        out.append((p, n))
    return out


def _permutation(n: int, factors: list[tuple[int, int]]) -> list[int]:
    """perm[j]: the input index kf_work copies into output slot j."""
    out = [0] * n

    def work(base: int, offset: int, fstride: int, level: int) -> None:
        p, m = factors[level]
        for q in range(p):
            if m == 1:
                out[base + q] = offset + q * fstride
            else:
                work(base + q * m, offset + q * fstride, fstride * p, level + 1)

    work(0, 0, 1, 0)
    return out


@kernel
def _sround(x):
    return np.int16((x + 16384) >> 15)


@kernel
def _bfly2(f, base, fstride, m, tw):
    """Radix-2 butterflies of one block: f int16[n, 2] from row ``base``."""
    for k in range(m):
        a = base + k
        b = a + m
        ar = _sround(np.int64(f[a, 0]) * 16383)
        ai = _sround(np.int64(f[a, 1]) * 16383)
        br = _sround(np.int64(f[b, 0]) * 16383)
        bi = _sround(np.int64(f[b, 1]) * 16383)
        wr = tw[k * fstride, 0]
        wi = tw[k * fstride, 1]
        tr = _sround(br * wr - bi * wi)
        ti = _sround(br * wi + bi * wr)
        f[b, 0] = np.int16(ar - tr)
        f[b, 1] = np.int16(ai - ti)
        f[a, 0] = np.int16(ar + tr)
        f[a, 1] = np.int16(ai + ti)


@kernel
def _bfly4(f, base, fstride, m, tw):
    """Radix-4 butterflies (forward) of one block: f int16[n, 2] from row ``base``."""
    for k in range(m):
        i0 = base + k
        r0 = _sround(np.int64(f[i0, 0]) * 8191)
        j0 = _sround(np.int64(f[i0, 1]) * 8191)
        s0r, s0i = _cmul_div4(f, i0 + m, tw, k * fstride)
        s1r, s1i = _cmul_div4(f, i0 + 2 * m, tw, 2 * k * fstride)
        s2r, s2i = _cmul_div4(f, i0 + 3 * m, tw, 3 * k * fstride)
        s5r = np.int16(r0 - s1r)
        s5i = np.int16(j0 - s1i)
        r0 = np.int16(r0 + s1r)
        j0 = np.int16(j0 + s1i)
        s3r = np.int16(s0r + s2r)
        s3i = np.int16(s0i + s2i)
        s4r = np.int16(s0r - s2r)
        s4i = np.int16(s0i - s2i)
        f[i0 + 2 * m, 0] = np.int16(r0 - s3r)
        f[i0 + 2 * m, 1] = np.int16(j0 - s3i)
        f[i0, 0] = np.int16(r0 + s3r)
        f[i0, 1] = np.int16(j0 + s3i)
        f[i0 + m, 0] = np.int16(s5r + s4i)
        f[i0 + m, 1] = np.int16(s5i - s4r)
        f[i0 + 3 * m, 0] = np.int16(s5r - s4i)
        f[i0 + 3 * m, 1] = np.int16(s5i + s4r)


@kernel
def _cmul_div4(f, i, tw, t):
    """C_FIXDIV(f[i], 4) then C_MUL by tw[t]."""
    ar = np.int64(_sround(np.int64(f[i, 0]) * 8191))
    ai = np.int64(_sround(np.int64(f[i, 1]) * 8191))
    wr = tw[t, 0]
    wi = tw[t, 1]
    return _sround(ar * wr - ai * wi), _sround(ar * wi + ai * wr)


@kernel
def kiss_fftr(x, perm, stages, tw, super_tw, tmp, freq):
    """Real FFT of x int16[2n] into freq int16[n + 1, 2] (kiss_fftr, FIXED_POINT=16).

    perm int64[n]; stages int64[S, 3] = (radix, m, fstride), innermost first;
    tw int64[n, 2]; super_tw int64[n/2, 2]; tmp int16[n, 2] scratch.
    """
    n = perm.shape[0]
    for j in range(n):
        tmp[j, 0] = x[2 * perm[j]]
        tmp[j, 1] = x[2 * perm[j] + 1]
    for s in range(stages.shape[0]):
        p = stages[s, 0]
        m = stages[s, 1]
        fstride = stages[s, 2]
        for b in range(fstride):
            if p == 4:
                _bfly4(tmp, b * 4 * m, fstride, m, tw)
            else:
                _bfly2(tmp, b * 2 * m, fstride, m, tw)
    _split(tmp, super_tw, freq)


@kernel
def _split(tmp, super_tw, freq):
    """kiss_fftr's pass from the half-size complex FFT tmp to the real spectrum freq."""
    n = tmp.shape[0]
    dr = np.int64(_sround(np.int64(tmp[0, 0]) * 16383))
    di = np.int64(_sround(np.int64(tmp[0, 1]) * 16383))
    freq[0, 0] = np.int16(dr + di)
    freq[n, 0] = np.int16(dr - di)
    freq[0, 1] = 0
    freq[n, 1] = 0
    for k in range(1, n // 2 + 1):
        pkr = np.int64(_sround(np.int64(tmp[k, 0]) * 16383))
        pki = np.int64(_sround(np.int64(tmp[k, 1]) * 16383))
        nkr = np.int64(_sround(np.int64(tmp[n - k, 0]) * 16383))
        nki = np.int64(_sround(np.int64(np.int16(-np.int64(tmp[n - k, 1]))) * 16383))
        f1r = np.int64(np.int16(pkr + nkr))
        f1i = np.int64(np.int16(pki + nki))
        f2r = np.int64(np.int16(pkr - nkr))
        f2i = np.int64(np.int16(pki - nki))
        wr = super_tw[k - 1, 0]
        wi = super_tw[k - 1, 1]
        twr = np.int64(_sround(f2r * wr - f2i * wi))
        twi = np.int64(_sround(f2r * wi + f2i * wr))
        freq[k, 0] = np.int16((f1r + twr) >> 1)
        freq[k, 1] = np.int16((f1i + twi) >> 1)
        freq[n - k, 0] = np.int16((f1r - twr) >> 1)
        freq[n - k, 1] = np.int16((twi - f1i) >> 1)
