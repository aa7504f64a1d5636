"""``Softmax`` (and LogSoftmax), ``Reduce`` (Mean, Max, Min, Sum) and ``LayerNorm``
over frame axes.  Kernels see each frame as ``(O, L, I)`` around the axes at work."""

from __future__ import annotations

import numpy as np

from ..bindings import EMPTY1, F32, Context, each_n, rows, split_axes
from ..ir import Op
from ..kernels import layout, normalize
from ..kernels.normalize import REDUCE
from ..reference import ops as ref_ops
from .base import Binder, OpDef, RefCall, Shape, axis_of, need, opt, register, size
from .qelementwise import INT8, bind_softmax_i8


def infer_softmax(op: Op, s: list, consts=None) -> Shape:
    axis_of(op, op.attr("axis"), len(s[0]))
    return s[0]


def bind_softmax(op: Op, ctx: Context):
    shape = ctx.shape(op.inputs[0])
    axis = op.attr("axis") % len(shape)
    o, l_, i = split_axes(shape, axis, axis + 1)
    x, y, log = ctx.value(op.inputs[0]), ctx.output(op), bool(op.attr("log"))
    mx, s = np.zeros(i, dtype=F32), np.zeros(i, dtype=F32)
    return each_n(x.shape[0], normalize.softmax, lambda n: (
        x[:n].reshape(-1, o, l_, i), y[:n].reshape(-1, o, l_, i), log, mx, s))


def ref_softmax(c: RefCall) -> np.ndarray:
    x = c.arg("x")
    return ref_ops.softmax(x, c.attr("axis") % (x.ndim - 2) + 2, c.attr("log"))


def infer_reduce(op: Op, s: list, consts=None) -> Shape:
    need(op.attr("fn") in REDUCE, op, f"unknown function {op.attr('fn')!r}; "
                                      f"supported: {', '.join(sorted(REDUCE))}")
    x = s[0]
    axes = sorted({axis_of(op, a, len(x)) for a in op.attr("axes")})
    if op.attr("keepdims"):
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def bind_reduce(op: Op, ctx: Context):
    shape = ctx.shape(op.inputs[0])
    axes = sorted({a % len(shape) for a in op.attr("axes")})
    code = np.int64(REDUCE[op.attr("fn")])
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    if axes == list(range(axes[0], axes[-1] + 1)):
        o, l_, i = split_axes(shape, axes[0], axes[-1] + 1)
        return each_n(x.shape[0], normalize.reduce, lambda n: (
            x[:n].reshape(-1, o, l_, i), y[:n].reshape(-1, o, i), code))
    keep = [a for a in range(len(shape)) if a not in axes]
    idx, moved = layout.transpose_index(shape, (*keep, *axes))
    tmp = np.zeros((x.shape[0], ctx.B, idx.size), dtype=F32)
    o, l_, _ = split_axes(moved, 0, len(keep))
    cap, k = x.shape[0], x[0, 0].size
    gather = each_n(cap, layout.gather, lambda n: (
        rows(x, n, k), idx, F32(0), rows(tmp, n, idx.size)))
    red = each_n(cap, normalize.reduce, lambda n: (
        rows(tmp, n, idx.size).reshape(-1, o, l_, 1), rows(y, n, max(1, o)).reshape(-1, o, 1),
        code))

    def call(n: int) -> int:
        gather(n)
        return red(n)

    return call


def ref_reduce(c: RefCall) -> np.ndarray:
    x = c.arg("x")
    axes = tuple(a % (x.ndim - 2) + 2 for a in c.attr("axes"))
    return ref_ops.reduce(c.attr("fn"), x, axes, c.attr("keepdims"))


def infer_layernorm(op: Op, s: list, consts=None) -> Shape:
    x = s[0]
    axis = axis_of(op, op.attr("axis"), len(x))
    for i in (1, 2):
        p = opt(s, i)
        need(p is None or size(p) in (1, size(x[axis:])), op, f"scale/bias {p} vs {x}")
    return x


def bind_layernorm(op: Op, ctx: Context):
    shape = ctx.shape(op.inputs[0])
    o, l_, _ = split_axes(shape, op.attr("axis") % len(shape), len(shape))
    scale = np.ascontiguousarray(np.broadcast_to(ctx.const(op, "scale").reshape(-1), (l_,)))
    bias = ctx.const(op, "bias", EMPTY1)
    bias = np.ascontiguousarray(np.broadcast_to(bias.reshape(-1), (l_,))) if bias.size else bias
    eps, x, y = F32(op.attr("epsilon")), ctx.value(op.inputs[0]), ctx.output(op)
    return each_n(x.shape[0], normalize.layernorm, lambda n: (
        x[:n].reshape(-1, o, l_), scale, bias, eps, y[:n].reshape(-1, o, l_)))


def ref_layernorm(c: RefCall) -> np.ndarray:
    x = c.arg("x")
    axis = c.attr("axis") % (x.ndim - 2) + 2
    tail = x.shape[axis:]
    scale, bias = (None if v is None else np.broadcast_to(v.reshape(-1), (size(tail),))
                   .reshape(tail) for v in (c.arg("scale"), c.arg("bias")))
    return ref_ops.layernorm(x, scale, bias, axis, c.attr("epsilon"))


register(
    OpDef("Softmax", ("x",), {"axis": -1, "log": False}, "(Log)Softmax over one frame axis.",
          infer=infer_softmax, reference=ref_softmax,
          binders=(Binder(bind_softmax), Binder(bind_softmax_i8, {"x": INT8})),
          kernels=(normalize.softmax, normalize.softmax_i8)),
    OpDef("Reduce", ("x",), {"fn": "Mean", "axes": (-1,), "keepdims": False},
          "Mean, Max, Min or Sum over frame axes.",
          infer=infer_reduce, reference=ref_reduce, binders=(Binder(bind_reduce),),
          kernels=(normalize.reduce, layout.gather)),
    OpDef("LayerNorm", ("x", "scale", "bias?"), {"axis": -1, "epsilon": 1e-5},
          "Normalize over frame axes axis..end, then * scale + bias.",
          infer=infer_layernorm, reference=ref_layernorm, binders=(Binder(bind_layernorm),),
          kernels=(normalize.layernorm,)),
)
