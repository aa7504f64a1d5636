"""LSTM over a chunk of T frames and B streams: float32 (ONNX LSTM semantics + TFLite
extras, :func:`lstm_seq`) and integer (TFLite's int8 "8x8_16" LSTM, :func:`lstm_seq_i8`).

Canonical layout (see :mod:`edgernn.ir`): gate rows ``i, f, c, o`` (c = cell
candidate), peepholes ``i, f, o``.  Per frame, with ``f, g, h`` the three activations::

    gates = x W^T + b + h_prev R^T          (x W^T + b for all T frames in one pass)
    i = f(clip(gi + p_i * c_prev))
    f = 1 - i if input_forget else f(clip(gf + p_f * c_prev))
    c = f * c_prev + i * g(clip(gc))        c = clip(c, cell_clip) if cell_clip > 0 (TFLite)
    o = f(clip(go + p_o * c))               the o peephole sees the NEW cell (ONNX)
    h = o * h(c)                            h = clip(Wproj h + bproj, proj_clip) with a projection

``clip(v)`` is ``v`` clipped to ``[-clip, clip]`` when ``clip > 0`` (ONNX; it is not
applied to the cell before ``h``, matching onnxruntime).
"""

from __future__ import annotations

import numpy as np
from numba.extending import overload

from . import kernel
from .activations import RELU, SIGMOID, TANH, apply_activation, sigmoid_fast, tanh_fast
from .fixedpoint import mbqm_double, rdbpot, sat8, sat16, wrap16
from .gemm import panel_matvec, start_acc
from .linalg import _pack_kind, matvec_add, qmatmul
from .quantcols import q8c_products, q8c_quantized, q8c_value
from .recur import copy_frame, project_frames, recurrent_add

_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)


@kernel
def clip_inplace(v, lim):
    """v f32[n] <- clip(v, -lim, lim) in place (NaN stays NaN)."""
    for j in range(v.shape[0]):
        a = v[j]
        a = lim if a > lim else a
        v[j] = -lim if a < -lim else a


@kernel
def gate_activation(v, code, alpha, beta):
    """v f32[n] <- act(v) in place (a gate): sigmoid, tanh and relu as one vectorized loop
    here, everything else through :func:`~.activations.apply_activation` (whose shared
    source takes x and y apart, so in place its loop falls back to scalar code: the
    overlap check fails)."""
    if code == SIGMOID:
        for j in range(v.shape[0]):
            v[j] = sigmoid_fast(v[j])
    elif code == TANH:
        for j in range(v.shape[0]):
            v[j] = tanh_fast(v[j])
    elif code == RELU:
        for j in range(v.shape[0]):
            v[j] = max(v[j], _ZERO)
    else:
        apply_activation(v, code, alpha, beta)


@kernel
def _cell_plain(g, c, out):
    """Sigmoid/tanh/tanh cell, no peephole/clip: g f32[4H] pre-activations, c f32[H] (in/out),
    out f32[H] <- o * tanh(c).  One fused, vectorized loop."""
    n = c.shape[0]
    # gate slices indexed by j alone: contiguous loads (n + j would make LLVM gather)
    gi, gf, gc, go = g[:n], g[n : 2 * n], g[2 * n : 3 * n], g[3 * n : 4 * n]
    for j in range(n):
        cn = sigmoid_fast(gf[j]) * c[j] + sigmoid_fast(gi[j]) * tanh_fast(gc[j])
        c[j] = cn
        out[j] = sigmoid_fast(go[j]) * tanh_fast(cn)


def _frame_f32(g, rp, c, h):
    """One frame of one stream of the plain cell without projection on float32 panels:
    the recurrent products into the pack's accumulator started from g f32[4H] (x W^T +
    b), then the cell reading it (:func:`_cell_plain`; no copy back into g); False
    (nothing done) for other packs.  The same sums as recurrent_add + _cell_plain."""


@overload(_frame_f32)
def _frame_f32_impl(g, rp, c, h):
    if _pack_kind(rp) != "f32c":
        return lambda g, rp, c, h: False

    def impl(g, rp, c, h):
        acc = rp[1][0]
        start_acc(acc, g, g.shape[0])
        panel_matvec(rp[0], acc, h)
        _cell_plain(acc, c, h)
        return True

    return impl


def _one_frame_f32(x, wp, rp, b, c, h):
    """A chunk of one frame of one stream (a streamed step) of the plain cell without
    projection on float32 panels: x f32[I]'s and h's products into R's pack accumulator,
    started from b, then the cell; False (nothing done) for other packs.  The same sums
    in the same order as the chunk path (x W^T + b into xw, then _frame_f32)."""


@overload(_one_frame_f32)
def _one_frame_f32_impl(x, wp, rp, b, c, h):
    if _pack_kind(wp) != "f32c" or _pack_kind(rp) != "f32c":
        return lambda x, wp, rp, b, c, h: False

    def impl(x, wp, rp, b, c, h):
        acc = rp[1][0]
        start_acc(acc, b, 4 * c.shape[0])
        panel_matvec(wp[0], acc, x)
        panel_matvec(rp[0], acc, h)
        _cell_plain(acc, c, h)
        return True

    return impl


@kernel
def _cell_general(g, c, out, p, clip, cell_clip, input_forget, acts, alphas, betas):
    """Any activations, peepholes p f32[3H] or f32[0], clip, cell_clip, input_forget.
    g f32[4H] (destroyed), c f32[H] (in/out), out f32[H] <- o * h(c)."""
    n = c.shape[0]
    gi, gf, gc, go = g[:n], g[n : 2 * n], g[2 * n : 3 * n], g[3 * n :]
    peep = p.shape[0] > 0
    if peep:
        for j in range(n):
            gi[j] += p[j] * c[j]
            gf[j] += p[n + j] * c[j]
    if clip > _ZERO:
        clip_inplace(g[: 3 * n], clip)
    gate_activation(g[: 2 * n], acts[0], alphas[0], betas[0])  # i and f in one pass
    if input_forget:
        for j in range(n):
            gf[j] = _ONE - gi[j]
    gate_activation(gc, acts[1], alphas[1], betas[1])
    for j in range(n):
        c[j] = gf[j] * c[j] + gi[j] * gc[j]
    if cell_clip > _ZERO:
        clip_inplace(c, cell_clip)
    if peep:
        for j in range(n):
            go[j] += p[2 * n + j] * c[j]
    if clip > _ZERO:
        clip_inplace(go, clip)
    gate_activation(go, acts[0], alphas[0], betas[0])
    out[:] = c
    gate_activation(out, acts[2], alphas[2], betas[2])
    for j in range(n):
        out[j] *= go[j]


@kernel
def _project(hs, projp, bproj, proj_clip, h):
    """h f32[P] <- clip(Wproj @ hs f32[H] + bproj f32[P]|[0], proj_clip); projp packs
    Wproj (P, H)."""
    if bproj.shape[0] > 0:
        h[:] = bproj
    else:
        h[:] = _ZERO
    matvec_add(projp, hs, h)
    if proj_clip > _ZERO:
        clip_inplace(h, proj_clip)


@kernel
def _frame_q8c(x, wp, rp, b, c, h):
    """One frame of one stream of the plain cell (:func:`_cell_plain`, no projection) on
    int8 column packs: x f32[I] and h f32[H] (in/out) each quantized once, the two
    products into the packs' accumulators, then their scaling, the bias and the cell in
    one loop; c f32[H] (in/out)."""
    n = c.shape[0]
    x32, sx = q8c_quantized(x, wp)
    h32, sh = q8c_quantized(h, rp)
    ax, ah = wp[5], rp[5]
    q8c_products(x32, wp[0], wp[1], ax)
    q8c_products(h32, rp[0], rp[1], ah)
    # gate slices indexed by j alone: contiguous loads (k * n + j would make LLVM gather)
    xi, xf, xc, xo = ax[:n], ax[n : 2 * n], ax[2 * n : 3 * n], ax[3 * n : 4 * n]
    hi, hf, hc, ho = ah[:n], ah[n : 2 * n], ah[2 * n : 3 * n], ah[3 * n : 4 * n]
    wx, wh = wp[2], rp[2]
    wxi, wxf, wxc, wxo = wx[:n], wx[n : 2 * n], wx[2 * n : 3 * n], wx[3 * n : 4 * n]
    whi, whf, whc, who = wh[:n], wh[n : 2 * n], wh[2 * n : 3 * n], wh[3 * n : 4 * n]
    has_b = b.shape[0] > 0
    bi, bf, bc, bo = (b[:n], b[n : 2 * n], b[2 * n : 3 * n], b[3 * n :]) if has_b \
        else (b, b, b, b)
    for j in range(n):
        gi = q8c_value(xi, sx, wxi, j) + q8c_value(hi, sh, whi, j)
        gf = q8c_value(xf, sx, wxf, j) + q8c_value(hf, sh, whf, j)
        gc = q8c_value(xc, sx, wxc, j) + q8c_value(hc, sh, whc, j)
        go = q8c_value(xo, sx, wxo, j) + q8c_value(ho, sh, who, j)
        if has_b:
            gi += bi[j]
            gf += bf[j]
            gc += bc[j]
            go += bo[j]
        cn = sigmoid_fast(gf) * c[j] + sigmoid_fast(gi) * tanh_fast(gc)
        c[j] = cn
        h[j] = sigmoid_fast(go) * tanh_fast(cn)


def _frames_q8c(x, wp, rp, b, h, c, y, plain):
    """The chunk frame by frame through :func:`_frame_q8c` where it applies (int8 column
    packs, ``plain``: the plain cell without projection); False (nothing done) elsewhere."""


@overload(_frames_q8c)
def _frames_q8c_impl(x, wp, rp, b, h, c, y, plain):
    if _pack_kind(wp) != "q8c" or _pack_kind(rp) != "q8c":
        return lambda x, wp, rp, b, h, c, y, plain: False

    def impl(x, wp, rp, b, h, c, y, plain):
        if not plain:
            return False
        for t in range(x.shape[0]):
            for s in range(x.shape[1]):
                _frame_q8c(x[t, s], wp, rp, b, c[s], h[s])
            copy_frame(h, y[t])
        return True

    return impl


@kernel
def lstm_seq(x, wp, rp, b, p, projp, bproj, h, c, y, xw, hs,
             clip, cell_clip, proj_clip, input_forget, acts, alphas, betas):
    """Run T frames of B streams through one LSTM layer, updating h and c in place.

    x f32[T, B, I]; wp, rp, projp: packed weights (:mod:`.linalg`) of W (4H, I),
    R (4H, Hr) and Wproj (P, H) (0 rows = none); b f32[4H]|[0]; p f32[3H]|[0] (i, f, o);
    bproj f32[P]|[0]; h f32[B, Hr] and c f32[B, H] (state, in/out);
    y f32[T, B, Hr] <- h after each frame; scratch xw f32[T, B, 4H], hs f32[H];
    clip, cell_clip, proj_clip f32 (0 = off); input_forget bool;
    acts i64[3] (f, g, h codes), alphas f32[3], betas f32[3].  Hr = P if wproj else H.
    With int8 column packs, the plain cell and no projection, every frame and stream goes
    through :func:`_frame_q8c` instead.
    """
    n_t, n_b = x.shape[0], x.shape[1]
    plain = (acts[0] == SIGMOID and acts[1] == TANH and acts[2] == TANH
             and p.shape[0] == 0 and not clip > _ZERO and not cell_clip > _ZERO
             and not input_forget)
    has_proj = projp[0].shape[0] > 0
    if _frames_q8c(x, wp, rp, b, h, c, y, plain and not has_proj):
        return
    if n_t == 1 and n_b == 1 and plain and not has_proj and \
            _one_frame_f32(x[0, 0], wp, rp, b, c[0], h[0]):
        copy_frame(h, y[0])
        return
    project_frames(x, wp, b, xw)
    for t in range(n_t):
        if n_b == 1 and plain and not has_proj and _frame_f32(xw[t, 0], rp, c[0], h[0]):
            copy_frame(h, y[t])
            continue
        recurrent_add(h, rp, xw[t])
        for s in range(n_b):
            out = hs if has_proj else h[s]
            if plain:
                _cell_plain(xw[t, s], c[s], out)
            else:
                _cell_general(xw[t, s], c[s], out, p, clip, cell_clip, input_forget,
                              acts, alphas, betas)
            if has_proj:
                _project(hs, projp, bproj, proj_clip, h[s])
        copy_frame(h, y[t])


@kernel
def _qcell(g, c, p, qp, prm, tabs, hid):
    """One integer LSTM frame of one stream after the gate matmuls (TFLite 8x8_16).

    g i16[4H] gate pre-activations Q3.12 (i, f, c, o); c i16[H] cell state (in/out) on
    2**cell_log2; p i32[3H]|[0] peepholes (int16 values), qp i64[2, 3H]; prm see
    :func:`lstm_seq_i8`; tabs i16[3, 65536] = logistic Q3.12, tanh Q3.12, tanh of the
    cell (:func:`~edgernn.kernels.fixedpoint.fill_tables`); hid i8[H] <- o * tanh(c)
    at the hidden scale and zero point.
    """
    n = c.shape[0]
    cell_shift, hm, hsh, hzp = prm[0], prm[2], prm[3], prm[4]
    cell_clip, gate_clip, forget = prm[6], prm[8], prm[9] != 0
    sig, tg, tc = tabs[0], tabs[1], tabs[2]
    peep = p.shape[0] > 0
    for j in range(n):
        cj = np.int64(c[j])
        gi, gf, gc, go = (np.int64(g[j]), np.int64(g[n + j]), np.int64(g[2 * n + j]),
                          np.int64(g[3 * n + j]))
        if peep:
            gi = sat16(mbqm_double(p[j] * cj, qp[0, j], qp[1, j]) + gi)
            gf = sat16(mbqm_double(p[n + j] * cj, qp[0, n + j], qp[1, n + j]) + gf)
        if gate_clip > 0:
            gi = max(min(gi, gate_clip), -gate_clip)
            gf = max(min(gf, gate_clip), -gate_clip)
            gc = max(min(gc, gate_clip), -gate_clip)
        ig = np.int64(sig[gi + 32768])
        fg = 32767 - ig if forget else np.int64(sig[gf + 32768])
        cn = sat16(wrap16(rdbpot(fg * cj, 15)) +
                   wrap16(rdbpot(ig * tg[gc + 32768], cell_shift)))
        if cell_clip > 0:
            cn = max(min(cn, cell_clip), -cell_clip)
        c[j] = cn
        if peep:
            go = sat16(mbqm_double(p[2 * n + j] * cn, qp[0, 2 * n + j], qp[1, 2 * n + j]) + go)
        if gate_clip > 0:
            go = max(min(go, gate_clip), -gate_clip)
        og = np.int64(sig[go + 32768])
        hid[j] = sat8(mbqm_double(og * tc[cn + 32768], hm, hsh) + hzp)


@kernel
def lstm_seq_i8(x, w, r, bx, bh, qx, qh, p, qp, wp, bp, qj, prm, tabs, h, c, y, xw, hid,
                acc):
    """Integer LSTM (TFLite UNIDIRECTIONAL_SEQUENCE_LSTM "8x8_16") over T frames, B streams.

    x i8[T, B, I]; w i8[4H, I], r i8[4H, Hr] (gates i, f, c, o); bx i32[4H] = B - zp_x *
    rowsum(W); bh i32[4H] = -zp_h * rowsum(R); qx, qh i64[2, 4H] (multipliers, shifts)
    to the gates' Q3.12; p i32[3H]|[0] and qp i64[2, 3H] peepholes; wp i8[P, H]|[0, 0],
    bp i32[P] = Bproj - zp_hid * rowsum(Wproj), qj i64[2, P] projection;
    prm i64[10] = (30 + cell_log2, 15 + cell_log2, hidden multiplier, shift, hidden zp,
    output zp, cell clip, proj clip, gate clip (Q3.12), input_forget); tabs i16[3, 65536]
    (:func:`_qcell`); h i8[B, Hr], c i16[B, H] state (in/out); y i8[T, B, Hr];
    scratch xw i16[T, B, 4H], hid i8[1, H], acc i32[max(4H, P)].
    Per frame: gates = sat16(mbqm(x part)) then sat16(mbqm(h part) + gates),
    sigmoid/tanh on Q3.12 -> Q0.15 (gemmlowp), int16 cell, h = o * tanh(c) requantized;
    every rescale rounds twice (mbqm_double), as the interpreter's LSTM does.
    """
    n_t, n_b, n_in = x.shape
    n_g = w.shape[0]
    lo, hi = np.int64(-32768), np.int64(32767)
    qmatmul(x.reshape((n_t * n_b, n_in)), w, bx, qx, np.int64(0), lo, hi,
            xw.reshape((n_t * n_b, n_g)), False, False, acc)
    has_proj = wp.shape[0] > 0
    for t in range(n_t):
        qmatmul(h, r, bh, qh, np.int64(0), lo, hi, xw[t], True, False, acc)
        for s in range(n_b):
            _qcell(xw[t, s], c[s], p, qp, prm, tabs, hid[0] if has_proj else h[s])
            if has_proj:
                qmatmul(hid, wp, bp, qj, prm[5], np.int64(-128), np.int64(127),
                        h[s:s + 1], False, False, acc)
                if prm[7] > 0:
                    for k in range(h.shape[1]):
                        h[s, k] = max(min(h[s, k], prm[7]), -prm[7])
        copy_frame(h, y[t])
