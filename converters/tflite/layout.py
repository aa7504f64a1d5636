"""TFLite shape and layout operators -> IR views, ``Transpose`` (only as metadata),
``Concat``, ``Slice``, ``Gather`` and ``Pad``.

* RESHAPE / SQUEEZE / EXPAND_DIMS keep time a whole axis (same elements before and
  after it): the frame is reshaped, a free view.
* TRANSPOSE changes only the meta's ``perm``: no data moves until an op needs the
  TFLite order (:meth:`~.context.Context.value`).
* slicing (STRIDED_SLICE, SPLIT ...) lives in :mod:`.slicing`;
* PAD over frame axes is a ``Pad``; zero padding over time waits for the conv that
  follows (``tpad``).
"""

from __future__ import annotations

import numpy as np

from .context import Context, value_q
from .meta import Meta, Refuse
from .reader import Operator
from .table import converts


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def infer_reshape(in_shape, new) -> tuple[int, ...]:
    """TFLite RESHAPE's output shape (one -1 inferred)."""
    new = [int(d) for d in new]
    if new.count(-1) > 1 or any(d < -1 for d in new):
        raise Refuse(f"RESHAPE to {new}")
    if -1 in new:
        rest = _size([d for d in new if d != -1])
        new[new.index(-1)] = _size(in_shape) // max(rest, 1)
    if _size(new) != _size(in_shape):
        raise Refuse(f"RESHAPE of {list(in_shape)} to {new}: element counts differ")
    return tuple(new)


def _whole_axis(src, dst, axis: int) -> list[int]:
    """Axes j of ``dst`` holding axis ``axis`` of ``src`` whole (same elements before)."""
    before, after = _size(src[:axis]), _size(src[axis + 1:])
    return [j for j in range(len(dst)) if dst[j] == src[axis]
            and _size(dst[:j]) == before and _size(dst[j + 1:]) == after]


def reshaped(ctx: Context, x: Meta, shape: tuple[int, ...], what: str) -> Meta:
    """The meta of ``x`` reshaped to TFLite ``shape`` (time kept whole), emitting a view."""
    time = batch = None
    if x.time is not None:
        cands = _whole_axis(x.shape, shape, x.time)
        if not cands:
            raise Refuse(f"{what} merges the time axis with other axes ({list(x.shape)} -> "
                         f"{list(shape)}); time must stay an axis of its own")
        time = cands[0]
    if x.batch is not None and (x.time is not None or len(shape) > 1):
        ones = [j for j in range(len(shape)) if shape[j] == 1 and j != time]
        batch = ones[0] if ones else None
    out = x.with_(shape=tuple(shape), time=time, batch=batch, perm=None, value="")
    return out.with_(value=ctx.reshape(x, out.frame))


@converts()
def reshape(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    if len(op.inputs) > 1 and op.inputs[1] >= 0:
        new = ctx.ints(op.inputs[1])
    else:
        new = op.options.get("new_shape") or list(ctx.out(op).shape)
    ctx.put(op.outputs[0], reshaped(ctx, x, infer_reshape(x.shape, new), "RESHAPE"))


@converts()
def squeeze(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    dims = {x.axis(d, "SQUEEZE") for d in op.options.get("squeeze_dims") or []}
    dims = dims or {a for a, d in enumerate(x.shape) if d == 1}
    if any(x.shape[a] != 1 for a in dims):
        raise Refuse(f"SQUEEZE of axes {sorted(dims)} of {list(x.shape)}")
    keep = [a for a in range(x.rank) if a not in dims]
    remap = {a: k for k, a in enumerate(keep)}
    out = x.with_(shape=tuple(x.shape[a] for a in keep), time=remap.get(x.time),
                  batch=remap.get(x.batch), perm=None, value="")
    ctx.put(op.outputs[0], out.with_(value=ctx.reshape(x, out.frame)))


@converts()
def expand_dims(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    axis = ctx.ints(op.inputs[1])[0]
    axis = axis % (x.rank + 1) if -x.rank - 1 <= axis <= x.rank else None
    if axis is None:
        raise Refuse(f"EXPAND_DIMS at an axis out of range for rank {x.rank}")
    shift = (lambda a: None if a is None else a + (a >= axis))  # noqa: E731
    out = x.with_(shape=x.shape[:axis] + (1,) + x.shape[axis:], time=shift(x.time),
                  batch=shift(x.batch), perm=None, value="")
    ctx.put(op.outputs[0], out.with_(value=ctx.reshape(x, out.frame)))


def permuted(x: Meta, perm: list[int]) -> Meta:
    """``x`` transposed by TFLite ``perm``: only the meta changes (see the module doc)."""
    pos = {a: k for k, a in enumerate(perm)}
    out = x.with_(shape=tuple(x.shape[p] for p in perm), time=pos.get(x.time),
                  batch=pos.get(x.batch))
    layout = tuple(out.frame_axes.index(pos[x.frame_axes[p]]) for p in x.layout)
    return out.with_(perm=layout)


@converts()
def transpose(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    perm = [x.axis(p, "TRANSPOSE") for p in ctx.ints(op.inputs[1])]
    if sorted(perm) != list(range(x.rank)):
        raise Refuse(f"TRANSPOSE with perm {perm}")
    ctx.put(op.outputs[0], permuted(x, perm))


@converts()
def concatenation(ctx: Context, op: Operator) -> None:
    from .elementwise import align, fused

    metas = ctx.inputs(op)
    ref = next(m for m in metas if not m.is_const)
    axis = ref.axis(op.options.get("axis", 0), "CONCATENATION")
    ref.frame_axis(axis, "CONCATENATION")
    shape = list(ref.shape)
    shape[axis] = sum(m.shape[axis] for m in metas)
    # align the operands with a size-1 concat axis stand-in, so that numpy broadcasting
    # checks the other axes only
    stand = [m.with_(shape=m.shape[:axis] + (1,) + m.shape[axis + 1:]) for m in metas]
    out, args = align(ctx, stand, "CONCATENATION")
    out = out.with_(shape=tuple(shape))
    q = value_q(ctx.out(op))
    ins = []
    for k, (m, a) in enumerate(zip(metas, args, strict=True)):
        if isinstance(a, str):
            ins.append(a)
            continue
        if q is not None:
            raise Refuse("an integer CONCATENATION with a constant part")
        arr = ctx.frame_const(out.with_(shape=m.shape), ctx.const(op.inputs[k]), "a part")
        ins.append(ctx.add_const(arr, f"part{k}"))
    v = ctx.emit("Concat", ins, out.ir_shape, {"axis": out.ir_axis(axis)}, q=q)
    ctx.result(op, out, fused(ctx, op, v, out.ir_shape, q))


@converts("PAD", "PADV2")
def pad(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    pads = np.asarray(ctx.ints(op.inputs[1])).reshape(-1, 2)
    value = 0.0
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = float(ctx.const(op.inputs[2]).reshape(-1)[0])
    shape = tuple(int(d + p[0] + p[1]) for d, p in zip(x.shape, pads, strict=True))
    tpad = x.tpad
    if x.time is not None and pads[x.time].any():
        if value != 0.0 or (pads < 0).any():
            raise Refuse("PAD over time with a nonzero value")
        tpad = (tpad[0] + int(pads[x.time][0]), tpad[1] + int(pads[x.time][1]))
    if x.batch is not None and pads[x.batch].any():
        raise Refuse("PAD of the batch axis")
    out = x.with_(shape=shape, tpad=tpad)
    fr = [k for k in x.frame_axes]
    begin = [int(pads[fr[p]][0]) for p in x.layout]
    end = [int(pads[fr[p]][1]) for p in x.layout]
    if any(begin) or any(end):
        if x.q is not None and value != 0.0:
            raise Refuse("an integer PAD with a value other than the zero point")
        v = ctx.emit("Pad", [x.value], out.ir_shape, {"pads": tuple(begin + end),
                     "value": value}, q=x.q)
        out = out.with_(value=v)
    ctx.put(op.outputs[0], out)


@converts()
def pack(ctx: Context, op: Operator) -> None:
    metas = ctx.inputs(op)
    a = op.options.get("axis", 0)
    ref = next(m for m in metas if not m.is_const)
    a = a % (ref.rank + 1)
    if any(m.is_const for m in metas):
        raise Refuse("PACK with constant parts")
    parts = []
    for m in metas:
        shift = (lambda v: None if v is None else v + (v >= a))  # noqa: E731
        e = m.with_(shape=m.shape[:a] + (1,) + m.shape[a:], time=shift(m.time),
                    batch=shift(m.batch), perm=None, value="")
        parts.append(e.with_(value=ctx.reshape(m, e.frame)))
    from .elementwise import align

    out, args = align(ctx, [p.with_(shape=p.shape) for p in parts], "PACK")
    shape = list(out.shape)
    shape[a] = len(parts)
    out = out.with_(shape=tuple(shape))
    v = ctx.emit("Concat", args, out.ir_shape, {"axis": out.ir_axis(a)},
                 q=value_q(ctx.out(op)))
    ctx.put(op.outputs[0], out.with_(value=v))
