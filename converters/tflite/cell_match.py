"""The toolkit of the cell matchers (:mod:`.cells`, :mod:`.gru_cell`): a loop body's IR
ops indexed by the values they produce, read backwards through views, and the weight
and bias constants a folded op is built from."""

from __future__ import annotations

import numpy as np

from edgernn.ir import Op, Tensor

from ..emit import Emitter

PRODUCTS = ("Dense", "HybridDense")


class Body:
    """The IR ops of one loop body, indexed for matching."""

    def __init__(self, em: Emitter, start: int) -> None:
        self.em = em
        self.prod = {o: op for op in em.ops[start:] for o in op.outputs}

    def r(self, v: str) -> str:
        """``v`` through views (Reshape, Identity) to the value they show."""
        while v in self.prod and self.prod[v].kind in ("Reshape", "Identity"):
            v = self.prod[v].inputs[0]
        return v

    def is_const(self, v: str) -> bool:
        return v in self.em.consts

    def op(self, v: str, kind: str, fn: str | None = None) -> Op | None:
        o = self.prod.get(self.r(v))
        if o is None or o.kind != kind or (fn is not None and o.attr("fn") != fn):
            return None
        return o

    def unary(self, v: str, fn: str) -> str | None:
        o = self.op(v, "Unary", fn)
        return None if o is None or o.attrs.get("alpha") is not None or \
            o.attrs.get("beta") is not None else self.r(o.inputs[0])

    def pair(self, v: str, fn: str) -> tuple[str, str] | None:
        o = self.op(v, "Binary", fn)
        return None if o is None else tuple(self.r(i) for i in o.inputs)

    def addends(self, v: str) -> list[str]:
        """The terms of a tree of Binary Adds (through views)."""
        o = self.op(v, "Binary", "Add")
        return [self.r(v)] if o is None else \
            self.addends(o.inputs[0]) + self.addends(o.inputs[1])

    def slice_of(self, v: str) -> tuple[str, int, int] | None:
        o = self.op(v, "Slice")
        if o is None or len(o.attr("axes")) != 1 or tuple(o.attr("steps")) not in ((), (1,)):
            return None
        return self.r(o.inputs[0]), int(o.attr("starts")[0]), int(o.attr("ends")[0])

    def product(self, v: str) -> Op | None:
        o = self.prod.get(self.r(v))
        return o if o is not None and o.kind in PRODUCTS else None

    def split(self, terms: list[str], h: str) -> dict | None:
        """Add terms -> {'x': product op of x, 'h': product op of h, 'b': [constants]}."""
        out: dict = {"b": []}
        for t in terms:
            if self.is_const(t):
                out["b"].append(t)
                continue
            o = self.product(t)
            key = "h" if o is not None and self.r(o.inputs[0]) == h else "x"
            if o is None or key in out:
                return None
            out[key] = o
        return out if "x" in out and "h" in out else None


def bias_of(op: Op) -> str:
    return op.inputs[2] if len(op.inputs) > 2 else ""


def vec(em: Emitter, names: list[str], n: int) -> np.ndarray:
    total = np.zeros(n, np.float32)
    for c in names:
        if c:
            v = em.consts[c].to_float().reshape(-1)
            total[:v.size] += np.broadcast_to(v, (n,)) if v.size == 1 else v
    return total


def const(em: Emitter, blocks: list[np.ndarray], hint: str) -> str:
    v = np.concatenate(blocks).astype(np.float32)
    return em.add_const(v, hint) if v.any() else ""


def stack(em: Emitter, names: list[str], hint: str) -> str:
    """One weight constant from row blocks (q8 blocks keep per-row scales)."""
    ts = [em.consts[n] for n in names]
    if all(t.dtype == "q8" for t in ts):
        data = np.concatenate([t.data.reshape(t.shape) for t in ts])
        scale = np.concatenate([np.broadcast_to(np.asarray(t.scale, np.float32).reshape(-1),
                                                (t.shape[0],)) for t in ts])
        t = Tensor(hint, np.ascontiguousarray(data), "q8", data.shape, scale, None, 0)
    else:
        t = Tensor.f32(hint, np.concatenate([t.to_float() for t in ts]))
    name = em.fresh(f"{em.node_name}:{hint}")
    em.consts[name] = Tensor(name, t.data, t.dtype, t.shape, t.scale, t.zero_point, t.axis)
    return name
