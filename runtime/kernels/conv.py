"""Convolution causal over time, streamed with a per-stream ring buffer.

One kernel per precision serves the IR ``Conv`` op (:func:`conv_time` fp32,
:func:`conv_time_i8` int8 with int32 accumulation): a 1-D conv over time
(frame ``(Cin,)``, passed as ``(Cin, 1)`` with ``Kf = 1``) and a 2-D conv over
(time, frequency) (frame ``(Cin, F)``).  Time is causal: a ring of the last
``L = (Kt-1)*dilation + 1`` frames per stream, zero at the start, stands for the
left padding.  Frequency is an ordinary conv with stride, dilation and padding.

Alignment (derived in tests/test_kernels_conv.py): input frame ``n`` (global index
over the stream) emits output ``j = (n - delay) / stride`` when ``n >= delay`` and
``(n - delay) % stride == 0``; its taps read frames ``n - (Kt-1-k)*dilation``.
With ``delay = 0`` that is the source conv on the sequence left-padded with
``(Kt-1)*dilation`` zeros; with ``delay = D`` it is the source conv whose left
padding was ``(Kt-1)*dilation - D`` (each output appears D frames late).

Per emitted frame and stream the taps are gathered into one contiguous column in
the weight's own ``(Cg, Kt, Kf)`` order (im2col), then every output channel is a
contiguous dot product with its weight row, four rows per pass.
"""

from __future__ import annotations

import numpy as np

from . import kernel
from .fixedpoint import mbqm_double


@kernel
def _dot_rows(w2, col, bias, y, co0, nco, fo):
    """y[co, fo] = bias[co] + w2[co] . col for co in co0..co0+nco-1, four rows per pass.

    w2 (Cout, R); col (R,); bias (Cout,) or (0,); y (Cout, Fout).
    """
    r = col.shape[0]
    has_bias = bias.shape[0] > 0
    c = 0
    while c + 4 <= nco:
        w0 = w2[co0 + c]
        w1 = w2[co0 + c + 1]
        wa = w2[co0 + c + 2]
        wb = w2[co0 + c + 3]
        s0 = np.float32(0.0)
        s1 = np.float32(0.0)
        s2 = np.float32(0.0)
        s3 = np.float32(0.0)
        for k in range(r):
            v = col[k]
            s0 += w0[k] * v
            s1 += w1[k] * v
            s2 += wa[k] * v
            s3 += wb[k] * v
        if has_bias:
            s0 += bias[co0 + c]
            s1 += bias[co0 + c + 1]
            s2 += bias[co0 + c + 2]
            s3 += bias[co0 + c + 3]
        y[co0 + c, fo] = s0
        y[co0 + c + 1, fo] = s1
        y[co0 + c + 2, fo] = s2
        y[co0 + c + 3, fo] = s3
        c += 4
    while c < nco:
        w0 = w2[co0 + c]
        s0 = np.float32(0.0)
        for k in range(r):
            s0 += w0[k] * col[k]
        if has_bias:
            s0 += bias[co0 + c]
        y[co0 + c, fo] = s0
        c += 1


@kernel
def _gather_col(hb, pos, ci0, cg, kf, fo0, fdilation, col):
    """Gather the taps of one output position, in the weight's (ci, k, kf) order.

    hb (L, Cin, Fin) one stream's ring; pos (Kt,) ring slot of each tap;
    col (Cg*Kt*Kf,): col[(ci*Kt + k)*Kf + j] = hb[pos[k], ci0+ci, fo0 + j*fdilation],
    zero outside [0, Fin).
    """
    fin = hb.shape[2]
    kt = pos.shape[0]
    zero = np.float32(0.0)
    for k in range(kt):
        fr = hb[pos[k]]
        if kf == 1 and fin == 1:
            for ci in range(cg):
                col[ci * kt + k] = fr[ci0 + ci, 0]
            continue
        for ci in range(cg):
            src = fr[ci0 + ci]
            base = (ci * kt + k) * kf
            for j in range(kf):
                f = fo0 + j * fdilation
                col[base + j] = src[f] if f >= 0 and f < fin else zero


@kernel
def _emit(hb, pos, w2, b, yb, groups, kf, fstride, fdilation, fpad0, col):
    """One output frame of one stream, any groups: im2col then one dot per output.

    hb (L, Cin, Fin) ring; pos (Kt,) ring slot of each tap; w2 (Cout, Cg*Kt*Kf) weight
    rows; b (Cout,) or (0,); yb (Cout, Fout) output; col (Cg*Kt*Kf,) scratch.
    """
    cout, fout = yb.shape
    cg = hb.shape[1] // groups
    og = cout // groups
    for fo in range(fout):
        for g in range(groups):
            _gather_col(hb, pos, g * cg, cg, kf, fo * fstride - fpad0, fdilation, col)
            _dot_rows(w2, col, b, yb, g * og, og, fo)


@kernel
def _emit_depthwise_1d(hb, pos, w2, b, yb):
    """Depthwise 1-D conv (groups = Cin, Fin = Fout = Kf = 1), output channels innermost.

    hb (L, Cin, 1) ring; pos (Kt,) ring slot of each tap; w2 (Cout, Kt);
    b (Cout,) or (0,); yb (Cout, 1).
    """
    cin = hb.shape[1]
    cout, kt = w2.shape
    mult = cout // cin
    y = yb.reshape(cout)
    if b.shape[0] > 0:
        y[:] = b
    else:
        y[:] = np.float32(0.0)
    for k in range(kt):
        fr = hb[pos[k]].reshape(cin)
        if mult == 1:
            for c in range(cout):
                y[c] += w2[c, k] * fr[c]
        else:
            for c in range(cout):
                y[c] += w2[c, k] * fr[c // mult]


@kernel
def _emit_depthwise(hb, pos, w, b, yb, fstride, fdilation, fpad0):
    """Depthwise conv over (time, freq), frequencies innermost.

    hb (L, Cin, Fin) ring; pos (Kt,) ring slot of each tap; w (Cout, 1, Kt, Kf);
    b (Cout,) or (0,); yb (Cout, Fout).
    """
    cin, fin = hb.shape[1], hb.shape[2]
    cout, _, kt, kf = w.shape
    fout = yb.shape[1]
    mult = cout // cin
    for c in range(cout):
        yb[c, :] = b[c] if b.shape[0] > 0 else np.float32(0.0)
    for j in range(kf):
        off = j * fdilation - fpad0  # input frequency read by output 0
        lo = 0 if off >= 0 else (fstride - 1 - off) // fstride
        hi = min(fout, (fin - 1 - off) // fstride + 1) if fin - 1 - off >= 0 else 0
        if hi <= lo:
            continue
        for c in range(cout):
            ys = yb[c, lo:hi]
            for k in range(kt):
                wv = w[c, 0, k, j]
                xs = hb[pos[k], c // mult, lo * fstride + off:]
                if fstride == 1:
                    for i in range(hi - lo):
                        ys[i] += wv * xs[i]
                else:
                    for i in range(hi - lo):
                        ys[i] += wv * xs[i * fstride]


@kernel
def conv_time(x, w, b, hist, count, y, stride, dilation, delay, groups, fstride, fdilation,
              fpad0, col, pos):
    """Stream T frames through a conv causal over time; return the output frames written.

    x (T, B, Cin, Fin); w (Cout, Cin/groups, Kt, Kf); b (Cout,) or (0,);
    hist (B, L, Cin, Fin) ring of the last L >= (Kt-1)*dilation + 1 frames, zeros at start;
    count (B,) frames seen per stream (streams step in lockstep: count[0] decides when
    to emit for all), advanced by T;
    y (M, B, Cout, Fout), M >= ceil(T/stride) + 1; returns M' <= M, outputs in y[:M'];
    scratch col f32 (Cin/groups*Kt*Kf,), pos i64 (Kt,).
    """
    t_len, nb, cin, fin = x.shape
    cout, cg, kt, kf = w.shape
    ring = hist.shape[1]
    fout = y.shape[3]
    w2 = w.reshape(cout, cg * kt * kf)
    depthwise = cg == 1 and groups > 1
    flat = fin == 1 and fout == 1 and kf == 1
    m = 0
    for t in range(t_len):
        n = count[0]
        slot = n % ring
        for bi in range(nb):
            hist[bi, slot] = x[t, bi]
            count[bi] = n + 1
        if n < delay or (n - delay) % stride != 0:
            continue
        for k in range(kt):  # ring slot of tap k: frame n - (Kt-1-k)*dilation
            pos[k] = (n + ring - (kt - 1 - k) * dilation) % ring
        for bi in range(nb):
            if depthwise and flat:
                _emit_depthwise_1d(hist[bi], pos, w2, b, y[m, bi])
            elif depthwise:
                _emit_depthwise(hist[bi], pos, w, b, y[m, bi], fstride, fdilation, fpad0)
            else:
                _emit(hist[bi], pos, w2, b, y[m, bi], groups, kf, fstride, fdilation, fpad0,
                      col)
        m += 1
    return m


@kernel
def _qemit(hb, pos, w2, b, qm, zp, lo, hi, yb, groups, kf, fstride, fdilation, fpad0, col):
    """One int8 output frame of one stream: im2col of centered taps, then per output
    channel clamp(mbqm(b + w2[co] . col, qm[co]) + zp, lo, hi) (TFLite ConvPerChannel;
    double rounding, as the interpreter's CONV_2D and DEPTHWISE_CONV_2D).

    hb i16[L, Cin, Fin] ring of x - zp_x; w2 i8[Cout, Cg*Kt*Kf]; b i32[Cout];
    qm i64[2, Cout]; yb i8[Cout, Fout]; col i16[Cg*Kt*Kf] scratch.
    """
    cout, fout = yb.shape
    cg = hb.shape[1] // groups
    og = cout // groups
    r = col.shape[0]
    for fo in range(fout):
        for g in range(groups):
            _gather_col(hb, pos, g * cg, cg, kf, fo * fstride - fpad0, fdilation, col)
            for co in range(g * og, (g + 1) * og):
                acc = np.int32(0)
                for k in range(r):
                    acc = np.int32(acc + np.int32(w2[co, k]) * np.int32(col[k]))
                v = mbqm_double(np.int64(acc) + b[co], qm[0, co], qm[1, co]) + zp
                yb[co, fo] = max(min(v, hi), lo)


@kernel
def conv_time_i8(x, w, b, qm, zq, hist, count, y, stride, dilation, delay, groups, fstride,
                 fdilation, fpad0, col, pos):
    """:func:`conv_time` on int8 activations; returns the output frames written.

    x i8[T, B, Cin, Fin]; w i8[Cout, Cin/groups, Kt, Kf]; b i32[Cout] (bias at
    scale_x * scale_w); qm i64[2, Cout] (multipliers, shifts) per output channel;
    zq i64[4] = (zp_x, zp_y, lo, hi) (lo/hi: the fused activation's range);
    hist i16[B, L, Cin, Fin] holds x - zp_x, so its zeros at the start are the input
    zero point: left (and frequency) padding contributes exactly 0, as TFLite's
    skipped padding taps do; count, y i8[M, B, Cout, Fout], col i16 and pos as
    :func:`conv_time`.
    """
    t_len, nb = x.shape[0], x.shape[1]
    cout, cg, kt, kf = w.shape
    ring = hist.shape[1]
    w2 = w.reshape(cout, cg * kt * kf)
    m = 0
    for t in range(t_len):
        n = count[0]
        slot = n % ring
        for bi in range(nb):
            hs = hist[bi, slot]
            xs = x[t, bi]
            for ci in range(xs.shape[0]):
                for f in range(xs.shape[1]):
                    hs[ci, f] = np.int64(xs[ci, f]) - zq[0]
            count[bi] = n + 1
        if n < delay or (n - delay) % stride != 0:
            continue
        for k in range(kt):
            pos[k] = (n + ring - (kt - 1 - k) * dilation) % ring
        for bi in range(nb):
            _qemit(hist[bi], pos, w2, b, qm, zq[1], zq[2], zq[3], y[m, bi], groups, kf,
                   fstride, fdilation, fpad0, col)
        m += 1
    return m
