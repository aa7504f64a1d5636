"""``Unary`` (any activation of :mod:`edgernn.activations`), ``Binary`` and ``Where``
(numpy broadcasting over frame shapes; a constant operand may have any broadcastable
shape)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..activations import ACTIVATIONS, lookup
from ..bindings import F32, NO_INDEX, Context, each_n, rows
from ..ir import GraphError, Op
from ..kernels import activations, elementwise, quant
from ..kernels.elementwise import BINARY, COMPARISONS, broadcast_index
from ..reference import ops as ref_ops
from .base import Binder, OpDef, RefCall, Shape, need, register
from .qelementwise import INT8, bind_binary_i8, bind_unary_i8


def unary_params(op: Op) -> tuple[np.int64, np.float32, np.float32]:
    """(code, alpha, beta) of a Unary op as kernels take them (table defaults filled in)."""
    act = lookup(op.attr("fn"))
    alpha, beta = act.params(op.attr("alpha"), op.attr("beta"))
    return np.int64(act.code), F32(alpha), F32(beta)


def infer_unary(op: Op, s: list, consts=None) -> Shape:
    need(op.attr("fn") in ACTIVATIONS, op, f"unknown function {op.attr('fn')!r}; "
                                           f"supported: {', '.join(sorted(ACTIVATIONS))}")
    return s[0]


def bind_unary(op: Op, ctx: Context):
    params = unary_params(op)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    return each_n(x.shape[0], activations.activation,
                  lambda n: (x[:n].reshape(-1), y[:n].reshape(-1), *params))


def ref_unary(c: RefCall) -> np.ndarray:
    act = lookup(c.attr("fn"))
    alpha, beta = act.params(c.attr("alpha"), c.attr("beta"))
    return ref_ops.unary(act.name, c.arg("x"), alpha, beta)


def infer_binary(op: Op, s: list, consts=None) -> Shape:
    need(op.attr("fn") in BINARY, op, f"unknown function {op.attr('fn')!r}; "
                                      f"supported: {', '.join(sorted(BINARY))}")
    try:
        return tuple(np.broadcast_shapes(s[0], s[1]))
    except ValueError:
        raise GraphError(f"op {op.name!r}: shapes {s[0]} and {s[1]} do not broadcast") from None


def _operand(ctx: Context, name: str, out_shape: tuple) -> tuple[Callable, np.ndarray]:
    """(rows(n) -> 2-D view, broadcast index) for one Binary operand."""
    if ctx.is_const(name):  # broadcast once here, not per call in the kernel
        c = np.ascontiguousarray(np.broadcast_to(ctx.plan.const(name), out_shape))
        c = c.reshape(1, -1)
        return (lambda n: c), NO_INDEX
    shape = ctx.shape(name)
    idx = broadcast_index(shape, out_shape)
    buf = ctx.value(name)
    cols = max(1, int(np.prod(shape, dtype=np.int64)))
    return (lambda n: rows(buf, n, cols)), idx


def bind_binary(op: Op, ctx: Context):
    code = np.int64(BINARY[op.attr("fn")])
    out_shape = ctx.shape(op.outputs[0])
    (a, ia), (b, ib) = (_operand(ctx, n, out_shape) for n in op.inputs)
    y = ctx.output(op)
    cols = max(1, int(np.prod(out_shape, dtype=np.int64)))
    sa, sb = (np.zeros(cols if i.size else 0, dtype=F32) for i in (ia, ib))
    return each_n(y.shape[0], elementwise.binary,
                  lambda n: (a(n), b(n), rows(y, n, cols), code, ia, ib, sa, sb))


def lift(arr: np.ndarray, is_const: bool, rank: int) -> np.ndarray:
    """A value ``(T, B, *frame)`` or a constant ``frame`` as ``(T|1, B|1, *frame)`` with the
    frame left-padded with size-1 axes to ``rank`` (numpy broadcasting per frame)."""
    frame = arr.shape if is_const else arr.shape[2:]
    lead = (1, 1) if is_const else arr.shape[:2]
    return arr.reshape(*lead, *(1,) * (rank - len(frame)), *frame)


def ref_binary(c: RefCall) -> np.ndarray:
    frames = [a.shape if k else a.shape[2:] for a, k in zip(c.args, c.const, strict=True)]
    rank = max(len(f) for f in frames)
    a, b = (lift(x, k, rank) for x, k in zip(c.args, c.const, strict=True))
    return ref_ops.binary(c.attr("fn"), a, b)


def _binary_features(op: Op) -> set[str]:
    fn = op.attr("fn")
    return {"binary-prelu"} if fn == "PRelu" else {"binary-compare"} if fn in COMPARISONS \
        else set()


def infer_where(op: Op, s: list, consts=None) -> Shape:
    try:
        return tuple(np.broadcast_shapes(*s))
    except ValueError:
        raise GraphError(f"op {op.name!r}: shapes {s} do not broadcast") from None


def bind_where(op: Op, ctx: Context):
    out_shape = ctx.shape(op.outputs[0])
    (c, ic), (a, ia), (b, ib) = (_operand(ctx, n, out_shape) for n in op.inputs)
    y = ctx.output(op)
    cols = max(1, int(np.prod(out_shape, dtype=np.int64)))
    return each_n(y.shape[0], elementwise.where,
                  lambda n: (c(n), a(n), b(n), rows(y, n, cols), ic, ia, ib))


def ref_where(c: RefCall) -> np.ndarray:
    frames = [a.shape if k else a.shape[2:] for a, k in zip(c.args, c.const, strict=True)]
    rank = max(len(f) for f in frames)
    return ref_ops.where(*(lift(x, k, rank) for x, k in zip(c.args, c.const, strict=True)))


register(
    OpDef("Unary", ("x",), {"fn": "Relu", "alpha": None, "beta": None},
          "Elementwise activation fn of edgernn.activations (alpha/beta None = its "
          "defaults): Relu, LeakyRelu(alpha), Sigmoid, Tanh, Sqrt, Exp, Log, Abs, Neg, "
          "Reciprocal, Softplus, Softsign, Elu(alpha), HardSigmoid(alpha, beta), "
          "Clip(min=alpha, max=beta), Erf, Gelu, Rsqrt, Square, HardSwish, Silu, ...",
          infer=infer_unary, reference=ref_unary,
          binders=(Binder(bind_unary), Binder(bind_unary_i8, {"x": INT8})),
          kernels=(activations.activation, quant.lut8)),
    OpDef("Binary", ("a", "b"), {"fn": "Add"},
          "Elementwise fn(a, b) with numpy broadcasting over frame shapes (a constant may "
          "have any broadcastable shape): Add, Sub, Mul, Div, Pow, Max, Min, PRelu (b = the "
          "slope where a < 0), and the comparisons Greater, GreaterEqual, Less, LessEqual, "
          "Equal, NotEqual (1.0 where true, 0.0 where false).",
          infer=infer_binary, reference=ref_binary,
          binders=(Binder(bind_binary), Binder(bind_binary_i8, {"a": INT8, "b": INT8})),
          kernels=(elementwise.binary, elementwise.binary_i8), requires=_binary_features),
    OpDef("Where", ("cond", "a", "b"), {},
          "Elementwise a where cond != 0, else b, with numpy broadcasting over frame "
          "shapes (ONNX Where; a TFLite IF whose branches are both computed).",
          infer=infer_where, reference=ref_where, binders=(Binder(bind_where),),
          kernels=(elementwise.where,)),
)
