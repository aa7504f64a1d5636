"""ONNX Conv, Pad and BatchNormalization -> IR (a Conv over axes inside the frame:
:mod:`.frame_ops`).

A Conv whose spatial axis (1-D) or one of whose two spatial axes (2-D) is time
becomes the IR's causal Conv; the other 2-D axis is the IR's frequency axis.
Zero padding over time (``pads`` or a preceding Pad) of ``P`` frames on the
left with a kernel extent ``E = (K - 1) * dilation`` gives ``delay = E - P``:
with ``P = E`` (the usual causal export) the conv emits its first output at the
first frame.  Right padding only adds trailing outputs that need future input;
they are recorded as the tensor's ``tail`` (a following ``Slice`` that drops
them is the identity).  BatchNormalization becomes Mul + Add, which the passes
fold into the preceding Conv/Dense.
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from .context import Context, Refuse, norm_axis
from .frame_ops import frame_conv
from .ops import binary


def register(table) -> None:
    """Add this module's ops to the op table (:class:`~.table.OpTable`)."""
    table.add(Conv)
    table.add(Pad)
    table.add(BatchNormalization)


def _pads(a: dict, nsp: int, kernel, strides, dilations, in_sizes, time_sp: int) -> list[int]:
    """Explicit [begin..., end...] pads for any auto_pad."""
    mode = a.get("auto_pad", "NOTSET")
    if mode in ("NOTSET", ""):
        return list(a.get("pads", [0] * (2 * nsp)))
    if mode == "VALID":
        return [0] * (2 * nsp)
    pads = [0] * (2 * nsp)
    for i in range(nsp):
        if i == time_sp and strides[i] != 1:
            raise Refuse("auto_pad SAME with a stride over time depends on the sequence length")
        ext = (kernel[i] - 1) * dilations[i] + 1
        total = max((math.ceil(in_sizes[i] / strides[i]) - 1) * strides[i] + ext - in_sizes[i], 0)
        small, big = total // 2, total - total // 2
        pads[i], pads[i + nsp] = (small, big) if mode == "SAME_UPPER" else (big, small)
    return pads


def Conv(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0], allow_pad=True)
    a = ctx.attrs(node)
    nsp = x.rank - 2
    if nsp not in (1, 2):
        raise Refuse(f"{nsp}-D convolution; only 1-D and 2-D (one axis = time) are supported")
    if x.time is None or x.time == 0:  # no spatial axis is time: a conv inside each frame
        frame_conv(ctx, node, ctx.dyn(node.input[0]))
        return
    if x.time < 2:
        raise Refuse("the convolution runs over the time axis as its channel axis")
    if x.batch != 0 and not (x.batch is None and x.shape[0] == 1):
        raise Refuse("the Conv input has no batch axis at position 0")
    if ctx.is_dyn(node.input[1]):
        raise Refuse("the Conv weights are data")
    w = np.asarray(ctx.invariant(node.input[1], "W"), np.float32)
    tsp = x.time - 2
    fsp = 1 - tsp
    pads, strides, dil, (left, right, ext, delay) = _geometry(a, x, w, nsp, tsp)
    attrs = {"stride": strides[tsp], "dilation": dil[tsp], "groups": int(a.get("group", 1)),
             "delay": delay}
    if nsp == 2:
        if tsp == 1:
            w = np.ascontiguousarray(w.transpose(0, 1, 3, 2))
        attrs.update(freq_stride=strides[fsp], freq_dilation=dil[fsp],
                     freq_pads=(pads[fsp], pads[fsp + nsp]))
    frame = (x.shape[1],) if nsp == 1 else (x.shape[1], x.shape[2 + fsp])
    inputs = [ctx.reshape(x, frame), ctx.add_const(w, "W")]
    if ctx.opt(node, 2):
        inputs.append(ctx.add_const(np.asarray(ctx.invariant(node.input[2], "B"), np.float32),
                                    "B"))
    out_shape = ctx.probe_shape(node.output[0])
    out = x.with_(value=None, prov=None, shape=out_shape, batch=0 if x.batch == 0 else None,
                  tpad=(0, 0), stride=x.stride * strides[tsp], delay=x.delay + x.stride * delay,
                  tail=_tail(ctx, node, x, left, right, ext, strides[tsp], delay))
    cframe = tuple(d for i, d in enumerate(out_shape) if i not in (0, x.time))
    value = ctx.emit("Conv", inputs, cframe, attrs, name=ctx.op_name("Conv", main=True))
    if cframe != out.frame:
        value = ctx.emit("Reshape", [value], out.frame, {"shape": out.frame})
    ctx.set(node.output[0], out.with_(value=value))


def _geometry(a: dict, x, w: np.ndarray, nsp: int, tsp: int):
    """pads, strides, dilations and the time axis' (left pad, right pad, extent, delay)."""
    strides = list(a.get("strides", [1] * nsp))
    dil = list(a.get("dilations", [1] * nsp))
    pads = _pads(a, nsp, list(w.shape[2:]), strides, dil, list(x.shape[2:]), tsp)
    left, right = pads[tsp] + x.tpad[0], pads[tsp + nsp] + x.tpad[1]
    ext = (w.shape[2 + tsp] - 1) * dil[tsp]
    if left > ext:
        raise Refuse(f"pads the time axis by {left} frames on the left, more than the kernel "
                     f"reaches back ({ext}); the extra outputs would precede the input")
    return pads, strides, dil, (left, right, ext, ext - left)


def _tail(ctx: Context, node, x, left, right, ext, stride, delay) -> int | None:
    """Trailing source outputs the stream never emits (None if it varies with length)."""
    if x.tail is None:
        return None
    tails = set()
    for p in range(len(ctx.probes)):
        n_src = ctx.probe_shape(node.input[0], p)[x.time] - x.tpad[0] - x.tpad[1]
        n_str = n_src - x.tail
        length = (n_src + left + right - ext - 1) // stride + 1
        emitted = max((n_str - 1 - delay) // stride + 1, 0)
        tails.add(length - emitted)
    return tails.pop() if len(tails) == 1 else None


PAD_MODES = ("constant", "reflect", "edge")


def Pad(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0], allow_pad=True)
    a = ctx.attrs(node)
    mode = a.get("mode", "constant")
    if mode not in PAD_MODES:
        raise Refuse(f"mode={mode!r}: supported are {', '.join(PAD_MODES)}")
    pads = [int(v) for v in np.asarray(ctx.invariant(node.input[1], "pads")).ravel()]
    value = float(np.asarray(ctx.invariant(node.input[2])).ravel()[0]) if ctx.opt(node, 2) \
        else 0.0
    axes = list(range(x.rank))
    if ctx.opt(node, 3):
        axes = [norm_axis(int(v), x.rank) for v in np.asarray(ctx.invariant(node.input[3]))]
    n = len(axes)
    if min(pads, default=0) < 0:
        raise Refuse("negative pads (cropping) are not supported")
    fbegin, fend = [0] * len(x.frame), [0] * len(x.frame)
    tpad = list(x.tpad)
    for i, ax in enumerate(axes):
        b, e = pads[i], pads[i + n]
        if ax == x.time:
            if (b or e) and mode != "constant":
                raise Refuse(f"{mode} padding over the time axis needs frames that have not "
                             f"arrived yet; only zero padding over time streams (into a Conv)")
            if (b or e) and value != 0.0:
                raise Refuse("non-zero padding value over the time axis")
            tpad = [tpad[0] + b, tpad[1] + e]
        elif ax == x.batch:
            if b or e:
                raise Refuse("pads the batch axis")
        elif b or e:
            fa = x.faxis(ax)
            fbegin[fa], fend[fa] = b, e
    out = x.with_(value=None, prov=None, shape=ctx.probe_shape(node.output[0]),
                  tpad=tuple(tpad))
    v = x.value
    if any(fbegin) or any(fend):
        if x.tpad != (0, 0):
            raise Refuse("pads feature axes after padding time")
        attrs = {"pads": tuple(fbegin + fend), "value": value}
        if mode != "constant":
            if any(fbegin[i] >= x.frame[i] or fend[i] >= x.frame[i]
                   for i in range(len(x.frame))) and mode == "reflect":
                raise Refuse(f"reflect pads {fbegin + fend} reach past the axes {x.frame}")
            attrs = {"pads": tuple(fbegin + fend), "mode": mode}
        v = ctx.emit("Pad", [ctx.value(x)], out.frame, attrs)
    ctx.set(node.output[0], out.with_(value=v))


def BatchNormalization(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0])
    if any(o in ctx.used for o in node.output[1:]):
        raise Refuse("training-mode outputs (running mean/var) are not supported")
    scale, bias, mean, var = (np.asarray(ctx.invariant(n), np.float64) for n in node.input[1:5])
    eps = float(ctx.attrs(node).get("epsilon", 1e-5))
    s = scale / np.sqrt(var + eps)
    shift = bias - mean * s
    shape = (1, -1) + (1,) * (x.rank - 2)
    x.faxis(1, "BatchNormalization")
    tmp = node.output[0] + ":scaled"
    scale_name, shift_name = tmp + ":s", tmp + ":b"
    for name, v in ((scale_name, s), (shift_name, shift)):
        arr = v.reshape(shape).astype(np.float32)
        for p in ctx.probes:
            p[name] = arr
    ctx.probes[0][tmp] = np.zeros(ctx.probe_shape(node.input[0]), np.float32)
    for p in ctx.probes[1:]:
        p[tmp] = np.zeros(p[node.input[0]].shape, np.float32)
    binary(ctx, onnx.helper.make_node("Mul", [node.input[0], scale_name], [tmp]))
    binary(ctx, onnx.helper.make_node("Add", [tmp, shift_name], [node.output[0]]))
