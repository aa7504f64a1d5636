"""ONNX elementwise and linear ops -> IR (softmax, reductions and layer norm:
:mod:`.reductions`).

One function per ONNX op, named after the spec, and one per family whose
members differ only in the IR function they name (:func:`binary`: Add, Sub ...;
:func:`unary`: Relu, Tanh ...).  Each reads
its inputs from the :class:`~.context.Context`, emits IR ops, and records a
:class:`~.context.Dyn` for each output.  :func:`register` lists the op types
with their properties; unary activations and their ``alpha``/``beta``
defaults come from :mod:`edgernn.activations`.
"""

from __future__ import annotations

import numpy as np
import onnx

from edgernn.activations import lookup

from .context import F32_MAX, Context, Dyn, Refuse

#: elementwise ops with two inputs, the IR ``Binary`` function of the same name
BINARY = ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min")
#: comparisons: the IR ``Binary`` function (1.0 where true, 0.0 where false: booleans
#: stream as float, and a Cast to float is the identity)
COMPARE = {"Greater": "Greater", "GreaterOrEqual": "GreaterEqual", "Less": "Less",
           "LessOrEqual": "LessEqual", "Equal": "Equal"}
#: elementwise ops with one input, the activation of the same name (edgernn.activations)
UNARY = ("Relu", "Sigmoid", "Tanh", "Sqrt", "Exp", "Log", "Abs", "Neg", "Reciprocal",
         "Softplus", "Softsign", "Erf", "Gelu", "LeakyRelu", "Elu", "HardSigmoid")


def register(table) -> None:
    """Add this module's ops to the op table (:class:`~.table.OpTable`)."""
    for name in BINARY:
        table.add(binary, name, pass_through=True)
    table.add(binary, "PRelu", pass_through=True)
    for name in COMPARE:
        table.add(binary, name, pass_through=True)
    table.add(Where, pass_through=True)
    for name in UNARY:
        lookup(name)  # fails at import if the activation table lacks it
        table.add(unary, name, pass_through=True)
    table.add(Clip, pass_through=True)
    table.add(MatMul, pass_through=True)
    table.add(Gemm)


def same_meta(ctx: Context, node: onnx.NodeProto, x: Dyn, value: str) -> None:
    """Output 0 is ``value``, laid out like ``x`` (an elementwise op's result)."""
    ctx.set(node.output[0], x.with_(value=value, prov=None,
                                    shape=ctx.probe_shape(node.output[0])))


def static_frame(ctx: Context, name: str, rank: int, time, batch, what: str) -> np.ndarray:
    """A static operand as a frame constant; it must not depend on the sequence length."""
    frames = [ctx.frame_const(v, rank, time, batch, what) for v in ctx.static_all(name)]
    for f in frames[1:]:
        if f.shape != frames[0].shape or not np.array_equal(f, frames[0]):
            raise Refuse(f"{what} depends on the sequence length")
    return frames[0]


def single_frame(ctx: Context, names: list[str]) -> dict[str, Dyn]:
    """Metas of the dynamic operands; with a source chunk of exactly one frame (time fixed
    to 1) a time axis mixed with time-less operands is just a size-1 frame axis."""
    metas = {n: ctx.dyn(n) for n in names if ctx.is_dyn(n)}
    timed = [n for n, d in metas.items() if d.time is not None]
    if not timed or len(timed) == len(metas):
        return metas
    if all(ctx.probe_shape(n, p)[metas[n].time] == 1 for n in timed
           for p in range(len(ctx.probes))):
        for n in timed:
            d = metas[n].with_(time=None)
            metas[n] = d.with_(value=ctx.reshape(metas[n], d.frame))
    return metas


def broadcast(ctx: Context, node: onnx.NodeProto, names: list[str]) -> tuple[Dyn, list[str]]:
    """Align operands for numpy broadcasting per frame: (output meta, IR input names)."""
    metas = single_frame(ctx, names)
    shapes = [ctx.probe_shape(n) for n in names]
    rank = max(len(s) for s in shapes)
    ref, time, batch = None, None, None
    for n in names:
        if n not in metas:
            continue
        d = metas[n]
        off = rank - d.rank
        t = None if d.time is None else d.time + off
        b = None if d.batch is None else d.batch + off
        if ref is None:
            ref, time, batch = d, t, b
            continue
        if t != time:
            raise Refuse("combines a per-step tensor with a last-step or state tensor (or two "
                         "different time axes); that is not causal")
        if (d.stride, d.delay) != (ref.stride, ref.delay):
            raise Refuse("combines tensors produced at different frame rates or delays")
        if b is not None and batch is not None and b != batch:
            raise Refuse("combines tensors with different batch axes")
        batch = b if batch is None else batch
    inputs = []
    for n, s in zip(names, shapes, strict=True):
        aligned = (1,) * (rank - len(s)) + s
        target = tuple(aligned[i] for i in range(rank) if i not in (time, batch))
        if n in metas:
            inputs.append(ctx.reshape(metas[n], target))
        else:
            c = static_frame(ctx, n, rank, time, batch, f"constant {n!r}")
            inputs.append(ctx.add_const(c.astype(np.float32), "const"))
    out = ref.with_(value=None, shape=ctx.probe_shape(node.output[0]), time=time, batch=batch,
                    prov=None, reduced=any(d.reduced for d in metas.values()))
    return out, inputs


def _neutral_operand(ctx: Context, node: onnx.NodeProto) -> Dyn | None:
    """The data operand of x + 0, x - 0, x * 1, x / 1 (constant, shape unchanged), else None."""
    neutral = {"Add": 0.0, "Sub": 0.0, "Mul": 1.0, "Div": 1.0}.get(node.op_type)
    if neutral is None:
        return None
    for data, const in zip(node.input, node.input[::-1], strict=True):
        if not ctx.is_dyn(data) or ctx.is_dyn(const) or const not in ctx.probes[0] or (
                const == node.input[0] and node.op_type in ("Sub", "Div")):
            continue
        same = all(ctx.probe_shape(data, k) == ctx.probe_shape(node.output[0], k)
                   for k in range(len(ctx.probes)))
        if same and all(np.all(np.asarray(v) == neutral) for v in ctx.static_all(const)):
            return ctx.dyn(data)
    return None


def binary(ctx: Context, node: onnx.NodeProto) -> None:
    """Add, Sub, Mul, Div, Pow, Max, Min, PRelu and the comparisons (Max/Min with one input,
    x + 0, x * 1: the identity, which keeps a state's provenance)."""
    names = list(node.input)
    if len(names) == 1:
        ctx.set(node.output[0], ctx.dyn(names[0]))
        return
    if len(names) != 2:
        raise Refuse(f"{node.op_type} with {len(names)} inputs: only 2 are supported")
    same = _neutral_operand(ctx, node)
    if same is not None:
        ctx.set(node.output[0], same)
        return
    out, inputs = broadcast(ctx, node, names)
    fn = COMPARE.get(node.op_type, node.op_type)
    value = ctx.emit("Binary", inputs, out.frame, {"fn": fn}, out=node.output[0])
    ctx.set(node.output[0], out.with_(value=value))


def Where(ctx: Context, node: onnx.NodeProto) -> None:
    """Where(cond, a, b) on data: numpy broadcasting of all three."""
    out, inputs = broadcast(ctx, node, list(node.input))
    value = ctx.emit("Where", inputs, out.frame, {}, out=node.output[0])
    ctx.set(node.output[0], out.with_(value=value))


def unary(ctx: Context, node: onnx.NodeProto) -> None:
    """Relu, Tanh, LeakyRelu(alpha) ...: the activation of that name, ONNX defaults."""
    x = ctx.dyn(node.input[0])
    a = ctx.attrs(node)
    act = lookup(node.op_type)
    attrs: dict = {"fn": act.name}
    if act.takes_alpha:
        attrs["alpha"] = float(a.get("alpha", act.alpha))
    if act.takes_beta:
        attrs["beta"] = float(a.get("beta", act.beta))
    if node.op_type == "Gelu" and a.get("approximate", "none") != "none":
        raise Refuse("Gelu(approximate='tanh') is not supported; export the exact Gelu")
    value = ctx.emit("Unary", [ctx.value(x)], x.frame, attrs, out=node.output[0])
    same_meta(ctx, node, x, value)


def Clip(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.dyn(node.input[0])
    lo, hi = -F32_MAX, F32_MAX
    if ctx.opt(node, 1):
        lo = float(ctx.invariant(node.input[1], "Clip min"))
    if ctx.opt(node, 2):
        hi = float(ctx.invariant(node.input[2], "Clip max"))
    value = ctx.emit("Unary", [ctx.value(x)], x.frame,
                     {"fn": "Clip", "alpha": lo, "beta": hi}, out=node.output[0])
    same_meta(ctx, node, x, value)


def _dense(ctx: Context, x: Dyn, w: np.ndarray, b, out_frame) -> str:
    """Dense over the last frame axis: W (out, in)."""
    inputs = [ctx.value(x), ctx.add_const(w.astype(np.float32), "W")]
    if b is not None:
        inputs.append(ctx.add_const(np.asarray(b, np.float32).reshape(-1), "B"))
    return ctx.emit("Dense", inputs, out_frame)


def MatMul(ctx: Context, node: onnx.NodeProto) -> None:
    if not ctx.is_dyn(node.input[0]) or ctx.is_dyn(node.input[1]):
        raise Refuse("only data @ constant is supported (the data on the left, weights on "
                     "the right)")
    x = ctx.dyn(node.input[0])
    w = ctx.invariant(node.input[1], "the weight matrix").astype(np.float32)
    out_shape = ctx.probe_shape(node.output[0])
    while w.ndim > 2 and w.shape[0] == 1:
        w = w[0]
    if w.ndim > 2:
        raise Refuse("batched MatMul with a stack of weight matrices is not supported")
    x.faxis(x.rank - 1, "MatMul")
    wt = w.T if w.ndim == 2 else w.reshape(1, -1)
    off = len(out_shape) - (x.rank if w.ndim == 2 else x.rank - 1)
    out = x.with_(value=None, prov=None, shape=out_shape,
                  time=None if x.time is None else x.time + off,
                  batch=None if x.batch is None else x.batch + off)
    dense_frame = x.frame[:-1] + (wt.shape[0],)
    value = _dense(ctx, x, wt, None, dense_frame)
    if dense_frame != out.frame:
        value = ctx.emit("Reshape", [value], out.frame, {"shape": out.frame})
    ctx.set(node.output[0], out.with_(value=value))


def Gemm(ctx: Context, node: onnx.NodeProto) -> None:
    a = ctx.attrs(node)
    if not ctx.is_dyn(node.input[0]) or ctx.is_dyn(node.input[1]):
        raise Refuse("only Gemm(data, constant weights) is supported")
    x = ctx.dyn(node.input[0])
    contract = 0 if a.get("transA", 0) else 1
    if x.frame != (x.shape[contract],) or x.rank != 2:
        raise Refuse("Gemm input must be (batch or time, features)")
    wb = ctx.invariant(node.input[1], "the Gemm weights").astype(np.float32)
    w = (wb if a.get("transB", 0) else wb.T) * np.float32(a.get("alpha", 1.0))
    bias = None
    if ctx.opt(node, 2):
        if ctx.is_dyn(node.input[2]):
            raise Refuse("Gemm with a data-dependent C is not supported")
        c = np.asarray(ctx.invariant(node.input[2], "Gemm C"), np.float32)
        c = np.broadcast_to(c, (1, w.shape[0]) if c.ndim < 2 else c.shape)
        if not np.all(c == c[:1]):
            raise Refuse("Gemm C varies along the batch or time axis")
        bias = c[0] * np.float32(a.get("beta", 1.0))
    value = _dense(ctx, x, w, bias, (w.shape[0],))
    other = 1 - contract
    t = 0 if x.time == other else None
    b = 0 if x.batch == other else None
    ctx.set(node.output[0], x.with_(value=value, prov=None, time=t, batch=b,
                                    shape=ctx.probe_shape(node.output[0])))
