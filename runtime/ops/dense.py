"""``Dense``: y = x @ W.T + B over the last frame axis (ONNX Gemm transB=1, nn.Linear)."""

from __future__ import annotations

from ..bindings import EMPTY1, PACKED, Context, each_n, pack, rows
from ..ir import Op
from ..kernels import fused, linalg
from .base import Binder, OpDef, RefCall, Shape, need, opt, register, size
from .qlinear import Q8_ONLY, bind_dense_i8


def infer(op: Op, s: list, consts=None) -> Shape:
    x, w, b = s[0], s[1], opt(s, 2)
    need(len(w) == 2 and len(x) >= 1 and x[-1] == w[1], op, f"x {x} does not fit W {w}")
    need(b is None or size(b) == w[0], op, f"bias {b} does not match {w[0]} outputs")
    return (*x[:-1], w[0])


def macs(op: Op, graph) -> int:
    w = graph.shape(op.inputs[1])
    return size(graph.shape(op.inputs[0])[:-1]) * w[0] * w[1]


def bind_float(op: Op, ctx: Context):
    """Float activations; float, int8-row or int4-group weights (packed)."""
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    n_out, n_in = ctx.shape(op.inputs[1])
    wp = pack(ctx, op, "W", x.shape[0] * ctx.B * size(ctx.shape(op.inputs[0])[:-1]))
    b = ctx.const(op, "B", EMPTY1).reshape(-1)
    act = ctx.epilogue(op)
    return each_n(x.shape[0], fused.dense_act if act else linalg.dense_packed,
                  lambda n: (rows(x, n, n_in), wp, b, rows(y, n, n_out), *act))


def reference(c: RefCall):
    x, w, b = c.arg("x"), c.arg("W"), c.arg("B")
    y = x @ w.T
    return y if b is None else y + b.reshape(-1)


register(OpDef(
    "Dense", ("x", "W", "B?"), {},
    "y = x @ W.T + B over the last axis. W (out, in), B (out,).",
    infer=infer, reference=reference, macs=macs, fusable=True, weights=("W",),
    binders=(Binder(bind_float, {"W": PACKED}), Binder(bind_dense_i8, Q8_ONLY)),
    kernels=(linalg.dense_packed, fused.dense_act, linalg.qmatmul),
))
