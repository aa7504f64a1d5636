"""ONNX LSTM, GRU and RNN -> the IR's forward recurrent ops in canonical gate order.

ONNX LSTM gates are ``i, o, f, c`` (peepholes ``i, o, f``), GRU ``z, r, h``;
the IR wants LSTM ``i, f, c, o`` (peepholes ``i, f, o``) and GRU ``z, r, h``.
LSTM and RNN biases are summed (Wb + Rb); GRU keeps WB and RB apart (they are
not interchangeable when ``linear_before_reset``).  Both layouts: 0 = X
``[T, B, I]``, Y ``[T, dirs, B, H]``; 1 = X ``[B, T, I]``, Y ``[B, T, dirs, H]``.

Y has the time axis; Y_h (and Y_c) are the last step, which per frame is the
same value as Y (marked ``reduced``).  An initial state from a constant becomes
H0/C0; an initial state read from a state input is linked to it (see
:mod:`.states`) and becomes the op's own state.
"""

from __future__ import annotations

import numpy as np
import onnx

from edgernn.activations import lookup
from edgernn.ir import reorder_gates

from .context import Context, Dyn, Refuse
from .graph import attrs_of

DEFAULT_ACTS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}


def register(table) -> None:
    """Add this module's ops to the op table (:class:`~.table.OpTable`)."""
    for fn in (LSTM, GRU, RNN):
        table.add(fn, check=lambda node: direction_refusal(node.op_type, attrs_of(node)))


def direction_refusal(op: str, a: dict) -> str | None:
    """Why a recurrent op with these attributes cannot stream, or None."""
    direction = a.get("direction", "forward")
    if direction == "forward":
        return None
    return (f"direction={direction!r}: a {direction} {op} needs the whole sequence (future "
            f"frames) before it can output anything; streaming needs direction='forward' "
            f"(export with bidirectional=False)")


def _activation_attrs(op: str, a: dict) -> dict:
    """ONNX activations + packed alpha/beta lists -> IR lists aligned one per activation.

    Which activation consumes an alpha/beta entry, and the defaults of the others,
    come from :mod:`edgernn.activations`.
    """
    n = len(DEFAULT_ACTS[op])
    names = list(a.get("activations") or DEFAULT_ACTS[op])
    if len(names) != n:
        raise Refuse(f"{len(names)} activations for a forward {op} (expected {n})")
    try:
        acts = [lookup(name, gate=True) for name in names]
    except ValueError as e:
        raise Refuse(str(e)) from None
    out: dict = {"activations": tuple(names)}
    alphas, betas = list(a.get("activation_alpha", [])), list(a.get("activation_beta", []))
    if alphas or betas:
        params = [act.params(alphas.pop(0) if act.takes_alpha and alphas else None,
                             betas.pop(0) if act.takes_beta and betas else None) for act in acts]
        out["activation_alpha"] = tuple(p[0] for p in params)
        out["activation_beta"] = tuple(p[1] for p in params)
    return out


def _check_common(ctx: Context, node: onnx.NodeProto, a: dict) -> tuple[Dyn, int]:
    why = direction_refusal(node.op_type, a)
    if why:
        raise Refuse(why)
    layout = int(a.get("layout", 0))
    x = ctx.dyn(node.input[0])
    t_ax, b_ax = (1, 0) if layout else (0, 1)
    if x.time is None and x.shape[t_ax] == 1:
        pass  # a step model: one step per frame, the state carried by the op
    elif x.time is None:
        raise Refuse(f"its input X has {x.shape[t_ax]} steps but no input axis was taken as "
                     f"time: the recurrence would run inside one frame; name the input's time "
                     f"axis (see the hint)")
    elif x.time != t_ax:
        raise Refuse(f"its input X has no time axis at position {t_ax} (layout={layout})")
    if x.batch != b_ax and not (x.batch is None and x.shape[b_ax] == 1):
        raise Refuse(f"its input X has no batch axis at position {b_ax} (layout={layout})")
    if x.reduced:
        raise Refuse("runs over a tensor that is already the last step")
    if ctx.opt(node, 4):
        for p, lens in enumerate(ctx.static_all(node.input[4])):
            T = ctx.probe_shape(node.input[0], p)[t_ax]
            if not np.all(np.asarray(lens) == T):
                raise Refuse("sequence_lens shorter than the sequence: variable-length "
                             "batches do not stream; drop sequence_lens")
    return x, layout


def _initial(ctx: Context, node: onnx.NodeProto, index: int, hidden: int, op_name: str,
             key: str) -> str:
    """IR input for initial_h / initial_c: a constant, '' (zeros), or a link to a state."""
    name = ctx.opt(node, index)
    if not name:
        return ""
    if ctx.is_dyn(name):
        d = ctx.dyn(name)
        elems = None if d.prov is None else list(d.prov.reshape(-1))
        if not elems or len(elems) != hidden or any(e is None or e[0] != "state" for e in elems):
            raise Refuse(f"its initial state {name!r} is computed from data; only constants or a "
                         f"state input carried from the model's own outputs are supported")
        ctx.links[(op_name, key)] = tuple(elems)
        return ""
    v = np.asarray(ctx.invariant(name, "the initial state"), np.float32)
    v = v.reshape(-1, hidden)
    if not np.all(v == v[0]):
        raise Refuse("the initial state differs between batch entries")
    if not np.any(v[0]):
        return ""
    return ctx.add_const(v[0], key.upper() + "0")


def _outputs(ctx: Context, node: onnx.NodeProto, x: Dyn, layout: int, h_value: str,
             hidden: int, op_name: str, with_c: bool) -> None:
    """Metas for Y, Y_h (and Y_c): all the same per-frame value h, shaped (1, H)."""
    def prov(key):
        p = np.empty((1, hidden), dtype=object)
        for k in range(hidden):
            p[0, k] = ("op", op_name, key, k)
        return p

    y, yh = node.output[0] if node.output else "", node.output[1] if len(node.output) > 1 else ""
    yc = node.output[2] if len(node.output) > 2 else ""
    stepped = x.time is None  # a step model: Y keeps a sequence axis of length 1 in the frame
    base = x.with_(prov=None, tpad=(0, 0))
    if y:
        t, b = (1, 0) if layout else (0, 2)
        d = base.with_(shape=ctx.probe_shape(y), time=None if stepped else t,
                       batch=None if x.batch is None else b)
        value = ctx.emit("Reshape", [h_value], d.frame, {"shape": d.frame})
        ctx.set(y, d.with_(value=value, prov=prov("h").reshape(d.frame)))
    last = base.with_(time=None, batch=None if x.batch is None else 0 if layout else 1,
                      reduced=not stepped)
    if (yh or yc) and x.tail != 0:
        for name in (yh, yc):
            if name in ctx.used:
                raise Refuse("Y_h/Y_c of a sequence whose last frames come from right padding")
    if yh:
        d = last.with_(shape=ctx.probe_shape(yh))
        value = ctx.emit("Reshape", [h_value], d.frame, {"shape": d.frame})
        ctx.set(yh, d.with_(value=value, prov=prov("h").reshape(d.frame)))
    if yc:
        if not with_c:
            raise Refuse("has a third output")
        d = last.with_(value=None, shape=ctx.probe_shape(yc))
        ctx.set(yc, d.with_(prov=prov("c").reshape(d.frame)))


def _weights(ctx: Context, node: onnx.NodeProto, gates: int) -> tuple[np.ndarray, ...]:
    """W, R (float16 kept as stored: reordering gates is exact), B as float32, hidden size."""
    w, r = (np.asarray(ctx.invariant(node.input[i], what)) for i, what in ((1, "W"), (2, "R")))
    w, r = (a if a.dtype == np.float16 else a.astype(np.float32) for a in (w, r))
    hidden = r.shape[-1]
    if ctx.opt(node, 3):
        b = np.asarray(ctx.invariant(node.input[3], "B"), np.float32)[0]
    else:
        b = np.zeros(2 * gates * hidden, np.float32)
    return w[0], r[0], b, hidden


def _begin(ctx: Context, node: onnx.NodeProto, gates: int, order: tuple[str, str] | None = None):
    """(X's meta, layout, IR inputs [X, W, R], B, hidden size, IR op name) of the forward
    direction; W and R rows reordered from gate order ``order[0]`` to ``order[1]``."""
    x, layout = _check_common(ctx, node, ctx.attrs(node))
    w, r, b, hidden = _weights(ctx, node, gates)
    if order:
        w, r = reorder_gates(w, *order), reorder_gates(r, *order)
    inputs = [ctx.vector(x), ctx.add_const(w, "W"), ctx.add_const(r, "R")]
    return x, layout, inputs, b, hidden, ctx.op_name(node.op_type, main=True)


def _emit(ctx: Context, node: onnx.NodeProto, x: Dyn, layout: int, inputs: list[str],
          hidden: int, name: str, **attrs) -> None:
    """The IR op (of ``node``'s kind, the same name) and the metas of its outputs."""
    a = ctx.attrs(node)
    attrs = {"hidden_size": hidden, "clip": float(a.get("clip", 0.0)), **attrs,
             **_activation_attrs(node.op_type, a)}
    h = ctx.emit(node.op_type, _trim(inputs), (hidden,), attrs, name=name)
    _outputs(ctx, node, x, layout, h, hidden, name, with_c=node.op_type == "LSTM")


def LSTM(ctx: Context, node: onnx.NodeProto) -> None:
    order = ("iofc", "ifco")
    x, layout, inputs, b, hidden, name = _begin(ctx, node, 4, order)
    inputs.append(ctx.add_const(reorder_gates(b[:4 * hidden] + b[4 * hidden:], *order), "B"))
    p = ""
    if ctx.opt(node, 7):
        pv = np.asarray(ctx.invariant(node.input[7], "P"), np.float32)[0]
        if np.any(pv):
            p = ctx.add_const(reorder_gates(pv, "iof", "ifo"), "P")
    inputs += [p, "", "", _initial(ctx, node, 5, hidden, name, "h"),
               _initial(ctx, node, 6, hidden, name, "c")]
    _emit(ctx, node, x, layout, inputs, hidden, name,
          input_forget=bool(ctx.attrs(node).get("input_forget", 0)))


def GRU(ctx: Context, node: onnx.NodeProto) -> None:
    x, layout, inputs, b, hidden, name = _begin(ctx, node, 3)
    inputs += [ctx.add_const(b[:3 * hidden], "WB"), ctx.add_const(b[3 * hidden:], "RB"),
               _initial(ctx, node, 5, hidden, name, "h")]
    _emit(ctx, node, x, layout, inputs, hidden, name,
          linear_before_reset=bool(ctx.attrs(node).get("linear_before_reset", 0)))


def RNN(ctx: Context, node: onnx.NodeProto) -> None:
    x, layout, inputs, b, hidden, name = _begin(ctx, node, 1)
    inputs += [ctx.add_const(b[:hidden] + b[hidden:], "B"),
               _initial(ctx, node, 5, hidden, name, "h")]
    _emit(ctx, node, x, layout, inputs, hidden, name)


def _trim(inputs: list[str]) -> list[str]:
    while inputs and not inputs[-1]:
        inputs.pop()
    return inputs
