"""Plain-numpy reference cells of the recurrent ops: part of the executable spec.

Written from the ONNX operator documents (LSTM, GRU, RNN, Gemm), in ONNX layouts,
in float64 with exact math (``np.tanh``, ``1 / (1 + exp(-x))``) — never from the
kernels.  Shapes: X ``[T, B, I]``; states ``[B, H]`` (no ``num_directions`` axis);
returns ``Y [T, B, H]`` plus the final states.  Activation parameter lists hold
one entry per activation (``None`` = the ONNX defaults of each).

The other ops' cells are in :mod:`.ops`; :mod:`.backend` runs whole graphs with them.
"""

from __future__ import annotations

import numpy as np

from ..activations import lookup
from .ops import unary


def activation(name: str, alpha: float | None = None, beta: float | None = None):
    """The ONNX RNN activation ``name`` as a float64 numpy function (spec formulas);
    parameters default to the table's (:mod:`edgernn.activations`)."""
    a, b = lookup(name, gate=True).params(alpha, beta)
    return lambda x: unary(name, x, a, b)


def _acts(names, alphas, betas):
    alphas = [None] * len(names) if alphas is None else list(alphas)
    betas = [None] * len(names) if betas is None else list(betas)
    return [activation(n, a, b) for n, a, b in zip(names, alphas, betas, strict=True)]


def _clip(v, threshold):
    return np.clip(v, -threshold, threshold) if threshold and threshold > 0 else v


def _f64(*arrays):
    return [None if a is None else np.asarray(a, dtype=np.float64) for a in arrays]


def dense_ref(x, w, b=None):
    """ONNX Gemm with transB=1: ``x [N, I] @ w[O, I]^T + b [O]``."""
    x, w, b = _f64(x, w, b)
    y = x @ w.T
    return y if b is None else y + b


def lstm_ref(X, W, R, B=None, P=None, initial_h=None, initial_c=None, clip=0.0,
             input_forget=False, activations=("Sigmoid", "Tanh", "Tanh"),
             activation_alpha=None, activation_beta=None,
             cell_clip=0.0, proj=None, proj_clip=0.0):
    """ONNX LSTM, forward: W ``[4H, I]`` and R ``[4H, Hr]`` gates **i, o, f, c**;
    B ``[8H]`` = Wb ‖ Rb; P ``[3H]`` peepholes **i, o, f**.

    Extras outside ONNX (TFLite / PyTorch): ``cell_clip`` clips the new cell;
    ``proj = (Wproj [P, H], Bproj [P] or None)`` projects ``h`` (then ``Hr = P``)
    and ``proj_clip`` clips the projection.  Returns ``(Y [T, B, Hr], Y_h, Y_c)``.
    """
    X, W, R, B, P, H0, C0 = _f64(X, W, R, B, P, initial_h, initial_c)
    n_h = W.shape[0] // 4
    n_b = X.shape[1]
    wproj, bproj = _f64(*(proj if proj is not None else (None, None)))
    n_out = n_h if wproj is None else wproj.shape[0]
    f, g, h = _acts(activations, activation_alpha, activation_beta)
    bias = np.zeros(4 * n_h) if B is None else B[: 4 * n_h] + B[4 * n_h :]
    p_i, p_o, p_f = np.split(np.zeros(3 * n_h) if P is None else P, 3)
    H_t = np.zeros((n_b, n_out)) if H0 is None else H0
    C_t = np.zeros((n_b, n_h)) if C0 is None else C0
    ys = []
    for x in X:
        gates = x @ W.T + H_t @ R.T + bias
        gi, go, gf, gc = np.split(gates, 4, axis=-1)
        i = f(_clip(gi + p_i * C_t, clip))
        ft = 1.0 - i if input_forget else f(_clip(gf + p_f * C_t, clip))
        C = ft * C_t + i * g(_clip(gc, clip))
        C = _clip(C, cell_clip)
        o = f(_clip(go + p_o * C, clip))
        H = o * h(C)
        if wproj is not None:
            H = _clip(H @ wproj.T + (0.0 if bproj is None else bproj), proj_clip)
        ys.append(H)
        H_t, C_t = H, C
    return np.stack(ys), H_t, C_t


def gru_ref(X, W, R, B=None, initial_h=None, linear_before_reset=False, clip=0.0,
            activations=("Sigmoid", "Tanh"), activation_alpha=None, activation_beta=None):
    """ONNX GRU, forward: W ``[3H, I]``, R ``[3H, H]`` gates **z, r, h**;
    B ``[6H]`` = Wb ‖ Rb.  Returns ``(Y [T, B, H], Y_h)``."""
    X, W, R, B, H0 = _f64(X, W, R, B, initial_h)
    n_h = W.shape[0] // 3
    f, g = _acts(activations, activation_alpha, activation_beta)
    B = np.zeros(6 * n_h) if B is None else B
    wz, wr, wh = np.split(W, 3)
    rz, rr, rh = np.split(R, 3)
    wbz, wbr, wbh, rbz, rbr, rbh = np.split(B, 6)
    H_t = np.zeros((X.shape[1], n_h)) if H0 is None else H0
    ys = []
    for x in X:
        z = f(_clip(x @ wz.T + H_t @ rz.T + wbz + rbz, clip))
        r = f(_clip(x @ wr.T + H_t @ rr.T + wbr + rbr, clip))
        if linear_before_reset:
            pre = x @ wh.T + r * (H_t @ rh.T + rbh) + wbh
        else:
            pre = x @ wh.T + (r * H_t) @ rh.T + rbh + wbh
        ht = g(_clip(pre, clip))
        H_t = (1.0 - z) * ht + z * H_t
        ys.append(H_t)
    return np.stack(ys), H_t


def rnn_ref(X, W, R, B=None, initial_h=None, clip=0.0, activation_name="Tanh",
            alpha=None, beta=None):
    """ONNX RNN, forward: ``H = f(X W^T + H R^T + Wb + Rb)``; W ``[H, I]``, R ``[H, H]``,
    B ``[2H]`` = Wb ‖ Rb.  Returns ``(Y [T, B, H], Y_h)``."""
    X, W, R, B, H0 = _f64(X, W, R, B, initial_h)
    n_h = W.shape[0]
    f = activation(activation_name, alpha, beta)
    bias = np.zeros(n_h) if B is None else B[:n_h] + B[n_h:]
    H_t = np.zeros((X.shape[1], n_h)) if H0 is None else H0
    ys = []
    for x in X:
        H_t = f(_clip(x @ W.T + H_t @ R.T + bias, clip))
        ys.append(H_t)
    return np.stack(ys), H_t
