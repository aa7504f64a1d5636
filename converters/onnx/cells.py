"""An LSTM cell spelled out in elementwise ops, rewritten as one ONNX ``LSTM`` node.

Exporters that trace through ``nn.LSTMCell`` (PyTorch's dynamo exporter, e.g.
Silero's ``silero_vad_op18_ifless.onnx``) write one step as::

    gates = Gemm(x, W_ih) + Gemm(h, W_hh)          # (B, 4H), PyTorch order i, f, g, o
    i, f, g, o = Split(gates, 4)
    c' = Sigmoid(f) * c + Sigmoid(i) * Tanh(g)
    h' = Sigmoid(o) * Tanh(c')

:func:`fuse_lstm_cells` replaces each such pattern, in place, by
``Unsqueeze -> LSTM(initial_h=h, initial_c=c) -> Squeeze`` producing the same ``h'``
and ``c'`` - the same function, one kernel instead of about twenty, and a state the
importer can carry inside the op (:mod:`.states`).  Which Gemm reads ``h`` is told by
the inputs it depends on: the same as ``c``'s (the state), not ``x``'s.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgernn.ir import reorder_gates

from .graph import attrs_of, default_opset, dynamic_names


def _one(by_input: dict, name: str, op_type: str | None = None):
    users = by_input.get(name, [])
    if len(users) != 1 or (op_type and users[0].op_type != op_type):
        return None
    return users[0]


def _gemm_weights(g: onnx.GraphProto, node: onnx.NodeProto, consts: dict):
    a = attrs_of(node)
    if (node.op_type != "Gemm" or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0
            or a.get("beta", 1.0) != 1.0 or node.input[1] not in consts):
        return None
    w = consts[node.input[1]]
    w = w if a.get("transB", 0) else w.T
    b = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if len(node.input) > 2 and node.input[2] and b is None:
        return None
    return np.asarray(w, np.float32), (np.zeros(w.shape[0], np.float32) if b is None
                                       else np.asarray(b, np.float32).reshape(-1))


def _match(g: onnx.GraphProto, split: onnx.NodeProto, prod: dict, by_input: dict) -> dict | None:
    if len(split.output) != 4 or split.input[0] not in prod:
        return None
    add = prod[split.input[0]]
    if add.op_type != "Add" or any(n not in prod for n in add.input):
        return None
    acts = [_one(by_input, o) for o in split.output]
    if [a.op_type if a else None for a in acts] != ["Sigmoid", "Sigmoid", "Tanh", "Sigmoid"]:
        return None
    i, f, gg, o = (a.output[0] for a in acts)
    mul_ig, mul_fc = _one(by_input, i, "Mul"), _one(by_input, f, "Mul")
    mul_o = _one(by_input, o, "Mul")
    if not (mul_ig and mul_fc and mul_o) or set(mul_ig.input) != {i, gg}:
        return None
    c_new = _one(by_input, mul_fc.output[0], "Add")
    if c_new is None or set(c_new.input) != {mul_fc.output[0], mul_ig.output[0]}:
        return None
    tanh_c = next((n for n in by_input.get(c_new.output[0], []) if n.op_type == "Tanh"), None)
    if tanh_c is None or set(mul_o.input) != {o, tanh_c.output[0]}:
        return None
    c_prev = next(n for n in mul_fc.input if n != f)
    nodes = [prod[add.input[0]], prod[add.input[1]], add, split, *acts, mul_ig, mul_fc,
             c_new, tanh_c, mul_o]
    return {"gemms": (prod[add.input[0]], prod[add.input[1]]), "c": c_prev,
            "c_new": c_new.output[0], "h_new": mul_o.output[0], "nodes": nodes,
            "split": split}


def _private(m: dict, by_input: dict, outputs: set[str]) -> bool:
    """Every intermediate of the cell is read only inside it."""
    inside = {id(n) for n in m["nodes"]}
    keep = {m["c_new"], m["h_new"]}
    for n in m["nodes"]:
        for out in n.output:
            if out in keep:
                continue
            if out in outputs or any(id(u) not in inside for u in by_input.get(out, [])):
                return False
    return True


def _deps(g: onnx.GraphProto, inputs: list[str]) -> dict[str, frozenset]:
    """name -> the graph inputs it depends on."""
    out: dict[str, set] = {}
    for name in inputs:
        for d in dynamic_names(g, [name]):
            out.setdefault(d, set()).add(name)
    return {k: frozenset(v) for k, v in out.items()}


def fuse_lstm_cells(model: onnx.ModelProto) -> int:
    """Rewrite every spelled-out LSTM cell of the main graph (see the module docstring);
    return how many."""
    g = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    inits = set(consts)
    deps = _deps(g, [v.name for v in g.input if v.name not in inits])
    outputs = {o.name for o in g.output}
    count = 0
    for split in [n for n in g.node if n.op_type == "Split"]:
        prod = {o: n for n in g.node for o in n.output}
        by_input: dict[str, list] = {}
        for n in g.node:
            for name in n.input:
                by_input.setdefault(name, []).append(n)
        m = _match(g, split, prod, by_input)
        if m is None or not _private(m, by_input, outputs):
            continue
        rec = [gm for gm in m["gemms"] if deps.get(gm.input[0]) == deps.get(m["c"])]
        if len(rec) != 1 or deps.get(m["c"]) is None:
            continue
        x_gemm = next(gm for gm in m["gemms"] if gm is not rec[0])
        wx, wr = _gemm_weights(g, x_gemm, consts), _gemm_weights(g, rec[0], consts)
        if wx is None or wr is None or wr[0].shape[0] != 4 * wr[0].shape[1]:
            continue
        _replace(model, m, x_gemm.input[0], rec[0].input[0], wx, wr)
        count += 1
    return count


def _replace(model: onnx.ModelProto, m: dict, x: str, h: str, wx, wr) -> None:
    g = model.graph
    hidden = wr[0].shape[1]
    p = f"{m['split'].name or 'cell'}/lstm"
    order = ("ifgo", "iofc")  # PyTorch's Split order -> ONNX LSTM
    w = reorder_gates(wx[0], *order)[None]
    r = reorder_gates(wr[0], *order)[None]
    b = np.concatenate([reorder_gates(wx[1], *order), reorder_gates(wr[1], *order)])[None]
    for name, arr in ((f"{p}/W", w), (f"{p}/R", r), (f"{p}/B", b),
                      (f"{p}/axes", np.array([0], np.int64))):
        g.initializer.append(numpy_helper.from_array(arr, name))
    old = default_opset(model) < 13

    def unsq(src: str, dst: str) -> onnx.NodeProto:
        if old:
            return helper.make_node("Unsqueeze", [src], [dst], name=dst, axes=[0])
        return helper.make_node("Unsqueeze", [src, f"{p}/axes"], [dst], name=dst)

    def sq(src: str, dst: str) -> onnx.NodeProto:
        if old:
            return helper.make_node("Squeeze", [src], [dst], name=f"{p}/{dst}", axes=[0])
        return helper.make_node("Squeeze", [src, f"{p}/axes"], [dst], name=f"{p}/{dst}")

    new = [unsq(x, f"{p}/X"), unsq(h, f"{p}/h0"), unsq(m["c"], f"{p}/c0"),
           helper.make_node("LSTM", [f"{p}/X", f"{p}/W", f"{p}/R", f"{p}/B", "", f"{p}/h0",
                                     f"{p}/c0"], [f"{p}/Y", f"{p}/Yh", f"{p}/Yc"], name=p,
                            hidden_size=hidden),
           sq(f"{p}/Yh", m["h_new"]), sq(f"{p}/Yc", m["c_new"])]
    gone = {id(n) for n in m["nodes"]}
    last = max(k for k, n in enumerate(g.node) if id(n) in gone)
    at = sum(1 for n in g.node[:last] if id(n) not in gone)  # after every producer it reads
    nodes = [n for n in g.node if id(n) not in gone]
    nodes[at:at] = new
    del g.node[:]
    g.node.extend(nodes)
