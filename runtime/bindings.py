"""Turn each IR op into a call of its jitted kernel on preallocated buffers.

``bind(op, ctx)`` returns ``call(n) -> m``: run the op on the first ``n`` frames
of its input buffers, return how many output frames it produced.  Every array
a kernel touches (weights, buffers, state, scratch, index maps) is made here,
once; a call only takes views of the first ``n`` rows when ``n`` is below the
buffer's capacity.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .ir import Op
from .kernels import conv, elementwise, fused, gru, layout, linalg, lstm, normalize, rnn
from .kernels.activations import activation_params

F32 = np.float32
EMPTY1 = np.zeros(0, dtype=F32)
EMPTY2 = np.zeros((0, 0), dtype=F32)
NO_INDEX = np.zeros(0, dtype=np.int64)
Call = Callable[[int], int]


class Context:
    """What bindings draw on: constants, value buffers, per-stream state, sizes."""

    def __init__(self, plan, buffers: dict, state: dict, batch: int, frames: int):
        self.plan, self.buffers, self.state = plan, buffers, state
        self.B, self.frames = batch, frames

    def const(self, op: Op, i: int, empty: np.ndarray | None = None) -> np.ndarray:
        name = op.inputs[i] if i < len(op.inputs) else ""
        if not name:
            return empty
        return self.plan.consts[name]

    def is_const(self, name: str) -> bool:
        return name in self.plan.consts

    def cap(self, name: str) -> int:
        return self.plan.capacity(name, self.frames)

    def value(self, name: str) -> np.ndarray:
        return self.buffers[name]

    def output(self, op: Op) -> np.ndarray:
        name = op.outputs[0]
        shape = self.plan.graph.values[name].shape
        buf = np.zeros((self.cap(name), self.B, *shape), dtype=F32)
        self.buffers[name] = buf
        return buf

    def alias(self, op: Op) -> np.ndarray:
        """Output shares the input's memory (Reshape, Identity)."""
        src = self.buffers[op.inputs[0]]
        shape = self.plan.graph.values[op.outputs[0]].shape
        self.buffers[op.outputs[0]] = src.reshape(src.shape[0], self.B, *shape)
        return self.buffers[op.outputs[0]]


def _compiled(kernel, args: tuple):
    """The compiled overload for these argument types, skipping numba's type dispatch
    (~0.05 µs per argument); the dispatcher itself when there is none."""
    overloads = getattr(kernel, "overloads", None)
    if overloads is None:
        return kernel
    found = overloads.get(tuple(kernel.typeof_pyval(a) for a in args))
    return kernel if found is None else found.entry_point


def _direct(kernel) -> Callable:
    """Call ``kernel`` through numba's dispatcher once, then its compiled overload for
    those argument types directly.  Another type later raises TypeError while
    unboxing, before anything runs, and goes back through the dispatcher."""
    fn = kernel

    def call(*args):
        nonlocal fn
        try:
            result = fn(*args)
        except TypeError:
            if fn is kernel:
                raise
            fn = kernel
            return fn(*args)
        if fn is kernel:
            fn = _compiled(kernel, args)
        return result

    return call


def _each_n(cap: int, kernel, make: Callable[[int], tuple]) -> Call:
    """A call that passes full-capacity views, or views of the first n rows."""
    full, run = make(cap), _direct(kernel)

    def call(n: int) -> int:
        run(*(full if n == cap else make(n)))
        return n

    return call


def _rows(buf: np.ndarray, n: int, cols: int) -> np.ndarray:
    """The first n frames of a (T, B, ...) buffer as a (n*B*rows, cols) matrix."""
    return buf[:n].reshape(-1, cols)


def _epilogue(op: Op, ctx: Context) -> tuple:
    """(code, alpha, beta) of the activation fused into ``op``, or () if none."""
    act = ctx.plan.fusions.get(op.name)
    if act is None:
        return ()
    return (np.int64(elementwise.UNARY[act.attr("fn")]), F32(act.attr("alpha")),
            F32(act.attr("beta")))


def bind_dense(op: Op, ctx: Context) -> Call:
    w, b = ctx.const(op, 1), ctx.const(op, 2, EMPTY1)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    if b.size:
        b = b.reshape(-1)
    act = _epilogue(op, ctx)
    return _each_n(x.shape[0], fused.dense_act if act else linalg.dense,
                   lambda n: (_rows(x, n, w.shape[1]), w, b, _rows(y, n, w.shape[0]), *act))


def _acts(op: Op) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return activation_params(op.attr("activations"), op.attr("activation_alpha"),
                             op.attr("activation_beta"))


def bind_lstm(op: Op, ctx: Context) -> Call:
    w, r = ctx.const(op, 1), ctx.const(op, 2)
    b, p = ctx.const(op, 3, EMPTY1), ctx.const(op, 4, EMPTY1)
    wp, bp = ctx.const(op, 5, EMPTY2), ctx.const(op, 6, EMPTY1)
    hidden = w.shape[0] // 4
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    h, c = ctx.state[f"{op.name}/h"], ctx.state[f"{op.name}/c"]
    xw = np.zeros((x.shape[0], ctx.B, 4 * hidden), dtype=F32)
    hs = np.zeros(hidden, dtype=F32)
    codes, alpha, beta = _acts(op)
    clips = (F32(op.attr("clip")), F32(op.attr("cell_clip")), F32(op.attr("proj_clip")))
    forget = bool(op.attr("input_forget"))
    return _each_n(x.shape[0], lstm.lstm_seq, lambda n: (
        x[:n], w, r, b.reshape(-1), p.reshape(-1), wp, bp.reshape(-1), h, c, y[:n], xw[:n],
        hs, *clips, forget, codes, alpha, beta))


def bind_gru(op: Op, ctx: Context) -> Call:
    w, r = ctx.const(op, 1), ctx.const(op, 2)
    wb, rb = ctx.const(op, 3, EMPTY1).reshape(-1), ctx.const(op, 4, EMPTY1).reshape(-1)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    h = ctx.state[f"{op.name}/h"]
    xw = np.zeros((x.shape[0], ctx.B, w.shape[0]), dtype=F32)
    rh = np.zeros(w.shape[0], dtype=F32)
    codes, alpha, beta = _acts(op)
    lbr, clip = bool(op.attr("linear_before_reset")), F32(op.attr("clip"))
    return _each_n(x.shape[0], gru.gru_seq, lambda n: (
        x[:n], w, r, wb, rb, h, y[:n], xw[:n], rh, lbr, clip, codes, alpha, beta))


def bind_rnn(op: Op, ctx: Context) -> Call:
    w, r, b = ctx.const(op, 1), ctx.const(op, 2), ctx.const(op, 3, EMPTY1).reshape(-1)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    h = ctx.state[f"{op.name}/h"]
    xw = np.zeros((x.shape[0], ctx.B, w.shape[0]), dtype=F32)
    codes, alpha, beta = _acts(op)
    clip = F32(op.attr("clip"))
    return _each_n(x.shape[0], rnn.rnn_seq, lambda n: (
        x[:n], w, r, b, h, y[:n], xw[:n], clip, codes[0], alpha[0], beta[0]))


def bind_conv(op: Op, ctx: Context) -> Call:
    w, b = ctx.const(op, 1), ctx.const(op, 2, EMPTY1).reshape(-1)
    w4 = w.reshape(*w.shape[:3], w.shape[3] if w.ndim == 4 else 1)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    x4 = x.reshape(x.shape[0], ctx.B, x.shape[2], -1)
    y4 = y.reshape(y.shape[0], ctx.B, y.shape[2], -1)
    hist, count = ctx.state[f"{op.name}/hist"], ctx.state[f"{op.name}/count"]
    ints = [np.int64(op.attr(k)) for k in ("stride", "dilation", "delay", "groups",
                                           "freq_stride", "freq_dilation")]
    fpad0 = np.int64(op.attr("freq_pads")[0])
    act = _epilogue(op, ctx)
    kernel = _direct(fused.conv_time_act if act else conv.conv_time)

    def call(n: int) -> int:
        return kernel(x4[:n], w4, b, hist, count, y4, *ints, fpad0, *act)

    return call


def _flat(ctx: Context, op: Op, fn: Callable) -> Call:
    """Bind an op whose kernel sees flat (n*B*size,) views of input and output."""
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    return _each_n(x.shape[0], fn, lambda n: (x[:n].reshape(-1), y[:n].reshape(-1)))


def bind_unary(op: Op, ctx: Context) -> Call:
    code = np.int64(elementwise.UNARY[op.attr("fn")])
    alpha, beta = F32(op.attr("alpha")), F32(op.attr("beta"))
    return _flat(ctx, op, lambda x, y: elementwise.unary(x, y, code, alpha, beta))


def _operand(ctx: Context, name: str, out_shape: tuple) -> tuple[Callable, np.ndarray]:
    """(rows(n) -> 2-D view, broadcast index) for one Binary operand."""
    shape = ctx.plan.graph.shape(name)
    if ctx.is_const(name):  # broadcast once here, not per call in the kernel
        c = np.ascontiguousarray(np.broadcast_to(ctx.plan.consts[name], out_shape))
        c = c.reshape(1, -1)
        return (lambda n: c), NO_INDEX
    idx = elementwise.broadcast_index(shape, out_shape)
    buf = ctx.value(name)
    size = max(1, int(np.prod(shape, dtype=np.int64)))
    return (lambda n: _rows(buf, n, size)), idx


def bind_binary(op: Op, ctx: Context) -> Call:
    code = np.int64(elementwise.BINARY[op.attr("fn")])
    out_shape = ctx.plan.graph.values[op.outputs[0]].shape
    (a, ia), (b, ib) = (_operand(ctx, n, out_shape) for n in op.inputs)
    y = ctx.output(op)
    size = max(1, int(np.prod(out_shape, dtype=np.int64)))
    return _each_n(y.shape[0], elementwise.binary,
                   lambda n: (a(n), b(n), _rows(y, n, size), code, ia, ib))


def _split(shape: tuple, start: int, stop: int) -> tuple[int, int, int]:
    """(outer, middle, inner) sizes around frame axes [start, stop)."""
    p = lambda s: int(np.prod(s, dtype=np.int64))  # noqa: E731
    return p(shape[:start]), p(shape[start:stop]), p(shape[stop:])


def bind_softmax(op: Op, ctx: Context) -> Call:
    shape = ctx.plan.graph.shape(op.inputs[0])
    axis = op.attr("axis") % len(shape)
    o, l_, i = _split(shape, axis, axis + 1)
    x, y, log = ctx.value(op.inputs[0]), ctx.output(op), bool(op.attr("log"))
    return _each_n(x.shape[0], normalize.softmax, lambda n: (
        x[:n].reshape(-1, o, l_, i), y[:n].reshape(-1, o, l_, i), log))


def bind_reduce(op: Op, ctx: Context) -> Call:
    shape = ctx.plan.graph.shape(op.inputs[0])
    axes = sorted({a % len(shape) for a in op.attr("axes")})
    code = np.int64(normalize.REDUCE[op.attr("fn")])
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    if axes == list(range(axes[0], axes[-1] + 1)):
        o, l_, i = _split(shape, axes[0], axes[-1] + 1)
        return _each_n(x.shape[0], normalize.reduce, lambda n: (
            x[:n].reshape(-1, o, l_, i), y[:n].reshape(-1, o, i), code))
    keep = [a for a in range(len(shape)) if a not in axes]
    idx, moved = layout.transpose_index(shape, (*keep, *axes))
    tmp = np.zeros((x.shape[0], ctx.B, idx.size), dtype=F32)
    o, l_, _ = _split(moved, 0, len(keep))
    gather, red = F32(0), normalize.reduce

    def both(xs, ts, ys):
        layout.gather(xs, idx, gather, ts)
        red(ts.reshape(-1, o, l_, 1), ys.reshape(-1, o, 1), code)

    return _each_n(x.shape[0], both, lambda n: (
        _rows(x, n, x[0, 0].size), _rows(tmp, n, idx.size), _rows(y, n, max(1, o))))


def bind_layernorm(op: Op, ctx: Context) -> Call:
    shape = ctx.plan.graph.shape(op.inputs[0])
    o, l_, _ = _split(shape, op.attr("axis") % len(shape), len(shape))
    scale = np.ascontiguousarray(np.broadcast_to(ctx.const(op, 1).reshape(-1), (l_,)))
    bias = ctx.const(op, 2, EMPTY1)
    bias = np.ascontiguousarray(np.broadcast_to(bias.reshape(-1), (l_,))) if bias.size else bias
    eps, x, y = F32(op.attr("epsilon")), ctx.value(op.inputs[0]), ctx.output(op)
    return _each_n(x.shape[0], normalize.layernorm, lambda n: (
        x[:n].reshape(-1, o, l_), scale, bias, eps, y[:n].reshape(-1, o, l_)))


def bind_concat(op: Op, ctx: Context) -> Call:
    shapes = [ctx.plan.graph.shape(n) for n in op.inputs]
    idxs, _ = layout.concat_index(shapes, op.attr("axis"))
    y = ctx.output(op)
    cols = y[0, 0].size
    parts = []
    for name, idx in zip(op.inputs, idxs, strict=True):
        if ctx.is_const(name):  # constant region: fill once, never rewritten
            y.reshape(-1, cols)[:, idx] = ctx.plan.consts[name].reshape(1, -1)
        else:
            parts.append((ctx.value(name), idx))

    def call(n: int) -> int:
        for x, idx in parts:
            layout.scatter(_rows(x, n, idx.size), idx, _rows(y, n, cols))
        return n

    return call


def _index_for(op: Op, ctx: Context) -> np.ndarray:
    shape = ctx.plan.graph.shape(op.inputs[0])
    a = op.attr
    if op.kind == "Transpose":
        return layout.transpose_index(shape, a("perm"))[0]
    if op.kind == "Slice":
        return layout.slice_index(shape, a("axes"), a("starts"), a("ends"), a("steps"))[0]
    if op.kind == "Pad":
        return layout.pad_index(shape, a("pads"))[0]
    indices = ctx.plan.consts[op.inputs[1]].astype(np.int64)
    return layout.gather_index(shape, indices, a("axis"))[0]


def bind_gather(op: Op, ctx: Context) -> Call:
    idx = np.ascontiguousarray(_index_for(op, ctx), dtype=np.int64)
    fill = F32(op.attr("value")) if op.kind == "Pad" else F32(0)
    x, y = ctx.value(op.inputs[0]), ctx.output(op)
    k = x[0, 0].size
    return _each_n(x.shape[0], layout.gather,
                   lambda n: (_rows(x, n, k), idx, fill, _rows(y, n, max(1, idx.size))))


def bind_alias(op: Op, ctx: Context) -> Call:
    ctx.alias(op)
    return lambda n: n


BINDERS: dict[str, Callable[[Op, Context], Call]] = {
    "Dense": bind_dense, "LSTM": bind_lstm, "GRU": bind_gru, "RNN": bind_rnn,
    "Conv": bind_conv, "Unary": bind_unary, "Binary": bind_binary,
    "Softmax": bind_softmax, "Reduce": bind_reduce, "LayerNorm": bind_layernorm,
    "Concat": bind_concat, "Transpose": bind_gather, "Slice": bind_gather,
    "Gather": bind_gather, "Pad": bind_gather, "Reshape": bind_alias, "Identity": bind_alias,
}


def bind(op: Op, ctx: Context) -> Call:
    """The call that runs ``op`` on this context's buffers."""
    if op.name in ctx.plan.fused_away:  # its producer's kernel applies it in place
        return bind_alias(op, ctx)
    return BINDERS[op.kind](op, ctx)
