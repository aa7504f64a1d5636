"""Float32 LSTM over a chunk of T frames and B streams (ONNX LSTM semantics + TFLite extras).

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

from . import kernel
from .activations import RELU, SIGMOID, TANH, apply_activation, sigmoid_fast, tanh_fast
from .linalg import matvec_add
from .recur import project_frames, recurrent_add

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
    for j in range(n):
        i = sigmoid_fast(g[j])
        f = sigmoid_fast(g[n + j])
        cc = tanh_fast(g[2 * n + j])
        o = sigmoid_fast(g[3 * n + j])
        cn = f * c[j] + i * cc
        c[j] = cn
        out[j] = o * tanh_fast(cn)


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
def lstm_seq(x, wp, rp, b, p, projp, bproj, h, c, y, xw, hs,
             clip, cell_clip, proj_clip, input_forget, acts, alphas, betas):
    """Run T frames of B streams through one LSTM layer, updating h and c in place.

    x f32[T, B, I]; wp, rp, projp: packed weights (:mod:`.linalg`) of W (4H, I),
    R (4H, Hr) and Wproj (P, H) (0 rows = none); b f32[4H]|[0]; p f32[3H]|[0] (i, f, o);
    bproj f32[P]|[0]; h f32[B, Hr] and c f32[B, H] (state, in/out);
    y f32[T, B, Hr] <- h after each frame; scratch xw f32[T, B, 4H], hs f32[H];
    clip, cell_clip, proj_clip f32 (0 = off); input_forget bool;
    acts i64[3] (f, g, h codes), alphas f32[3], betas f32[3].  Hr = P if wproj else H.
    """
    n_t, n_b = x.shape[0], x.shape[1]
    project_frames(x, wp, b, xw)
    plain = (acts[0] == SIGMOID and acts[1] == TANH and acts[2] == TANH
             and p.shape[0] == 0 and not clip > _ZERO and not cell_clip > _ZERO
             and not input_forget)
    has_proj = projp[0].shape[0] > 0
    for t in range(n_t):
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
        y[t] = h
