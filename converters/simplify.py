"""Rewrites of the imported op list that give the same numbers with fewer or cheaper calls.

* ``Binary Pow`` by the constant 2 is ``Unary Square``: ``x * x`` rounds once, exactly
  like a correctly rounded ``powf(x, 2)``, without calling libm (5 µs -> 1 µs for
  Silero's 129x4 STFT magnitudes).  Runs after the LayerNorm fusion, which matches
  the ``Pow``.
* A ``Pad`` (reflect, edge, symmetric, or zeros) that only feeds a ``FrameConv`` -
  directly or through reshapes that add or drop size-1 axes - and pads only the
  conv's spatial axes becomes the conv's own ``pads``/``pad_mode``: one gather and
  one buffer less (Silero's reflect-padded STFT).
"""

from __future__ import annotations

from edgernn.ir import Op, Value

from .passes import OpList, _replace


def pow_to_square(g: OpList) -> None:
    for k, op in enumerate(g.ops):
        if op.kind != "Binary" or op.attr("fn") != "Pow" or op.inputs[1] not in g.consts:
            continue
        e = g.consts[op.inputs[1]].to_float()
        if e.size == 1 and float(e.reshape(-1)[0]) == 2.0 and op.inputs[0] not in g.consts:
            if g.values[op.inputs[0]].shape == g.values[op.outputs[0]].shape:
                g.ops[k] = Op("Unary", op.name, (op.inputs[0],), op.outputs, {"fn": "Square"})


def _unit_axes_map(src: tuple, dst: tuple) -> dict[int, int] | None:
    """For a reshape that only adds or drops size-1 axes: src axis -> dst axis of the
    axes longer than 1; None for any other reshape."""
    a = [i for i, d in enumerate(src) if d != 1]
    b = [i for i, d in enumerate(dst) if d != 1]
    if [src[i] for i in a] != [dst[i] for i in b]:
        return None
    return dict(zip(a, b, strict=True))


def _chain(g: OpList, conv: Op, prod: dict, uses: dict) -> tuple[Op, list[Op]] | None:
    """(the Pad, the reshapes between it and the conv) if the conv reads a private Pad."""
    views, name = [], conv.inputs[0]
    while True:
        op = prod.get(name)
        if op is None or uses.get(name, 0) != 1 or name in g.protected:
            return None
        if op.kind == "Pad":
            return op, views
        if op.kind != "Reshape":
            return None
        views.append(op)
        name = op.inputs[0]


def _spatial_pads(g: OpList, pad: Op, conv: Op) -> tuple[int, ...] | None:
    """The Pad's pads as the conv's (begin..., end...) on its spatial axes, or None."""
    padded, dst = g.values[pad.outputs[0]].shape, g.values[conv.inputs[0]].shape
    axes = _unit_axes_map(padded, dst)
    if axes is None or conv.attr("channels_last"):
        return None
    pads = list(pad.attr("pads"))
    r = len(pads) // 2
    begin, end = [0] * len(dst), [0] * len(dst)
    for i in range(r):
        if pads[i] or pads[i + r]:
            if i not in axes:
                return None
            begin[axes[i]], end[axes[i]] = pads[i], pads[i + r]
    spatial = range(len(dst) - (len(g.consts[conv.inputs[1]].shape) - 2), len(dst))
    if any((begin[i] or end[i]) and i not in spatial for i in range(len(dst))):
        return None
    return tuple(begin[i] for i in spatial) + tuple(end[i] for i in spatial)


def fold_pad_into_frame_conv(g: OpList) -> None:
    prod, uses = g.producers(), g.uses()
    for conv in g.ops:
        if (conv.kind != "FrameConv" or any(conv.attr("pads"))
                or conv.attr("pad_mode") != "constant"):
            continue
        found = _chain(g, conv, prod, uses)
        if found is None:
            continue
        pad, views = found
        mode = pad.attr("mode")
        if (mode == "constant" and pad.attr("value") != 0.0) or min(pad.attr("pads")) < 0:
            continue
        pads = _spatial_pads(g, pad, conv)
        if pads is None or min(pads) < 0:
            continue
        dst = g.values[conv.inputs[0]].shape
        nsp = len(pads) // 2
        unpadded = dst[:-nsp] + tuple(d - pads[i] - pads[i + nsp]
                                      for i, d in enumerate(dst[-nsp:]))
        name = conv.inputs[0] + ":unpadded"
        g.values[name] = Value(name, unpadded)
        reshape = Op("Reshape", pad.name, (pad.inputs[0],), (name,), {"shape": unpadded})
        g.ops[g.ops.index(pad)] = reshape
        for v in views:
            g.ops.remove(v)
        g.ops[g.ops.index(conv)] = _replace(conv, inputs=(name, *conv.inputs[1:]),
                                            attrs={**conv.attrs, "pads": pads,
                                                   "pad_mode": mode})
        return fold_pad_into_frame_conv(g)  # the op list changed: start over

