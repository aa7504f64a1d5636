"""Elman RNN over a chunk of T frames and B streams (ONNX RNN semantics): float32
(:func:`rnn_seq`) and integer (:func:`rnn_seq_i8`).

``h' = f(clip(x W^T + h R^T + b))``: the input projection ``x W^T + b`` runs for
all T frames in one pass, then each frame adds ``h R^T`` for all B streams in one
pass over R.
"""

from __future__ import annotations

import numpy as np

from . import kernel
from .fixedpoint import mbqm_double, sat8
from .linalg import qmatmul
from .lstm import clip_inplace, gate_activation
from .recur import copy_frame, project_frames, recurrent_add

_ZERO = np.float32(0.0)


@kernel
def rnn_seq(x, wp, rp, b, h, y, xw, clip, act, alpha, beta):
    """Run T frames of B streams through one RNN layer, updating h in place.

    x f32[T, B, I]; wp, rp packed weights (:mod:`.linalg`) of W (H, I) and R (H, H);
    b f32[H]|[0] (= Wb + Rb);
    h f32[B, H] (state, in/out); y f32[T, B, H] <- h after each frame;
    scratch xw f32[T, B, H]; clip f32 (0 = off); act i64 code, alpha, beta f32.
    """
    n_t, n_b = x.shape[0], x.shape[1]
    project_frames(x, wp, b, xw)
    for t in range(n_t):
        g = xw[t]
        recurrent_add(h, rp, g)
        for s in range(n_b):
            gs = g[s]
            if clip > _ZERO:
                clip_inplace(gs, clip)
            gate_activation(gs, act, alpha, beta)
        copy_frame(g, h)
        copy_frame(h, y[t])


@kernel
def rnn_seq_i8(x, w, r, bx, bh, qx, qh, prm, tabs, h, y, xw, acc):
    """Integer RNN over T frames of B streams (edgernn's scheme; TFLite has no int8 RNN).

    x i8[T, B, I]; w i8[H, I]; r i8[H, H]; bx i32[H] = B - zp_x*rowsum(W), bh i32[H] =
    -zp_h*rowsum(R); qx, qh i64[2, H]; prm i64[5] = (Q0.15 -> h multiplier, shift,
    zp_h, activation code (0 Sigmoid, 1 Tanh, 2 Relu), clip in Q3.12 or 0);
    tabs i16[2+, 65536] (logistic, tanh on Q3.12); h i8[B, H] state codes;
    y i8[T, B, H]; scratch xw i16[T, B, H], acc i32[H].
    Tanh/Sigmoid: a = sat16(mbqm(h part) + sat16(mbqm(x part))) in Q3.12, gemmlowp
    tanh/logistic to Q0.15, requantized to h's codes.  Relu: qx, qh rescale straight to
    h's scale, h = sat8(max(a, 0) + zp_h).  Rescales round twice, as TFLite's LSTM.
    """
    n_t, n_b, n_in = x.shape
    n_h = h.shape[1]
    lo, hi = np.int64(-32768), np.int64(32767)
    qmatmul(x.reshape((n_t * n_b, n_in)), w, bx, qx, np.int64(0), lo, hi,
            xw.reshape((n_t * n_b, n_h)), False, False, acc)
    m_out, s_out, zp, code, clip = prm[0], prm[1], prm[2], prm[3], prm[4]
    tab = tabs[1] if code == 1 else tabs[0]
    for t in range(n_t):
        g = xw[t]
        qmatmul(h, r, bh, qh, np.int64(0), lo, hi, g, True, False, acc)
        for s in range(n_b):
            for j in range(n_h):
                a = np.int64(g[s, j])
                if code == 2:
                    h[s, j] = sat8(max(a, 0) + zp)
                    continue
                if clip > 0:
                    a = max(min(a, clip), -clip)
                h[s, j] = sat8(mbqm_double(tab[a + 32768], m_out, s_out) + zp)
        copy_frame(h, y[t])
