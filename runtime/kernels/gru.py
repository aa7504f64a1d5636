"""GRU over a chunk of T frames and B streams (ONNX GRU semantics): float32
(:func:`gru_seq`) and integer (:func:`gru_seq_i8`, int8 x/h, int16 gate math).

Canonical layout (see :mod:`edgernn.ir`): gate rows ``z, r, h``.  With ``f, g``
the two activations and ``clip(v)`` = ``v`` clipped to ``[-clip, clip]`` if ``clip > 0``::

    z = f(clip(x Wz + wbz + h Rz + rbz))      r = f(clip(x Wr + wbr + h Rr + rbr))
    linear_before_reset:   h~ = g(clip(x Wh + wbh + r * (h Rh + rbh)))      (PyTorch, Keras)
    otherwise:             h~ = g(clip(x Wh + wbh + (r * h) Rh + rbh))
    h' = (1 - z) * h~ + z * h

The input projection ``x W^T + wb`` runs for all T frames in one pass.
"""

from __future__ import annotations

import numpy as np
from numba.core import types
from numba.extending import overload

from . import kernel
from .activations import SIGMOID, TANH, sigmoid_fast, tanh_fast
from .fixedpoint import mbqm_double, rdbpot, sat8, sat16
from .gemm import panel_matvec, start_acc
from .linalg import _pack_kind, matvec_add, qmatmul
from .lstm import clip_inplace, gate_activation
from .quantcols import q8c_products, q8c_quantized, q8c_value
from .recur import copy_frame, project_frames, recurrent_add, split_rows

_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)


@kernel
def _gates_zr(g, rh, n, clip, act, alpha, beta):
    """g[:2n] <- f(clip(g[:2n] + rh[:2n])) = (z, r).   g, rh f32[3n]."""
    for j in range(2 * n):
        g[j] += rh[j]
    zr = g[: 2 * n]
    if clip > _ZERO:
        clip_inplace(zr, clip)
    gate_activation(zr, act, alpha, beta)


@kernel
def _cell_plain(g, rh, h):
    """Sigmoid/tanh, linear_before_reset, no clip: g f32[3H] = x W^T + wb, rh f32[3H] =
    h R^T + rb, h f32[H] (in/out).  The whole cell in one vectorized loop."""
    n = h.shape[0]
    _cell_parts(g, rh[: 2 * n], rh[2 * n : 3 * n], h)


@kernel
def _cell_parts(g, rzr, rhh, h):
    """:func:`_cell_plain` with h R^T + rb in two parts: rzr f32[>=2H] (z, r) and
    rhh f32[>=H] (h).  Gate slices indexed by j alone: contiguous loads (n + j would
    make LLVM gather)."""
    n = h.shape[0]
    gz, gr, gn, hz, hr = g[:n], g[n : 2 * n], g[2 * n : 3 * n], rzr[:n], rzr[n : 2 * n]
    for j in range(n):
        z = sigmoid_fast(gz[j] + hz[j])
        r = sigmoid_fast(gr[j] + hr[j])
        hh = tanh_fast(gn[j] + r * rhh[j])
        h[j] = (_ONE - z) * hh + z * h[j]


@kernel
def _step(g, rh, rzp, rhp, rb, h, linear_before_reset, clip, acts, alphas, betas):
    """One GRU frame of one stream.  g f32[3H] = x W^T + wb (destroyed);
    rh f32[3H] scratch; rzp, rhp pack the rows of R (3H, H) for z, r (2H) and h (H);
    rb f32[3H]|[0]; h f32[H] (in/out)."""
    n = h.shape[0]
    start_acc(rh, rb, 3 * n)  # not rh[:] = rb: numba's slice assignment costs ~0.1 µs
    gh = g[2 * n :]
    matvec_add(rzp, h, rh[: 2 * n])
    if linear_before_reset and acts[0] == SIGMOID and acts[1] == TANH and not clip > _ZERO:
        matvec_add(rhp, h, rh[2 * n :])
        _cell_plain(g, rh, h)
        return
    _gates_zr(g, rh, n, clip, acts[0], alphas[0], betas[0])
    if linear_before_reset:
        matvec_add(rhp, h, rh[2 * n :])
        for j in range(n):
            gh[j] += g[n + j] * rh[2 * n + j]
    else:
        rh_r = rh[n : 2 * n]  # reused to hold r * h
        for j in range(n):
            rh_r[j] = g[n + j] * h[j]
        matvec_add(rhp, rh_r, rh[2 * n :])
        for j in range(n):
            gh[j] += rh[2 * n + j]
    if clip > _ZERO:
        clip_inplace(gh, clip)
    gate_activation(gh, acts[1], alphas[1], betas[1])
    for j in range(n):
        z = g[j]
        h[j] = (_ONE - z) * gh[j] + z * h[j]


def _row(rh, s):
    """The scratch of stream ``s``: rh itself (f32[3H], one for all) or its row s."""


@overload(_row)
def _row_impl(rh, s):
    return (lambda rh, s: rh) if rh.ndim == 1 else (lambda rh, s: rh[s])


def _batched(g, rh, rzp, rhp, rb, h, lbr, clip, acts):
    """One frame of B > 1 streams with the recurrent products for all of them in one pass
    over R (rh f32[B, 3H]); False (nothing done) where that does not apply."""


@overload(_batched)
def _batched_impl(g, rh, rzp, rhp, rb, h, lbr, clip, acts):
    if rh.ndim == 1:
        return lambda g, rh, rzp, rhp, rb, h, lbr, clip, acts: False

    def impl(g, rh, rzp, rhp, rb, h, lbr, clip, acts):
        n_b, n = h.shape
        if n_b == 1 or not lbr or acts[0] != SIGMOID or acts[1] != TANH or clip > _ZERO:
            return False
        for s in range(n_b):
            for j in range(3 * n):
                rh[s, j] = rb[j] if rb.shape[0] > 0 else _ZERO
        recurrent_add(h, rzp, rh[:, : 2 * n])
        recurrent_add(h, rhp, rh[:, 2 * n :])
        for s in range(n_b):
            _cell_plain(g[s], rh[s], h[s])
        return True

    return impl


def _frame_f32(g, rzp, rhp, rb, h):
    """One frame of one stream of the plain cell on float32 panels (g f32[3H] = x W^T +
    wb, h f32[H] in/out): the recurrent products straight into the packs' accumulators,
    started from rb, then the cell reading them in one loop (no scratch copies); False
    (nothing done) for other packs.  Rounds as :func:`_step`: the same sums, in order."""


@overload(_frame_f32)
def _frame_f32_impl(g, rzp, rhp, rb, h):
    if _pack_kind(rzp) != "f32c" or _pack_kind(rhp) != "f32c":
        return lambda g, rzp, rhp, rb, h: False

    def impl(g, rzp, rhp, rb, h):
        n = h.shape[0]
        az, ah = rzp[1][0], rhp[1][0]
        start_acc(az, rb[: 2 * n], 2 * n)  # an empty rb slices to empty: zeros
        start_acc(ah, rb[2 * n :], n)
        panel_matvec(rzp[0], az, h)
        panel_matvec(rhp[0], ah, h)
        _cell_parts(g, az, ah, h)
        return True

    return impl


def _one_frame_f32(x, wp, rzp, rhp, wb, rb, h):
    """A chunk of one frame of one stream (a streamed step) of the plain cell on float32
    panels: x f32[I]'s projection straight into W's pack accumulator (started from wb),
    then :func:`_frame_f32`; False (nothing done) for other packs.  The same sums as the
    chunk path (project_frames, then _frame_f32), without its scratch and loops: 0.2-0.5
    µs less for a GRU 40->128."""


@overload(_one_frame_f32)
def _one_frame_f32_impl(x, wp, rzp, rhp, wb, rb, h):
    if _pack_kind(wp) != "f32c" or _pack_kind(rzp) != "f32c" or _pack_kind(rhp) != "f32c":
        return lambda x, wp, rzp, rhp, wb, rb, h: False

    def impl(x, wp, rzp, rhp, wb, rb, h):
        ax = wp[1][0]
        start_acc(ax, wb, 3 * h.shape[0])
        panel_matvec(wp[0], ax, x)
        return _frame_f32(ax, rzp, rhp, rb, h)

    return impl


@kernel
def _frame_q8c(x, wp, rzp, rhp, wb, rb, h):
    """One frame of one stream of the plain cell (sigmoid/tanh, linear_before_reset, no
    clip) on int8 column packs: x f32[I] and h f32[H] (in/out) each quantized once, the
    three products into the packs' accumulators, then their scaling, the biases and the
    cell in one loop (what :func:`_step` does in several passes over float scratch)."""
    n = h.shape[0]
    x32, sx = q8c_quantized(x, wp)
    h32, sh = q8c_quantized(h, rzp)
    ax, az, ah = wp[5], rzp[5], rhp[5]
    q8c_products(x32, wp[0], wp[1], ax)
    q8c_products(h32, rzp[0], rzp[1], az)
    q8c_products(h32, rhp[0], rhp[1], ah)
    # gate slices indexed by j alone: contiguous loads (n + j would make LLVM gather)
    xz, xr, xn = ax[:n], ax[n : 2 * n], ax[2 * n : 3 * n]
    wxz, wxr, wxn = wp[2][:n], wp[2][n : 2 * n], wp[2][2 * n : 3 * n]
    hz, hr, wz, wr = az[:n], az[n : 2 * n], rzp[2][:n], rzp[2][n : 2 * n]
    wh = rhp[2]
    has_wb, has_rb = wb.shape[0] > 0, rb.shape[0] > 0
    bz, br, bn = (wb[:n], wb[n : 2 * n], wb[2 * n :]) if has_wb else (wb, wb, wb)
    cz, cr, cn = (rb[:n], rb[n : 2 * n], rb[2 * n :]) if has_rb else (rb, rb, rb)
    for j in range(n):
        gz = q8c_value(xz, sx, wxz, j) + q8c_value(hz, sh, wz, j)
        gr = q8c_value(xr, sx, wxr, j) + q8c_value(hr, sh, wr, j)
        gn = q8c_value(xn, sx, wxn, j)
        hn = q8c_value(ah, sh, wh, j)
        if has_wb:
            gz += bz[j]
            gr += br[j]
            gn += bn[j]
        if has_rb:
            gz += cz[j]
            gr += cr[j]
            hn += cn[j]
        z = sigmoid_fast(gz)
        hh = tanh_fast(gn + sigmoid_fast(gr) * hn)
        h[j] = (_ONE - z) * hh + z * h[j]


def _frames_q8c(x, wp, rp, wb, rb, h, y, lbr, clip, acts):
    """The chunk frame by frame through :func:`_frame_q8c` where it applies (int8 column
    packs, the plain cell); False (nothing done) elsewhere."""


@overload(_frames_q8c)
def _frames_q8c_impl(x, wp, rp, wb, rb, h, y, lbr, clip, acts):
    if _pack_kind(wp) != "q8c" or not isinstance(rp, types.BaseTuple) or len(rp) != 2 \
            or any(_pack_kind(p) != "q8c" for p in rp):
        return lambda x, wp, rp, wb, rb, h, y, lbr, clip, acts: False

    def impl(x, wp, rp, wb, rb, h, y, lbr, clip, acts):
        if not lbr or acts[0] != SIGMOID or acts[1] != TANH or clip > _ZERO:
            return False
        for t in range(x.shape[0]):
            for s in range(x.shape[1]):
                _frame_q8c(x[t, s], wp, rp[0], rp[1], wb, rb, h[s])
            copy_frame(h, y[t])
        return True

    return impl


@kernel
def gru_seq(x, wp, rp, wb, rb, h, y, xw, rh, linear_before_reset, clip, acts, alphas, betas):
    """Run T frames of B streams through one GRU layer, updating h in place.

    x f32[T, B, I]; wp packs W (3H, I), rp R (3H, H) (packed weights, :mod:`.linalg`),
    or rp is the pair (rows 0..2H: z, r; rows 2H..3H: h) of packs;
    wb f32[3H]|[0]; rb f32[3H]|[0];
    h f32[B, H] (state, in/out); y f32[T, B, H] <- h after each frame;
    scratch xw f32[T, B, 3H], rh f32[3H] or f32[B, 3H] (then the recurrent products of
    sigmoid/tanh linear_before_reset cells take all B streams in one pass over R);
    linear_before_reset bool; clip f32 (0 = off); acts i64[2] (f, g codes),
    alphas f32[2], betas f32[2].  With int8 column packs and the plain cell, every frame
    and stream goes through :func:`_frame_q8c` instead (the same arithmetic per frame
    whatever the chunk, so any chunking gives identical outputs).
    """
    if _frames_q8c(x, wp, rp, wb, rb, h, y, linear_before_reset, clip, acts):
        return
    n_t, n_b, n_h = x.shape[0], x.shape[1], h.shape[1]
    rzp, rhp = split_rows(rp, 2 * n_h, 3 * n_h)
    plain = linear_before_reset and acts[0] == SIGMOID and acts[1] == TANH and not clip > _ZERO
    if n_t == 1 and n_b == 1 and plain and _one_frame_f32(x[0, 0], wp, rzp, rhp, wb, rb, h[0]):
        copy_frame(h, y[0])
        return
    project_frames(x, wp, wb, xw)
    for t in range(n_t):
        if not _batched(xw[t], rh, rzp, rhp, rb, h, linear_before_reset, clip, acts):
            for s in range(n_b):
                if not (plain and _frame_f32(xw[t, s], rzp, rhp, rb, h[s])):
                    _step(xw[t, s], _row(rh, s), rzp, rhp, rb, h[s], linear_before_reset,
                          clip, acts, alphas, betas)
        copy_frame(h, y[t])


@kernel
def _qgru_step(g, hw, h, prm, tabs, rh, r, bh, qh, acc):
    """One integer GRU frame of one stream.  g i16[3H] x part (Q3.12, z r h), hw i16[3H]
    h part, h i8[H] state (in/out), tabs i16[2+, 65536] (logistic, tanh on Q3.12),
    scratch rh i8[1, H] and acc; r, bh, qh for the reset product (reset-first GRU)."""
    n = h.shape[0]
    m_in, s_in, m_out, s_out, zp, lbr, clip = (prm[0], prm[1], prm[2], prm[3], prm[4],
                                               prm[5] != 0, prm[6])
    sig, tnh = tabs[0], tabs[1]
    if not lbr:  # (r * h) @ Rh: r * h requantized to h's codes first
        for j in range(n):
            pre = sat16(np.int64(g[n + j]) + hw[n + j])
            if clip > 0:
                pre = max(min(pre, clip), -clip)
            rh[0, j] = sat8(rdbpot(sig[pre + 32768] * (np.int64(h[j]) - zp), 15) + zp)
        qmatmul(rh, r[2 * n:], bh[2 * n:], qh[:, 2 * n:], np.int64(0), np.int64(-32768),
                np.int64(32767), hw[2 * n:].reshape((1, n)), False, False, acc)
    for j in range(n):
        zpre = sat16(np.int64(g[j]) + hw[j])
        rpre = sat16(np.int64(g[n + j]) + hw[n + j])
        if clip > 0:
            zpre = max(min(zpre, clip), -clip)
            rpre = max(min(rpre, clip), -clip)
        z = np.int64(sig[zpre + 32768])
        if lbr:
            npre = sat16(np.int64(g[2 * n + j]) + rdbpot(sig[rpre + 32768] * hw[2 * n + j], 15))
        else:
            npre = sat16(np.int64(g[2 * n + j]) + hw[2 * n + j])
        if clip > 0:
            npre = max(min(npre, clip), -clip)
        nn = np.int64(tnh[npre + 32768])
        h16 = sat16(mbqm_double(np.int64(h[j]) - zp, m_in, s_in))
        hn = rdbpot(z * h16 + (32767 - z) * nn, 15)
        h[j] = sat8(mbqm_double(hn, m_out, s_out) + zp)


@kernel
def gru_seq_i8(x, w, r, bx, bh, qx, qh, prm, tabs, h, y, xw, hw, rh, acc):
    """Integer GRU over T frames of B streams (edgernn's scheme; TFLite has no int8 GRU).

    x i8[T, B, I]; w i8[3H, I], r i8[3H, H] (z, r, h); bx i32[3H] = WB - zp_x*rowsum(W),
    bh i32[3H] = RB - zp_h*rowsum(R); qx, qh i64[2, 3H] to Q3.12; prm i64[7] = (h ->
    Q0.15 multiplier, shift, Q0.15 -> h multiplier, shift, zp_h, linear_before_reset,
    gate clip in Q3.12 or 0); tabs as :func:`_qgru_step`; h i8[B, H] (state codes),
    y i8[T, B, H]; scratch xw i16[T, B, 3H], hw i16[B, 3H], rh i8[1, H], acc i32[3H].
    Per frame and stream: x and h parts each sat16(mbqm(...)) in Q3.12; z, r =
    sigmoid(sat16(x + h parts)) and h~ = tanh(x_h + r * hh) (linear_before_reset;
    r * hh rounded >> 15) or tanh(x_h + ((r * h) @ Rh)) with r * h requantized to h's
    codes, all gemmlowp int16 Q3.12 -> Q0.15; h' = round((z * h + (32767 - z) * h~)
    >> 15) in Q0.15 (h widened to Q0.15 with mbqm), then requantized to h's codes.
    Rescales round twice (mbqm_double), as TFLite's integer LSTM.
    """
    n_t, n_b, n_in = x.shape
    n_g = w.shape[0]
    lo, hi = np.int64(-32768), np.int64(32767)
    qmatmul(x.reshape((n_t * n_b, n_in)), w, bx, qx, np.int64(0), lo, hi,
            xw.reshape((n_t * n_b, n_g)), False, False, acc)
    for t in range(n_t):
        qmatmul(h, r, bh, qh, np.int64(0), lo, hi, hw, False, False, acc)
        for s in range(n_b):
            _qgru_step(xw[t, s], hw[s], h[s], prm, tabs, rh, r, bh, qh, acc)
        copy_frame(h, y[t])
