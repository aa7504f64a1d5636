"""Integer binders of ``Unary``, ``Binary`` and the layout ops (int8 values).

* ``Unary``: a 256-entry table (:mod:`.qtables`) and :func:`edgernn.kernels.quant.lut8`;
* ``Binary`` Add/Sub/Mul: :func:`edgernn.kernels.elementwise.binary_i8` with TFLite's
  multipliers (add.cc: input scales over twice the larger one, left shift 20, output
  ``2 * max / (2**20 * s_y)``; mul.cc: ``s_a * s_b / s_y``, all float64);
  Div/Pow/Max/Min have no integer kernel (the pass keeps them float);
* ``Transpose``/``Slice``/``Gather``/``Pad``: the index-map kernel on int8 rows, Pad
  filling with the output's zero point (TFLite's int8 PAD); the output keeps the
  input's quantization;
* ``Concat``: parts at the output's quantization are scattered as they are; a part at
  another scale is requantized first (TFLite Requantize, through a table), which
  TFLite's int8 CONCATENATION never needs because its converter unifies the scales;
* ``Softmax``: TFLite's int8 SOFTMAX (reference kernel, gemmlowp fixed point, output
  1/256 with zero point -128), beta 1.
"""

from __future__ import annotations

import math

import numpy as np

from ..bindings import Context, each_n, rows, split_axes
from ..ir import Op
from ..kernels import elementwise, fixedpoint, layout, normalize, quant
from ..kernels.elementwise import broadcast_index
from .base import need
from .qtables import unary_table
from .quant import I64, multipliers, qparams, requant_table

INT8 = frozenset({"i8"})
_CODES = {"Add": 0, "Sub": 1, "Mul": 2}


def _same_q(ctx: Context, op: Op) -> None:
    g = ctx.plan.graph
    qi, qo = qparams(g, op.inputs[0]), qparams(g, op.outputs[0])
    need(qi == qo, op, f"an integer {op.kind} keeps its input's quantization {tuple(qi)}; "
                       f"the output has {tuple(qo)}")


def bind_unary_i8(op: Op, ctx: Context):
    g = ctx.plan.graph
    src, dst = qparams(g, op.inputs[0]), qparams(g, op.outputs[0])
    need(src.dtype == "i8", op, "the integer Unary reads int8")
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    table = unary_table(op, src, dst).astype(y.dtype)
    return each_n(x.shape[0], quant.lut8, lambda n: (
        x[:n].reshape(-1), table, y[:n].reshape(-1)))


def binary_params(fn: str, a, b, y) -> np.ndarray:
    """i64[11] of :func:`edgernn.kernels.elementwise.binary_i8` for QParams a, b, y."""
    if fn == "Mul":
        (ma, sa), (mb, sb) = (0, 0), (0, 0)
        (my, sy), = multipliers([a.scale * b.scale / y.scale])
    else:
        twice = 2.0 * max(a.scale, b.scale)
        (ma, sa), (mb, sb), (my, sy) = multipliers(
            [a.scale / twice, b.scale / twice, twice / ((1 << 20) * y.scale)])
    return np.array([a.zero_point, b.zero_point, y.zero_point, *y.range, ma, sa, mb, sb,
                     my, sy], dtype=np.int64)


def _operand(ctx: Context, name: str, out_shape: tuple):
    """(rows(n) -> 2-D int8 view, broadcast index) of one Binary operand (a value)."""
    idx = broadcast_index(ctx.shape(name), out_shape)
    buf = ctx.value(name)
    cols = max(1, int(np.prod(ctx.shape(name), dtype=np.int64)))
    return (lambda n: rows(buf, n, cols)), idx


def bind_binary_i8(op: Op, ctx: Context):
    fn = op.attr("fn")
    need(fn in _CODES, op, f"no integer kernel for {fn}; keep it float")
    need(not any(ctx.is_const(n) for n in op.inputs), op,
         "integer Binary operands must be values (quantize constants into a Quantize op)")
    g = ctx.plan.graph
    qa, qb, qy = (qparams(g, n) for n in (*op.inputs, op.outputs[0]))
    need(qy.dtype == "i8", op, "the integer Binary writes int8")
    prm = binary_params(fn, qa, qb, qy)
    out_shape = ctx.shape(op.outputs[0])
    (a, ia), (b, ib) = (_operand(ctx, n, out_shape) for n in op.inputs)
    y = ctx.output(op)
    cols = max(1, int(np.prod(out_shape, dtype=np.int64)))
    code = I64(_CODES[fn])
    return each_n(y.shape[0], elementwise.binary_i8,
                  lambda n: (a(n), b(n), rows(y, n, cols), code, ia, ib, prm))


def bind_indexed_i8(op: Op, ctx: Context):
    from .layout import index_map

    _same_q(ctx, op)
    idx, _ = index_map(op, ctx.shape(op.inputs[0]), ctx.plan.graph.consts)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    zp = qparams(ctx.plan.graph, op.outputs[0]).zero_point
    if op.kind == "Pad":
        need(float(op.attr("value")) == 0.0, op, "an integer Pad pads with 0 (the zero point)")
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    k = x[0, 0].size
    return each_n(x.shape[0], layout.gather, lambda n: (
        rows(x, n, k), idx, np.float32(zp), rows(y, n, max(1, idx.size))))


def bind_concat_i8(op: Op, ctx: Context):
    g = ctx.plan.graph
    need(not any(ctx.is_const(n) for n in op.inputs), op,
         "integer Concat parts must be values")
    qy = qparams(g, op.outputs[0])
    idxs, _ = layout.concat_index([ctx.shape(n) for n in op.inputs], op.attr("axis"))
    y = ctx.output(op)
    cap, cols = y.shape[0], y[0, 0].size
    calls = []
    for name, idx in zip(op.inputs, idxs, strict=True):
        qx, x = qparams(g, name), ctx.value(name)
        if qx != qy:
            table = requant_table(qx, qy).astype(np.int8)
            tmp = np.zeros_like(x)
            calls.append(each_n(cap, quant.lut8, lambda n, x=x, tmp=tmp, table=table: (
                x[:n].reshape(-1), table, tmp[:n].reshape(-1))))
            x = tmp
        calls.append(each_n(cap, layout.scatter, lambda n, x=x, idx=idx: (
            rows(x, n, idx.size), idx, rows(y, n, cols))))

    def call(n: int) -> int:
        for part in calls:
            part(n)
        return n

    return call


QUANTIZED = frozenset({"i8", "u8", "i16", "i32"})


def bind_alias_int(op: Op, ctx: Context):
    """Reshape / Identity of an integer value: a view, same quantization."""
    _same_q(ctx, op)
    ctx.alias(op)
    return lambda n: n


def softmax_table(scale: float) -> tuple[np.ndarray, int]:
    """(exp table i32[256], diff_min) of TFLite's int8 Softmax for input ``scale``, beta 1
    (softmax.cc Prepare: PreprocessSoftmaxScaling with 5 integer bits, the input
    radius; the kernel's MultiplyByQuantizedMultiplierGreaterThanOne, double rounding)."""
    real = min(scale * float(1 << 26), float((1 << 31) - 1))
    (m, left), = multipliers([real])
    radius = math.floor(31.0 * (1 << 26) / (1 << left))
    table = np.zeros(256, dtype=np.int32)
    for d in range(-255, 1):
        rescaled = fixedpoint.srdhm32(np.int64(d) << left, np.int64(m))
        table[d + 255] = fixedpoint.exp_neg(rescaled, np.int64(5), np.int64(32))
    return table, -radius


def bind_softmax_i8(op: Op, ctx: Context):
    g = ctx.plan.graph
    xq, yq = qparams(g, op.inputs[0]), qparams(g, op.outputs[0])
    need(not op.attr("log"), op, "no integer LogSoftmax; keep it float")
    need((np.float32(yq.scale), yq.zero_point, yq.dtype) == (np.float32(1 / 256), -128, "i8"),
         op, f"the integer Softmax writes int8 at scale 1/256, zero point -128 (TFLite); "
             f"the output has {tuple(yq)}")
    table, diff_min = softmax_table(xq.scale)
    shape = ctx.shape(op.inputs[0])
    axis = op.attr("axis") % len(shape)
    o, l_, i = split_axes(shape, axis, axis + 1)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    return each_n(x.shape[0], normalize.softmax_i8, lambda n: (
        x[:n].reshape(-1, o, l_, i), y[:n].reshape(-1, o, l_, i), table, I64(diff_min)))
