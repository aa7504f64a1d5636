"""FULLY_CONNECTED and BATCH_MATMUL (one constant operand) -> IR ``Dense``.

FULLY_CONNECTED flattens its input to rows of ``K`` (``keep_num_dims`` keeps the
leading axes): rows may hold the time axis (one row per frame) but never time mixed
with other axes.  Weights keep their type: float, int8 with float activations
(dynamic range, "hybrid"), or int8 with int8 activations (the integer ``Dense``).
"""

from __future__ import annotations

import numpy as np

from .context import Context, value_q
from .elementwise import fused
from .meta import Meta, Refuse
from .reader import Operator
from .table import converts
from .weights import bias, weight


def _rows_meta(x: Meta, n_out: int, keep: bool) -> Meta:
    """The output meta of a FULLY_CONNECTED on ``x`` (TFLite shape and time/batch axes)."""
    if keep:
        return x.with_(shape=x.shape[:-1] + (n_out,), perm=None)
    rows = int(np.prod(x.shape[:-1], dtype=np.int64))
    lead = [a for a in range(x.rank - 1) if a not in (x.time, x.batch)]
    if x.time is not None:
        if any(x.shape[a] != 1 for a in lead):
            raise Refuse(f"FULLY_CONNECTED flattens {list(x.shape)} into rows, mixing the time "
                         "axis with other axes")
        return x.with_(shape=(rows, n_out), time=0, batch=None, perm=None)
    frame_rows = int(np.prod([x.shape[a] for a in lead], dtype=np.int64))
    batch = 0 if x.batch is not None and frame_rows == 1 else None
    return x.with_(shape=(rows, n_out), time=None, batch=batch, perm=None)


@converts()
def fully_connected(ctx: Context, op: Operator) -> None:
    x = ctx.meta(op.inputs[0])
    if op.options.get("weights_format", "DEFAULT") != "DEFAULT":
        raise Refuse(f"weights format {op.options['weights_format']}")
    if not ctx.is_const(op.inputs[1]):
        raise Refuse("FULLY_CONNECTED with weights computed from the input")
    n_out, k = ctx.tensor(op.inputs[1]).shape
    if x.shape[-1] != k and not op.options.get("keep_num_dims"):
        # TFLite flattens any input to rows of K
        if int(np.prod(x.frame)) % k:
            raise Refuse(f"FULLY_CONNECTED input {list(x.shape)} does not hold rows of {k}")
        from .layout import reshaped

        size = int(np.prod(x.shape, dtype=np.int64))
        x = reshaped(ctx, x, (size // k, k), "FULLY_CONNECTED")
    x.frame_axis(-1, "FULLY_CONNECTED")
    out = _rows_meta(x, n_out, bool(op.options.get("keep_num_dims")))
    q = value_q(ctx.out(op))
    integer = x.q is not None
    w = weight(ctx, op.inputs[1], integer=integer)
    b = bias(ctx, op.inputs[2] if len(op.inputs) > 2 else -1, integer=integer)
    xv = ctx.reshape(x, tuple(out.frame[:-1]) + (k,))
    if not integer and ctx.em.consts[w].dtype == "q8":  # dynamic range: TFLite's hybrid
        v = ctx.emit("HybridDense", [xv, w] + ([b] if b else []), out.frame,
                     {"asymmetric": bool(op.options.get("asymmetric_quantize_inputs"))})
    else:
        v = ctx.emit("Dense", [xv, w] + ([b] if b else []), out.frame, q=q)
    ctx.result(op, out, fused(ctx, op, v, out.frame, q))


@converts()
def batch_matmul(ctx: Context, op: Operator) -> None:
    """x @ C (C constant, 2-D after leading 1s) -> Dense over x's last axis; C @ x -> Dense
    over x's second-to-last axis (the layout swaps the two axes, no transpose per frame)."""
    a, b = ctx.inputs(op)
    adj_x, adj_y = bool(op.options.get("adj_x")), bool(op.options.get("adj_y"))
    if a.is_const == b.is_const:
        raise Refuse("BATCH_MATMUL needs exactly one constant operand")
    c = ctx.const(op.inputs[1] if b.is_const else op.inputs[0])
    if c.ndim < 2 or any(d != 1 for d in c.shape[:-2]):
        raise Refuse(f"BATCH_MATMUL with a batched constant {list(c.shape)}")
    c = c.reshape(c.shape[-2:])
    x = a if b.is_const else b
    if x.rank < 2:
        raise Refuse("BATCH_MATMUL of a vector")
    if x.q is not None:
        raise Refuse("an integer BATCH_MATMUL")
    last, prev = x.rank - 1, x.rank - 2
    if b.is_const:  # y = x @ C: contract x's last axis (its second-to-last with adj_x)
        w = c if adj_y else c.T                       # (N, K)
        contract = prev if adj_x else last
    else:  # y = C @ x: contract x's second-to-last axis (its last with adj_y)
        w = c.T if adj_x else c                       # (M, K)
        contract = last if adj_y else prev
    x.frame_axis(contract, "BATCH_MATMUL")
    fi = x.frame_axes.index(contract)
    layout = tuple(p for p in range(len(x.frame)) if p != fi) + (fi,)
    v = ctx.value(x, layout)
    shape = list(x.shape)
    shape[contract] = w.shape[0]
    out = x.with_(shape=tuple(shape), perm=layout)
    if (adj_x if b.is_const else adj_y):  # the result's axes come out swapped
        out = _swap_last(out)
    y = ctx.emit("Dense", [v, ctx.add_const(w, "W")], out.ir_shape)
    ctx.result(op, out, y)


def _swap_last(m: Meta) -> Meta:
    """``m`` with its two last TFLite axes exchanged (meta only: a transpose)."""
    from .layout import permuted

    perm = list(range(m.rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return permuted(m, perm)
