"""MEAN, SUM, REDUCE_MAX, REDUCE_MIN over frame axes -> IR ``Reduce``.

A reduction over the time axis mixes frames and is refused; over the batch axis
(size 1) it is the identity.
"""

from __future__ import annotations

from .context import Context, value_q
from .meta import Refuse
from .reader import Operator
from .table import converts

FN = {"MEAN": "Mean", "SUM": "Sum", "REDUCE_MAX": "Max", "REDUCE_MIN": "Min"}


@converts(*FN)
def reduce(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    if x.q is not None:
        raise Refuse(f"an integer {op.opcode}")
    axes = sorted({x.axis(a, op.opcode) for a in ctx.ints(op.inputs[1])})
    keep = bool(op.options.get("keep_dims"))
    if x.time in axes:
        raise Refuse(f"{op.opcode} over the time axis mixes frames (e.g. a mean over the "
                     "sequence); streaming can only use the last step")
    frame = [a for a in axes if a != x.batch]
    ir_axes = tuple(sorted(x.ir_axis(a, op.opcode) for a in frame))
    if keep:
        out = x.with_(shape=tuple(1 if a in axes else d for a, d in enumerate(x.shape)))
    else:
        kept = [a for a in range(x.rank) if a not in axes]
        remap = {a: k for k, a in enumerate(kept)}
        fidx = {x.frame_axes.index(a) for a in frame}
        layout = [p for p in x.layout if p not in fidx]
        layout = tuple(sorted(layout).index(p) for p in layout)
        out = x.with_(shape=tuple(x.shape[a] for a in kept), time=remap.get(x.time),
                      batch=remap.get(x.batch), perm=layout)
    if not ir_axes:
        v = ctx.emit("Reshape", [x.value], out.ir_shape, {"shape": out.ir_shape})
    else:
        v = ctx.emit("Reduce", [x.value], out.ir_shape,
                     {"fn": FN[op.opcode], "axes": ir_axes, "keepdims": keep},
                     q=value_q(ctx.out(op)))
    ctx.result(op, out, v)
