"""Fold a WHILE body that is one step of a Keras LSTM, GRU or SimpleRNN cell back into
the IR's ``LSTM`` / ``GRU`` / ``RNN`` op.

The loop converter first emits the body as IR ops with h (and c) as graph state.  The
matchers here read those ops backwards from the state updates:

* LSTM: ``h' = o * tanh(c')``, ``c' = f * c + i * g``, the gates sigmoid/tanh of four
  slices of ``x W + h R (+ b)``; Keras' gate order i, f, c, o is the IR's;
* GRU (both ``reset_after`` forms): :mod:`.gru_cell`;
* RNN: ``h' = act(x W + h R (+ b))``.

The folded op keeps its state inside (no graph state), runs whole chunks at once and
follows a delayed or strided input.  The old ops are left for dead-code removal; a
body that matches nothing stays as it is.
"""

from __future__ import annotations

from edgernn.ir import Op, State, Value

from ..emit import Emitter
from .cell_match import Body, bias_of, const, vec
from .gru_cell import gru


def fold_loop(em: Emitter, start: int, states: list[State]) -> str:
    """Replace the cell among ``em.ops[start:]`` by one recurrent op; its kind or ''."""
    for matcher in (_lstm, gru, _rnn):
        body = Body(em, start)
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


def _lstm(b: Body, states: list[State]):
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


def _lstm_gates(b: Body, hs: State, cs: State, o_act: str) -> Op | None:
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
    bias = const(b.em, [vec(b.em, [bias_of(x), bias_of(h), *p["b"]], 4 * H)], "B")
    return Op("LSTM", b.em.op_name("LSTM"), (x.inputs[0], x.inputs[1], h.inputs[1], bias),
              (hs.output,), {"hidden_size": H})


def _rnn(b: Body, states: list[State]):
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
    bias = const(b.em, [vec(b.em, [bias_of(x), bias_of(h), *p["b"]], H)], "B")
    op = Op("RNN", b.em.op_name("RNN"), (x.inputs[0], x.inputs[1], h.inputs[1], bias),
            (hs.output,), {"hidden_size": H, "activations": (o.attr("fn"),)})
    return op, [hs]
