"""ONNX ops over axes inside a frame -> the IR's ``FrameConv``, ``FrameConvTranspose``,
``Pool`` and ``Reduce`` (global pooling).

These run when no spatial axis is time: the ONNX batch axis ``N`` is the stream's
time axis (a sequence of chunks), its batch axis, a size-1 axis, or a frame axis
(then it becomes a leading instance axis of the frame); the channel and spatial
axes are frame axes.  Frames stay channels-first ``(C, *spatial)``, as in ONNX.
:func:`frame_conv` is called by :func:`.conv.Conv` for such inputs.
"""

from __future__ import annotations

import numpy as np
import onnx

from .context import Context, Dyn, Refuse


def register(table) -> None:
    """Add this module's ops to the op table (:class:`~.table.OpTable`)."""
    table.add(pool, "MaxPool")
    table.add(pool, "AveragePool")
    table.add(global_pool, "GlobalAveragePool")
    table.add(global_pool, "GlobalMaxPool")
    table.add(ConvTranspose)


def in_frame(x: Dyn, what: str) -> int:
    """The number of spatial axes; refuse unless channel and spatial axes are frame axes."""
    nsp = x.rank - 2
    if nsp not in (1, 2):
        raise Refuse(f"{nsp}-D {what}; only 1-D and 2-D are supported")
    for ax, label in ((x.time, "time"), (x.batch, "batch")):
        if ax is not None and ax != 0:
            raise Refuse(f"the {what} runs over the {label} axis (axis {ax}); over time only "
                         f"a causal Conv streams")
    return nsp


def _ints(a: dict, key: str, n: int, default: int) -> tuple[int, ...]:
    return tuple(int(v) for v in a.get(key, [default] * n))


def explicit_pads(a: dict, x: Dyn, kernel, strides, dilations, ceil: bool = False) -> tuple:
    """ONNX ``pads`` or ``auto_pad`` as explicit (begin..., end...)."""
    nsp = len(kernel)
    mode = a.get("auto_pad", "NOTSET")
    if mode in ("NOTSET", ""):
        return _ints(a, "pads", 2 * nsp, 0)
    if mode == "VALID":
        return (0,) * (2 * nsp)
    pads = [0] * (2 * nsp)
    for i in range(nsp):
        n = x.shape[2 + i]
        total = max((-(-n // strides[i]) - 1) * strides[i] + (kernel[i] - 1) * dilations[i]
                    + 1 - n, 0)
        small, big = total // 2, total - total // 2
        pads[i], pads[i + nsp] = (small, big) if mode == "SAME_UPPER" else (big, small)
    return tuple(pads)


def weight(ctx: Context, name: str, what: str) -> np.ndarray:
    """A constant weight, float16 kept as stored (widened at load), anything else float32."""
    w = np.asarray(ctx.invariant(name, what))
    return w if w.dtype == np.float16 else w.astype(np.float32)


def _emit(ctx: Context, node: onnx.NodeProto, x: Dyn, kind: str, inputs: list[str],
          attrs: dict) -> None:
    out = x.with_(value=None, prov=None, shape=ctx.probe_shape(node.output[0]))
    value = ctx.emit(kind, [ctx.value(x), *inputs], out.frame, attrs,
                     name=ctx.op_name(kind, main=True))
    ctx.set(node.output[0], out.with_(value=value))


def frame_conv(ctx: Context, node: onnx.NodeProto, x: Dyn) -> None:
    """An ONNX Conv none of whose spatial axes is time."""
    nsp = in_frame(x, "convolution")
    if ctx.is_dyn(node.input[1]):
        raise Refuse("the Conv weights are data")
    a = ctx.attrs(node)
    w = weight(ctx, node.input[1], "W")
    strides, dil = _ints(a, "strides", nsp, 1), _ints(a, "dilations", nsp, 1)
    pads = explicit_pads(a, x, w.shape[2:], strides, dil)
    inputs = [ctx.add_const(w, "W")]
    if ctx.opt(node, 2):
        inputs.append(ctx.add_const(weight(ctx, node.input[2], "B"), "B"))
    attrs = {"strides": strides, "dilations": dil, "pads": pads,
             "groups": int(a.get("group", 1))}
    _emit(ctx, node, x, "FrameConv", inputs, attrs)


def ConvTranspose(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0])
    nsp = in_frame(x, "transposed convolution")
    if ctx.is_dyn(node.input[1]):
        raise Refuse("the ConvTranspose weights are data")
    a = ctx.attrs(node)
    w = weight(ctx, node.input[1], "W")
    strides, dil = _ints(a, "strides", nsp, 1), _ints(a, "dilations", nsp, 1)
    opad = _ints(a, "output_padding", nsp, 0)
    out = ctx.probe_shape(node.output[0])[2:]
    if "output_shape" in a or a.get("auto_pad", "NOTSET") not in ("NOTSET", ""):
        pads = [0] * (2 * nsp)
        for i in range(nsp):  # the ONNX spec's split of the total padding
            total = (strides[i] * (x.shape[2 + i] - 1) + opad[i]
                     + (w.shape[2 + i] - 1) * dil[i] + 1 - out[i])
            lower = a.get("auto_pad") == "SAME_LOWER"
            pads[i] = total - total // 2 if lower else total // 2
            pads[i + nsp] = total - pads[i]
    else:
        pads = list(_ints(a, "pads", 2 * nsp, 0))
    inputs = [ctx.add_const(w, "W")]
    if ctx.opt(node, 2):
        inputs.append(ctx.add_const(weight(ctx, node.input[2], "B"), "B"))
    attrs = {"strides": strides, "dilations": dil, "pads": tuple(pads), "output_padding": opad,
             "groups": int(a.get("group", 1))}
    _emit(ctx, node, x, "FrameConvTranspose", inputs, attrs)


def pool(ctx: Context, node: onnx.NodeProto) -> None:
    """MaxPool and AveragePool over axes inside the frame."""
    x = ctx.dyn(node.input[0])
    nsp = in_frame(x, node.op_type)
    if len(node.output) > 1 and node.output[1] in ctx.used:
        raise Refuse("the Indices output of MaxPool is not supported")
    a = ctx.attrs(node)
    kernel = _ints(a, "kernel_shape", nsp, 1)
    strides, dil = _ints(a, "strides", nsp, 1), _ints(a, "dilations", nsp, 1)
    attrs = {"fn": "max" if node.op_type == "MaxPool" else "avg", "kernel": kernel,
             "strides": strides, "dilations": dil,
             "pads": explicit_pads(a, x, kernel, strides, dil),
             "ceil_mode": bool(a.get("ceil_mode", 0)),
             "count_include_pad": bool(a.get("count_include_pad", 0))}
    _emit(ctx, node, x, "Pool", [], attrs)


def global_pool(ctx: Context, node: onnx.NodeProto) -> None:
    """GlobalAveragePool / GlobalMaxPool: a Reduce over the spatial axes, kept as size 1."""
    x = ctx.dyn(node.input[0])
    nsp = in_frame(x, node.op_type)
    axes = tuple(x.faxis(2 + i, node.op_type) for i in range(nsp))
    fn = "Mean" if node.op_type == "GlobalAveragePool" else "Max"
    _emit(ctx, node, x, "Reduce", [], {"fn": fn, "axes": axes, "keepdims": True})
