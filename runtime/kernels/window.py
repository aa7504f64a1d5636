"""Index maps of sliding windows over the spatial axes of a frame (computed once, at bind time).

The ops that slide a window over axes *inside* a frame (``FrameConv``, ``Pool``,
``FrameConvTranspose``, :mod:`edgernn.ops.frame`) do not compute input indices in their
hot loops: the planner computes, once, which input element each tap of each output
position reads (:func:`window_taps`), with stride, dilation and padding - zero,
``reflect`` or ``edge`` - already applied.  Kernels then only add a channel offset.

Spatial indices are flat over the spatial axes and multiplied by ``elem`` (the
channel count for a channels-last frame, 1 for channels-first).  Plain numpy: this
module compiles nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PAD = -1  # a tap in the (zero / -inf) padding
OUTSIDE = -2  # a tap beyond the padded extent (the last window of a ceil_mode pool)
MODES = ("constant", "reflect", "edge", "symmetric")


def out_size(n: int, k: int, stride: int, dilation: int, pad0: int, pad1: int,
             ceil_mode: bool = False) -> int:
    """Output length of a window of ``k`` taps over ``n`` elements (ONNX Conv / Pool).

    With ``ceil_mode`` a last partial window counts, unless it would start in the
    right padding (ONNX / PyTorch).
    """
    span = dilation * (k - 1) + 1
    room = n + pad0 + pad1 - span
    if room < 0:
        return 0
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= n + pad0:
        out -= 1
    return out


def _axis_index(n: int, k: int, stride: int, dilation: int, pad0: int, pad1: int, out: int,
                mode: str) -> np.ndarray:
    """(out, k) input index along one axis, PAD / OUTSIDE where there is none."""
    i = (np.arange(out)[:, None] * stride + np.arange(k)[None, :] * dilation - pad0)
    inside = (i >= 0) & (i < n)
    if mode == "reflect":
        j = np.abs(i)
        j = np.where(j >= n, 2 * (n - 1) - j, j)
    elif mode == "symmetric":
        j = np.where(i < 0, -i - 1, i)
        j = np.where(j >= n, 2 * n - 1 - j, j)
    elif mode == "edge":
        j = np.clip(i, 0, n - 1)
    else:
        j = np.where(inside, i, PAD)
    j = np.where((i < -pad0) | (i >= n + pad1), OUTSIDE, j)
    return j.astype(np.int64)


def window_taps(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                dilations: Sequence[int], pads: Sequence[int], out: Sequence[int],
                mode: str = "constant", elem: int = 1) -> np.ndarray:
    """Input offsets read by every tap of every output position.

    Returns int64 ``(prod(out), prod(kernel))``: for output position ``p`` (row-major
    over the output spatial axes) and tap ``t`` (row-major over the kernel axes), the
    flat spatial index of the input element times ``elem``; ``PAD`` where the tap is in
    zero padding (``mode="constant"``); ``OUTSIDE`` beyond the padded extent.
    ``pads`` = (begin_0, ..., end_0, ...); ``mode`` "reflect" mirrors without repeating
    the edge, "edge" repeats it (ONNX Pad modes), "symmetric" mirrors with the edge
    (TFLite MIRROR_PAD SYMMETRIC).
    """
    if mode not in MODES:
        raise ValueError(f"unknown padding mode {mode!r}; known: {', '.join(MODES)}")
    s = len(spatial)
    axes = [_axis_index(int(spatial[a]), int(kernel[a]), int(strides[a]), int(dilations[a]),
                        int(pads[a]), int(pads[a + s]), int(out[a]), mode) for a in range(s)]
    if s == 1:
        flat = np.where(axes[0] >= 0, axes[0] * elem, axes[0])
        return np.ascontiguousarray(flat)
    h, w = axes  # (Ho, Kh), (Wo, Kw) -> (Ho, Wo, Kh, Kw)
    hh = h[:, None, :, None]
    ww = w[None, :, None, :]
    flat = (hh * int(spatial[1]) + ww) * elem
    code = np.minimum(np.minimum(hh, 0), np.minimum(ww, 0))  # OUTSIDE < PAD < 0
    flat = np.where(code < 0, code, flat)
    return np.ascontiguousarray(flat.reshape(int(np.prod(out)), int(np.prod(kernel))))


def scatter_taps(spatial_in: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int], pads: Sequence[int], out: Sequence[int],
                 elem: int = 1) -> np.ndarray:
    """Output offsets written by every tap of every input position (transposed conv).

    Returns int64 ``(prod(spatial_in), prod(kernel))``: input position ``i`` and tap ``t``
    add into output element ``i*stride + t*dilation - pad_begin`` (flat over the output
    spatial axes, times ``elem``), or ``PAD`` where that falls outside the output.
    """
    s = len(spatial_in)
    axes = []
    for a in range(s):
        o = (np.arange(int(spatial_in[a]))[:, None] * int(strides[a])
             + np.arange(int(kernel[a]))[None, :] * int(dilations[a]) - int(pads[a]))
        axes.append(np.where((o >= 0) & (o < int(out[a])), o, PAD).astype(np.int64))
    if s == 1:
        return np.ascontiguousarray(np.where(axes[0] >= 0, axes[0] * elem, PAD))
    h, w = axes
    hh = h[:, None, :, None]
    ww = w[None, :, None, :]
    flat = np.where((hh >= 0) & (ww >= 0), (hh * int(out[1]) + ww) * elem, PAD)
    return np.ascontiguousarray(flat.reshape(int(np.prod(spatial_in)), int(np.prod(kernel))))
