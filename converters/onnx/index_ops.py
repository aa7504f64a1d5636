"""ONNX indexing ops -> IR views: Slice, Gather, Split.

Slicing or gathering the last step of the time axis is the identity per frame
(the value at frame t is the source model's last step on frames 1..t; the
result is marked ``reduced``).  Dropping trailing frames that only exist
because of right padding is also the identity.  Any other cut across time is
refused.
"""

from __future__ import annotations

import numpy as np
import onnx

from .context import Context, Dyn, Refuse, norm_axis


def register(table) -> None:
    """Add this module's ops to the op table (:class:`~.table.OpTable`)."""
    table.add(Slice)
    table.add(Gather)
    table.add(Split)


def _time_cut(kind_of_probe: list, what: str) -> tuple:
    kinds = set(kind_of_probe)
    if len(kinds) != 1:
        raise Refuse(f"{what} depends on the sequence length in a way that does not stream")
    return kinds.pop()


def _frame_cut(ctx: Context, x: Dyn, cuts: list) -> tuple[str | None, object]:
    """Apply per-frame cuts [(frame axis, start, stop, step)] as Slice or Gather views."""
    cur, prov = x, x.prov
    for fa, s, e, st in cuts:
        if (s, e, st) == (0, cur.frame[fa], 1):
            continue  # the whole axis
        frame = list(cur.frame)
        idx = list(range(s, e, st))
        frame[fa] = len(idx)
        if st > 0:
            attrs = {"axes": (fa,), "starts": (s,), "ends": (e,), "steps": (st,)}
            value, prov = ctx.view("Slice", [cur], attrs, tuple(frame))
        else:
            c = ctx.add_const(np.asarray(idx, np.int64), "indices")
            value, prov = ctx.view("Gather", [cur], {"axis": fa, "indices": idx},
                                   tuple(frame), extra=[c])
        cur = cur.with_(value=value, prov=prov, shape=tuple(frame))  # frame-only bookkeeping
        cur = cur.with_(time=None, batch=None)
    return cur.value, cur.prov


def _time_slice(norm: list[tuple], tail: int | None) -> tuple[bool, int | None]:
    """A slice of the time axis per probe (dim, start, stop, step) -> (last step?, new tail)."""
    kinds = []
    for dim, s, e, st in norm:
        if (s, e, st) == (0, dim, 1):
            kinds.append(("all",))
        elif (s, e, st) == (dim - 1, dim, 1):
            kinds.append(("last",))
        elif s == 0 and st == 1:
            kinds.append(("drop", dim - e))
        else:
            kinds.append(("other",))
    kind = _time_cut(kinds, "slicing the time axis")
    if kind[0] == "last":
        if tail != 0:
            raise Refuse("takes the last step of a sequence whose last frames come from right "
                         "padding (they need future input)")
        return True, tail
    if kind[0] == "drop":
        if tail is None or kind[1] > tail:
            raise Refuse(f"drops the last {kind[1]} frames of the time axis; only frames "
                         f"computed from right padding can be dropped in streaming")
        return False, tail - kind[1]
    if kind[0] == "other":
        raise Refuse("slices the time axis; streaming supports only the whole axis, its last "
                     "step, or dropping right-padding frames")
    return False, tail


def _slice_args(ctx: Context, node: onnx.NodeProto, x: Dyn):
    """Per axis: the normalized (dim, start, stop, step) of every probe."""
    starts = ctx.static_all(node.input[1])
    ends = ctx.static_all(node.input[2])
    n = np.asarray(starts[0]).size
    axes = [norm_axis(int(a), x.rank) for a in (np.asarray(ctx.invariant(node.input[3]))
                                                 .ravel() if ctx.opt(node, 3) else range(n))]
    steps = ctx.static_all(node.input[4]) if ctx.opt(node, 4) else \
        [np.ones(n, np.int64)] * len(starts)
    out = []
    for k, ax in enumerate(axes):
        norm = []
        for p in range(len(ctx.probes)):
            dim = ctx.probe_shape(node.input[0], p)[ax]
            sl = slice(int(np.ravel(starts[p])[k]), int(np.ravel(ends[p])[k]),
                       int(np.ravel(steps[p])[k]))
            norm.append((dim, *sl.indices(dim)))
        out.append((ax, norm))
    return out


def Slice(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0])
    cuts, last, tail = [], False, x.tail
    for ax, norm in _slice_args(ctx, node, x):
        if ax == x.time:
            last, tail = _time_slice(norm, tail)
        elif ax == x.batch:
            if any((s, e, st) != (0, dim, 1) for dim, s, e, st in norm):
                raise Refuse("slices the batch axis")
        else:
            if len({tuple(v) for v in norm}) != 1:
                raise Refuse("the slice of a feature axis depends on the sequence length")
            _, s, e, st = norm[0]
            cuts.append((x.faxis(ax), s, e, st))
    out = x.with_(value=None, prov=None, shape=ctx.probe_shape(node.output[0]), tail=tail)
    value, prov = _frame_cut(ctx, x, cuts)
    cur = x.with_(value=value, prov=prov, shape=out.shape)  # frame after the cuts
    if last:
        out = out.with_(time=None, reduced=True)
    value, prov = ctx.view("Reshape", [cur], {"shape": out.frame}, out.frame)
    ctx.set(node.output[0], out.with_(value=value, prov=prov))


def Gather(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0])
    ax = norm_axis(ctx.attrs(node).get("axis", 0), x.rank)
    idx_all = [np.asarray(v, np.int64) for v in ctx.static_all(node.input[1])]
    idx = idx_all[0]
    out_shape = ctx.probe_shape(node.output[0])
    shift = idx.ndim - 1

    def moved(a):
        return None if a is None or a == ax else (a + shift if a > ax else a)

    out = x.with_(value=None, prov=None, shape=out_shape, time=moved(x.time),
                  batch=moved(x.batch))
    if ax in (x.time, x.batch):
        label = "time" if ax == x.time else "batch"
        for p, v in enumerate(idx_all):
            dim = ctx.probe_shape(node.input[0], p)[ax]
            want = {-1, dim - 1} if label == "time" else {0, -1}
            if v.size != 1 or int(v.ravel()[0]) not in want:
                raise Refuse(f"gathers along the {label} axis; only the last time step "
                             f"(index -1) streams" if label == "time" else
                             "gathers along the batch axis")
        if label == "time":
            if x.tail != 0:
                raise Refuse("takes the last step of a sequence whose last frames come from "
                             "right padding (they need future input)")
            out = out.with_(reduced=True)
        value, prov = ctx.view("Reshape", [x], {"shape": out.frame}, out.frame)
        ctx.set(node.output[0], out.with_(value=value, prov=prov))
        return
    for v in idx_all[1:]:
        if not np.array_equal(v, idx):
            raise Refuse("gather indices depend on the sequence length")
    fa = x.faxis(ax)
    flat = [int(i) % x.shape[ax] for i in idx.ravel()]
    frame = list(x.frame)
    frame[fa] = len(flat)
    c = ctx.add_const(np.asarray(flat, np.int64), "indices")
    value, prov = ctx.view("Gather", [x], {"axis": fa, "indices": flat}, tuple(frame), extra=[c])
    cur = x.with_(value=value, prov=prov, shape=tuple(frame), time=None, batch=None)
    value, prov = ctx.view("Reshape", [cur], {"shape": out.frame}, out.frame)
    ctx.set(node.output[0], out.with_(value=value, prov=prov))


def Split(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0])
    a = ctx.attrs(node)
    ax = norm_axis(a.get("axis", 0), x.rank)
    fa = x.faxis(ax, "Split")
    start = 0
    for name in node.output:
        size = ctx.probe_shape(name)[ax]
        if name:
            out = x.with_(value=None, prov=None, shape=ctx.probe_shape(name))
            attrs = {"axes": (fa,), "starts": (start,), "ends": (start + size,), "steps": (1,)}
            value, prov = ctx.view("Slice", [x], attrs, out.frame)
            ctx.set(name, out.with_(value=value, prov=prov))
        start += size
