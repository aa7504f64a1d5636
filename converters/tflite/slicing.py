"""TFLite slicing operators -> IR ``Slice`` / ``Gather`` (and views for shrunk axes).

STRIDED_SLICE / SLICE / SPLIT / SPLIT_V / UNPACK / GATHER work on frame axes; on the
time axis only the whole sequence passes, and the last step (``x[:, -1]``) makes a
last-step value (at frame t: the model's output for frames 1..t).
"""

from __future__ import annotations

import numpy as np

from .context import Context
from .meta import Meta, Refuse
from .reader import Operator
from .table import converts


def slice_spec(op: Operator, shape, begin, end, strides) -> list[tuple[int, int, int, bool]]:
    """STRIDED_SLICE per axis: (start, stop, step, shrink) with numpy semantics."""
    o = op.options
    if o.get("ellipsis_mask") or o.get("new_axis_mask") or o.get("offset"):
        raise Refuse("STRIDED_SLICE with ellipsis/new-axis masks or offset")
    spec = []
    for a, n in enumerate(shape):
        b, e, s = begin[a], end[a], strides[a]
        shrink = bool(o.get("shrink_axis_mask", 0) >> a & 1)
        if shrink:
            b = b + n if b < 0 else b
            spec.append((b, b + 1, 1, True))
            continue
        sl = slice(None if o.get("begin_mask", 0) >> a & 1 else b,
                   None if o.get("end_mask", 0) >> a & 1 else e, s)
        start, stop, step = sl.indices(n)
        spec.append((start, stop, step, False))
    return spec


def sliced(ctx: Context, x: Meta, spec, what: str) -> Meta:
    """``x`` sliced per axis by ``spec`` [(start, stop, step, shrink)]."""
    axes, starts, ends, steps, last = [], [], [], [], False
    for a, (start, stop, step, shrink) in enumerate(spec):
        n = len(range(start, stop, step))
        if (start, n, step) == (0, x.shape[a], 1) and not (a == x.time and shrink):
            continue
        if a == x.time:
            if (n, step) != (1, 1) or start != x.shape[a] - 1 - x.tpad[1]:
                raise Refuse(f"{what} takes frames {start}:{stop}:{step} of the time axis; "
                             "only the whole sequence or its last step (x[:, -1]) can stream")
            last = True
        elif a == x.batch:
            raise Refuse(f"{what} slices the batch axis")
        else:
            axes.append(x.ir_axis(a, what))
            starts.append(start), steps.append(step)
            ends.append(stop if step > 0 or stop >= 0 else -x.shape[a] - 1)
    cur = x.with_(shape=tuple(len(range(*s[:3])) for s in spec))
    if axes:
        cur = cur.with_(value=ctx.emit("Slice", [x.value], cur.ir_shape, {
            "axes": tuple(axes), "starts": tuple(starts), "ends": tuple(ends),
            "steps": tuple(steps)}, q=x.q))
    if last:  # the last step: the time axis becomes a frame axis of size 1
        flat = cur.with_(time=None, perm=None, reduced=True, tpad=(0, 0))
        cur = flat.with_(value=ctx.reshape(cur, flat.frame))
    keep = [a for a, s in enumerate(spec) if not s[3]]
    if len(keep) == len(spec):
        return cur
    remap = {a: k for k, a in enumerate(keep)}
    shape, time = tuple(cur.shape[a] for a in keep), remap.get(cur.time)
    batch = remap.get(cur.batch)
    if batch is None and cur.batch is not None:  # the batch axis went: take a size-1 one
        batch = next((j for j, d in enumerate(shape) if d == 1 and j != time), None)
    out = cur.with_(shape=shape, time=time, batch=batch, perm=None)
    return out.with_(value=ctx.reshape(cur, out.frame))


@converts()
def strided_slice(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    begin, end = ctx.ints(op.inputs[1]), ctx.ints(op.inputs[2])
    strides = ctx.ints(op.inputs[3]) if len(op.inputs) > 3 else [1] * x.rank
    if any(s == 0 for s in strides):
        raise Refuse("STRIDED_SLICE with a zero stride")
    spec = slice_spec(op, x.shape, begin, end, strides)
    ctx.put(op.outputs[0], sliced(ctx, x, spec, "STRIDED_SLICE"))


@converts("SLICE")
def slice_(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    begin, size = ctx.ints(op.inputs[1]), ctx.ints(op.inputs[2])
    spec = [(b, n if s == -1 else b + s, 1, False)
            for b, s, n in zip(begin, size, x.shape, strict=True)]
    ctx.put(op.outputs[0], sliced(ctx, x, spec, "SLICE"))


def _split(ctx: Context, op: Operator, x: Meta, axis: int, sizes: list[int]) -> None:
    a = x.axis(axis, op.opcode)
    x.frame_axis(a, op.opcode)
    start = 0
    for k, n in enumerate(sizes):
        spec = [(start, start + n, 1, False) if i == a else (0, d, 1, False)
                for i, d in enumerate(x.shape)]
        ctx.put(op.outputs[k], sliced(ctx, x, spec, op.opcode))
        start += n


@converts()
def split(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[1])
    axis = ctx.ints(op.inputs[0])[0]
    n = int(op.options.get("num_splits") or len(op.outputs))
    d = x.shape[x.axis(axis, "SPLIT")]
    if d % n:
        raise Refuse(f"SPLIT of {d} into {n} parts")
    _split(ctx, op, x, axis, [d // n] * n)


@converts()
def split_v(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    sizes, axis = ctx.ints(op.inputs[1]), ctx.ints(op.inputs[2])[0]
    d = x.shape[x.axis(axis, "SPLIT_V")]
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = d - sum(s for s in sizes if s != -1)
    if sum(sizes) != d or any(s < 0 for s in sizes):
        raise Refuse(f"SPLIT_V of {d} into {sizes}")
    _split(ctx, op, x, axis, sizes)


@converts()
def unpack(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    a = x.axis(op.options.get("axis", 0), "UNPACK")
    if a == x.time:
        raise Refuse("UNPACK over the time axis: the recurrence is unrolled over a fixed "
                     "number of steps; give the input no time axis (axes=...) to convert "
                     "it as a window of that many frames, or export it with a loop")
    for k in range(x.shape[a]):
        spec = [(k, k + 1, 1, True) if i == a else (0, d, 1, False)
                for i, d in enumerate(x.shape)]
        ctx.put(op.outputs[k], sliced(ctx, x, spec, "UNPACK"))


@converts()
def gather(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    if op.options.get("batch_dims", 0):
        raise Refuse("GATHER with batch_dims")
    idx = np.asarray(ctx.meta(op.inputs[1]).data if ctx.is_const(op.inputs[1]) else None)
    if idx is None or idx.dtype == object:
        raise Refuse("GATHER with indices computed from the input")
    a = x.axis(op.options.get("axis", 0), "GATHER")
    ia = x.ir_axis(a, "GATHER")
    idx = np.where(idx < 0, idx + x.shape[a], idx).astype(np.int64)
    shape = x.shape[:a] + idx.shape + x.shape[a + 1:]
    if idx.ndim != 1:
        raise Refuse("GATHER with multi-dimensional indices")
    out = x.with_(shape=shape)
    v = ctx.emit("Gather", [x.value, ctx.add_const(idx, "indices")], out.ir_shape,
                 {"axis": ia}, q=x.q)
    ctx.put(op.outputs[0], out.with_(value=v))
