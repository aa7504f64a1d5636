"""Weight tensors in a smaller storage type: fp16, int8 rows, int4 groups.

Each function takes a float :class:`~edgernn.ir.Tensor` and returns the tensor the
runtime's kernels take (see :mod:`edgernn.packing`).  Quantization is symmetric, so
dequantizing gives back every element within half a step: ``|w - deq(q(w))| <=
scale / 2`` (tested with hypothesis).
"""

from __future__ import annotations

import numpy as np

from edgernn.ir import Tensor, pack_int4

from .errors import QuantizationError

F16_MAX = float(np.finfo(np.float16).max)


def to_f16(t: Tensor) -> Tensor:
    """float16 storage (the runtime widens it once at load)."""
    w = t.to_float()
    big = float(np.abs(w).max(initial=0.0))
    if big > F16_MAX:
        raise QuantizationError(f"tensor {t.name!r}: values up to {big:.3g} overflow float16 "
                                f"(max {F16_MAX:.0f}); keep that op float with --keep-float")
    return Tensor(t.name, w.astype(np.float16), "f16", t.shape)


def _rows(w: np.ndarray) -> np.ndarray:
    return w.reshape(w.shape[0], -1)


def to_q8_rows(t: Tensor) -> Tensor:
    """Symmetric int8, one scale per output row (axis 0): ``scale = max|row| / 127``."""
    w = _rows(t.to_float()).astype(np.float64)
    scale = np.abs(w).max(axis=1) / 127.0
    scale[scale == 0] = 1.0  # an all-zero row: any scale
    q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
    return Tensor(t.name, q.reshape(t.shape), "q8", t.shape, scale.astype(np.float32),
                  np.zeros(len(scale), np.float32), axis=0)


def to_q4_groups(t: Tensor, group: int = 32) -> Tensor:
    """Symmetric int4 (-7..7) in groups of ``group`` along the last axis, one scale each,
    two values per byte."""
    if group < 2 or group % 2:
        raise QuantizationError(f"--group-size must be an even number >= 2, got {group}")
    w = t.to_float().astype(np.float64)
    last = w.shape[-1]
    n_groups = -(-last // group)
    padded = np.zeros((*w.shape[:-1], n_groups * group))
    padded[..., :last] = w
    g = padded.reshape(*w.shape[:-1], n_groups, group)
    scale = np.abs(g).max(axis=-1) / 7.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(g / scale[..., None]), -7, 7).reshape(padded.shape)[..., :last]
    return Tensor(t.name, pack_int4(q), "q4", t.shape, scale.astype(np.float32),
                  group=group)
