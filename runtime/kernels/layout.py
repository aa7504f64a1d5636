"""fp32 layout kernels: Slice, Gather, Transpose, Pad, Split and Concat as index maps.

Every layout op moves elements of a frame without arithmetic, so one kernel does
them all: the planner computes, once, where each output element comes from
(:func:`gather`) or where each input element goes (:func:`scatter`), with the
helpers below (numpy semantics on the flattened frame; -1 = padding).
Activations are rows: ``N = T*B`` frames of ``K`` elements.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernel


@kernel
def gather(x, idx, fill, y):
    """y[n, m] = x[n, idx[m]], or fill where idx[m] < 0.

    x (N, K), idx (M,) int64, y (N, M); y must not alias x.
    """
    nrows = x.shape[0]
    mout = idx.shape[0]
    f = np.float32(fill)
    for n in range(nrows):
        xr = x[n]
        yr = y[n]
        for m in range(mout):
            j = idx[m]
            yr[m] = xr[j] if j >= 0 else f


@kernel
def scatter(x, idx, y):
    """y[n, idx[k]] = x[n, k]. x (N, K), idx (K,) int64, y (N, M); other y untouched.

    y must not alias x.
    """
    nrows = x.shape[0]
    k_in = idx.shape[0]
    for n in range(nrows):
        xr = x[n]
        yr = y[n]
        for k in range(k_in):
            yr[idx[k]] = xr[k]


def _frame(shape) -> np.ndarray:
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)


def _axis(axis: int, ndim: int, what: str = "axis") -> int:
    a = int(axis)
    if not -ndim <= a < ndim:
        raise ValueError(f"{what} {a} is out of range for a frame of rank {ndim}")
    return a % ndim


def _result(arr: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    return np.ascontiguousarray(arr.ravel(), dtype=np.int64), tuple(int(d) for d in arr.shape)


def slice_index(shape, axes, starts, ends, steps=()):
    """Slice (numpy / ONNX semantics: negative indices wrap, ends clamped).

    Empty ``axes`` = the first len(starts) axes; empty ``steps`` = all 1.
    Returns (idx int64 (prod(out_shape),), out_shape).
    """
    src = _frame(shape)
    starts, ends = list(starts), list(ends)
    axes = list(axes) if len(axes) else list(range(len(starts)))
    steps = list(steps) if len(steps) else [1] * len(starts)
    if not len(axes) == len(starts) == len(ends) == len(steps):
        raise ValueError(
            f"slice: axes {axes}, starts {starts}, ends {ends}, steps {steps} differ in length"
        )
    index = [slice(None)] * src.ndim
    seen = set()
    for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
        a = _axis(a, src.ndim)
        if a in seen:
            raise ValueError(f"slice: axis {a} given twice")
        if int(st) == 0:
            raise ValueError(f"slice: step 0 on axis {a}")
        seen.add(a)
        index[a] = slice(int(s), int(e), int(st))
    return _result(src[tuple(index)])


def gather_index(shape, indices, axis=0):
    """Take constant ``indices`` (any shape; negative wrap) along ``axis``, as np.take.

    Returns (idx, out_shape) with out_shape = shape[:axis] + indices.shape + shape[axis+1:].
    """
    src = _frame(shape)
    a = _axis(axis, src.ndim)
    ind = np.asarray(indices, dtype=np.int64)
    dim = src.shape[a]
    if ind.size and (ind.min() < -dim or ind.max() >= dim):
        raise ValueError(f"gather: indices out of range [-{dim}, {dim}) on axis {a}")
    return _result(np.take(src, np.where(ind < 0, ind + dim, ind), axis=a))


def transpose_index(shape, perm=()):
    """Permute axes (empty perm = reverse, as ONNX). Returns (idx, out_shape)."""
    src = _frame(shape)
    perm = tuple(int(p) for p in perm) if len(perm) else tuple(range(src.ndim))[::-1]
    if sorted(perm) != list(range(src.ndim)):
        raise ValueError(f"transpose: perm {perm} is not a permutation of {src.ndim} axes")
    return _result(np.transpose(src, perm))


PAD_MODES = ("constant", "reflect", "edge", "symmetric")


def pad_index(shape, pads, mode="constant"):
    """Pad as ONNX; ``pads`` = (begin_0..begin_{r-1}, end_0..end_{r-1}).

    ``mode`` "constant" (index -1: the fill value), "reflect" (mirrored, the edge not
    repeated; pads below the axis length), "edge" (the edge repeated) or "symmetric"
    (mirrored with the edge, TFLite MIRROR_PAD SYMMETRIC; pads up to the axis length).  Negative
    pads crop (constant mode only).  Returns (idx, out_shape).
    """
    src = _frame(shape)
    r = src.ndim
    pads = [int(p) for p in pads]
    if len(pads) != 2 * r:
        raise ValueError(f"pad: {len(pads)} pads for a frame of rank {r} (need {2 * r})")
    if mode not in PAD_MODES:
        raise ValueError(f"pad: unknown mode {mode!r}; known: {', '.join(PAD_MODES)}")
    if mode != "constant" and min(pads, default=0) < 0:
        raise ValueError(f"pad: negative pads {pads} (cropping) need mode 'constant'")
    if mode == "reflect" and any(max(pads[i], pads[i + r]) >= src.shape[i] for i in range(r)
                                 if pads[i] or pads[i + r]):
        raise ValueError(f"pad: reflect pads {pads} must be smaller than the axes {src.shape}")
    if mode == "symmetric" and any(max(pads[i], pads[i + r]) > src.shape[i] for i in range(r)):
        raise ValueError(f"pad: symmetric pads {pads} must not exceed the axes {src.shape}")
    if mode == "edge" and any(src.shape[i] == 0 for i in range(r) if pads[i] or pads[i + r]):
        raise ValueError("pad: edge padding of an empty axis")
    widths = [(max(pads[i], 0), max(pads[i + r], 0)) for i in range(r)]
    out = (np.pad(src, widths, mode="constant", constant_values=-1) if mode == "constant"
           else np.pad(src, widths, mode=mode))
    crop = []
    for i in range(r):
        lo, hi = max(-pads[i], 0), max(-pads[i + r], 0)
        if lo + hi > out.shape[i]:
            raise ValueError(f"pad: pads {pads} crop axis {i} of size {src.shape[i]} below 0")
        crop.append(slice(lo, out.shape[i] - hi))
    return _result(out[tuple(crop)])


def concat_index(shapes, axis):
    """Concatenate frames of ``shapes`` along ``axis``: where each input's elements go.

    Returns (list of idx int64 (prod(shape_i),) into the output frame, out_shape).
    """
    shapes = [tuple(int(d) for d in s) for s in shapes]
    if not shapes:
        raise ValueError("concat: no inputs")
    r = len(shapes[0])
    a = _axis(axis, r)
    for s in shapes:
        if len(s) != r or s[:a] + s[a + 1:] != shapes[0][:a] + shapes[0][a + 1:]:
            raise ValueError(f"concat: shapes {shapes} differ off axis {a}")
    out_shape = list(shapes[0])
    out_shape[a] = sum(s[a] for s in shapes)
    out = _frame(out_shape)
    cuts = np.cumsum([s[a] for s in shapes])[:-1]
    parts = np.split(out, cuts, axis=a)
    return [_result(p)[0] for p in parts], tuple(out_shape)
