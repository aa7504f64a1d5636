"""``Conv``: a convolution causal over time, streamed with a per-stream ring buffer.

Per frame ``x (Cin,)`` or ``(Cin, F)``; ``W (Cout, Cin/groups, Kt[, Kf])``.  Over time
it keeps the last ``(Kt-1)*dilation + 1`` frames (zeros at the start stand for the
left padding) and emits every ``stride`` frames, the first at frame ``delay``.  Over
the frequency axis it is an ordinary conv with stride, dilation and padding.
"""

from __future__ import annotations

import numpy as np

from ..bindings import EMPTY1, PACKED, Context, direct
from ..ir import Op
from ..kernels import conv, fused
from ..reference import ops as ref_ops
from .base import Binder, OpDef, RefCall, Shape, StateDecl, need, opt, register, size
from .qlinear import Q8_ONLY, bind_conv_i8


def infer(op: Op, s: list, consts=None) -> Shape:
    x, w = s[0], s[1]
    need(len(x) in (1, 2) and len(w) == len(x) + 2, op, f"x {x} and W {w} ranks")
    groups = int(op.attr("groups"))
    need(groups >= 1 and x[0] % groups == 0 and w[0] % groups == 0
         and w[1] * groups == x[0], op, f"channels: x {x}, W {w}, groups {groups}")
    for key in ("stride", "dilation", "freq_stride", "freq_dilation"):
        need(int(op.attr(key)) >= 1, op, f"{key} must be >= 1")
    need(0 <= int(op.attr("delay")) <= (w[2] - 1) * int(op.attr("dilation")), op,
         "delay must lie in [0, (Kt-1)*dilation]")
    b = opt(s, 2)
    need(b is None or size(b) == w[0], op, f"bias {b} vs {w[0]} channels")
    if len(x) == 1:
        return (w[0],)
    p0, p1 = op.attr("freq_pads")
    span = int(op.attr("freq_dilation")) * (w[3] - 1) + 1
    fout = (x[1] + p0 + p1 - span) // int(op.attr("freq_stride")) + 1
    need(fout >= 1, op, "frequency axis too short for the kernel")
    return (w[0], fout)


def states(op: Op, graph) -> list[StateDecl]:
    x, w = graph.shape(op.inputs[0]), graph.shape(op.inputs[1])
    frames = (w[2] - 1) * int(op.attr("dilation")) + 1
    hist = (frames, x[0], x[1] if len(x) == 2 else 1)
    integer = graph.values[op.inputs[0]].dtype != "f32"  # int8: x - zp_x in int16
    return [StateDecl("hist", hist, np.int16 if integer else np.float32),
            StateDecl("count", (), np.int64)]


def schedule(sched: tuple[int, int], op: Op) -> tuple[int, int]:
    period, offset = sched
    return period * int(op.attr("stride")), offset + period * int(op.attr("delay"))


def macs(op: Op, graph) -> int:
    w, y = graph.shape(op.inputs[1]), graph.shape(op.outputs[0])
    return size(y) * size(w[1:]) // int(op.attr("stride"))  # Cin/groups * Kt * Kf per output


def bind_f32(op: Op, ctx: Context):
    w, b = ctx.const(op, "W"), ctx.const(op, "B", EMPTY1).reshape(-1)
    w4 = w.reshape(*w.shape[:3], w.shape[3] if w.ndim == 4 else 1)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    x4 = x.reshape(x.shape[0], ctx.B, x.shape[2], -1)
    y4 = y.reshape(y.shape[0], ctx.B, y.shape[2], -1)
    hist, count = ctx.state_of(op, "hist"), ctx.state_of(op, "count")
    ints = [np.int64(op.attr(k)) for k in ("stride", "dilation", "delay", "groups",
                                           "freq_stride", "freq_dilation")]
    fpad0 = np.int64(op.attr("freq_pads")[0])
    col = np.zeros(w4.shape[1] * w4.shape[2] * w4.shape[3], dtype=np.float32)
    pos = np.zeros(w4.shape[2], dtype=np.int64)
    act = ctx.epilogue(op)
    kernel = direct(fused.conv_time_act if act else conv.conv_time)
    rest, cap = (w4, b, hist, count, y4, *ints, fpad0, col, pos, *act), x4.shape[0]

    def call(n: int) -> int:
        return kernel(x4 if n == cap else x4[:n], *rest)

    return call


def reference(c: RefCall) -> np.ndarray:
    """Emit, for every frame n of the chunk with n >= delay and (n - delay) % stride == 0,
    the source conv over the window of its taps (None when no frame emits).  ``hist``
    holds the last L frames in order (oldest first), ``count`` the frames seen."""
    x, w, b = c.arg("x"), c.arg("W"), c.arg("B")
    one_d = w.ndim == 3
    x4, w4 = (x[..., None], w[..., None]) if one_d else (x, w)
    hist, count = c.state["hist"], c.state["count"]
    ring = hist.shape[1]
    seq = np.concatenate([np.transpose(hist, (1, 0, 2, 3)), x4], axis=0)  # (L + T, B, C, F)
    stride, dil, delay = (int(c.attr(k)) for k in ("stride", "dilation", "delay"))
    fp = c.attr("freq_pads")
    outs = []
    n0 = int(count.reshape(-1)[0])
    for t in range(x4.shape[0]):
        n = n0 + t
        if n < delay or (n - delay) % stride:
            continue
        taps = seq[ring + t - (w4.shape[2] - 1) * dil: ring + t + 1: dil]  # (Kt, B, C, F)
        y = ref_ops.conv2d(np.transpose(taps, (1, 2, 0, 3)), w4, b,
                           (1, int(c.attr("freq_stride"))), (1, int(c.attr("freq_dilation"))),
                           (0, fp[0], 0, fp[1]), int(c.attr("groups")))
        outs.append(y[:, :, 0, :])
    hist[...] = np.transpose(seq[-ring:], (1, 0, 2, 3))
    count[...] = n0 + x4.shape[0]
    if not outs:
        return None  # nothing emitted in this chunk
    y = np.stack(outs)
    return y[..., 0] if one_d else y


register(OpDef(
    "Conv", ("x", "W", "B?"),
    {"stride": 1, "dilation": 1, "groups": 1, "delay": 0,
     "freq_stride": 1, "freq_dilation": 1, "freq_pads": (0, 0)},
    "Convolution causal over time, per frame x (Cin,) or (Cin, F). W (Cout, Cin/groups, "
    "Kt) or (Cout, Cin/groups, Kt, Kf). State: a ring buffer of the last "
    "(Kt-1)*dilation frames (zeros at start = left padding). Emits every `stride` "
    "frames, the first at frame `delay` (delay = (Kt-1)*dilation - left_pad, the "
    "frames by which the source model's padding looks ahead). Over the frequency "
    "axis: an ordinary conv with freq_stride/freq_dilation/freq_pads.",
    infer=infer, reference=reference, states=states, schedule=schedule, macs=macs, weights=("W",),
    fusable=True,
    binders=(Binder(bind_f32, {"W": PACKED}),  # quantized W: widened at load
             Binder(bind_conv_i8, Q8_ONLY)),
    kernels=(conv.conv_time, fused.conv_time_act, conv.conv_time_i8),
))
