"""fp32 kernels for windows over axes *inside* a frame: conv, transposed conv, pooling.

No state and no delay: each frame is one independent instance (or several, for
leading frame axes).  Activations are rows: ``x (N, Kin)`` with ``N = T*B*outer``
instances.  Where an element of channel ``c`` at spatial position ``s`` lives is
``c * cstride + s * elem``: channels-first frames have ``cstride = H*W``,
``elem = 1``; channels-last frames ``cstride = 1``, ``elem = C``.  The spatial part
comes from an index map made once at bind time (:mod:`.window`), which already holds
stride, dilation and padding (``< 0`` = zero padding).

:func:`frame_conv` gathers the taps of a tile of output positions into contiguous
columns in the weight's own ``(ci, kh, kw)`` order (im2col, through a flat index map:
3x faster than computing offsets per tap), then computes four output channels for
two positions per pass (8 dot products sharing their loads: measured fastest of the
forms tried for Silero's shapes, 258x256 over 4 positions).  Rows are padded to
whole 16-float vectors and 64-byte aligned (7.7 -> 5.8 µs on Silero's 128x387 conv).
"""

from __future__ import annotations

import numpy as np

from . import kernel
from .activations import activation

TILE = 16  # output positions gathered per im2col tile


@kernel
def _gather(xr, idx, goff, p0, np_, col):
    """col[j, m] = xr[idx[p0+j, m] + goff] (0 where idx < 0).

    xr (Kin,) one instance; idx (P, R) int64 im2col map (:func:`im2col_map`);
    col (TILE, R).
    """
    r = idx.shape[1]
    zero = np.float32(0.0)
    for j in range(np_):
        row = col[j]
        ix = idx[p0 + j]
        for m in range(r):
            o = ix[m]
            row[m] = xr[o + goff] if o >= 0 else zero


def im2col_map(taps: np.ndarray, cg: int, cstride: int, width: int) -> np.ndarray:
    """Where each im2col column entry comes from, for the first group's channels.

    taps (P, KK) spatial offsets (< 0: padding) -> int64 (P, width): entry ci*KK + t of
    position p reads element ci*cstride + taps[p, t]; -1 for padding and for the columns
    past Cg*KK (``width`` rounds the rows up to whole vectors; the weights get zeros there).
    """
    p, kk = taps.shape
    full = np.where(taps[:, None, :] >= 0,
                    np.arange(cg)[None, :, None] * cstride + taps[:, None, :], -1)
    out = np.full((p, width), -1, np.int64)
    out[:, :cg * kk] = full.reshape(p, cg * kk)
    return out


@kernel
def _dots(w2, col, b, yr, co0, nco, p0, np_, ycs, yps):
    """yr[co*ycs + (p0+j)*yps] = b[co] + w2[co] . col[j] for co in co0..co0+nco-1, j < np_.

    w2 (Cout, R); col (TILE, R); b (Cout,) or (0,); yr (Kout,).  Four rows by two
    positions per pass.
    """
    r = w2.shape[1]
    has_b = b.shape[0] > 0
    c = 0
    while c + 4 <= nco:
        o = co0 + c
        b0 = b[o] if has_b else np.float32(0.0)
        b1 = b[o + 1] if has_b else np.float32(0.0)
        b2 = b[o + 2] if has_b else np.float32(0.0)
        b3 = b[o + 3] if has_b else np.float32(0.0)
        j = 0
        while j + 2 <= np_:
            s0 = np.float32(0.0)
            s1 = np.float32(0.0)
            s2 = np.float32(0.0)
            s3 = np.float32(0.0)
            t0 = np.float32(0.0)
            t1 = np.float32(0.0)
            t2 = np.float32(0.0)
            t3 = np.float32(0.0)
            for k in range(r):
                v = col[j, k]
                u = col[j + 1, k]
                a0 = w2[o, k]
                a1 = w2[o + 1, k]
                a2 = w2[o + 2, k]
                a3 = w2[o + 3, k]
                s0 += a0 * v
                s1 += a1 * v
                s2 += a2 * v
                s3 += a3 * v
                t0 += a0 * u
                t1 += a1 * u
                t2 += a2 * u
                t3 += a3 * u
            q = (p0 + j) * yps
            yr[o * ycs + q] = s0 + b0
            yr[(o + 1) * ycs + q] = s1 + b1
            yr[(o + 2) * ycs + q] = s2 + b2
            yr[(o + 3) * ycs + q] = s3 + b3
            q += yps
            yr[o * ycs + q] = t0 + b0
            yr[(o + 1) * ycs + q] = t1 + b1
            yr[(o + 2) * ycs + q] = t2 + b2
            yr[(o + 3) * ycs + q] = t3 + b3
            j += 2
        if j < np_:
            s0 = np.float32(0.0)
            s1 = np.float32(0.0)
            s2 = np.float32(0.0)
            s3 = np.float32(0.0)
            for k in range(r):
                v = col[j, k]
                s0 += w2[o, k] * v
                s1 += w2[o + 1, k] * v
                s2 += w2[o + 2, k] * v
                s3 += w2[o + 3, k] * v
            q = (p0 + j) * yps
            yr[o * ycs + q] = s0 + b0
            yr[(o + 1) * ycs + q] = s1 + b1
            yr[(o + 2) * ycs + q] = s2 + b2
            yr[(o + 3) * ycs + q] = s3 + b3
        c += 4
    while c < nco:
        o = co0 + c
        for j in range(np_):
            s0 = b[o] if has_b else np.float32(0.0)
            for k in range(r):
                s0 += w2[o, k] * col[j, k]
            yr[o * ycs + (p0 + j) * yps] = s0
        c += 1


@kernel
def frame_conv(x, w2, b, y, idx, gstride, groups, ycs, yps, col):
    """Convolution over the axes of each frame (ONNX Conv semantics per instance).

    x f32[N, Kin]; w2 f32[Cout, R] (W (Cout, Cg, *K) flattened, zero columns past Cg*KK);
    b f32[Cout] or [0]; y f32[N, Kout], element (co, p) at co*ycs + p*yps;
    idx i64[P, R] (:func:`im2col_map`) for group 0, group g reading at + g*gstride;
    col f32[TILE, R] scratch.
    """
    nrows = x.shape[0]
    npos = idx.shape[0]
    cout = w2.shape[0]
    og = cout // groups
    for n in range(nrows):
        xr = x[n]
        yr = y[n]
        for g in range(groups):
            p0 = 0
            while p0 < npos:
                np_ = min(TILE, npos - p0)
                _gather(xr, idx, g * gstride, p0, np_, col)
                _dots(w2, col, b, yr, g * og, og, p0, np_, ycs, yps)
                p0 += np_


@kernel
def frame_conv_act(x, w2, b, y, idx, gstride, groups, ycs, yps, col, code, alpha, beta):
    """:func:`frame_conv`, then the activation ``code`` (:mod:`.activations`) on y."""
    frame_conv(x, w2, b, y, idx, gstride, groups, ycs, yps, col)
    flat = y.reshape(-1)
    activation(flat, flat, code, alpha, beta)


@kernel
def conv_transpose(x, wt, b, y, otaps, xcs, xps, ycs, yps, groups):
    """Transposed convolution over the axes of each frame (ONNX ConvTranspose).

    x f32[N, Kin], input (ci, i) at ci*xcs + i*xps; wt f32[Cin, KK, Cout/groups]
    (W (Cin, Cout/groups, *K) with the taps moved before the output channels);
    b f32[Cout] or [0]; y f32[N, Kout], output (co, q) at co*ycs + q*yps;
    otaps i64[Pin, KK]: the output offset (q*yps) that tap t of input position i adds
    into, < 0 where the pads crop it.
    """
    nrows = x.shape[0]
    pin, kk = otaps.shape
    cin = wt.shape[0]
    og = wt.shape[2]
    cg = cin // groups
    cout = og * groups
    pout = y.shape[1] // cout
    for n in range(nrows):
        yr = y[n]
        xr = x[n]
        for co in range(cout):
            bias = b[co] if b.shape[0] > 0 else np.float32(0.0)
            for q in range(pout):
                yr[co * ycs + q * yps] = bias
        for g in range(groups):
            for ci in range(cg):
                c = g * cg + ci
                for i in range(pin):
                    xv = xr[c * xcs + i * xps]
                    for t in range(kk):
                        o = otaps[i, t]
                        if o < 0:
                            continue
                        for co in range(og):
                            yr[(g * og + co) * ycs + o] += xv * wt[c, t, co]


@kernel
def pool(x, y, taps, channels, cstride, ycs, yps, is_max, inv):
    """Max or average pooling over the axes of each frame.

    x f32[N, Kin], channel c at c*cstride + taps; y f32[N, Kout], (c, p) at c*ycs + p*yps;
    taps i64[P, KK] (< 0: padding, skipped); is_max: max over the taps in the input,
    else the sum times inv[p] (1 / the divisor of position p, f32[P]).
    """
    nrows = x.shape[0]
    npos, kk = taps.shape
    for n in range(nrows):
        xr = x[n]
        yr = y[n]
        for c in range(channels):
            base = c * cstride
            for p in range(npos):
                tp = taps[p]
                acc = np.float32(-np.inf)
                if is_max:
                    for t in range(kk):
                        o = tp[t]
                        if o >= 0:
                            v = xr[base + o]
                            if v > acc or v != v:
                                acc = v
                else:
                    acc = np.float32(0.0)
                    for t in range(kk):
                        o = tp[t]
                        if o >= 0:
                            acc += xr[base + o]
                    acc *= inv[p]
                yr[c * ycs + p * yps] = acc
