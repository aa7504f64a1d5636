"""ONNX layout ops -> IR views: Reshape, Flatten, Transpose, Squeeze, Unsqueeze,
Concat, Expand, Identity, Cast, Dropout.

These move the time and batch axes around; each function works out where they
land and emits the per-frame view (or nothing at all, for an alias).
"""

from __future__ import annotations

import numpy as np
import onnx

from .context import Context, Dyn, Refuse, norm_axis
from .ops import single_frame, static_frame

FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
               onnx.TensorProto.BFLOAT16}


def register(table) -> None:
    """Add this module's ops to the op table (:class:`~.table.OpTable`)."""
    for fn in (Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Expand, Concat):
        table.add(fn)
    for fn in (Identity, Dropout, Cast):
        table.add(fn, pass_through=True)


def _prod(xs) -> int:
    return int(np.prod(xs, dtype=np.int64))


def _relayout(ctx: Context, node: onnx.NodeProto, x: Dyn, time, batch, **kw) -> None:
    """Output 0 = ``x`` with new time/batch axes and the probe's shape, as a Reshape view."""
    out = x.with_(value=None, prov=None, shape=ctx.probe_shape(node.output[0]), time=time,
                  batch=batch, **kw)
    value, prov = ctx.view("Reshape", [x], {"shape": out.frame}, out.frame)
    ctx.set(node.output[0], out.with_(value=value, prov=prov))


def _track(ctx: Context, src: str, dst: str, axis: int, avoid: int | None = None):
    """The output axis that carries input ``axis`` whole through a reshape, or None."""
    cands = None
    for k in range(len(ctx.probes)):
        ins, outs = ctx.probe_shape(src, k), ctx.probe_shape(dst, k)
        pre, size = _prod(ins[:axis]), ins[axis]
        c = {j for j in range(len(outs)) if _prod(outs[:j]) == pre and outs[j] == size}
        cands = c if cands is None else cands & c
    cands = sorted(c for c in cands if c != avoid)
    return cands[0] if cands else None


def Reshape(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0])
    time = batch = None
    if x.time is not None:
        time = _track(ctx, node.input[0], node.output[0], x.time)
        if time is None and x.shape[x.time] != 1:
            raise Refuse("reshapes the time axis together with other axes (e.g. merges time "
                         "into features or batch); streaming needs time kept as its own axis")
    if x.batch is not None:
        batch = _track(ctx, node.input[0], node.output[0], x.batch, avoid=time)
    _relayout(ctx, node, x, time, batch)


def Flatten(ctx: Context, node: onnx.NodeProto) -> None:
    Reshape(ctx, node)  # the output shape comes from the probes


def Transpose(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0])
    perm = list(ctx.attrs(node).get("perm") or reversed(range(x.rank)))
    time = None if x.time is None else perm.index(x.time)
    batch = None if x.batch is None else perm.index(x.batch)
    out_frame_axes = [i for i in range(x.rank) if i not in (time, batch)]
    fperm = tuple(x.faxis(perm[i]) for i in out_frame_axes)
    out = x.with_(value=None, prov=None, shape=ctx.probe_shape(node.output[0]), time=time,
                  batch=batch)
    if fperm == tuple(range(len(fperm))):
        ctx.set(node.output[0], out.with_(value=x.value, prov=x.prov))
        return
    value, prov = ctx.view("Transpose", [x], {"perm": fperm}, out.frame)
    ctx.set(node.output[0], out.with_(value=value, prov=prov))


def _axes(ctx: Context, node: onnx.NodeProto, index: int = 1) -> list[int] | None:
    a = ctx.attrs(node)
    if "axes" in a:
        return [int(v) for v in a["axes"]]
    if ctx.opt(node, index):
        return [int(v) for v in np.asarray(ctx.invariant(node.input[index], "axes")).ravel()]
    return None


def Squeeze(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0])
    axes = _axes(ctx, node)
    gone = [i for i, d in enumerate(x.shape) if d == 1] if axes is None else \
        [norm_axis(a, x.rank) for a in axes]

    def moved(ax):
        if ax is None or ax in gone:
            return None
        return ax - sum(1 for g in gone if g < ax)

    _relayout(ctx, node, x, moved(x.time), moved(x.batch))


def Unsqueeze(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0])
    rank = x.rank + len(_axes(ctx, node) or [])
    new = sorted(norm_axis(a, rank) for a in (_axes(ctx, node) or []))
    old = [i for i in range(rank) if i not in new]
    time = None if x.time is None else old[x.time]
    batch = None if x.batch is None else old[x.batch]
    _relayout(ctx, node, x, time, batch)


def Identity(ctx: Context, node: onnx.NodeProto) -> None:
    ctx.set(node.output[0], ctx.metas[node.input[0]])


def Dropout(ctx: Context, node: onnx.NodeProto) -> None:
    if len(node.output) > 1 and node.output[1] in ctx.used:
        raise Refuse("the dropout mask output is not supported")
    Identity(ctx, node)


def Cast(ctx: Context, node: onnx.NodeProto) -> None:
    if ctx.attrs(node).get("to") not in FLOAT_TYPES:
        raise Refuse("casts data to a non-float type")
    Identity(ctx, node)


def Expand(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0])
    if ctx.probe_shape(node.output[0]) != x.shape:
        raise Refuse("broadcasts data to a larger shape")
    ctx.set(node.output[0], x)


def Concat(ctx: Context, node: onnx.NodeProto) -> None:
    names = [n for n in node.input if n]
    metas = single_frame(ctx, names)
    ref = next(iter(metas.values()))
    axis = norm_axis(ctx.attrs(node)["axis"], ref.rank)
    fa = ref.faxis(axis, "Concat")
    dyns = []
    for n in names:
        if n in metas:
            d = metas[n]
            if (d.time, d.batch, d.stride, d.delay) != (ref.time, ref.batch, ref.stride,
                                                        ref.delay):
                raise Refuse("concatenates tensors with different time/batch layouts or rates")
            dyns.append(d)
    out = ref.with_(value=None, prov=None, shape=ctx.probe_shape(node.output[0]),
                    reduced=any(d.reduced for d in dyns))
    if len(dyns) == len(names):
        value, prov = ctx.view("Concat", dyns, {"axis": fa}, out.frame)
        ctx.set(node.output[0], out.with_(value=value, prov=prov))
        return
    inputs = []
    for n in names:
        if n in metas:
            inputs.append(ctx.value(metas[n]))
        else:
            c = static_frame(ctx, n, ref.rank, ref.time, ref.batch, f"constant {n!r}")
            inputs.append(ctx.add_const(c.astype(np.float32), "const"))
    value = ctx.emit("Concat", inputs, out.frame, {"axis": fa})
    ctx.set(node.output[0], out.with_(value=value))
