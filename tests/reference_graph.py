"""A plain-numpy interpreter of edgernn IR graphs over whole sequences.

It evaluates each op on all T frames at once (``(T, B, *frame_shape)``, float64)
with the reference cells of ``reference.py`` / ``reference_ops.py`` and numpy's
own slicing, take, pad, transpose and concatenate: it shares no code with the
runtime's bindings, index maps or kernels, so it checks all of them.
Graph-level state loops are out of its scope.
"""

from __future__ import annotations

import numpy as np
import reference as R
import reference_ops as O

from edgernn.ir import Graph, Op, reorder_gates


def _frame_axes(axes, rank: int) -> tuple[int, ...]:
    return tuple(a % rank + 2 for a in axes)


def _const(g: Graph, op: Op, i: int):
    name = op.inputs[i] if i < len(op.inputs) else ""
    return g.consts[name].to_float().astype(np.float64) if name else None


def _batch_init(v, batch: int):
    return None if v is None else np.broadcast_to(v.reshape(1, -1), (batch, v.size))


def _recurrent(g: Graph, op: Op, x: np.ndarray) -> np.ndarray:
    c = lambda i: _const(g, op, i)  # noqa: E731
    acts = dict(activations=op.attr("activations"),
                activation_alpha=op.attr("activation_alpha") or None,
                activation_beta=op.attr("activation_beta") or None)
    batch, clip = x.shape[1], op.attr("clip")
    if op.kind == "LSTM":
        w, r, b = (reorder_gates(c(i), "ifco", "iofc") if c(i) is not None else None
                   for i in (1, 2, 3))
        bias = None if b is None else np.concatenate([b, np.zeros_like(b)])
        p = None if c(4) is None else reorder_gates(c(4), "ifo", "iof")
        proj = None if c(5) is None else (c(5), c(6))
        return R.lstm_ref(x, w, r, bias, p, _batch_init(c(7), batch), _batch_init(c(8), batch),
                          clip=clip, input_forget=op.attr("input_forget"),
                          cell_clip=op.attr("cell_clip"), proj=proj,
                          proj_clip=op.attr("proj_clip"), **acts)[0]
    if op.kind == "GRU":
        hidden = c(1).shape[0] // 3
        wb = c(3) if c(3) is not None else np.zeros(3 * hidden)
        rb = c(4) if c(4) is not None else np.zeros(3 * hidden)
        return R.gru_ref(x, c(1), c(2), np.concatenate([wb, rb]), _batch_init(c(5), batch),
                         linear_before_reset=op.attr("linear_before_reset"), clip=clip,
                         **acts)[0]
    b = c(3)
    bias = None if b is None else np.concatenate([b, np.zeros_like(b)])
    alpha = (op.attr("activation_alpha") or [None])[0]
    beta = (op.attr("activation_beta") or [None])[0]
    return R.rnn_ref(x, c(1), c(2), bias, _batch_init(c(4), batch), clip=clip,
                     activation_name=op.attr("activations")[0], alpha=alpha, beta=beta)[0]


def _conv(g: Graph, op: Op, x: np.ndarray) -> np.ndarray:
    w = _const(g, op, 1)
    one_d = w.ndim == 3
    x4 = x[..., None] if one_d else x
    w4 = w[..., None] if one_d else w
    y = O.causal_conv(x4, w4, _const(g, op, 2), op.attr("stride"), op.attr("dilation"),
                      op.attr("delay"), op.attr("groups"), op.attr("freq_stride"),
                      op.attr("freq_dilation"), op.attr("freq_pads"))
    return y[..., 0] if one_d else y


def _slice(op: Op, x: np.ndarray) -> np.ndarray:
    index = [slice(None)] * x.ndim
    steps = op.attr("steps") or (1,) * len(op.attr("axes"))
    for a, s, e, st in zip(op.attr("axes"), op.attr("starts"), op.attr("ends"), steps,
                           strict=True):
        index[a % (x.ndim - 2) + 2] = slice(s, e, st)
    return x[tuple(index)]


def _value(g: Graph, env: dict, name: str, like: np.ndarray) -> np.ndarray:
    if name in g.consts:
        v = g.consts[name].to_float().astype(np.float64)
        return np.broadcast_to(v, (*like.shape[:2], *v.shape))
    return env[name]


def evaluate(g: Graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All outputs of ``g`` for whole input sequences ``{name: (T, B, *shape)}``."""
    env = {k: np.asarray(v, np.float64) for k, v in inputs.items()}
    for op in g.ops:
        x = env.get(op.inputs[0])
        rank = None if x is None else x.ndim - 2
        a = op.attr
        if op.kind in ("LSTM", "GRU", "RNN"):
            y = _recurrent(g, op, x)
        elif op.kind == "Conv":
            y = _conv(g, op, x)
        elif op.kind == "Dense":
            w, b = _const(g, op, 1), _const(g, op, 2)
            y = x @ w.T + (0 if b is None else b)
        elif op.kind == "Unary":
            y = O.unary(a("fn"), x, a("alpha"), a("beta"))
        elif op.kind == "Binary":
            first = next(n for n in op.inputs if n not in g.consts)
            like = env[first]
            lhs, rhs = (_value(g, env, n, like) if n not in g.consts else
                        g.consts[n].to_float().astype(np.float64) for n in op.inputs)
            y = O.binary(a("fn"), lhs, rhs)
        elif op.kind == "Softmax":
            y = O.softmax(x, a("axis") % rank + 2, a("log"))
        elif op.kind == "Reduce":
            y = O.reduce(a("fn"), x, _frame_axes(a("axes"), rank), a("keepdims"))
        elif op.kind == "LayerNorm":
            y = O.layernorm(x, _const(g, op, 1), _const(g, op, 2), a("axis") % rank + 2,
                            a("epsilon"))
        elif op.kind == "Concat":
            like = next(env[n] for n in op.inputs if n not in g.consts)
            parts = [_value(g, env, n, like) for n in op.inputs]
            y = np.concatenate(parts, axis=a("axis") % (like.ndim - 2) + 2)
        elif op.kind == "Reshape":
            y = x.reshape(*x.shape[:2], *a("shape"))
        elif op.kind == "Transpose":
            y = np.transpose(x, (0, 1, *(p + 2 for p in a("perm"))))
        elif op.kind == "Slice":
            y = _slice(op, x)
        elif op.kind == "Gather":
            idx = g.consts[op.inputs[1]].to_float().astype(np.int64)
            y = np.take(x, idx, axis=a("axis") % rank + 2)
        elif op.kind == "Pad":
            p = a("pads")
            widths = [(0, 0), (0, 0)] + [(p[i], p[i + rank]) for i in range(rank)]
            y = np.pad(x, widths, constant_values=a("value"))
        elif op.kind == "Identity":
            y = x
        else:
            raise NotImplementedError(op.kind)
        env[op.outputs[0]] = y
    return {name: env[name] for name in g.outputs}
