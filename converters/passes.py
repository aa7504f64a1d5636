"""Clean-up passes over the imported op list.

* Reshape/Identity chains collapse to one view; a view to the same shape is an alias.
* A Mul or Add by a per-channel constant right after a Dense, Conv or channels-first
  FrameConv (a Linear's bias, a folded BatchNormalization) is merged into its weights
  and bias.
* A Slice/Gather picking exactly one input of a Concat becomes a view of it
  (the last layer's ``h_n`` of a multi-layer export).
* Ops whose results nobody reads are dropped, and constants nobody uses.
* Graph outputs get their source model's names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from edgernn.ir import Op, Tensor, Value

VIEW = {"Reshape", "Identity"}


@dataclass
class OpList:
    """Mutable working copy of a graph under construction."""

    ops: list[Op]
    values: dict[str, Value]
    consts: dict[str, Tensor]
    protected: set[str] = field(default_factory=set)  # graph outputs, state values, inputs

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.values[name].shape if name in self.values else self.consts[name].shape

    def producers(self) -> dict[str, Op]:
        return {o: op for op in self.ops for o in op.outputs}

    def uses(self) -> dict[str, int]:
        n: dict[str, int] = {}
        for op in self.ops:
            for i in op.inputs:
                if i:
                    n[i] = n.get(i, 0) + 1
        for p in self.protected:
            n[p] = n.get(p, 0) + 1
        return n

def _replace(op: Op, **kw) -> Op:
    d = {"kind": op.kind, "name": op.name, "inputs": op.inputs, "outputs": op.outputs,
         "attrs": dict(op.attrs)}
    d.update(kw)
    return Op(**d)


def collapse_views(g: OpList) -> None:
    alias: dict[str, str] = {}
    prod: dict[str, Op] = {}
    out = []
    for op in g.ops:
        op = _replace(op, inputs=tuple(alias.get(i, i) for i in op.inputs))
        if op.kind in VIEW:
            src = op.inputs[0]
            while src in prod and prod[src].kind in VIEW:
                src = prod[src].inputs[0]
            name = op.outputs[0]
            shape = g.values[name].shape
            if g.values[src].shape == shape and name not in g.protected:
                alias[name] = src
                continue
            op = Op("Reshape", op.name, (src,), op.outputs, {"shape": shape})
        for o in op.outputs:
            prod[o] = op
        out.append(op)
    g.ops = out


def fold_affine(g: OpList) -> None:
    """Merge Binary Mul/Add by a per-channel constant into the preceding Dense/Conv."""
    changed = True
    while changed:
        changed = False
        prod, uses = g.producers(), g.uses()
        for k, op in enumerate(g.ops):
            if op.kind != "Binary" or op.attr("fn") not in ("Add", "Mul"):
                continue
            a, b = op.inputs
            data, c = (a, b) if b in g.consts else (b, a)
            src = prod.get(data)
            if c not in g.consts or src is None or not _affine_target(g, src):
                continue
            if uses.get(data, 0) != 1 or data in g.protected:
                continue
            v = _per_channel(g, src, g.consts[c].to_float(), g.values[data].shape)
            if v is None:
                continue
            i_src = g.ops.index(src)
            g.ops[i_src] = _replace(_merge(g, src, op.attr("fn"), v), outputs=op.outputs)
            del g.ops[k]
            g.values.pop(data, None)
            changed = True
            break


def _affine_target(g: OpList, src: Op) -> bool:
    """Dense, Conv, and a FrameConv whose frame is (C, *spatial): channels on axis 0."""
    if src.kind == "FrameConv":
        nsp = len(g.consts[src.inputs[1]].shape) - 2
        return (not src.attr("channels_last")
                and len(g.values[src.outputs[0]].shape) == nsp + 1)
    return src.kind in ("Dense", "Conv")


def _per_channel(g: OpList, src: Op, c: np.ndarray, out_shape) -> np.ndarray | None:
    try:
        bc = np.broadcast_to(c, out_shape)
    except ValueError:
        return None
    if bc.shape != tuple(out_shape):
        return None
    chans = g.consts[src.inputs[1]].shape[0]
    m = bc.reshape(-1, chans) if src.kind == "Dense" else bc.reshape(chans, -1).T
    if not np.all(m == m[:1]):
        return None
    return m[0].astype(np.float32)


def _merge(g: OpList, src: Op, fn: str, v: np.ndarray) -> Op:
    wname = src.inputs[1]
    bname = src.inputs[2] if len(src.inputs) > 2 and src.inputs[2] else ""
    w = g.consts[wname].to_float()
    bias = g.consts[bname].to_float().reshape(-1) if bname else np.zeros(w.shape[0], np.float32)
    if fn == "Mul":
        w = w * v.reshape((-1,) + (1,) * (w.ndim - 1))
        bias = bias * v
    else:
        bias = bias + v
    g.consts[wname] = Tensor.f32(wname, w)
    if not bname:
        bname = wname + ":bias"
        src = _replace(src, inputs=(*src.inputs[:2], bname))
    g.consts[bname] = Tensor.f32(bname, bias)
    return src


def dead_code(g: OpList, roots: set[str]) -> None:
    need = set(roots)
    keep = []
    for op in reversed(g.ops):
        if any(o in need for o in op.outputs):
            keep.append(op)
            need.update(i for i in op.inputs if i)
    g.ops = keep[::-1]
    g.consts = {k: v for k, v in g.consts.items() if k in need}
    produced = {o for op in g.ops for o in op.outputs}
    g.values = {k: v for k, v in g.values.items() if k in produced or k in g.protected}


def select_from_concat(g: OpList) -> None:
    """Slice/Gather that picks exactly one input of a Concat -> a view of that input."""
    prod = g.producers()
    for k, op in enumerate(g.ops):
        if op.kind not in ("Slice", "Gather") or op.inputs[0] not in prod:
            continue
        cat = prod[op.inputs[0]]
        if cat.kind != "Concat":
            continue
        rng = _picked_range(g, op)
        if rng is None or rng[0] != cat.attr("axis") % len(g.values[cat.outputs[0]].shape):
            continue
        start = 0
        for src in cat.inputs:
            size = g.shape_of(src)[rng[0]]
            if (start, start + size) == rng[1:] and src in g.values:
                shape = g.values[op.outputs[0]].shape
                g.ops[k] = Op("Reshape", op.name, (src,), op.outputs, {"shape": shape})
                break
            start += size


def _picked_range(g: OpList, op: Op) -> tuple[int, int, int] | None:
    rank = len(g.values[op.inputs[0]].shape)
    if op.kind == "Slice":
        if len(op.attr("axes")) != 1 or tuple(op.attr("steps")) not in ((1,), ()):
            return None
        return op.attr("axes")[0] % rank, op.attr("starts")[0], op.attr("ends")[0]
    idx = g.consts[op.inputs[1]].to_float().astype(np.int64).ravel()
    if len(idx) == 0 or np.any(np.diff(idx) != 1) or np.any(idx < 0):
        return None
    return op.attr("axis") % rank, int(idx[0]), int(idx[-1]) + 1


def name_outputs(g: OpList, wanted: dict[str, str], fixed: set[str]) -> list[str]:
    """Give graph outputs their source names: rename the value, or add an Identity."""
    names: list[str] = []
    renamed: dict[str, str] = {}
    for want, value in wanted.items():
        value = renamed.get(value, value)
        if value == want:
            names.append(value)
            continue
        taken = want in g.values
        if not taken and value not in fixed and value not in names and \
                any(value in op.outputs for op in g.ops):
            g.ops = [_replace(op, inputs=tuple(want if i == value else i for i in op.inputs),
                              outputs=tuple(want if o == value else o for o in op.outputs))
                     for op in g.ops]
            g.values[want] = replace(g.values.pop(value), name=want)
            renamed[value] = want
            names.append(want)
        elif not taken:
            g.ops.append(Op("Identity", f"output:{want}", (value,), (want,)))
            g.values[want] = replace(g.values[value], name=want)
            names.append(want)
        else:
            names.append(value)
    return names


def fuse_output_views(g: OpList) -> None:
    """A same-shape view producing a protected value: let the producer write it directly."""
    for _ in range(len(g.ops)):
        prod, uses = g.producers(), g.uses()
        for k, op in enumerate(g.ops):
            src = op.inputs[0] if op.kind in VIEW else ""
            p = prod.get(src)
            if (p is None or src in g.protected or uses.get(src, 0) != 1
                    or g.values[src].shape != g.values[op.outputs[0]].shape):
                continue
            i = g.ops.index(p)
            g.ops[i] = _replace(p, outputs=op.outputs)
            del g.ops[k]
            g.values.pop(src)
            break
        else:
            return
