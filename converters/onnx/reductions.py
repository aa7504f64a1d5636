"""ONNX Softmax/LogSoftmax, ReduceMean/Max/Min/Sum and LayerNormalization -> IR, over
feature axes (a reduction over time is refused: it is not causal)."""

from __future__ import annotations

import numpy as np
import onnx

from .context import Context, Dyn, Refuse, norm_axis
from .ops import same_meta


def register(table) -> None:
    """Add this module's ops to the op table (:class:`~.table.OpTable`)."""
    table.add(softmax, "Softmax", pass_through=True)
    table.add(softmax, "LogSoftmax", pass_through=True)
    table.add(reduce, "ReduceMean", pass_through=lambda a: bool(a.get("keepdims", 1)))
    for name in ("ReduceMax", "ReduceMin", "ReduceSum"):
        table.add(reduce, name)
    table.add(LayerNormalization, pass_through=True)


def softmax(ctx: Context, node: onnx.NodeProto) -> None:
    """Softmax and LogSoftmax over a feature axis (opset < 13: the flattened trailing axes)."""
    x = ctx.dyn(node.input[0])
    default = -1 if ctx.opset >= 13 else 1
    axis = norm_axis(ctx.attrs(node).get("axis", default), x.rank)
    attrs = {"log": node.op_type == "LogSoftmax"}
    if ctx.opset >= 13 or axis == x.rank - 1:
        attrs["axis"] = x.faxis(axis, node.op_type)
        value = ctx.emit("Softmax", [ctx.value(x)], x.frame, attrs, out=node.output[0])
    else:  # opset < 13: softmax over the flattened axes axis..end
        faxes = [x.faxis(i, node.op_type) for i in range(axis, x.rank)]
        keep = x.frame[:faxes[0]]
        flat = ctx.reshape(x, keep + (int(np.prod(x.frame[faxes[0]:])),))
        attrs["axis"] = len(keep)
        y = ctx.emit("Softmax", [flat], keep + (int(np.prod(x.frame[faxes[0]:])),), attrs)
        value = ctx.emit("Reshape", [y], x.frame, {"shape": x.frame}, out=node.output[0])
    same_meta(ctx, node, x, value)


def _reduce_axes(ctx: Context, node: onnx.NodeProto, x: Dyn, a: dict) -> list[int] | None:
    """The reduced ONNX axes, normalized (None: no-op with empty axes)."""
    if "axes" in a:
        axes = list(a["axes"])
    elif ctx.opt(node, 1):
        axes = [int(v) for v in np.asarray(ctx.invariant(node.input[1], "axes")).ravel()]
    else:
        axes = []
    if not axes:
        return None if a.get("noop_with_empty_axes", 0) else list(range(x.rank))
    return [norm_axis(ax, x.rank) for ax in axes]


def reduce(ctx: Context, node: onnx.NodeProto) -> None:
    """ReduceMean, ReduceMax, ReduceMin, ReduceSum over feature axes (a size-1 batch too)."""
    x = ctx.dyn(node.input[0])
    a = ctx.attrs(node)
    axes = _reduce_axes(ctx, node, x, a)
    if axes is None:
        ctx.set(node.output[0], x)
        return
    faxes = []
    for ax in axes:
        if ax == x.batch and x.shape[ax] == 1:
            continue
        if ax == x.time:
            raise Refuse(f"reduces over the time axis (axis {ax}): a reduction over the "
                         f"whole sequence is not causal; only taking the last step streams "
                         f"(e.g. y[:, -1] instead of y.mean(1))")
        faxes.append(x.faxis(ax, node.op_type))
    keep = bool(a.get("keepdims", 1))
    out = ctx.probe_shape(node.output[0])
    if not faxes:  # only a size-1 batch axis: a reshape
        batch = None if not keep else x.batch
        time = x.time if keep or x.batch is None or x.time is None or x.time < x.batch \
            else x.time - 1
        value = ctx.reshape(x.with_(shape=x.shape), x.frame)
        ctx.set(node.output[0], x.with_(value=value, prov=None, shape=out, time=time,
                                        batch=batch))
        return
    time = x.time if x.time is None or keep else x.time - sum(1 for ax in axes if ax < x.time)
    batch = x.batch
    if batch is not None and not keep:
        batch = None if batch in axes else batch - sum(1 for g in axes if g < batch)
    frame = tuple(1 if i in faxes else d for i, d in enumerate(x.frame)) if keep else \
        tuple(d for i, d in enumerate(x.frame) if i not in faxes)
    attrs = {"fn": node.op_type[len("Reduce"):], "axes": tuple(faxes), "keepdims": keep}
    value = ctx.emit("Reduce", [ctx.value(x)], frame, attrs, out=node.output[0])
    ctx.set(node.output[0], x.with_(value=value, prov=None, shape=out, time=time, batch=batch))


def LayerNormalization(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0])
    a = ctx.attrs(node)
    axis = norm_axis(a.get("axis", -1), x.rank)
    faxes = [x.faxis(i, "LayerNormalization") for i in range(axis, x.rank)]
    if len(node.output) > 1 and any(o in ctx.used for o in node.output[1:]):
        raise Refuse("the Mean / InvStdDev outputs are not supported")
    norm_shape = x.frame[faxes[0]:]
    scale = np.broadcast_to(ctx.invariant(node.input[1], "scale"), norm_shape)
    inputs = [ctx.value(x), ctx.add_const(np.asarray(scale, np.float32), "scale")]
    if ctx.opt(node, 2):
        bias = np.broadcast_to(ctx.invariant(node.input[2], "bias"), norm_shape)
        inputs.append(ctx.add_const(np.asarray(bias, np.float32), "bias"))
    value = ctx.emit("LayerNorm", inputs, x.frame,
                     {"axis": faxes[0], "epsilon": float(a.get("epsilon", 1e-5))},
                     out=node.output[0])
    same_meta(ctx, node, x, value)
