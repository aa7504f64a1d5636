"""Clean-up passes over the imported op list.

* Reshape/Identity chains collapse to one view; a view to the same shape is an alias.
* A Mul or Add by a per-channel constant right after a Dense or Conv (a Linear's
  bias, a folded BatchNormalization) is merged into its weights and bias.
* Ops whose results nobody reads are dropped, and constants nobody uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
            if c not in g.consts or src is None or src.kind not in ("Dense", "Conv"):
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
