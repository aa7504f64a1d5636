"""The fused LSTM and RNN spelled out as IR ops with their state as graph state, where
the IR ``LSTM``/``RNN`` records cannot express them: layer norm (LSTM inputs 20-23),
and TFLite's hybrid (dynamic-range) products, whose per-step quantization of x and h
only ``HybridDense`` reproduces.

In TFLite's order (lstm_eval.cc ``CalculateLstmGateFloat``/``...Hybrid``): per gate
the bias (not with layer norm), ``+ W x``, ``+ R h``, ``+ peephole * c``; with layer
norm then mean/stddev normalization (epsilon 1e-8), times the layer-norm weights, plus
the bias; then the activation.  CIFG: ``i = 1 - f``.  ``c = f c' + i g`` (clipped),
the output gate's peephole reads the new ``c``, ``h = o act(c)`` (projected and
clipped).  ``h`` and ``c`` start at zero, like TFLite's variable tensors after
``reset_all_variables()``.  The RNN: ``h = act((b + W x) + R h)``.
"""

from __future__ import annotations

import numpy as np

from edgernn.ir import State

from .context import Context
from .meta import Meta, Refuse
from .reader import Operator
from .recurrent import _float_stack, _sizes, act_of, stack

LN_EPSILON = 1e-8
_GATE = {"i": 0, "f": 1, "c": 2, "o": 3}


class _Cell:
    """Emits the per-frame ops of one cell."""

    def __init__(self, ctx: Context, ins: list[int], n_cell: int) -> None:
        self.ctx, self.ins, self.n = ctx, ins, n_cell

    def binary(self, fn: str, a: str, b: str) -> str:
        return self.ctx.emit("Binary", [a, b], (self.n,), {"fn": fn})

    def unary(self, fn: str, x: str, alpha=None, beta=None) -> str:
        return self.ctx.emit("Unary", [x], (self.n,), {"fn": fn, "alpha": alpha, "beta": beta})

    def vector(self, i: int, hint: str) -> str:
        return self.ctx.add_const(self.ctx.const(i).reshape(-1).astype(np.float32), hint)

    def gate(self, g: str, z: str, c: str, act: str) -> str:
        """The peephole term on ``c``, then LN and bias (the bias is in ``z`` without
        LN), then ``act``."""
        k = _GATE[g]
        peep = self.ins[9 + "ifo".index(g)] if g != "c" else -1
        if peep >= 0:
            z = self.binary("Add", z, self.binary("Mul", self.vector(peep, f"P{g}"), c))
        ln, b = self.ins[20 + k], self.ins[12 + k]
        if ln >= 0:
            bias = self.vector(b, f"B{g}") if b >= 0 else ""
            z = self.ctx.emit("LayerNorm", [z, self.vector(ln, f"LN{g}"), bias], (self.n,),
                              {"axis": -1, "epsilon": LN_EPSILON})
        return self.unary(act, z)


def matmul(ctx: Context, x: str, w: str, b: str, width: int, asym: bool) -> str:
    """``Dense`` for float weights, ``HybridDense`` (TFLite's per-row quantization of x)
    for int8 ones."""
    hybrid = ctx.em.consts[w].dtype == "q8"
    return ctx.emit("HybridDense" if hybrid else "Dense", [x, w] + ([b] if b else []),
                    (width,), {"asymmetric": asym} if hybrid else None)


def _state(ctx: Context, hint: str, n: int) -> str:
    em = ctx.em
    return em.declare(em.fresh(f"{em.node_name}:{hint}"), (n,)).name


def spelled_lstm(ctx: Context, op: Operator, x: Meta, ins: list[int]) -> None:
    if x.q is not None:
        raise Refuse("an integer layer-norm LSTM is not supported")
    n_in, n_cell, n_out = _sizes(ctx, ins)
    gates = "fco" if ins[1] < 0 else "ifco"
    ln = any(i >= 0 for i in ins[20:24])
    asym = bool(op.options.get("asymmetric_quantize_inputs"))
    w = stack(ctx, [ins[1 + _GATE[g]] for g in gates], (n_cell, n_in), False, "W")
    r = stack(ctx, [ins[5 + _GATE[g]] for g in gates], (n_cell, n_out), False, "R")
    b = "" if ln else _float_stack(ctx, [ins[12 + _GATE[g]] for g in gates], n_cell, False,
                                   "B")
    h_in, c_in = _state(ctx, "h", n_out), _state(ctx, "c", n_cell)
    cell, act = _Cell(ctx, ins, n_cell), act_of(op)
    width = len(gates) * n_cell
    pre = ctx.emit("Binary", [matmul(ctx, ctx.value(x), w, b, width, asym),
                              matmul(ctx, h_in, r, "", width, asym)], (width,), {"fn": "Add"})
    z = {g: ctx.emit("Slice", [pre], (n_cell,), {"axes": (0,), "starts": (k * n_cell,),
                                                  "ends": ((k + 1) * n_cell,)})
         for k, g in enumerate(gates)}
    f = cell.gate("f", z["f"], c_in, "Sigmoid")
    i = (cell.gate("i", z["i"], c_in, "Sigmoid") if "i" in z
         else cell.binary("Sub", ctx.add_const(np.ones(n_cell, np.float32), "one"), f))
    g = cell.gate("c", z["c"], c_in, act)
    c = cell.binary("Add", cell.binary("Mul", f, c_in), cell.binary("Mul", i, g))
    clip = float(op.options.get("cell_clip", 0.0))
    if clip > 0:
        c = cell.unary("Clip", c, -clip, clip)
    o = cell.gate("o", z["o"], c, "Sigmoid")
    h = cell.binary("Mul", o, cell.unary(act, c))
    if ins[16] >= 0:
        from .weights import bias, weight

        bp = bias(ctx, ins[17], hint="Bproj")
        h = matmul(ctx, h, weight(ctx, ins[16], hint="Wproj"), bp, n_out, asym)
        pclip = float(op.options.get("proj_clip", 0.0))
        if pclip > 0:
            h = ctx.emit("Unary", [h], (n_out,), {"fn": "Clip", "alpha": -pclip,
                                                  "beta": pclip})
    ctx.em.states += [State(h_in, h, (n_out,)), State(c_in, c, (n_cell,))]
    ctx.result(op, x.with_(shape=x.shape[:2] + (n_out,), perm=None), h)


def spelled_rnn(ctx: Context, op: Operator, x: Meta, w: str, r: str, b: str, n: int,
                act: str) -> None:
    """The hybrid RNN: h = act((b + W x) + R h) with TFLite's per-step quantization."""
    asym = bool(op.options.get("asymmetric_quantize_inputs"))
    h_in = _state(ctx, "h", n)
    pre = ctx.emit("Binary", [matmul(ctx, ctx.value(x), w, b, n, asym),
                              matmul(ctx, h_in, r, "", n, asym)], (n,), {"fn": "Add"})
    h = ctx.emit("Unary", [pre], (n,), {"fn": act})
    ctx.em.states.append(State(h_in, h, (n,)))
    ctx.result(op, x.with_(shape=x.shape[:2] + (n,), perm=None), h)
