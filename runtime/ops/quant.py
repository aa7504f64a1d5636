"""``Quantize``, ``Dequantize``, ``Requantize``, and the conventions of full-integer graphs.

IR conventions of the "int8-full" scheme (the quantization pass, the TFLite importer
and every integer binder follow them):

* an integer activation is ``Value(dtype="i8"|"i16"|"i32", scale=s, zero_point=z)``,
  ``real = s * (q - z)``; ``s`` is a float32 number (TFLite's), ``z`` an int;
* a weight is ``Tensor(dtype="q8")``, symmetric (zero point 0 or None), ``scale`` a
  scalar (per tensor) or one float32 per output row / channel (``axis=0``);
* a bias is ``Tensor(dtype="i32", scale=scale_x * scale_w)`` (per row when the weight
  is per channel); an LSTM's peepholes are ``i32`` tensors holding int16 values;
* the initial state ``H0`` of an integer LSTM/GRU/RNN is an ``i32`` tensor of the
  state's integer codes; without it the state starts at code 0, so an op whose output
  zero point is not 0 needs ``H0`` = that zero point for a zero start (the pass adds
  it).  The LSTM cell is int16 on the scale ``2**cell_scale_log2`` (an attribute);
* float values enter through ``Quantize`` and leave through ``Dequantize``.

Multipliers are TFLite's: :func:`edgernn.kernels.fixedpoint.quantize_multiplier` of the
real rescale factor, computed the way TFLite computes it for that op (float32 or
float64 products: noted per binder), once at bind time.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..bindings import Context, each_n
from ..ir import Graph, GraphError, Op
from ..kernels import quant
from ..kernels.fixedpoint import quantize_multiplier
from .base import Binder, OpDef, RefCall, Shape, need, register, same_shape
from .base import get as get_def

RANGES = {"i8": (-128, 127), "u8": (0, 255), "i16": (-32768, 32767),
          "i32": (-2147483648, 2147483647)}
I64 = np.int64


class QParams(NamedTuple):
    """Quantization of one value: float32 scale, zero point, dtype."""

    scale: float
    zero_point: int
    dtype: str

    @property
    def range(self) -> tuple[int, int]:
        return RANGES[self.dtype]


def qparams(graph: Graph, name: str) -> QParams:
    """The quantization of value ``name``; GraphError if it is not an integer value."""
    v = graph.values[name]
    if v.dtype not in RANGES or v.scale is None or not v.scale > 0:
        raise GraphError(f"value {name!r} ({v.dtype}) is not a quantized integer value "
                         f"with a positive scale")
    return QParams(float(np.float32(v.scale)), int(v.zero_point or 0), v.dtype)


def multipliers(reals) -> np.ndarray:
    """(multiplier, shift) rows, int64 [n, 2], of real rescale factors (TFLite's)."""
    return np.array([quantize_multiplier(float(r)) for r in np.ravel(reals)],
                    dtype=np.int64).reshape(-1, 2)


def qm_rows(reals) -> np.ndarray:
    """The kernels' per-row layout: int64 [2, n], multipliers then shifts (contiguous)."""
    return np.ascontiguousarray(multipliers(reals).T)


def f32mul(*xs: float) -> float:
    """The product of float32 numbers rounded to float32 after each step (C++ float)."""
    acc = np.float32(xs[0])
    for x in xs[1:]:
        acc = np.float32(acc * np.float32(x))
    return float(acc)


def round_half_away(x):
    """std::round / TfLiteRound on float64 values (exact for float32 inputs)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5))


def requant_table(src: QParams, dst: QParams) -> np.ndarray:
    """int8 -> dst table of TFLite Requantize: clamp(mbqm(q - zs, s_src/s_dst) + zd)."""
    q = np.arange(-128, 128, dtype=np.int64)
    out = np.empty(256, dtype=np.int64)
    (m, s), = multipliers([src.scale / dst.scale])
    quant.requantize(q, I64(m), I64(s), I64(src.zero_point), I64(dst.zero_point),
                     I64(dst.range[0]), I64(dst.range[1]), out)
    return out


def _check_io(op: Op, ctx: Context, src: set[str], dst: set[str]) -> None:
    """The value dtypes fit the op, and its attributes repeat the values' quantization."""
    g = ctx.plan.graph
    vi, vo = g.values[op.inputs[0]], g.values[op.outputs[0]]
    need(vi.dtype in src and vo.dtype in dst, op,
         f"takes {'/'.join(sorted(src))} to {'/'.join(sorted(dst))}, got {vi.dtype} -> "
         f"{vo.dtype}")
    for prefix, v in (("", vo), ("in_", vi)):
        if prefix + "scale" in get_def(op.kind).attrs:
            q = qparams(g, v.name)
            need((np.float32(op.attr(prefix + "scale")), int(op.attr(prefix + "zero_point")),
                  op.attr(prefix + "dtype")) == (np.float32(q.scale), q.zero_point, q.dtype),
                 op, f"attributes {prefix}scale/zero_point/dtype differ from value "
                     f"{v.name!r}'s quantization {tuple(q)}")


def bind_quantize(op: Op, ctx: Context):
    _check_io(op, ctx, {"f32"}, set(RANGES))
    q = qparams(ctx.plan.graph, op.outputs[0])
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    args = (np.float64(q.scale), I64(q.zero_point), I64(q.range[0]), I64(q.range[1]))
    return each_n(x.shape[0], quant.quantize, lambda n: (
        x[:n].reshape(-1), *args, y[:n].reshape(-1)))


def bind_dequantize(op: Op, ctx: Context):
    _check_io(op, ctx, set(RANGES), {"f32"})
    q = qparams(ctx.plan.graph, op.inputs[0])
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    return each_n(x.shape[0], quant.dequantize, lambda n: (
        x[:n].reshape(-1), np.float64(q.scale), I64(q.zero_point), y[:n].reshape(-1)))


def bind_requantize(op: Op, ctx: Context):
    _check_io(op, ctx, set(RANGES), set(RANGES))
    g = ctx.plan.graph
    src, dst = qparams(g, op.inputs[0]), qparams(g, op.outputs[0])
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    if src.dtype == "i8":
        table = requant_table(src, dst).astype(y.dtype)
        return each_n(x.shape[0], quant.lut8, lambda n: (
            x[:n].reshape(-1), table, y[:n].reshape(-1)))
    (m, s), = multipliers([src.scale / dst.scale])
    args = (I64(m), I64(s), I64(src.zero_point), I64(dst.zero_point), I64(dst.range[0]),
            I64(dst.range[1]))
    return each_n(x.shape[0], quant.requantize, lambda n: (
        x[:n].reshape(-1), *args, y[:n].reshape(-1)))


def _attr_q(c: RefCall, prefix: str = "") -> tuple[float, int, tuple[int, int]]:
    dtype = c.attr(prefix + "dtype")
    return float(c.attr(prefix + "scale")), int(c.attr(prefix + "zero_point")), RANGES[dtype]


def ref_quantize(c: RefCall) -> np.ndarray:
    """Integer values travel through the reference backend as their integer codes."""
    s, z, (lo, hi) = _attr_q(c)
    return np.clip(round_half_away(c.arg("x") / s) + z, lo, hi)


def ref_dequantize(c: RefCall) -> np.ndarray:
    s, z, _ = _attr_q(c, "in_")
    return s * (c.arg("x") - z)


def ref_requantize(c: RefCall) -> np.ndarray:
    si, zi, _ = _attr_q(c, "in_")
    s, z, (lo, hi) = _attr_q(c)
    return np.clip(round_half_away(si * (c.arg("x") - zi) / s) + z, lo, hi)


def _infer_q(op: Op, s: list, consts=None) -> Shape:
    for key in ("scale", "in_scale"):
        if key in op.attrs:
            need(float(op.attrs[key]) > 0, op, f"{key} must be > 0")
    for key in ("dtype", "in_dtype"):
        if key in op.attrs:
            need(op.attrs[key] in RANGES, op, f"{key} must be one of {sorted(RANGES)}")
    return same_shape(op, s)


_Q = {"scale": 1.0, "zero_point": 0, "dtype": "i8"}
_IN = {"in_scale": 1.0, "in_zero_point": 0, "in_dtype": "i8"}
_INTS = frozenset(RANGES)
register(
    OpDef("Quantize", ("x",), _Q,
          "f32 -> integer: q = clamp(round(x / scale) + zero_point) (ties away from zero, "
          "TFLite QUANTIZE). The attributes repeat the output value's quantization.",
          infer=_infer_q, reference=ref_quantize, binders=(Binder(bind_quantize),),
          kernels=(quant.quantize,)),
    OpDef("Dequantize", ("x",), _IN,
          "integer -> f32: x = scale * (q - zero_point) (TFLite DEQUANTIZE). The in_* "
          "attributes repeat the input value's quantization.",
          infer=_infer_q, reference=ref_dequantize,
          binders=(Binder(bind_dequantize, {"x": _INTS}),), kernels=(quant.dequantize,)),
    OpDef("Requantize", ("x",), {**_Q, **_IN},
          "integer -> integer at another scale/zero point/dtype: clamp(mbqm(q - in_zp, "
          "in_scale / scale) + zero_point) (TFLite QUANTIZE int -> int).",
          infer=_infer_q, reference=ref_requantize,
          binders=(Binder(bind_requantize, {"x": _INTS}),),
          kernels=(quant.requantize, quant.lut8)),
)
