"""Integer (int8) elementwise operators and the quantization ops, on the conventions of
``edgernn.ops.quant``: ``Quantize`` (float -> integer), ``Requantize`` (integer ->
integer), ``Dequantize``; integer ``Binary`` Add/Sub/Mul of two values at their own
scales (TFLite's int8 ADD/SUB/MUL arithmetic).
"""

from __future__ import annotations

from .context import Context
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
    if any(isinstance(a, Meta) for a in args):
        raise Refuse(f"an integer {op.opcode} with a constant operand is not supported yet")
    if op.opcode not in _INT_FN:
        raise Refuse(f"an integer {op.opcode} is not supported yet")
    return ctx.emit("Binary", args, out.ir_shape, {"fn": _INT_FN[op.opcode]}, q=q)
