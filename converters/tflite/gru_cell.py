"""Fold a Keras GRU cell step (both ``reset_after`` forms) into the IR ``GRU`` op:
``h' = z * h + (1 - z) * n``, ``z = sigmoid(xz + hz)``, ``r = sigmoid(xr + hr)``,
``n = tanh(xn + r * (h Rn + bn))`` (``reset_after``: linear_before_reset) or
``n = tanh(xn + (r * h) Rn)``; gates z, r, h are the IR's order."""

from __future__ import annotations

import numpy as np

from edgernn.ir import Op, State

from .cell_match import Body, bias_of, const, stack, vec


def gru(b: Body, states: list[State]):
    if len(states) != 1:
        return None
    hs = states[0]
    add = b.pair(hs.output, "Add")
    for zh, rest in (add, add[::-1]) if add else ():
        zm, rm = b.pair(zh, "Mul"), b.pair(rest, "Mul")
        if zm is None or rm is None or hs.input not in zm:
            continue
        z = zm[1] if zm[0] == hs.input else zm[0]
        for one_z, n in (rm, rm[::-1]):
            sub = b.pair(one_z, "Sub")
            if sub and sub[1] == z and b.is_const(sub[0]) and \
                    np.all(b.em.consts[sub[0]].to_float() == 1.0):
                op = _gru_gates(b, hs, z, n)
                if op is not None:
                    return op, [hs]
    return None


def _x_slice(b: Body, terms: list[str], start: int, n: int):
    """(product op, term) of the slice [start, start+n) of a product among ``terms``."""
    for t in terms:
        sl = b.slice_of(t)
        if sl is not None and sl[1:] == (start, start + n) and b.product(sl[0]) is not None:
            return b.product(sl[0]), t
    return None, None


def _gate(b: Body, v: str, fn: str, k: int, H: int, hprod: Op | None):
    """(x product, terms, h slice source) of gate k: fn(x[kH:(k+1)H] + h[...] + consts)."""
    src = b.unary(v, fn)
    if src is None:
        return None
    terms = b.addends(src)
    xo, xt = _x_slice(b, terms, k * H, H)
    return xo, terms, xt


def _gru_gates(b: Body, hs: State, z: str, n: str) -> Op | None:
    H = hs.shape[0]
    gz, gn = _gate(b, z, "Sigmoid", 0, H, None), _gate(b, n, "Tanh", 2, H, None)
    if gz is None or gn is None or gz[0] is None or gn[0] is not gz[0]:
        return None
    xo = gz[0]
    hz = [t for t in gz[1] if t != gz[2] and not b.is_const(t)]
    hsl = b.slice_of(hz[0]) if len(hz) == 1 else None
    ho = b.product(hsl[0]) if hsl else None
    if ho is None or hsl[1:] != (0, H) or ho.inputs[0] != hs.input or xo.inputs[0] == hs.input:
        return None
    rest = [t for t in gn[1] if t != gn[2] and not b.is_const(t)]
    if len(rest) != 1:
        return None
    lbr = b.pair(rest[0], "Mul") is not None
    found = _reset(b, hs, rest[0], ho, lbr, H)
    if found is None:
        return None
    r, R, rb_n, dn = found
    gr = _gate(b, r, "Sigmoid", 1, H, None)
    if gr is None or gr[0] is not xo:
        return None
    hr = [t for t in gr[1] if t != gr[2] and not b.is_const(t)]
    rsl = b.slice_of(hr[0]) if len(hr) == 1 else None
    if rsl is None or rsl[0] != hsl[0] or rsl[1:] != (H, 2 * H):
        return None
    cz, cr = ([t for t in g[1] if b.is_const(t)] for g in (gz, gr))
    cn = [t for t in gn[1] if b.is_const(t)]
    em = b.em
    wb = vec(em, [bias_of(xo)], 3 * H) + np.concatenate(
        [vec(em, cz, H), vec(em, cr, H), vec(em, cn, H)])
    rb = vec(em, [bias_of(ho)], 3 * H) + np.concatenate(
        [np.zeros(2 * H, np.float32), vec(em, rb_n + ([bias_of(dn)] if dn else []), H)])
    return Op("GRU", em.op_name("GRU"), (xo.inputs[0], xo.inputs[1], R, const(em, [wb], "WB"),
                                         const(em, [rb], "RB")),
              (hs.output,), {"hidden_size": H, "linear_before_reset": lbr})


def _reset(b: Body, hs: State, rest: str, ho: Op, lbr: bool, H: int):
    """(r activation, R (3H, H), recurrent n-bias constants, the n product or None)."""
    if lbr:  # r * (h Rn + bn): Rn is rows 2H..3H of the h product
        m = b.pair(rest, "Mul")
        for r, hn in (m, m[::-1]):
            terms = b.addends(hn)
            sl = [b.slice_of(t) for t in terms if not b.is_const(t)]
            if b.unary(r, "Sigmoid") is not None and len(sl) == 1 and sl[0] is not None and \
                    b.product(sl[0][0]) is ho and sl[0][1:] == (2 * H, 3 * H):
                return r, ho.inputs[1], [t for t in terms if b.is_const(t)], None
        return None
    dn = b.product(rest)  # (r * h) Rn: a product of its own
    m = b.pair(dn.inputs[0], "Mul") if dn is not None else None
    if m is None or hs.input not in m or b.em.consts[ho.inputs[1]].shape[0] != 2 * H:
        return None
    r = m[1] if m[0] == hs.input else m[0]
    return r, stack(b.em, [ho.inputs[1], dn.inputs[1]], "R"), [], dn
