"""Layout ops, which move elements of a frame without arithmetic: ``Concat``,
``Transpose``, ``Slice``, ``Gather``, ``Pad`` (index maps computed once at bind time,
see :mod:`edgernn.kernels.layout`) and ``Reshape``, ``Identity`` (views, no kernel)."""

from __future__ import annotations

import numpy as np

from ..bindings import F32, Context, each_n, rows
from ..ir import GraphError, Op
from ..kernels import layout
from .base import Binder, OpDef, RefCall, Shape, need, register, same_shape, size
from .qelementwise import INT8, QUANTIZED, bind_alias_int, bind_concat_i8, bind_indexed_i8

_INDICES = frozenset({"f32", "i32", "i64"})


def _via_layout(op: Op, fn) -> Shape:
    try:
        return tuple(int(d) for d in fn())
    except (ValueError, IndexError, TypeError) as e:
        raise GraphError(f"op {op.name!r} ({op.kind}): {e}") from None


def _indices(op: Op, consts) -> np.ndarray:
    need(consts is not None and op.inputs[1] in consts, op, "indices must be a constant")
    return consts[op.inputs[1]].to_float().astype(np.int64)


def index_map(op: Op, shape: tuple, consts) -> tuple[np.ndarray, Shape]:
    """(index map of output elements into the input frame, output shape)."""
    a = op.attr
    if op.kind == "Transpose":
        return layout.transpose_index(shape, a("perm"))
    if op.kind == "Slice":
        return layout.slice_index(shape, a("axes"), a("starts"), a("ends"), a("steps"))
    if op.kind == "Pad":
        return layout.pad_index(shape, a("pads"), a("mode"))
    return layout.gather_index(shape, _indices(op, consts), a("axis"))


def infer_indexed(op: Op, s: list, consts=None) -> Shape:
    return _via_layout(op, lambda: index_map(op, s[0], consts)[1])


def bind_indexed(op: Op, ctx: Context):
    idx, _ = index_map(op, ctx.shape(op.inputs[0]), ctx.plan.graph.consts)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    fill = F32(op.attr("value")) if op.kind == "Pad" else F32(0)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    k = x[0, 0].size
    return each_n(x.shape[0], layout.gather,
                  lambda n: (rows(x, n, k), idx, fill, rows(y, n, max(1, idx.size))))


def ref_indexed(c: RefCall) -> np.ndarray:
    x, a = c.arg("x"), c.attr
    rank = x.ndim - 2
    if c.op.kind == "Transpose":
        perm = a("perm") or tuple(range(rank))[::-1]
        return np.transpose(x, (0, 1, *(p + 2 for p in perm)))
    if c.op.kind == "Slice":
        index = [slice(None)] * x.ndim
        steps = a("steps") or (1,) * len(a("axes"))
        for ax, s, e, st in zip(a("axes"), a("starts"), a("ends"), steps, strict=True):
            index[ax % rank + 2] = slice(s, e, st)
        return x[tuple(index)]
    if c.op.kind == "Pad":
        p = a("pads")
        grow = [(0, 0), (0, 0)] + [(max(p[i], 0), max(p[i + rank], 0)) for i in range(rank)]
        y = (np.pad(x, grow, constant_values=a("value")) if a("mode") == "constant"
             else np.pad(x, grow, mode=a("mode")))
        crop = [slice(None)] * 2 + [slice(max(-p[i], 0), y.shape[i + 2] - max(-p[i + rank], 0))
                                    for i in range(rank)]
        return y[tuple(crop)]
    return np.take(x, c.arg("indices").astype(np.int64), axis=a("axis") % rank + 2)


def infer_concat(op: Op, s: list, consts=None) -> Shape:
    return _via_layout(op, lambda: layout.concat_index(s, op.attr("axis"))[1])


def bind_concat(op: Op, ctx: Context):
    idxs, _ = layout.concat_index([ctx.shape(n) for n in op.inputs], op.attr("axis"))
    y = ctx.output(op)
    cap, cols = y.shape[0], y[0, 0].size
    calls = []
    for name, idx in zip(op.inputs, idxs, strict=True):
        if ctx.is_const(name):  # constant region: filled once, never rewritten
            y.reshape(-1, cols)[:, idx] = ctx.plan.const(name).reshape(1, -1)
        else:
            x = ctx.value(name)
            calls.append(each_n(cap, layout.scatter, lambda n, x=x, idx=idx: (
                rows(x, n, idx.size), idx, rows(y, n, cols))))

    def call(n: int) -> int:
        for part in calls:
            part(n)
        return n

    return call


def ref_concat(c: RefCall) -> np.ndarray:
    like = next(a for a, k in zip(c.args, c.const, strict=True) if not k)
    parts = [np.broadcast_to(a, (*like.shape[:2], *a.shape)) if k else a
             for a, k in zip(c.args, c.const, strict=True)]
    return np.concatenate(parts, axis=c.attr("axis") % (like.ndim - 2) + 2)


def infer_reshape(op: Op, s: list, consts=None) -> Shape:
    shape = tuple(int(d) for d in op.attr("shape"))
    need(all(d >= 1 for d in shape) and size(shape) == size(s[0]), op,
         f"cannot reshape {s[0]} to {shape}")
    return shape


def bind_alias(op: Op, ctx: Context):
    ctx.alias(op)
    return lambda n: n


def ref_reshape(c: RefCall) -> np.ndarray:
    x = c.arg("x")
    return x.reshape(*x.shape[:2], *c.attr("shape"))


def ref_identity(c: RefCall) -> np.ndarray:
    return c.arg("x")


def _pad_features(op: Op) -> set[str]:
    return set() if op.attr("mode") == "constant" else {"pad-modes"}


_INDEXED = dict(infer=infer_indexed, reference=ref_indexed,
                binders=(Binder(bind_indexed), Binder(bind_indexed_i8, {"x": INT8})),
                kernels=(layout.gather,))
_VIEW = dict(alias=True,
             binders=(Binder(bind_alias), Binder(bind_alias_int, {"x": QUANTIZED})))
register(
    OpDef("Concat", ("x*",), {"axis": -1}, "Concatenate values/constants on a frame axis.",
          infer=infer_concat, reference=ref_concat,
          binders=(Binder(bind_concat), Binder(bind_concat_i8, {"x": INT8})),
          kernels=(layout.scatter,)),
    OpDef("Transpose", ("x",), {"perm": ()}, "Permute frame axes.", **_INDEXED),
    OpDef("Slice", ("x",), {"axes": (), "starts": (), "ends": (), "steps": ()},
          "Slice frame axes (numpy semantics, ends clamped).", **_INDEXED),
    OpDef("Gather", ("x", "indices"), {"axis": 0},
          "Take constant indices along a frame axis.",
          **{**_INDEXED, "binders": (Binder(bind_indexed, {"indices": _INDICES}),
                                     Binder(bind_indexed_i8,
                                            {"x": INT8, "indices": _INDICES}))}),
    OpDef("Pad", ("x",), {"pads": (), "value": 0.0, "mode": "constant"},
          "Padding of frame axes: pads = (begin_0, ..., begin_n, end_0, ..., end_n); mode "
          "'constant' (value; negative pads crop), 'reflect' (mirrored without the edge) or "
          "'edge' (the edge repeated), as ONNX Pad; 'symmetric' (mirrored with the edge, "
          "TFLite MIRROR_PAD).",
          **_INDEXED, requires=_pad_features),
    OpDef("Reshape", ("x",), {"shape": ()}, "New frame shape, same elements (a view).",
          infer=infer_reshape, reference=ref_reshape, **_VIEW),
    OpDef("Identity", ("x",), {}, "y = x (an alias, no copy).",
          infer=same_shape, reference=ref_identity, **_VIEW),
)
