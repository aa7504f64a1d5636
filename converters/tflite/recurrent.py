"""UNIDIRECTIONAL_SEQUENCE_LSTM and UNIDIRECTIONAL_SEQUENCE_RNN -> IR ``LSTM`` / ``RNN``.

The fused LSTM has 24 inputs: x; input weights i, f, c, o (1-4); recurrent weights
(5-8); peepholes i, f, o (9-11); biases (12-15); projection weight and bias (16-17);
the h and c *variable* tensors (18-19), which persist across ``invoke()`` exactly as
an op's state persists across ``step()``; layer-norm weights (20-23).

* float and hybrid (int8 weights, float activations): one IR ``LSTM`` with the gates
  stacked i, f, c, o.  CIFG (no input gate: ``i = 1 - f``) uses the IR's coupled
  mode, where ``f = 1 - i``, with the forget gate's parameters negated in the input
  rows: ``sigmoid(-z) = 1 - sigmoid(z)``.  With layer norm, the cell is built from IR
  ops with ``h`` and ``c`` as graph state (:mod:`.lstm_cell`).
* int8 ("8x8_16"): the integer IR ``LSTM`` (``edgernn.ops.qrecurrent``): int8 x/h,
  q8 weights with one scale per gate repeated per row, int32 biases, the int16 cell on
  ``2**cell_scale_log2``, ``H0`` = the hidden zero point.
"""

from __future__ import annotations

import numpy as np

from edgernn.ir import Tensor

from .context import Context, dequantize, value_q
from .meta import Meta, Refuse
from .reader import Operator
from .table import converts

#: fused_activation_function -> the IR gate activation of the cell/hidden output
ACTS = {"TANH": "Tanh", "RELU": "Relu", "SIGMOID": "Sigmoid", "NONE": "Affine"}


def act_of(op: Operator) -> str:
    act = op.options.get("fused_activation_function", "TANH")
    if act not in ACTS:
        raise Refuse(f"cell activation {act} is not supported")
    return ACTS[act]


def seq_input(ctx: Context, op: Operator) -> Meta:
    x = ctx.meta(op.inputs[0])
    want = 0 if op.options.get("time_major") else 1
    if x.rank != 3 or x.time != want:
        raise Refuse(f"{op.opcode}: input {list(x.shape)} with time axis {x.time}, the op "
                     f"iterates over axis {want}")
    if x.tpad != (0, 0):
        raise Refuse(f"{op.opcode} on a sequence zero-padded over time")
    return x


def _gate(ctx: Context, i: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(data, per-row scale) of one gate's parameter; zeros (scale 1) when absent."""
    if i < 0:
        return np.zeros(shape, np.float32), np.ones(shape[0], np.float32)
    t, m = ctx.tensor(i), ctx.meta(i)
    if not m.is_const:
        raise Refuse(f"{t.name!r} must be a constant")
    q = t.quantization
    if t.type_name == "INT8" and q is not None and not np.any(q.zero_point):
        if q.scale.size != 1:
            raise Refuse(f"{t.name!r}: per-channel gate weights")
        return m.data.reshape(shape), np.full(shape[0], q.scale[0], np.float32)
    return dequantize(t, m.data).reshape(shape), np.ones(shape[0], np.float32)


def stack(ctx: Context, idx: list[int], shape: tuple[int, ...], negate_first: bool,
          hint: str, integer: bool = False) -> str:
    """Gate parameters ``idx`` stacked along rows as one IR constant (q8 when they are)."""
    parts = [_gate(ctx, i, shape) for i in idx]
    quant = any(p[0].dtype == np.int8 for p in parts if p is not None)
    if quant and not all(p[0].dtype == np.int8 or not p[0].any() for p in parts):
        raise Refuse("gate weights mix int8 and float")
    data = [p[0].astype(np.int8) if quant else p[0].astype(np.float32) for p in parts]
    if negate_first:
        data[0] = -data[0]
    arr = np.ascontiguousarray(np.concatenate(data))
    if quant:
        scale = np.concatenate([p[1] for p in parts]).astype(np.float32)
        return ctx.add_tensor(Tensor(hint, arr, "q8", arr.shape, scale, None, 0))
    if integer:
        raise Refuse("an integer LSTM with float weights")
    return ctx.add_const(arr, hint)


def _sizes(ctx: Context, ins: list[int]) -> tuple[int, int, int]:
    """(n_input, n_cell, n_output) from the forget-gate weights."""
    n_cell, n_in = ctx.tensor(ins[2]).shape
    n_out = ctx.tensor(ins[6]).shape[1]
    return n_in, n_cell, n_out


@converts()
def unidirectional_sequence_lstm(ctx: Context, op: Operator) -> None:
    ins = list(op.inputs) + [-1] * (24 - len(op.inputs))
    x = seq_input(ctx, op)
    if op.options.get("diagonal_recurrent_tensors"):
        raise Refuse("diagonal recurrent weights")
    if x.q is not None:
        return integer_lstm(ctx, op, x, ins)
    hybrid = any(ctx.tensor(i).type_name == "INT8" for i in ins[1:9] if i >= 0)
    if hybrid or any(i >= 0 for i in ins[20:24]):
        from .lstm_cell import spelled_lstm

        return spelled_lstm(ctx, op, x, ins)
    n_in, n_cell, n_out = _sizes(ctx, ins)
    cifg = ins[1] < 0
    w = stack(ctx, [ins[2] if cifg else ins[1], -1 if cifg else ins[2], ins[3], ins[4]],
              (n_cell, n_in), cifg, "W")
    r = stack(ctx, [ins[6] if cifg else ins[5], -1 if cifg else ins[6], ins[7], ins[8]],
              (n_cell, n_out), cifg, "R")
    b = _float_stack(ctx, [ins[13] if cifg else ins[12], -1 if cifg else ins[13], ins[14],
                           ins[15]], n_cell, cifg, "B")
    p = ""
    if any(i >= 0 for i in ins[9:12]):
        p = _float_stack(ctx, [ins[10] if cifg else ins[9], -1 if cifg else ins[10], ins[11]],
                         n_cell, cifg, "P")
    wp = bp = ""
    if ins[16] >= 0:
        from .weights import weight

        wp = weight(ctx, ins[16], hint="Wproj")
        bp = _float_stack(ctx, [ins[17]], n_out, False, "Bproj") if ins[17] >= 0 else ""
    act = act_of(op)
    attrs = {"hidden_size": n_cell, "input_forget": cifg,
             "cell_clip": float(op.options.get("cell_clip", 0.0)),
             "proj_clip": float(op.options.get("proj_clip", 0.0)) if wp else 0.0,
             "activations": ("Sigmoid", act, act)}
    y = ctx.emit("LSTM", [ctx.value(x), w, r, b, p, wp, bp], (n_out,), attrs)
    out = x.with_(shape=x.shape[:2] + (n_out,), perm=None)
    ctx.result(op, out, y)


def _float_stack(ctx: Context, idx: list[int], n: int, negate_first: bool, hint: str) -> str:
    parts = [np.zeros(n, np.float32) if i < 0 else ctx.const(i).reshape(-1) for i in idx]
    if negate_first:
        parts[0] = -parts[0]
    return ctx.add_const(np.concatenate(parts).astype(np.float32), hint)


def integer_lstm(ctx: Context, op: Operator, x: Meta, ins: list[int]) -> None:
    """The 8x8_16 LSTM (see the module docstring)."""
    if ins[1] < 0:
        raise Refuse("an integer CIFG LSTM (no input gate) is not supported")
    n_in, n_cell, n_out = _sizes(ctx, ins)
    w = stack(ctx, ins[1:5], (n_cell, n_in), False, "W", integer=True)
    r = stack(ctx, ins[5:9], (n_cell, n_out), False, "R", integer=True)
    b = _int_stack(ctx, ins[12:16], n_cell, "B")
    p = _int_stack(ctx, ins[9:12], n_cell, "P") if any(i >= 0 for i in ins[9:12]) else ""
    h, c = ctx.tensor(ins[18]), ctx.tensor(ins[19])
    hq, cq = value_q(h), value_q(c)
    q = value_q(ctx.out(op))
    if cq is None or cq[0] != "i16":
        raise Refuse("an integer LSTM whose cell state is not int16")
    cell_log2 = int(round(np.log2(cq[1])))
    if not np.isclose(2.0 ** cell_log2, cq[1]):
        raise Refuse(f"cell state scale {cq[1]} is not a power of two")
    attrs = {"hidden_size": n_cell, "cell_scale_log2": cell_log2,
             "cell_clip": float(op.options.get("cell_clip", 0.0)),
             "proj_clip": float(op.options.get("proj_clip", 0.0)),
             "activations": ("Sigmoid", "Tanh", "Tanh")}
    if act_of(op) != "Tanh":
        raise Refuse("an integer LSTM with a cell activation other than tanh")
    wp = bp = ""
    if ins[16] >= 0:
        from .weights import bias, weight

        wp = weight(ctx, ins[16], hint="Wproj", integer=True)
        bp = bias(ctx, ins[17], integer=True, hint="Bproj")
        hid = ctx.tensor(op.intermediates[4]) if len(op.intermediates) > 4 else None
        if hid is None or hid.quantization is None:
            raise Refuse("an integer projection LSTM without its hidden-state scale")
        attrs["hidden_scale"] = float(hid.quantization.scale[0])
        attrs["hidden_zero_point"] = int(hid.quantization.zero_point[0])
    h0 = ctx.add_tensor(Tensor("H0", np.full(n_out, hq[2], np.int32), "i32"))
    y = ctx.emit("LSTM", [x.value, w, r, b, p, wp, bp, h0], (n_out,), attrs, q=q)
    ctx.result(op, x.with_(shape=x.shape[:2] + (n_out,), perm=None), y)


def _int_stack(ctx: Context, idx: list[int], n: int, hint: str) -> str:
    """int32 biases (int16 peepholes) per gate, stacked, with one scale per row."""
    data, scale = [], []
    for i in idx:
        t = ctx.tensor(i)
        q = t.quantization
        if q is None or q.scale.size != 1:
            raise Refuse(f"{t.name!r}: an integer LSTM parameter without one scale")
        data.append(ctx.meta(i).data.reshape(-1).astype(np.int32))
        scale.append(np.full(n, q.scale[0], np.float32))
    arr = np.ascontiguousarray(np.concatenate(data))
    return ctx.add_tensor(Tensor(hint, arr, "i32", arr.shape, np.concatenate(scale), None, 0))


@converts()
def unidirectional_sequence_rnn(ctx: Context, op: Operator) -> None:
    from .weights import bias, weight

    x = seq_input(ctx, op)
    if x.q is not None:
        raise Refuse("an integer RNN (TFLite has none; it is hybrid or float)")
    act = act_of(op)
    w = weight(ctx, op.inputs[1], hint="W")
    r = weight(ctx, op.inputs[2], hint="R")
    b = bias(ctx, op.inputs[3] if len(op.inputs) > 3 else -1)
    n = ctx.tensor(op.inputs[1]).shape[0]
    if ctx.em.consts[w].dtype == "q8":
        from .lstm_cell import spelled_rnn

        return spelled_rnn(ctx, op, x, w, r, b, n, act)
    y = ctx.emit("RNN", [x.value, w, r, b], (n,), {"hidden_size": n, "activations": (act,)})
    ctx.result(op, x.with_(shape=x.shape[:2] + (n,), perm=None), y)
