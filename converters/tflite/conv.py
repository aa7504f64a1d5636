"""CONV_2D and DEPTHWISE_CONV_2D (NHWC) -> the IR ``Conv`` record (channels first).

* **Over time** (H or W is the time axis): a causal ``Conv`` with a ring buffer; the
  other spatial axis is its frequency axis.  Left padding over time (a PAD before it,
  or SAME) becomes the conv's delay: ``delay = (Kt - 1) * dilation - left``; right
  padding only makes trailing frames a stream never emits (``tail``).
* **Inside a frame** (no time axis): when one spatial axis has size 1 and kernel 1
  (microWakeWord's ``[1, k, 1, C]`` ring-buffer windows, 1x1 pointwise convs) it is a
  ``Conv`` over the other axis with a 1-frame kernel over time.

The value is laid out channels first ``(C, F)`` once, at conversion (the meta's
``perm``), not transposed per frame.
"""

from __future__ import annotations

from .context import Context, value_q
from .elementwise import fused
from .meta import Meta, Refuse
from .reader import Operator
from .table import converts
from .weights import bias, weight


def same_pads(n: int, k_eff: int, stride: int) -> tuple[int, int, int]:
    """TFLite SAME padding: (before, after, output length)."""
    out = -(-n // stride)
    total = max((out - 1) * stride + k_eff - n, 0)
    return total // 2, total - total // 2, out


def pads(mode: str, n: int, k: int, stride: int, dilation: int) -> tuple[int, int, int]:
    k_eff = (k - 1) * dilation + 1
    if mode == "SAME":
        return same_pads(n, k_eff, stride)
    if mode != "VALID":
        raise Refuse(f"padding {mode}")
    if n < k_eff:
        raise Refuse(f"a kernel of {k_eff} over an axis of {n}")
    return 0, 0, (n - k_eff) // stride + 1


def _axes(x: Meta, kh: int, kw: int) -> tuple[int | None, int, int]:
    """(time axis or None, the conv's frequency axis, the axis that plays time's role)."""
    if x.time in (1, 2):
        return x.time, 3 - x.time, x.time
    if x.time is not None:
        raise Refuse(f"a conv whose time axis is NHWC axis {x.time}")
    if x.shape[2] == 1 and kw == 1:
        return None, 1, 2
    if x.shape[1] == 1 and kh == 1:
        return None, 2, 1
    return None, 0, 0  # both axes inside the frame: FrameConv


def _geometry(op: Operator) -> dict:
    o = op.options
    return {1: (int(o.get("stride_h", 1)), int(o.get("dilation_h_factor", 1))),
            2: (int(o.get("stride_w", 1)), int(o.get("dilation_w_factor", 1)))}


def _time_attrs(x: Meta, t: int, kt: int, stride: int, dil: int, mode: str) -> dict:
    before, after, n_out = pads(mode, x.shape[t], kt, stride, dil)
    if mode == "SAME" and stride > 1 and before + after:
        raise Refuse("SAME padding over time with a stride > 1 depends on the sequence "
                     "length; pad explicitly (causal) instead")
    left = before + x.tpad[0]
    if left > (kt - 1) * dil:
        raise Refuse(f"left padding over time ({left}) is larger than the kernel reaches "
                     f"back ({(kt - 1) * dil})")
    return {"stride": stride, "dilation": dil, "delay": (kt - 1) * dil - left, "n_out": n_out}


@converts("CONV_2D", "DEPTHWISE_CONV_2D")
def conv_2d(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    if x.rank != 4:
        raise Refuse(f"{op.opcode} on a rank-{x.rank} tensor")
    filt = ctx.tensor(op.inputs[1]).shape
    depthwise = op.opcode == "DEPTHWISE_CONV_2D"
    cin = x.shape[3]
    cout = filt[3] if depthwise else filt[0]
    groups = cin if depthwise else cin // filt[3]
    if not depthwise and cin % filt[3]:
        raise Refuse(f"{cin} input channels for a filter of {filt[3]}")
    t, f, a = _axes(x, filt[1], filt[2])
    if f == 0:
        return frame_conv(ctx, op, x, depthwise, groups, cout)
    geo, mode = _geometry(op), op.options.get("padding", "VALID")
    kf, (sf, df) = filt[f], geo[f]
    fb, fa, f_out = pads(mode, x.shape[f], kf, sf, df)
    out_shape = [1, 0, 0, cout]
    out_shape[f] = f_out
    attrs = {"groups": groups, "freq_stride": sf, "freq_dilation": df, "freq_pads": (fb, fa)}
    if t is not None:
        kt, (st, dt) = filt[t], geo[t]
        ta = _time_attrs(x, t, kt, st, dt, mode)
        out_shape[t] = ta.pop("n_out")
        attrs.update(ta)
    else:
        out_shape[a] = 1
        if x.tpad != (0, 0):
            raise Refuse("internal error: padding over time without a time axis")
    out = _out_meta(x, tuple(out_shape), attrs)
    _emit_conv(ctx, op, x, out, attrs, (a, f, t), (cout, groups, kf, f_out), depthwise)


def _emit_conv(ctx: Context, op: Operator, x: Meta, out: Meta, attrs: dict, axes: tuple,
               sizes: tuple, depthwise: bool) -> None:
    """The IR Conv (channels first) of a CONV_2D/DEPTHWISE_CONV_2D, its fused activation
    and the view back to the output's layout."""
    (a, f, t), (cout, groups, kf, f_out) = axes, sizes
    filt = ctx.tensor(op.inputs[1]).shape
    cin = x.shape[3]
    one_d = t is not None and x.shape[f] == 1 and kf == 1
    perm = (3, 0, a, f) if depthwise else (0, 3, a, f)
    integer = x.q is not None
    w_shape = (cout, cin // groups, filt[a]) + (() if one_d else (kf,))
    w = weight(ctx, op.inputs[1], perm, shape=w_shape, integer=integer)
    b = bias(ctx, op.inputs[2] if len(op.inputs) > 2 else -1, integer=integer)
    xv = _channels_first(ctx, x, f, one_d)
    if not integer and ctx.em.consts[w].dtype == "q8":
        xv = _hybrid_input(ctx, op, x, xv, t)
    q = value_q(ctx.out(op))
    ir = (cout,) if one_d else (cout, f_out)
    y = ctx.emit("Conv", [xv, w] + ([b] if b else []), ir, _ir_attrs(attrs), q=q)
    y = fused(ctx, op, y, ir, q)
    if ir != out.ir_shape:
        y = ctx.emit("Reshape", [y], out.ir_shape, {"shape": out.ir_shape}, q=q)
    ctx.result(op, out, y)


def _hybrid_input(ctx: Context, op: Operator, x: Meta, xv: str, t: int | None) -> str:
    """A dynamic-range conv quantizes its whole input (per batch) to int8 first:
    asymmetric with per-channel weights, symmetric with one scale.  Over time that
    input is the whole sequence, which a stream never has: then the conv runs on the
    float input with the int8 weights widened (a difference the report notes)."""
    if t is not None:
        ctx.em.notes.append(f"{op.opcode} (operator {op.index}) is dynamic-range over time: "
                            "TFLite quantizes the whole sequence at once, edgernn convolves "
                            "the float frames with the int8 weights")
        return xv
    per_channel = ctx.tensor(op.inputs[1]).quantization.scale.size > 1
    return ctx.emit("DynamicQuantize", [xv], ctx.em.values[xv].shape,
                    {"asymmetric": per_channel})


def _ir_attrs(attrs: dict) -> dict:
    return {k: v for k, v in attrs.items() if k != "n_out"}


def _channels_first(ctx: Context, x: Meta, f: int, one_d: bool) -> str:
    """x's value laid out (C, F) (or (C,) for a conv over time only)."""
    fi, ci = x.frame_axes.index(f), x.frame_axes.index(3)
    rest = [p for p in range(len(x.frame)) if p not in (fi, ci)]
    v = ctx.value(x, (ci, fi, *rest))
    shape = (x.shape[3],) if one_d else (x.shape[3], x.shape[f])
    ir = tuple(x.frame[p] for p in (ci, fi, *rest))
    if ir != shape:
        v = ctx.emit("Reshape", [v], shape, {"shape": shape}, q=x.q)
    return v


def _out_meta(x: Meta, shape: tuple[int, ...], attrs: dict) -> Meta:
    """The conv output's meta: channels-first layout, the new frame schedule and tail."""
    out = x.with_(shape=shape, tpad=(0, 0), perm=None, value="")
    ci = out.frame_axes.index(3)
    out = out.with_(perm=(ci, *[p for p in range(len(out.frame)) if p != ci]))
    if x.time is None:
        return out
    stride, delay = attrs["stride"], attrs["delay"]
    real = x.shape[x.time] - x.tpad[0] - x.tpad[1]
    emitted = 0 if real <= delay else (real - delay - 1) // stride + 1
    return out.with_(stride=x.stride * stride, delay=x.delay + x.stride * delay,
                     tail=max(shape[x.time] - emitted, 0) + x.tail)


def _window(op: Operator, x: Meta, kh: int, kw: int) -> tuple[dict, tuple[int, int]]:
    """FrameConv/Pool attributes (channels last) and the output (H, W) of a TFLite window."""
    geo, mode = _geometry(op), op.options.get("padding", "VALID")
    (hb, he, ho), (wb, we, wo) = (pads(mode, x.shape[a], k, *geo[a])
                                   for a, k in ((1, kh), (2, kw)))
    return ({"strides": (geo[1][0], geo[2][0]), "dilations": (geo[1][1], geo[2][1]),
             "pads": (hb, wb, he, we), "channels_last": True}, (ho, wo))


def frame_conv(ctx: Context, op: Operator, x: Meta, depthwise: bool, groups: int,
               cout: int) -> None:
    """A 2-D conv over both spatial axes of a frame: ``FrameConv`` in NHWC, no transposes."""
    if x.q is not None:
        raise Refuse("an integer 2-D convolution inside a frame (no integer kernel)")
    filt = ctx.tensor(op.inputs[1]).shape
    attrs, (ho, wo) = _window(op, x, filt[1], filt[2])
    attrs["groups"] = groups
    perm = (3, 0, 1, 2) if depthwise else (0, 3, 1, 2)
    w = weight(ctx, op.inputs[1], perm)
    b = bias(ctx, op.inputs[2] if len(op.inputs) > 2 else -1)
    out = x.with_(shape=(x.shape[0], ho, wo, cout), perm=None)
    y = ctx.emit("FrameConv", [ctx.value(x), w] + ([b] if b else []), out.frame, attrs)
    ctx.result(op, out, fused(ctx, op, y, out.frame, None))


@converts("MAX_POOL_2D", "AVERAGE_POOL_2D")
def pool_2d(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    o = op.options
    kh, kw = int(o.get("filter_height", 1)), int(o.get("filter_width", 1))
    if x.time is not None:
        raise Refuse(f"{op.opcode} over a time axis needs a pooling window over past "
                     "frames, which this edgernn lacks")
    if x.rank != 4 or x.q is not None:
        raise Refuse(f"{op.opcode} of {'an integer' if x.q else f'a rank-{x.rank}'} tensor")
    attrs, (ho, wo) = _window(op, x, kh, kw)
    attrs.pop("dilations")
    attrs.update(fn="max" if op.opcode == "MAX_POOL_2D" else "avg", kernel=(kh, kw))
    out = x.with_(shape=(x.shape[0], ho, wo, x.shape[3]), perm=None)
    y = ctx.emit("Pool", [ctx.value(x)], out.frame, attrs)
    ctx.result(op, out, fused(ctx, op, y, out.frame, None))

