"""Elementwise TFLite operators -> IR ``Binary``/``Unary``/``Softmax`` and the
quantization ops ``Quantize``/``Dequantize``/``Requantize``.

Operands broadcast by numpy rules on their TFLite shapes; :func:`align` brings the
dynamic ones to one IR layout and turns constants into frame constants.  Integer
operators keep their integer values (``edgernn.ops.quant`` conventions): the output
value carries the TFLite tensor's scale and zero point.  A fused activation is a
``Unary`` after the op, at the op's output quantization (TFLite's clamp).
"""

from __future__ import annotations

import numpy as np

from .context import Context, value_q
from .meta import Meta, Refuse, identity
from .reader import Operator
from .table import converts

#: builtin -> IR Binary function
BINARY = {"ADD": "Add", "SUB": "Sub", "MUL": "Mul", "DIV": "Div", "MAXIMUM": "Max",
          "MINIMUM": "Min", "POW": "Pow"}
#: comparison builtin -> IR Binary function (a float 1.0/0.0 result stands for BOOL)
COMPARE = {"GREATER": "Greater", "GREATER_EQUAL": "GreaterEqual", "LESS": "Less",
           "LESS_EQUAL": "LessEqual", "EQUAL": "Equal", "NOT_EQUAL": "NotEqual"}
#: builtin -> (IR Unary function, alpha, beta)
UNARY = {"LOGISTIC": ("Sigmoid", None, None), "TANH": ("Tanh", None, None),
         "RELU": ("Relu", None, None), "RELU6": ("Clip", 0.0, 6.0),
         "RELU_N1_TO_1": ("Clip", -1.0, 1.0), "RELU_0_TO_1": ("Clip", 0.0, 1.0),
         "LOG": ("Log", None, None), "RSQRT": ("Rsqrt", None, None),
         "SQRT": ("Sqrt", None, None), "EXP": ("Exp", None, None), "ABS": ("Abs", None, None),
         "NEG": ("Neg", None, None), "HARD_SWISH": ("HardSwish", None, None),
         "ELU": ("Elu", 1.0, None), "GELU": ("Gelu", None, None),
         "SQUARE": ("Square", None, None)}
#: fused_activation_function -> (IR Unary function, alpha, beta)
FUSED = {"RELU": ("Relu", None, None), "RELU6": ("Clip", 0.0, 6.0),
         "RELU_N1_TO_1": ("Clip", -1.0, 1.0), "TANH": ("Tanh", None, None)}


def lift(ctx: Context, m: Meta, rank: int) -> Meta:
    """``m`` with leading size-1 axes up to ``rank`` (numpy broadcasting), a free view."""
    k = rank - m.rank
    if k <= 0:
        return m
    shape = (1,) * k + m.shape
    layout = identity(k) + tuple(p + k for p in m.layout)
    ir = (1,) * k + m.ir_shape
    value = ctx.emit("Reshape", [m.value], ir, {"shape": ir}, q=m.q)
    shift = (lambda a: None if a is None else a + k)  # noqa: E731
    return m.with_(shape=shape, value=value, time=shift(m.time), batch=shift(m.batch),
                   perm=layout)


def mark_batch(ctx: Context, m: Meta, axis: int) -> Meta:
    """``m`` with its size-1 frame axis ``axis`` taken as the batch axis (a free view)."""
    fi = m.frame_axes.index(axis)
    layout = tuple(p - (p > fi) for p in m.layout if p != fi)
    res = m.with_(batch=axis, perm=layout)
    value = ctx.emit("Reshape", [m.value], res.ir_shape, {"shape": res.ir_shape}, q=m.q)
    return res.with_(value=value)


def conform(ctx: Context, m: Meta, ref: Meta, what: str) -> Meta:
    """``m`` with ``ref``'s time/batch axes (same rank), or Refuse."""
    if m.batch != ref.batch and m.batch is None and m.shape[ref.batch] == 1:
        m = mark_batch(ctx, m, ref.batch)
    if (m.time, m.batch) != (ref.time, ref.batch):
        raise Refuse(f"{what}: operands have their time/batch axes in different places")
    if m.reduced != ref.reduced:
        raise Refuse(f"{what} combines a per-step tensor with a last-step one")
    if m.schedule() != ref.schedule():
        raise Refuse(f"{what} combines tensors produced at different frame rates")
    if m.tpad != (0, 0):
        raise Refuse(f"{what} on a tensor zero-padded over time (only a conv may follow "
                     f"padding over time)")
    return m


def align(ctx: Context, metas: list[Meta], what: str) -> tuple[Meta, list]:
    """(output meta template, per operand: its IR value name, or its Meta if constant)."""
    shape = tuple(int(d) for d in np.broadcast_shapes(*(m.shape for m in metas)))
    dyn = [lift(ctx, m, len(shape)) for m in metas if not m.is_const]
    if not dyn:
        raise Refuse("internal error: no dynamic operand")
    ref = max(dyn, key=lambda m: (m.time is not None, m.batch is not None))
    dyn = [conform(ctx, m, ref, what) for m in dyn]
    out = ref.with_(shape=shape, value="")
    args, it = [], iter(dyn)
    for m in metas:
        args.append(m if m.is_const else ctx.value(next(it), out.layout))
    return out, args


def _frame_consts(ctx: Context, out: Meta, args: list, op: Operator) -> list:
    res = []
    for k, a in enumerate(args):
        if isinstance(a, Meta):
            arr = ctx.const(op.inputs[k])
            res.append(ctx.frame_const(out, arr, f"{op.opcode} operand {k}"))
        else:
            res.append(a)
    return res


def fused(ctx: Context, op: Operator, value: str, shape, q) -> str:
    """Apply the operator's fused activation (a Unary at the output quantization)."""
    act = op.options.get("fused_activation_function", "NONE")
    if act in ("NONE", None):
        return value
    if act not in FUSED:
        raise Refuse(f"fused activation {act} is not supported")
    fn, alpha, beta = FUSED[act]
    return ctx.emit("Unary", [value], shape, {"fn": fn, "alpha": alpha, "beta": beta}, q=q)


@converts(*BINARY)
def binary(ctx: Context, op: Operator) -> None:
    metas = ctx.inputs(op)
    out, args = align(ctx, metas, op.opcode)
    q = value_q(ctx.out(op))
    ir_shape = out.ir_shape
    if q is not None or any(m.q is not None for m in metas if not m.is_const):
        from .qbinary import integer_binary

        v = integer_binary(ctx, op, out, args, q)
    else:
        ins = []
        for k, a in enumerate(_frame_consts(ctx, out, args, op)):
            ins.append(a if isinstance(a, str) else ctx.add_const(a, f"operand{k}"))
        v = ctx.emit("Binary", ins, ir_shape, {"fn": BINARY[op.opcode]})
    ctx.result(op, out, fused(ctx, op, v, ir_shape, q))


def float_operands(ctx: Context, op: Operator, metas: list[Meta], out: Meta,
                   args: list) -> list[str]:
    """The IR values of ``align``-ed float operands (constants added as frame constants)."""
    if any(m.q is not None for m in metas):
        raise Refuse(f"{op.opcode} of integer tensors; edgernn compares and selects float "
                     "values")
    res = []
    for k, a in enumerate(args):
        if isinstance(a, Meta):
            arr = np.asarray(a.data, np.float32)
            a = ctx.add_const(ctx.frame_const(out, arr, f"{op.opcode} operand {k}"),
                              f"operand{k}")
        res.append(a)
    return res


@converts(*COMPARE)
def compare(ctx: Context, op: Operator) -> None:
    """A comparison: Binary giving 1.0 where true, 0.0 where false (TFLite: BOOL)."""
    metas = ctx.inputs(op)
    out, args = align(ctx, metas, op.opcode)
    ins = float_operands(ctx, op, metas, out, args)
    ctx.result(op, out, ctx.emit("Binary", ins, out.ir_shape, {"fn": COMPARE[op.opcode]}))


@converts()
def cast(ctx: Context, op: Operator) -> None:
    """CAST of data between FLOAT32 and BOOL (a float 1.0/0.0): the identity, or
    ``x != 0`` to BOOL; other types are refused."""
    x = ctx.meta(op.inputs[0])
    src, dst = ctx.tensor(op.inputs[0]).type_name, ctx.out(op).type_name
    if {src, dst} - {"FLOAT32", "BOOL"}:
        raise Refuse(f"CAST of data from {src} to {dst}; edgernn casts float32 and bool")
    if src == "FLOAT32" and dst == "BOOL":
        zero = ctx.add_const(np.float32(0), "zero")
        ctx.result(op, x, ctx.emit("Binary", [x.value, zero], x.ir_shape, {"fn": "NotEqual"}))
    else:
        ctx.put(op.outputs[0], x)


@converts("SELECT", "SELECT_V2")
def select(ctx: Context, op: Operator) -> None:
    """SELECT_V2(cond, a, b) -> Where (numpy broadcasting; SELECT: same shapes, or a
    condition of rank 1 over the first axis, which is what TFLite's SELECT allows)."""
    metas = ctx.inputs(op)
    cond = metas[0]
    if op.opcode == "SELECT" and cond.rank == 1 and metas[1].rank > 1:
        raise Refuse("SELECT with a rank-1 condition over the rows of a matrix")
    where(ctx, op, metas[0], metas[1], metas[2])


def where(ctx: Context, op: Operator, cond: Meta, a: Meta, b: Meta, k: int = 0) -> None:
    """Output ``k`` of ``op`` = ``a`` where ``cond``, else ``b`` (an IR Where)."""
    metas = [cond, a, b]
    if a.is_const and b.is_const:
        raise Refuse("a selection between two constants by data")
    out, args = align(ctx, metas, op.opcode)
    ins = float_operands(ctx, op, metas, out, args)
    ctx.result(op, out, ctx.emit("Where", ins, out.ir_shape), k)


@converts(*UNARY)
def unary(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    fn, alpha, beta = UNARY[op.opcode]
    _unary(ctx, op, x, fn, alpha, beta)


def _unary(ctx: Context, op: Operator, x: Meta, fn: str, alpha, beta) -> None:
    if x.tpad != (0, 0):
        raise Refuse(f"{op.opcode} on a tensor zero-padded over time")
    q = value_q(ctx.out(op))
    v = ctx.emit("Unary", [x.value], x.ir_shape, {"fn": fn, "alpha": alpha, "beta": beta}, q=q)
    ctx.result(op, x, v)


@converts()
def leaky_relu(ctx: Context, op: Operator) -> None:
    _unary(ctx, op, ctx.meta(op.inputs[0]), "LeakyRelu", float(op.options["alpha"]), None)


@converts("SOFTMAX", "LOG_SOFTMAX")
def softmax(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    axis = x.ir_axis(-1, op.opcode)
    beta = float(op.options.get("beta", 1.0))
    q = value_q(ctx.out(op))
    v = x.value
    if x.q is not None:
        from .qbinary import float_island

        v = float_island(ctx, op, x)
    if beta != 1.0:
        v = ctx.emit("Binary", [v, ctx.add_const(np.float32(beta), "beta")], x.ir_shape,
                     {"fn": "Mul"})
    v = ctx.emit("Softmax", [v], x.ir_shape, {"axis": axis, "log": op.opcode == "LOG_SOFTMAX"})
    if q is not None:
        from .qbinary import quantize_to

        v = quantize_to(ctx, v, x.ir_shape, q)
    ctx.result(op, x, v)


@converts()
def quantize(ctx: Context, op: Operator) -> None:
    """float -> integer (Quantize), integer -> integer (Requantize)."""
    from .qbinary import quantize_to, requantize_to

    x = ctx.meta(op.inputs[0])
    q = value_q(ctx.out(op))
    if q is None:
        raise Refuse("QUANTIZE to a float type")
    v = (quantize_to(ctx, x.value, x.ir_shape, q) if x.q is None
         else requantize_to(ctx, x.value, x.ir_shape, x.q, q))
    ctx.result(op, x, v)


@converts()
def dequantize(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    if x.q is None:
        raise Refuse("DEQUANTIZE of a float tensor")
    dtype, scale, zp = x.q
    v = ctx.emit("Dequantize", [x.value], x.ir_shape,
                 {"in_scale": scale, "in_zero_point": zp, "in_dtype": dtype})
    ctx.result(op, x, v)
