"""One record per op kind: :data:`OPS` maps each kind to its :class:`OpDef`.

Families: :mod:`.dense`, :mod:`.recurrent` (LSTM, GRU, RNN), :mod:`.conv`,
:mod:`.elementwise` (Unary, Binary), :mod:`.normalize` (Softmax, Reduce, LayerNorm),
:mod:`.layout` (Concat, Transpose, Slice, Gather, Pad, Reshape, Identity),
:mod:`.frame` (FrameConv, FrameConvTranspose, Pool: windows over axes inside a frame),
:mod:`.quant` (Quantize, Dequantize, Requantize; the full-integer conventions),
:mod:`.hybrid` (HybridDense, DynamicQuantize: TFLite's dynamic-range products).
Integer binders live in :mod:`.qlinear`, :mod:`.qelementwise`, :mod:`.qrecurrent`.
Adding an op kind = one record in one of these modules (see the README, "Adding an op").
"""

from . import (  # noqa: F401 - registration
    conv,
    dense,
    elementwise,
    frame,
    hybrid,
    layout,
    normalize,
    quant,
    recurrent,
)
from .base import OPS, Binder, OpDef, RefCall, StateDecl, get

__all__ = ["OPS", "Binder", "OpDef", "RefCall", "StateDecl", "get"]
