"""Weight layouts the kernels want, made once per plan from the stored tensors.

Constants stay in their stored dtype (an ``.ern`` file is mapped, not copied);
a binder asks :meth:`edgernn.plan.Plan.const` for a *layout* and gets it, made
once per plan and shared by every stream:

* ``"f32"``: float32, 64-byte aligned (widened from f16, dequantized from q8/q4);
* ``"i64"``: int64 (indices);
* ``"raw"``: the stored array itself;
* ``"f32cols"``: ``wt f32[P, K, W]``, float32 W transposed in panels of W = 64 outputs
  (16 for at most 32), padded with zero outputs (the column form of
  :mod:`edgernn.kernels.gemm`);
* ``"q8rows"``: ``(wq i8[O, K], ws f32[O])``, symmetric int8 rows (dynamic-range int8);
* ``"q8cols"``: ``(w i8[NB, Kq, 16T, 4], wsum i32[NB*16T], ws f32[O])``, the same int8
  rows in the column form of :mod:`edgernn.kernels.dot` (quads of inputs adjacent,
  outputs innermost in blocks of 16T, zero-padded), with each padded row's sum;
* ``"q4groups"``: ``(wq i8[O, G*g/2], gs f32[O, G])``, int4 groups of ``g`` along the
  last axis, rows padded to whole groups; within a group byte i holds element i (low
  nibble) and element i + g/2 (high nibble), so unpacking writes contiguous halves.
"""

from __future__ import annotations

import numpy as np

from .ir import GraphError, Tensor, pack_int4, unpack_int4


def aligned(a: np.ndarray, align: int = 64) -> np.ndarray:
    """``a`` itself if C-contiguous at a 64-byte boundary, else an aligned copy.

    Weights mapped from an .ern file already are (zero-copy); arrays made in
    memory are only 16-byte aligned, which costs the dot products ~1.5x.
    """
    if a.flags.c_contiguous and a.ctypes.data % align == 0:
        return a
    raw = np.empty(a.nbytes + align, dtype=np.uint8)
    start = -raw.ctypes.data % align
    out = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _matrix(t: Tensor) -> tuple[int, int]:
    if len(t.shape) < 2:
        raise GraphError(f"tensor {t.name!r}: a {t.dtype} weight must be a matrix, got "
                         f"shape {t.shape}")
    return t.shape[0], int(np.prod(t.shape[1:]))


def q8_rows(t: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 rows: per-row (axis 0) or per-tensor scale, zero point 0."""
    rows, cols = _matrix(t)
    zp = 0 if t.zero_point is None else np.asarray(t.zero_point)
    if np.any(zp != 0) or t.group or (t.axis not in (None, 0) and np.ndim(t.scale)):
        raise GraphError(f"tensor {t.name!r}: int8 weights must be symmetric with one scale "
                         f"per output row (axis 0)")
    scale = np.broadcast_to(np.asarray(t.scale, np.float32).reshape(-1), (rows,))
    return aligned(t.data.reshape(rows, cols)), np.ascontiguousarray(scale, np.float32)


def f32_cols(t: Tensor) -> np.ndarray:
    """W (O, K) as float32 panels (P, K, W): panel p holds W[pW:(p+1)W].T, zero rows past O."""
    rows, cols = _matrix(t)
    w = convert(t, "f32").reshape(rows, cols)
    width = 64 if rows > 32 else 16
    n_panels = -(-rows // width)
    full = np.zeros((n_panels * width, cols), np.float32)
    full[:rows] = w
    return aligned(np.ascontiguousarray(full.reshape(n_panels, width, cols).transpose(0, 2, 1)))


def q8_cols(t: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int8 rows in the column form of :mod:`edgernn.kernels.dot` (see the module doc)."""
    wq, ws = q8_rows(t)
    rows, cols = wq.shape
    width = 64 if rows > 32 else 16  # 4 tiles of 16 outputs per block, 1 for small layers
    n_blocks, n_quads = -(-rows // width), -(-cols // 4)
    full = np.zeros((n_blocks * width, n_quads * 4), np.int8)
    full[:rows, :cols] = wq
    w = full.reshape(n_blocks, width, n_quads, 4).transpose(0, 2, 1, 3)
    return aligned(np.ascontiguousarray(w)), full.astype(np.int32).sum(axis=1, dtype=np.int32), ws


def row_range(t: Tensor, start: int, stop: int) -> Tensor:
    """Rows ``[start, stop)`` of a weight matrix (axis 0) as a tensor of the same dtype."""
    rows, cols = _matrix(t)
    if t.dtype == "q4":
        q = unpack_int4(t.data, t.size).reshape(rows, cols)[start:stop]
        data = pack_int4(q)
    else:
        data = t.data.reshape(rows, cols)[start:stop]
    scale = t.scale
    if scale is not None and np.ndim(scale) and (t.group or t.axis in (None, 0)):
        scale = np.asarray(scale).reshape(rows, -1)[start:stop].reshape(
            (stop - start, -1) if t.group else (stop - start,))
    return Tensor(name=f"{t.name}[{start}:{stop}]", data=data, dtype=t.dtype,
                  shape=(stop - start, *t.shape[1:]), scale=scale, zero_point=t.zero_point,
                  axis=t.axis, group=t.group)


def q4_groups(t: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """int4 in groups along the last axis -> rows padded to whole groups, as bytes."""
    rows, cols = _matrix(t)
    group = t.group or cols
    if group % 2:
        raise GraphError(f"tensor {t.name!r}: int4 groups must be even, got {group}")
    n_groups = -(-cols // group)
    q = np.zeros((rows, n_groups * group), np.int8)
    q[:, :cols] = unpack_int4(t.data, t.size).reshape(rows, cols)
    nib = (q.astype(np.uint8) & 0x0F).reshape(rows, n_groups, 2, group // 2)
    packed = (nib[:, :, 0] | (nib[:, :, 1] << 4)).astype(np.uint8).view(np.int8)
    packed = packed.reshape(rows, -1)
    scale = np.broadcast_to(np.asarray(t.scale, np.float32).reshape(rows, -1), (rows, n_groups))
    return aligned(packed), np.ascontiguousarray(scale, np.float32)


def convert(t: Tensor, layout: str):
    """Constant ``t`` in the kernel layout ``layout`` (see the module docstring)."""
    if layout == "raw":
        return t.data
    if layout == "i64":
        return np.ascontiguousarray(t.to_float().astype(np.int64))
    if layout == "f32cols":
        return f32_cols(t)
    if layout == "q8rows":
        return q8_rows(t)
    if layout == "q8cols":
        return q8_cols(t)
    if layout == "q4groups":
        return q4_groups(t)
    if layout != "f32":
        raise ValueError(f"unknown weight layout {layout!r}")
    data = t.data.reshape(t.shape) if t.dtype == "f32" else t.to_float()
    return aligned(np.asarray(data, dtype=np.float32))
