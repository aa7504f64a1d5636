"""Windows over axes *inside* a frame: ``FrameConv``, ``FrameConvTranspose``, ``Pool``.

No state, no delay, no effect on the frame schedule: every frame is convolved or
pooled on its own (an STFT written as a strided conv over the samples of a chunk,
a conv stack over (channel, height, width) feature maps).  Time is never one of
these axes - the causal conv over time is :mod:`.conv`.

Frame layout: the trailing axes are ``(C, *spatial)`` (``channels_last=False``,
ONNX/PyTorch) or ``(*spatial, C)`` (``channels_last=True``, TFLite NHWC without N),
with one or two spatial axes; any axes before them are independent instances.
Attributes follow ONNX: ``strides``/``dilations`` one per spatial axis (empty = 1),
``pads`` = (begin..., end...) (empty = 0).
"""

from __future__ import annotations

import numpy as np

from ..bindings import EMPTY1, PACKED, Context, each_n
from ..ir import Op
from ..kernels import frame as kf
from ..kernels.window import MODES, PAD, out_size, scatter_taps, window_taps
from ..packing import aligned
from ..reference import frame as ref
from .base import Binder, OpDef, RefCall, Shape, need, opt, register, size


def _vec(op: Op, key: str, n: int, default: int) -> tuple[int, ...]:
    v = tuple(int(a) for a in (op.attr(key) or (default,) * n))
    need(len(v) == n, op, f"{key} {v}: need {n} values")
    return v


def geometry(op: Op, x: Shape, nsp: int) -> tuple[Shape, int, Shape]:
    """(leading axes, channels, spatial sizes) of a frame (see the module docstring)."""
    need(1 <= nsp <= 2 and len(x) >= nsp + 1, op,
         f"a frame {x} cannot hold channels and {nsp} spatial axes")
    if op.attr("channels_last"):
        return x[:-nsp - 1], x[-1], x[-nsp - 1:-1]
    return x[:-nsp - 1], x[-nsp - 1], x[-nsp:]


def compose(op: Op, lead: Shape, channels: int, spatial: Shape) -> Shape:
    return (*lead, *spatial, channels) if op.attr("channels_last") else (*lead, channels,
                                                                         *spatial)


def window(op: Op, nsp: int, kernel: Shape) -> tuple:
    """(strides, dilations, pads), checked."""
    strides, dil = _vec(op, "strides", nsp, 1), _vec(op, "dilations", nsp, 1)
    pads = _vec(op, "pads", 2 * nsp, 0)
    need(min(strides + dil) >= 1, op, "strides and dilations must be >= 1")
    need(min(pads) >= 0, op, "pads must be >= 0")
    need(all(k >= 1 for k in kernel), op, f"kernel {kernel} must be >= 1")
    return strides, dil, pads


def conv_out(op: Op, s: list) -> tuple:
    """(lead, cin, spatial, out spatial, strides, dilations, pads) of a FrameConv."""
    x, w = s[0], s[1]
    nsp = len(w) - 2
    lead, cin, sp = geometry(op, x, nsp)
    strides, dil, pads = window(op, nsp, w[2:])
    mode = op.attr("pad_mode")
    need(mode in MODES, op, f"pad_mode {mode!r}; known: {', '.join(MODES)}")
    if mode in ("reflect", "symmetric"):
        limit = 0 if mode == "reflect" else 1
        need(all(max(pads[a], pads[a + nsp]) < sp[a] + limit for a in range(nsp)), op,
             f"{mode} pads {pads} must be smaller than the axes {sp} (reflect) or not "
             f"exceed them (symmetric)")
    out = tuple(out_size(sp[a], w[2 + a], strides[a], dil[a], pads[a], pads[a + nsp])
                for a in range(nsp))
    need(min(out) >= 1, op, f"spatial axes {sp} too short for the kernel {w[2:]}")
    return lead, cin, sp, out, strides, dil, pads


def infer_conv(op: Op, s: list, consts=None) -> Shape:
    w, b = s[1], opt(s, 2)
    need(len(w) in (3, 4), op, f"W {w}: (Cout, Cin/groups, K) or (Cout, Cin/groups, Kh, Kw)")
    lead, cin, _, out, *_ = conv_out(op, s)
    groups = int(op.attr("groups"))
    need(groups >= 1 and w[0] % groups == 0 and w[1] * groups == cin, op,
         f"channels: x has {cin}, W {w}, groups {groups}")
    need(b is None or size(b) == w[0], op, f"bias {b} vs {w[0]} channels")
    return compose(op, lead, w[0], out)


def conv_macs(op: Op, graph) -> int:
    w, y = graph.shape(op.inputs[1]), graph.shape(op.outputs[0])
    return size(y) * size(w[1:])


def _strides(op: Op, spatial_size: int, channels: int) -> tuple[int, int]:
    """(channel stride, spatial element stride) in a flattened frame instance."""
    return (1, channels) if op.attr("channels_last") else (spatial_size, 1)


def bind_conv(op: Op, ctx: Context):
    shape = ctx.shape(op.inputs[0])
    w = ctx.const(op, "W")
    _, cin, sp, out, strides, dil, pads = conv_out(op, [shape, w.shape])
    cstride, elem = _strides(op, size(sp), cin)
    taps = window_taps(sp, w.shape[2:], strides, dil, pads, out, op.attr("pad_mode"), elem)
    groups = int(op.attr("groups"))
    cg, r = w.shape[1], size(w.shape[1:])
    width = -(-r // 16) * 16  # whole vectors: aligned rows, no remainder loop
    w2 = aligned(np.zeros((w.shape[0], width), np.float32))
    w2[:, :r] = w.reshape(w.shape[0], r)
    idx = kf.im2col_map(taps, cg, cstride, width)
    b = ctx.const(op, "B", EMPTY1).reshape(-1)
    ycs, yps = _strides(op, size(out), w.shape[0])
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    kin, kout = cin * size(sp), w.shape[0] * size(out)
    act = ctx.epilogue(op)
    rest = (idx, np.int64(cg * cstride), np.int64(groups), np.int64(ycs), np.int64(yps),
            aligned(np.zeros((kf.TILE, width), np.float32)), *act)
    return each_n(x.shape[0], kf.frame_conv_act if act else kf.frame_conv, lambda n: (
        x[:n].reshape(-1, kin), w2, b, y[:n].reshape(-1, kout), *rest))


def _channels_first(op: Op, a: np.ndarray, nsp: int) -> np.ndarray:
    """(T, B, *lead, C, *sp) or (..., *sp, C) -> (T*B*lead, C, *sp)."""
    if op.attr("channels_last"):
        a = np.moveaxis(a, -1, -nsp - 1)
    return a.reshape(-1, *a.shape[-nsp - 1:])


def _restore(op: Op, y: np.ndarray, like: np.ndarray, nsp: int) -> np.ndarray:
    y = y.reshape(*like.shape[:-nsp - 1], *y.shape[1:])
    return np.moveaxis(y, -nsp - 1, -1) if op.attr("channels_last") else y


def ref_conv(c: RefCall) -> np.ndarray:
    x, w = c.arg("x"), c.arg("W")
    nsp = w.ndim - 2
    y = ref.conv(_channels_first(c.op, x, nsp), w, c.arg("B"), c.attr("strides"),
                 c.attr("dilations"), c.attr("pads"), int(c.attr("groups")),
                 c.attr("pad_mode"))
    return _restore(c.op, y, x, nsp)


def convt_out(op: Op, s: list) -> tuple:
    """(lead, cin, spatial, out spatial, strides, dilations, pads) of a FrameConvTranspose."""
    x, w = s[0], s[1]
    nsp = len(w) - 2
    lead, cin, sp = geometry(op, x, nsp)
    strides, dil, pads = window(op, nsp, w[2:])
    opad = _vec(op, "output_padding", nsp, 0)
    need(all(0 <= opad[a] < max(strides[a], dil[a]) for a in range(nsp)), op,
         f"output_padding {opad} must be below the stride or dilation")
    out = tuple(strides[a] * (sp[a] - 1) + opad[a] + (w[2 + a] - 1) * dil[a] + 1
                - pads[a] - pads[a + nsp] for a in range(nsp))
    need(min(out) >= 1, op, f"pads {pads} crop the whole output")
    return lead, cin, sp, out, strides, dil, pads


def infer_convt(op: Op, s: list, consts=None) -> Shape:
    w, b = s[1], opt(s, 2)
    need(len(w) in (3, 4), op, f"W {w}: (Cin, Cout/groups, K) or (Cin, Cout/groups, Kh, Kw)")
    lead, cin, _, out, *_ = convt_out(op, s)
    groups = int(op.attr("groups"))
    need(groups >= 1 and cin == w[0] and cin % groups == 0, op,
         f"channels: x has {cin}, W {w}, groups {groups}")
    need(b is None or size(b) == w[1] * groups, op, f"bias {b} vs {w[1] * groups} channels")
    return compose(op, lead, w[1] * groups, out)


def convt_macs(op: Op, graph) -> int:
    w, x = graph.shape(op.inputs[1]), graph.shape(op.inputs[0])
    return size(x) * size(w[1:])


def bind_convt(op: Op, ctx: Context):
    shape = ctx.shape(op.inputs[0])
    w = ctx.const(op, "W")
    _, cin, sp, out, strides, dil, pads = convt_out(op, [shape, w.shape])
    cout = w.shape[1] * int(op.attr("groups"))
    xcs, xps = _strides(op, size(sp), cin)
    ycs, yps = _strides(op, size(out), cout)
    otaps = scatter_taps(sp, w.shape[2:], strides, dil, pads, out, yps)
    wt = np.ascontiguousarray(w.reshape(w.shape[0], w.shape[1], -1).transpose(0, 2, 1))
    b = ctx.const(op, "B", EMPTY1).reshape(-1)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    kin, kout = cin * size(sp), cout * size(out)
    ints = (np.int64(xcs), np.int64(xps), np.int64(ycs), np.int64(yps),
            np.int64(op.attr("groups")))
    return each_n(x.shape[0], kf.conv_transpose, lambda n: (
        x[:n].reshape(-1, kin), wt, b, y[:n].reshape(-1, kout), otaps, *ints))


def ref_convt(c: RefCall) -> np.ndarray:
    x, w = c.arg("x"), c.arg("W")
    nsp = w.ndim - 2
    y = ref.conv_transpose(_channels_first(c.op, x, nsp), w, c.arg("B"), c.attr("strides"),
                           c.attr("dilations"), c.attr("pads"), c.attr("output_padding"),
                           int(c.attr("groups")))
    return _restore(c.op, y, x, nsp)


def pool_out(op: Op, x: Shape) -> tuple:
    """(lead, channels, spatial, out spatial, kernel, strides, dilations, pads) of a Pool."""
    kernel = tuple(int(k) for k in op.attr("kernel"))
    nsp = len(kernel)
    lead, ch, sp = geometry(op, x, nsp)
    strides, dil, pads = window(op, nsp, kernel)
    need(op.attr("fn") in ("max", "avg"), op, f"fn {op.attr('fn')!r}: 'max' or 'avg'")
    need(all(max(pads[a], pads[a + nsp]) < dil[a] * (kernel[a] - 1) + 1 for a in range(nsp)),
         op, f"pads {pads} must be smaller than the window")
    out = tuple(out_size(sp[a], kernel[a], strides[a], dil[a], pads[a], pads[a + nsp],
                         bool(op.attr("ceil_mode"))) for a in range(nsp))
    need(min(out) >= 1, op, f"spatial axes {sp} too short for the window {kernel}")
    return lead, ch, sp, out, kernel, strides, dil, pads


def infer_pool(op: Op, s: list, consts=None) -> Shape:
    lead, ch, _, out, *_ = pool_out(op, s[0])
    return compose(op, lead, ch, out)


def bind_pool(op: Op, ctx: Context):
    _, ch, sp, out, kernel, strides, dil, pads = pool_out(op, ctx.shape(op.inputs[0]))
    cstride, elem = _strides(op, size(sp), ch)
    taps = window_taps(sp, kernel, strides, dil, pads, out, "constant", elem)
    counted = (taps >= PAD) if op.attr("count_include_pad") else (taps >= 0)
    inv = (1.0 / np.maximum(counted.sum(axis=1), 1)).astype(np.float32)
    ycs, yps = _strides(op, size(out), ch)
    ints = (np.int64(ch), np.int64(cstride), np.int64(ycs), np.int64(yps),
            op.attr("fn") == "max", inv)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    kin, kout = ch * size(sp), ch * size(out)
    return each_n(x.shape[0], kf.pool, lambda n: (
        x[:n].reshape(-1, kin), y[:n].reshape(-1, kout), taps, *ints))


def ref_pool(c: RefCall) -> np.ndarray:
    x = c.arg("x")
    nsp = len(c.attr("kernel"))
    y = ref.pool(_channels_first(c.op, x, nsp), c.attr("fn"), c.attr("kernel"),
                 c.attr("strides"), c.attr("dilations"), c.attr("pads"),
                 bool(c.attr("ceil_mode")), bool(c.attr("count_include_pad")))
    return _restore(c.op, y, x, nsp)


_WINDOW = {"strides": (), "dilations": (), "pads": (), "channels_last": False}
register(
    OpDef("FrameConv", ("x", "W", "B?"),
          {**_WINDOW, "groups": 1, "pad_mode": "constant"},
          "Convolution over axes inside each frame (ONNX Conv per frame; no state). Frame "
          "(*lead, C, *spatial) or, channels_last, (*lead, *spatial, C) with 1 or 2 spatial "
          "axes; W (Cout, Cin/groups, *K); pads padded with zeros, or mirrored (pad_mode "
          "'reflect'), repeated ('edge') like ONNX Pad, or mirrored with the edge "
          "('symmetric', TFLite MIRROR_PAD).",
          infer=infer_conv, reference=ref_conv, macs=conv_macs, weights=("W",), fusable=True,
          binders=(Binder(bind_conv, {"W": PACKED}),),
          kernels=(kf.frame_conv, kf.frame_conv_act)),
    OpDef("FrameConvTranspose", ("x", "W", "B?"),
          {**_WINDOW, "groups": 1, "output_padding": ()},
          "Transposed convolution over axes inside each frame (ONNX ConvTranspose per "
          "frame). W (Cin, Cout/groups, *K); output = stride*(n-1) + output_padding + "
          "(K-1)*dilation + 1 - pads.",
          infer=infer_convt, reference=ref_convt, macs=convt_macs, weights=("W",),
          binders=(Binder(bind_convt, {"W": PACKED}),), kernels=(kf.conv_transpose,)),
    OpDef("Pool", ("x",),
          {**_WINDOW, "fn": "max", "kernel": (), "ceil_mode": False,
           "count_include_pad": False},
          "Max ('max') or average ('avg') pooling over axes inside each frame (ONNX "
          "MaxPool / AveragePool per frame); padding never wins a max; the average divides "
          "by the taps inside the input, or with count_include_pad inside the padded extent.",
          infer=infer_pool, reference=ref_pool, binders=(Binder(bind_pool),),
          kernels=(kf.pool,)),
)
