"""Float32 GRU over a chunk of T frames and B streams (ONNX GRU semantics).

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
from numba.extending import overload

from . import kernel
from .activations import SIGMOID, TANH, sigmoid_fast, tanh_fast
from .linalg import matvec_add
from .lstm import clip_inplace, gate_activation
from .recur import project_frames, recurrent_add, split_rows

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
    for j in range(n):
        z = sigmoid_fast(g[j] + rh[j])
        r = sigmoid_fast(g[n + j] + rh[n + j])
        hh = tanh_fast(g[2 * n + j] + r * rh[2 * n + j])
        h[j] = (_ONE - z) * hh + z * h[j]


@kernel
def _step(g, rh, rzp, rhp, rb, h, linear_before_reset, clip, acts, alphas, betas):
    """One GRU frame of one stream.  g f32[3H] = x W^T + wb (destroyed);
    rh f32[3H] scratch; rzp, rhp pack the rows of R (3H, H) for z, r (2H) and h (H);
    rb f32[3H]|[0]; h f32[H] (in/out)."""
    n = h.shape[0]
    if rb.shape[0] > 0:
        rh[:] = rb
    else:
        rh[:] = _ZERO
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
    alphas f32[2], betas f32[2].
    """
    n_t, n_b, n_h = x.shape[0], x.shape[1], h.shape[1]
    rzp, rhp = split_rows(rp, 2 * n_h, 3 * n_h)
    project_frames(x, wp, wb, xw)
    for t in range(n_t):
        if not _batched(xw[t], rh, rzp, rhp, rb, h, linear_before_reset, clip, acts):
            for s in range(n_b):
                _step(xw[t, s], _row(rh, s), rzp, rhp, rb, h[s], linear_before_reset, clip,
                      acts, alphas, betas)
        y[t] = h
