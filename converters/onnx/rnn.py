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

from edgernn.ir import reorder_gates

from .context import Context, Dyn, Refuse
from .ops import register

#: activations that consume an activation_alpha / activation_beta entry (ONNX / onnxruntime)
TAKES_ALPHA = {"affine", "leakyrelu", "thresholdedrelu", "scaledtanh", "hardsigmoid", "elu"}
TAKES_BETA = {"affine", "scaledtanh", "hardsigmoid"}
DEFAULT_ACTS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}
DEFAULT_ALPHA = {"affine": 1.0, "leakyrelu": 0.01, "thresholdedrelu": 1.0, "scaledtanh": 1.0,
                 "hardsigmoid": 0.2, "elu": 1.0}
DEFAULT_BETA = {"affine": 0.0, "scaledtanh": 1.0, "hardsigmoid": 0.5}


def _activation_attrs(op: str, a: dict) -> dict:
    """ONNX activations + packed alpha/beta lists -> IR lists aligned one per activation."""
    n = len(DEFAULT_ACTS[op])
    acts = list(a.get("activations") or DEFAULT_ACTS[op])
    if len(acts) != n:
        raise Refuse(f"{len(acts)} activations for a forward {op} (expected {n})")
    out: dict = {"activations": tuple(acts)}
    alphas, betas = list(a.get("activation_alpha", [])), list(a.get("activation_beta", []))
    if alphas or betas:
        al, be = [], []
        for act in acts:
            key = act.lower()
            al.append(float(alphas.pop(0)) if key in TAKES_ALPHA and alphas
                      else DEFAULT_ALPHA.get(key, 0.0))
            be.append(float(betas.pop(0)) if key in TAKES_BETA and betas
                      else DEFAULT_BETA.get(key, 0.0))
        out["activation_alpha"], out["activation_beta"] = tuple(al), tuple(be)
    return out


def _check_common(ctx: Context, node: onnx.NodeProto, a: dict) -> tuple[Dyn, int]:
    direction = a.get("direction", "forward")
    if direction != "forward":
        raise Refuse(f"direction={direction!r}: a {direction} {node.op_type} needs the whole "
                     f"sequence (future frames) before it can output anything; streaming "
                     f"needs direction='forward' (export with bidirectional=False)")
    layout = int(a.get("layout", 0))
    x = ctx.dyn(node.input[0])
    t_ax, b_ax = (1, 0) if layout else (0, 1)
    if x.time != t_ax:
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
    value = ""
    if y or yh:
        value = ctx.emit("Reshape", [h_value], (1, hidden), {"shape": (1, hidden)})
    base = x.with_(value=value, prov=None, tpad=(0, 0))
    if y:
        t, b = (1, 0) if layout else (0, 2)
        ctx.set(y, base.with_(shape=ctx.probe_shape(y), time=t, batch=b, prov=prov("h")))
    last = base.with_(time=None, batch=0 if layout else 1, reduced=True)
    if (yh or yc) and x.tail != 0:
        for name in (yh, yc):
            if name in ctx.used:
                raise Refuse("Y_h/Y_c of a sequence whose last frames come from right padding")
    if yh:
        ctx.set(yh, last.with_(shape=ctx.probe_shape(yh), prov=prov("h")))
    if yc:
        if not with_c:
            raise Refuse("has a third output")
        ctx.set(yc, last.with_(value=None, shape=ctx.probe_shape(yc), prov=prov("c")))


def _weights(ctx: Context, node: onnx.NodeProto, gates: int) -> tuple[np.ndarray, ...]:
    w = np.asarray(ctx.invariant(node.input[1], "W"), np.float32)
    r = np.asarray(ctx.invariant(node.input[2], "R"), np.float32)
    hidden = r.shape[-1]
    if ctx.opt(node, 3):
        b = np.asarray(ctx.invariant(node.input[3], "B"), np.float32)[0]
    else:
        b = np.zeros(2 * gates * hidden, np.float32)
    return w[0], r[0], b, hidden


@register
def LSTM(ctx: Context, node: onnx.NodeProto) -> None:
    a = ctx.attrs(node)
    x, layout = _check_common(ctx, node, a)
    w, r, b, hidden = _weights(ctx, node, 4)
    name = ctx.op_name(node.op_type, main=True)
    order = ("iofc", "ifco")
    inputs = [ctx.vector(x),
              ctx.add_const(reorder_gates(w, *order), "W"),
              ctx.add_const(reorder_gates(r, *order), "R"),
              ctx.add_const(reorder_gates(b[:4 * hidden] + b[4 * hidden:], *order), "B")]
    p = ""
    if ctx.opt(node, 7):
        pv = np.asarray(ctx.invariant(node.input[7], "P"), np.float32)[0]
        if np.any(pv):
            p = ctx.add_const(reorder_gates(pv, "iof", "ifo"), "P")
    inputs += [p, "", "", _initial(ctx, node, 5, hidden, name, "h"),
               _initial(ctx, node, 6, hidden, name, "c")]
    attrs = {"hidden_size": hidden, "clip": float(a.get("clip", 0.0)),
             "input_forget": bool(a.get("input_forget", 0)), **_activation_attrs("LSTM", a)}
    h = ctx.emit("LSTM", _trim(inputs), (hidden,), attrs, name=name)
    _outputs(ctx, node, x, layout, h, hidden, name, with_c=True)


@register
def GRU(ctx: Context, node: onnx.NodeProto) -> None:
    a = ctx.attrs(node)
    x, layout = _check_common(ctx, node, a)
    w, r, b, hidden = _weights(ctx, node, 3)
    name = ctx.op_name(node.op_type, main=True)
    inputs = [ctx.vector(x), ctx.add_const(w, "W"), ctx.add_const(r, "R"),
              ctx.add_const(b[:3 * hidden], "WB"), ctx.add_const(b[3 * hidden:], "RB"),
              _initial(ctx, node, 5, hidden, name, "h")]
    attrs = {"hidden_size": hidden, "clip": float(a.get("clip", 0.0)),
             "linear_before_reset": bool(a.get("linear_before_reset", 0)),
             **_activation_attrs("GRU", a)}
    h = ctx.emit("GRU", _trim(inputs), (hidden,), attrs, name=name)
    _outputs(ctx, node, x, layout, h, hidden, name, with_c=False)


@register
def RNN(ctx: Context, node: onnx.NodeProto) -> None:
    a = ctx.attrs(node)
    x, layout = _check_common(ctx, node, a)
    w, r, b, hidden = _weights(ctx, node, 1)
    name = ctx.op_name(node.op_type, main=True)
    inputs = [ctx.vector(x), ctx.add_const(w, "W"), ctx.add_const(r, "R"),
              ctx.add_const(b[:hidden] + b[hidden:], "B"),
              _initial(ctx, node, 5, hidden, name, "h")]
    attrs = {"hidden_size": hidden, "clip": float(a.get("clip", 0.0)),
             **_activation_attrs("RNN", a)}
    h = ctx.emit("RNN", _trim(inputs), (hidden,), attrs, name=name)
    _outputs(ctx, node, x, layout, h, hidden, name, with_c=False)


def _trim(inputs: list[str]) -> list[str]:
    while inputs and not inputs[-1]:
        inputs.pop()
    return inputs
