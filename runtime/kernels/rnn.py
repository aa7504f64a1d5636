"""Float32 Elman RNN over a chunk of T frames and B streams (ONNX RNN semantics).

``h' = f(clip(x W^T + h R^T + b))``: the input projection ``x W^T + b`` runs for
all T frames in one pass, then each frame adds ``h R^T`` for all B streams in one
pass over R.
"""

from __future__ import annotations

import numpy as np

from . import kernel
from .lstm import clip_inplace, gate_activation
from .recur import project_frames, recurrent_add

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
        h[:] = g
        y[t] = h
