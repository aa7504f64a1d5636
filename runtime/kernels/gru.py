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

from . import kernel
from .activations import apply_activation
from .fixedpoint import mbqm_double, rdbpot, sat8, sat16
from .linalg import matvec_add, pack_rows, project, qmatmul
from .lstm import clip_inplace

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
    apply_activation(zr, act, alpha, beta)


@kernel
def _step(g, rh, rp, rb, h, linear_before_reset, clip, acts, alphas, betas):
    """One GRU frame of one stream.  g f32[3H] = x W^T + wb (destroyed);
    rh f32[3H] scratch; rp packs R (3H, H); rb f32[3H]|[0]; h f32[H] (in/out)."""
    n = h.shape[0]
    if rb.shape[0] > 0:
        rh[:] = rb
    else:
        rh[:] = _ZERO
    gh = g[2 * n :]
    if linear_before_reset:
        matvec_add(rp, h, rh)
        _gates_zr(g, rh, n, clip, acts[0], alphas[0], betas[0])
        for j in range(n):
            gh[j] += g[n + j] * rh[2 * n + j]
    else:
        matvec_add(pack_rows(rp, 0, 2 * n), h, rh[: 2 * n])
        _gates_zr(g, rh, n, clip, acts[0], alphas[0], betas[0])
        rh_r = rh[n : 2 * n]  # reused to hold r * h
        for j in range(n):
            rh_r[j] = g[n + j] * h[j]
        matvec_add(pack_rows(rp, 2 * n, 3 * n), rh_r, rh[2 * n :])
        for j in range(n):
            gh[j] += rh[2 * n + j]
    if clip > _ZERO:
        clip_inplace(gh, clip)
    apply_activation(gh, acts[1], alphas[1], betas[1])
    for j in range(n):
        z = g[j]
        h[j] = (_ONE - z) * gh[j] + z * h[j]


@kernel
def gru_seq(x, wp, rp, wb, rb, h, y, xw, rh, linear_before_reset, clip, acts, alphas, betas):
    """Run T frames of B streams through one GRU layer, updating h in place.

    x f32[T, B, I]; wp, rp packed weights (:mod:`.linalg`) of W (3H, I) and R (3H, H);
    wb f32[3H]|[0]; rb f32[3H]|[0];
    h f32[B, H] (state, in/out); y f32[T, B, H] <- h after each frame;
    scratch xw f32[T, B, 3H], rh f32[3H]; linear_before_reset bool; clip f32 (0 = off);
    acts i64[2] (f, g codes), alphas f32[2], betas f32[2].
    """
    n_t, n_b, n_in = x.shape
    n_h = h.shape[1]
    project(x.reshape((n_t * n_b, n_in)), wp, wb, xw.reshape((n_t * n_b, 3 * n_h)), False)
    for t in range(n_t):
        for s in range(n_b):
            _step(xw[t, s], rh, rp, rb, h[s], linear_before_reset, clip, acts, alphas, betas)
        y[t] = h


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
        y[t] = h
