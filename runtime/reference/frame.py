"""Plain-numpy float64 reference of the ops over axes inside a frame, written from the ONNX
operator specs (Conv, ConvTranspose, MaxPool, AveragePool, Pad), on channels-first
batches ``(N, C, *spatial)`` with one or two spatial axes.  Loops over output positions
and kernel taps, numpy's own ``pad`` for the padding modes; nothing here is shared with
the kernels or their index maps.
"""

from __future__ import annotations

import numpy as np

from .ops import conv2d


def _as2d(x: np.ndarray, spatial: int) -> np.ndarray:
    """(N, C, L) -> (N, C, 1, L); 2-D unchanged."""
    return x[:, :, None, :] if spatial == 1 else x


def _widths(pads, spatial: int) -> list[tuple[int, int]]:
    return [(int(pads[a]), int(pads[a + spatial])) for a in range(spatial)]


def pad(x: np.ndarray, pads, mode: str = "constant", value: float = 0.0) -> np.ndarray:
    """ONNX Pad of the trailing ``len(pads)//2`` axes (mode constant, reflect or edge)."""
    s = len(pads) // 2
    widths = [(0, 0)] * (x.ndim - s) + _widths(pads, s)
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=value)
    return np.pad(x, widths, mode=mode)


def per_instance(fn):
    """Apply ``fn`` to each (1, C, ...) instance alone: a matrix product's rounding then
    cannot depend on how many frames a chunk holds (BLAS blocks by size)."""
    def run(x, *args, **kw):
        x = np.asarray(x, np.float64)
        return np.concatenate([fn(x[i:i + 1], *args, **kw) for i in range(len(x))])

    run.__doc__ = fn.__doc__
    return run


@per_instance
def conv(x, w, b=None, strides=None, dilations=None, pads=None, group=1, mode="constant"):
    """ONNX Conv on (N, C, *spatial) with W (M, C/group, *K); ``mode`` pads like ONNX Pad
    first (ONNX Conv itself only pads with zeros)."""
    s = w.ndim - 2
    strides = tuple(strides or (1,) * s)
    dilations = tuple(dilations or (1,) * s)
    pads = tuple(pads or (0,) * (2 * s))
    xp = pad(np.asarray(x, np.float64), pads, mode)
    w = np.asarray(w, np.float64)
    if s == 1:
        y = conv2d(xp[:, :, None, :], w[:, :, None, :], b, (1, strides[0]), (1, dilations[0]),
                   (0, 0, 0, 0), group)
        return y[:, :, 0, :]
    return conv2d(xp, w, b, strides, dilations, (0, 0, 0, 0), group)


@per_instance
def conv_transpose(x, w, b=None, strides=None, dilations=None, pads=None, output_padding=None,
                   group=1):
    """ONNX ConvTranspose on (N, C, *spatial), W (C, M/group, *K): every input element adds
    W times itself at ``i*stride + k*dilation``; the result is then cropped by pads."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    s = w.ndim - 2
    strides = tuple(strides or (1,) * s)
    dilations = tuple(dilations or (1,) * s)
    pads = tuple(pads or (0,) * (2 * s))
    opad = tuple(output_padding or (0,) * s)
    x2, w2 = _as2d(x, s), (w[:, :, None, :] if s == 1 else w)
    st = (1, *strides) if s == 1 else strides
    di = (1, *dilations) if s == 1 else dilations
    n, c, h, wd = x2.shape
    _, mg, kh, kw = w2.shape
    full = [(h - 1) * st[0] + (kh - 1) * di[0] + 1, (wd - 1) * st[1] + (kw - 1) * di[1] + 1]
    full[-1] += opad[-1]
    if s == 2:
        full[0] += opad[0]
    y = np.zeros((n, mg * group, full[0], full[1]))
    cg = c // group
    for g in range(group):
        xg = x2[:, g * cg:(g + 1) * cg]
        wg = w2[g * cg:(g + 1) * cg]
        for p in range(kh):
            for q in range(kw):
                contrib = np.einsum("ncij,cm->nmij", xg, wg[:, :, p, q])
                y[:, g * mg:(g + 1) * mg, p * di[0]:p * di[0] + (h - 1) * st[0] + 1:st[0],
                  q * di[1]:q * di[1] + (wd - 1) * st[1] + 1:st[1]] += contrib
    if b is not None and len(b):
        y += np.asarray(b, np.float64)[None, :, None, None]
    if s == 1:
        return y[:, :, 0, pads[0]:y.shape[3] - pads[1]]
    return y[:, :, pads[0]:y.shape[2] - pads[2], pads[1]:y.shape[3] - pads[3]]


def _pool_size(n: int, k: int, stride: int, dil: int, p0: int, p1: int, ceil: bool) -> int:
    span = dil * (k - 1) + 1
    num = n + p0 + p1 - span
    out = (-(-num // stride) if ceil else num // stride) + 1
    if ceil and (out - 1) * stride >= n + p0:  # a window may not start in the right pad
        out -= 1
    return out


def pool(x, fn, kernel, strides=None, dilations=None, pads=None, ceil_mode=False,
         count_include_pad=False):
    """ONNX MaxPool / AveragePool on (N, C, *spatial).

    Max ignores padding.  Average divides by the elements inside the input, or with
    ``count_include_pad`` by those inside the padded extent (a ceil_mode window that
    hangs past the right padding counts only up to it).
    """
    x = np.asarray(x, np.float64)
    s = len(kernel)
    strides = tuple(strides or (1,) * s)
    dilations = tuple(dilations or (1,) * s)
    pads = tuple(pads or (0,) * (2 * s))
    x2 = _as2d(x, s)
    k2 = (1, *kernel) if s == 1 else tuple(kernel)
    st = (1, *strides) if s == 1 else strides
    di = (1, *dilations) if s == 1 else dilations
    pd = (0, pads[0], 0, pads[1]) if s == 1 else pads
    sizes = x2.shape[2:]
    outs = [_pool_size(sizes[a], k2[a], st[a], di[a], pd[a], pd[a + 2], ceil_mode)
            for a in range(2)]
    y = np.zeros((*x2.shape[:2], *outs))
    for i in range(outs[0]):
        for j in range(outs[1]):
            taps, count = [], 0
            for p in range(k2[0]):
                for q in range(k2[1]):
                    r = i * st[0] + p * di[0] - pd[0]
                    c = j * st[1] + q * di[1] - pd[1]
                    in_ext = -pd[0] <= r < sizes[0] + pd[2] and -pd[1] <= c < sizes[1] + pd[3]
                    if 0 <= r < sizes[0] and 0 <= c < sizes[1]:
                        taps.append(x2[:, :, r, c])
                    count += in_ext
            stack = np.stack(taps)
            if fn == "max":
                y[:, :, i, j] = np.max(stack, axis=0)
            else:
                y[:, :, i, j] = stack.sum(axis=0) / (count if count_include_pad else len(taps))
    return y[:, :, 0, :] if s == 1 else y
