"""Integer (int8) elementwise operators and the quantization ops, on the conventions of
``edgernn.ops.quant``: ``Quantize`` (float -> integer), ``Requantize`` (integer ->
integer), ``Dequantize``; integer ``Binary`` Add/Sub/Mul of two values at their own
scales (TFLite's int8 ADD/SUB/MUL arithmetic).
"""

from __future__ import annotations

import numpy as np

from .context import Context, value_q
from .meta import Meta, Refuse
from .reader import Operator

Q = tuple[str, float, int]


def quantize_to(ctx: Context, value: str, shape, q: Q) -> str:
    dtype, scale, zp = q
    return ctx.emit("Quantize", [value], shape, {"scale": scale, "zero_point": zp,
                                                 "dtype": dtype}, q=q)


def requantize_to(ctx: Context, value: str, shape, q_in: Q, q: Q) -> str:
    if q_in == q:
        return value
    return ctx.emit("Requantize", [value], shape, {
        "scale": q[1], "zero_point": q[2], "dtype": q[0],
        "in_scale": q_in[1], "in_zero_point": q_in[2], "in_dtype": q_in[0]}, q=q)


def dequantize_from(ctx: Context, value: str, shape, q: Q) -> str:
    dtype, scale, zp = q
    return ctx.emit("Dequantize", [value], shape, {"in_scale": scale, "in_zero_point": zp,
                                                   "in_dtype": dtype})


def float_island(ctx: Context, op: Operator, x: Meta) -> str:
    """x dequantized for an operator that has no integer kernel (noted in the report)."""
    ctx.em.notes.append(f"{op.opcode} (operator {op.index}) has no integer kernel: it runs in "
                        "float32 between Dequantize and Quantize")
    return dequantize_from(ctx, x.value, x.ir_shape, x.q)


_INT_FN = {"ADD": "Add", "SUB": "Sub", "MUL": "Mul"}


def integer_binary(ctx: Context, op: Operator, out: Meta, args: list, q: Q | None) -> str:
    if q is None:
        raise Refuse(f"{op.opcode} of integer inputs with a float output")
    if op.opcode not in _INT_FN:
        raise Refuse(f"an integer {op.opcode} has no integer kernel in this edgernn")
    ins = [constant_value(ctx, out, a, op.inputs[k]) if isinstance(a, Meta) else a
           for k, a in enumerate(args)]
    return ctx.emit("Binary", ins, out.ir_shape, {"fn": _INT_FN[op.opcode]}, q=q)


def constant_value(ctx: Context, out: Meta, m: Meta, index: int) -> str:
    """An integer constant operand as a value: the integer Binary kernels take two values
    (TFLite's int8 ADD/SUB/MUL rescale both operands), so the constant's codes become a
    graph state that never changes (its initial value, carried unchanged)."""
    from edgernn.ir import State, Tensor, Value

    t = ctx.tensor(index)
    cq = value_q(t)
    if cq is None:
        raise Refuse(f"a float constant {t.name!r} in an integer operator")
    if out.schedule() != (1, 0):
        raise Refuse("an integer operator with a constant after a delayed or strided conv")
    codes = ctx.frame_const(out.with_(shape=m.shape) if m.rank == out.rank else out,
                            np.asarray(m.data), f"constant {t.name!r}")
    key = ("const", index, codes.shape)
    em = ctx.em
    if key not in em.view_cache:
        name = em.fresh(f"const:{t.name}")
        em.values[name] = Value(name, codes.shape, *cq)
        init = ctx.add_tensor(Tensor(f"{name}:codes", codes.astype(np.int32), "i32"))
        em.states.append(State(name, name, codes.shape, init))
        em.view_cache[key] = name
    return em.view_cache[key]
