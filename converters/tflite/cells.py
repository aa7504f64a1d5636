"""Fold a WHILE body that is one step of a Keras LSTM, GRU or SimpleRNN cell back into
the IR's ``LSTM`` / ``GRU`` / ``RNN`` op.

The loop converter first emits the body as IR ops with h (and c) as graph state.  The
matchers here read those ops backwards from the state updates:

* LSTM: ``h' = o * tanh(c')``, ``c' = f * c + i * g``, the gates sigmoid/tanh of four
  slices of ``x W + h R (+ b)``; Keras' gate order i, f, c, o is the IR's;
* GRU: ``h' = z * h + (1 - z) * n`` with ``z = sigmoid(xz + hz)``,
  ``r = sigmoid(xr + hr)`` and ``n = tanh(xn + r * (h Rn + bn))`` (``reset_after``:
  linear_before_reset) or ``n = tanh(xn + (r * h) Rn)``;
* RNN: ``h' = act(x W + h R (+ b))``.

The folded op keeps its state inside (no graph state), runs whole chunks at once and
follows a delayed or strided input.  The old ops are left for dead-code removal; a
body that matches nothing stays as it is.
"""

from __future__ import annotations

import numpy as np

from edgernn.ir import Op, State, Tensor, Value

from ..emit import Emitter

PRODUCTS = ("Dense", "HybridDense")


class _Body:
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


def _bias_of(op: Op) -> str:
    return op.inputs[2] if len(op.inputs) > 2 else ""


def _vec(em: Emitter, names: list[str], n: int) -> np.ndarray:
    total = np.zeros(n, np.float32)
    for c in names:
        if c:
            v = em.consts[c].to_float().reshape(-1)
            total[:v.size] += np.broadcast_to(v, (n,)) if v.size == 1 else v
    return total


def _const(em: Emitter, blocks: list[np.ndarray], hint: str) -> str:
    v = np.concatenate(blocks).astype(np.float32)
    return em.add_const(v, hint) if v.any() else ""


def _stack(em: Emitter, names: list[str], hint: str) -> str:
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


def fold_loop(em: Emitter, start: int, states: list[State]) -> str:
    """Replace the cell among ``em.ops[start:]`` by one recurrent op; its kind or ''."""
    for matcher in (_lstm, _gru, _rnn):
        body = _Body(em, start)
        found = matcher(body, [State(body.r(s.input), body.r(s.output), s.shape, s.init)
                               for s in states])
        if found is not None:
            op, drop = found
            out = next(s.output for s in states if body.r(s.output) == op.outputs[0])
            k = next(k for k in range(start, len(em.ops)) if out in em.ops[k].outputs)
            x, size = op.inputs[0], em.consts[op.inputs[1]].shape[1]
            pre = []
            if em.values[x].shape != (size,):
                v = em.fresh(f"{x}:vector")
                em.values[v] = Value(v, (size,), *_q(em.values[x]))
                pre = [Op("Reshape", em.op_name("Reshape"), (x,), (v,), {"shape": (size,)})]
                op = Op(op.kind, op.name, (v, *op.inputs[1:]), op.outputs, op.attrs)
            em.ops[k:k + 1] = pre + [Op(op.kind, op.name, op.inputs, (out,), op.attrs)]
            for s in [s for s in states if body.r(s.output) in {d.output for d in drop}]:
                states.remove(s)
                em.states.remove(s)
            return op.kind
    return ""


def _q(v: Value) -> tuple:
    return (v.dtype, v.scale, v.zero_point)


def _lstm(b: _Body, states: list[State]):
    if len(states) != 2:
        return None
    for hs, cs in (states, states[::-1]):
        m = b.pair(hs.output, "Mul")
        for o_act, tc in (m, m[::-1]) if m else ():
            if b.unary(tc, "Tanh") == cs.output:
                op = _lstm_gates(b, hs, cs, o_act)
                if op is not None:
                    return op, [hs, cs]
    return None


def _lstm_gates(b: _Body, hs: State, cs: State, o_act: str) -> Op | None:
    add = b.pair(cs.output, "Add")
    muls = [b.pair(t, "Mul") for t in add] if add else []
    fc = next((m for m in muls if m and cs.input in m), None)
    ig = next((m for m in muls if m and cs.input not in m), None)
    if fc is None or ig is None:
        return None
    i_act, g_act = ig if b.unary(ig[0], "Sigmoid") is not None else ig[::-1]
    gates = {"i": (i_act, "Sigmoid"), "f": (fc[1] if fc[0] == cs.input else fc[0], "Sigmoid"),
             "c": (g_act, "Tanh"), "o": (o_act, "Sigmoid")}
    H, pre = hs.shape[0], None
    for k, g in enumerate("ifco"):
        src = b.unary(*gates[g])
        sl = b.slice_of(src) if src is not None else None
        if sl is None or (pre is not None and sl[0] != pre) or sl[1:] != (k * H, (k + 1) * H):
            return None
        pre = sl[0]
    p = b.split(b.addends(pre), hs.input)
    if p is None:
        return None
    x, h = p["x"], p["h"]
    bias = _const(b.em, [_vec(b.em, [_bias_of(x), _bias_of(h), *p["b"]], 4 * H)], "B")
    return Op("LSTM", b.em.op_name("LSTM"), (x.inputs[0], x.inputs[1], h.inputs[1], bias),
              (hs.output,), {"hidden_size": H})


def _gru(b: _Body, states: list[State]):
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


def _x_slice(b: _Body, terms: list[str], start: int, n: int):
    """(product op, term) of the slice [start, start+n) of a product among ``terms``."""
    for t in terms:
        sl = b.slice_of(t)
        if sl is not None and sl[1:] == (start, start + n) and b.product(sl[0]) is not None:
            return b.product(sl[0]), t
    return None, None


def _gate(b: _Body, v: str, fn: str, k: int, H: int, hprod: Op | None):
    """(x product, terms, h slice source) of gate k: fn(x[kH:(k+1)H] + h[...] + consts)."""
    src = b.unary(v, fn)
    if src is None:
        return None
    terms = b.addends(src)
    xo, xt = _x_slice(b, terms, k * H, H)
    return xo, terms, xt


def _gru_gates(b: _Body, hs: State, z: str, n: str) -> Op | None:
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
    wb = _vec(em, [_bias_of(xo)], 3 * H) + np.concatenate(
        [_vec(em, cz, H), _vec(em, cr, H), _vec(em, cn, H)])
    rb = _vec(em, [_bias_of(ho)], 3 * H) + np.concatenate(
        [np.zeros(2 * H, np.float32), _vec(em, rb_n + ([_bias_of(dn)] if dn else []), H)])
    return Op("GRU", em.op_name("GRU"), (xo.inputs[0], xo.inputs[1], R, _const(em, [wb], "WB"),
                                         _const(em, [rb], "RB")),
              (hs.output,), {"hidden_size": H, "linear_before_reset": lbr})


def _reset(b: _Body, hs: State, rest: str, ho: Op, lbr: bool, H: int):
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
    return r, _stack(b.em, [ho.inputs[1], dn.inputs[1]], "R"), [], dn


def _rnn(b: _Body, states: list[State]):
    if len(states) != 1:
        return None
    hs = states[0]
    o = b.prod.get(hs.output)
    if o is None or o.kind != "Unary" or o.attr("fn") not in ("Tanh", "Relu", "Sigmoid"):
        return None
    p = b.split(b.addends(o.inputs[0]), hs.input)
    if p is None:
        return None
    x, h = p["x"], p["h"]
    H = hs.shape[0]
    bias = _const(b.em, [_vec(b.em, [_bias_of(x), _bias_of(h), *p["b"]], H)], "B")
    op = Op("RNN", b.em.op_name("RNN"), (x.inputs[0], x.inputs[1], h.inputs[1], bias),
            (hs.output,), {"hidden_size": H, "activations": (o.attr("fn"),)})
    return op, [hs]
