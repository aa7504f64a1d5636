"""Pattern fusion over the imported op list.

Exporters before ONNX opset 17 spell LayerNormalization out as nine ops:
``m = mean(x); d = x - m; v = mean(d ** 2); y = d / sqrt(v + eps) [* scale] [+ bias]``
(means over the trailing axes, keepdims).  One LayerNorm op does the same with
one kernel call instead of nine.
"""

from __future__ import annotations

import numpy as np

from edgernn.ir import Op, Tensor

from .passes import OpList


def _const(g: OpList, name: str) -> np.ndarray | None:
    return g.consts[name].to_float() if name in g.consts else None


def _match(g: OpList, div: Op, prod: dict, uses: dict) -> tuple | None:
    """(x, axis, eps, ops to remove) if ``div`` ends a spelled-out layer norm."""
    if div.kind != "Binary" or div.attr("fn") != "Div":
        return None
    d, s = div.inputs
    chain = []
    for name, kind, fn in ((s, "Unary", "Sqrt"),):
        op = prod.get(name)
        if op is None or op.kind != kind or op.attr("fn") != fn:
            return None
        chain.append(op)
    add = prod.get(chain[0].inputs[0])
    if add is None or add.kind != "Binary" or add.attr("fn") != "Add":
        return None
    v, eps_name = add.inputs if add.inputs[1] in g.consts else add.inputs[::-1]
    eps = _const(g, eps_name)
    var, mean = prod.get(v), prod.get(d)
    if eps is None or eps.size != 1 or var is None or mean is None:
        return None
    pw = prod.get(var.inputs[0])
    if (var.kind != "Reduce" or var.attr("fn") != "Mean" or pw is None or pw.kind != "Binary"
            or pw.attr("fn") != "Pow" or pw.inputs[0] != d or mean.kind != "Binary"
            or mean.attr("fn") != "Sub"):
        return None
    two = _const(g, pw.inputs[1])
    x, m = mean.inputs
    mu = prod.get(m)
    if two is None or two.size != 1 or float(two.ravel()[0]) != 2.0 or mu is None:
        return None
    rank = len(g.values[x].shape)
    axes = sorted(a % rank for a in mu.attr("axes"))
    if (mu.kind != "Reduce" or mu.attr("fn") != "Mean" or mu.inputs[0] != x
            or sorted(a % rank for a in var.attr("axes")) != axes
            or axes != list(range(axes[0], rank)) or not mu.attr("keepdims")
            or not var.attr("keepdims")):
        return None
    inner = [mu, mean, pw, var, add, chain[0]]
    want = {m: 1, d: 2, pw.outputs[0]: 1, v: 1, add.outputs[0]: 1, s: 1}
    if any(uses.get(k, 0) != n for k, n in want.items()):
        return None
    return x, axes[0], float(eps.ravel()[0]), inner


def fuse_layernorm(g: OpList) -> None:
    """Replace spelled-out layer norms (and a following constant Mul/Add) by LayerNorm."""
    changed = True
    while changed:
        changed = False
        prod, uses = g.producers(), g.uses()
        for div in g.ops:
            found = _match(g, div, prod, uses)
            if found is not None:
                _replace_norm(g, div, *found, uses)
                changed = True
                break


def _replace_norm(g: OpList, div: Op, x: str, axis: int, eps: float, inner: list,
                  uses: dict) -> None:
    norm_shape = g.values[x].shape[axis:]
    scale, bias = np.ones(norm_shape, np.float32), np.zeros(norm_shape, np.float32)
    tail, cur = [div], div
    for fn in ("Mul", "Add"):
        nxt = _only_consumer(g, cur.outputs[0], uses)
        c = _affine_const(g, nxt, fn, cur.outputs[0], norm_shape)
        if c is None:
            continue
        scale, bias = (scale * c, bias * c) if fn == "Mul" else (scale, bias + c)
        tail.append(nxt)
        cur = nxt
    out = cur.outputs[0]
    sname, bname = f"{out}:ln_scale", f"{out}:ln_bias"
    g.consts[sname], g.consts[bname] = Tensor.f32(sname, scale), Tensor.f32(bname, bias)
    fused = Op("LayerNorm", div.name, (x, sname, bname), (out,), {"axis": axis, "epsilon": eps})
    remove = {id(op) for op in inner + tail}
    g.ops = [fused if op is cur else op for op in g.ops if op is cur or id(op) not in remove]


def _only_consumer(g: OpList, name: str, uses: dict) -> Op | None:
    if uses.get(name, 0) != 1 or name in g.protected:
        return None
    return next((op for op in g.ops if name in op.inputs), None)


def _affine_const(g: OpList, op: Op | None, fn: str, data: str, shape) -> np.ndarray | None:
    if op is None or op.kind != "Binary" or op.attr("fn") != fn:
        return None
    other = op.inputs[1] if op.inputs[0] == data else op.inputs[0]
    c = _const(g, other)
    if c is None:
        return None
    try:
        full = np.broadcast_to(c, g.values[data].shape)
    except ValueError:
        return None
    lead = full.reshape(-1, int(np.prod(shape, dtype=np.int64)))
    if not np.all(lead == lead[:1]):
        return None
    return lead[0].reshape(shape).astype(np.float32)
