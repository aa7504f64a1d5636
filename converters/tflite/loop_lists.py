"""Per-step outputs of a WHILE loop (``return_sequences=True``): the TensorList the
converter lowers to a ``[T, 1, H]`` buffer written one row per iteration.

The body writes row ``i`` as ``CONCATENATION(SLICE(buf, 0:i), h, SLICE(buf, i+1:))`` on
axis 0, with the slice bounds computed from the counter (RESHAPE / CONCATENATION of
int32 scalars).  Such a loop variable is no state: the WHILE's output is the sequence of
the written rows, i.e. per frame the row itself, with the sequence's time axis.

While converting a body, :func:`markers` follows the counter through that integer
bookkeeping (``derived``), the buffer through its two slices (``list_slice``), and turns
the concatenation into a ``row`` marker holding the written value; anything else done
with a counter or the buffer is refused.
"""

from __future__ import annotations

from .context import Context
from .meta import Meta, Refuse
from .reader import Operator, Subgraph

MARKERS = {"counter", "derived", "list", "list_slice"}


def is_list(body: Subgraph, k: int) -> bool:
    """Is loop var ``k`` a buffer the body only rewrites one row of (see the docstring)?"""
    b_in, b_out = body.inputs[k], body.outputs[k]
    users = [op for op in body.operators if b_in in op.inputs]
    prod = next((op for op in body.operators if b_out in op.outputs), None)
    return (prod is not None and prod.opcode == "CONCATENATION" and len(prod.inputs) == 3
            and bool(users) and all(u.opcode == "SLICE" and u.inputs[0] == b_in
                                    and u.outputs[0] in prod.inputs for u in users))


def markers(ctx: Context, op: Operator) -> bool:
    """Loop bookkeeping on counters and output buffers (see the module docstring)."""
    ins = [m for m in ctx.inputs(op) if m is not None]
    kinds = {m.kind for m in ins}
    if not kinds & MARKERS:
        return False
    if kinds <= {"counter", "derived", ""} and all(m.is_const or m.kind for m in ins):
        for o in op.outputs:
            ctx.put(o, Meta((), kind="derived"))
        return True
    if op.opcode == "SLICE" and ins[0].kind == "list" and kinds <= {"list", "derived", ""}:
        ctx.put(op.outputs[0], Meta((), kind="list_slice"))
        return True
    if op.opcode == "CONCATENATION" and [m.kind for m in ins] == ["list_slice", "",
                                                                  "list_slice"]:
        if op.options.get("axis", 0) != 0 or ins[1].is_const:
            raise Refuse("a loop output list written along another axis, or with a constant")
        ctx.put(op.outputs[0], Meta(ctx.out(op).shape, kind="row", extra=ins[1]))
        return True
    raise Refuse(f"{op.opcode} on a loop counter or output list (only taking the frame "
                 "and writing one row per step are supported)")


def written_sequence(ctx: Context, bctx: Context, op: Operator, k: int, outer) -> Meta:
    """The WHILE's output ``k``: the rows written per frame, as a sequence over time."""
    row = bctx.meta(bctx.sg.outputs[k])
    if row.kind != "row":
        raise Refuse(f"loop output {k} is not written one row per step")
    x: Meta = row.extra
    shape = ctx.out(op, k).shape
    seq = next(m for m in outer if not m.is_const and m.time == 0)
    out = Meta(shape, time=0, batch=1 if len(shape) > 2 and shape[1] == 1 else None,
               q=x.q, stride=seq.stride, delay=seq.delay, tail=seq.tail)
    if x.time is not None or x.reduced:
        raise Refuse(f"loop output {k} writes a value that is not one frame")
    return out.with_(value=bctx.reshape(x, out.frame))
