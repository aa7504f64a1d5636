"""Configuration inputs: graph inputs fixed to a value at conversion, never streamed.

A sample rate, a mode flag: integer scalars a model takes beside its data, often
to choose a branch (``If sr == 16000``).  ``consts={"sr": 16000}`` (``--const
sr=16000``) turns such an input into a constant before anything else runs, so the
probes fold everything computed from it and the ``If`` nodes on it are inlined
(:func:`fold_constant_ifs` resolves those whose condition needs no input at all).
Without a value, a non-float input is an error that names it and suggests the
values the model compares it with (:func:`suggestion`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ConversionError
from .graph import _branch_nodes, attrs_of, declared_dims, node_inputs

#: ops that pass a value on unchanged, or pick from it (followed when looking for compares)
_CARRY = {"Reshape", "Squeeze", "Unsqueeze", "Gather", "Cast", "Identity", "Slice", "Flatten",
          "Expand", "CastLike"}
_COMPARE = {"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"}


def _graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """``graph`` and every subgraph in it (If branches, Loop bodies)."""
    yield graph
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    yield from _graphs(g)


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every initializer and Constant node value, in any (sub)graph."""
    out = {}
    for g in _graphs(model.graph):
        out.update({t.name: numpy_helper.to_array(t) for t in g.initializer})
        for n in g.node:
            if n.op_type == "Constant" and "value" in attrs_of(n):
                out[n.output[0]] = numpy_helper.to_array(attrs_of(n)["value"])
    return out


def compared_values(model: onnx.ModelProto, name: str) -> list:
    """Constants the model compares input ``name`` with (directly or after reshapes,
    gathers, casts ...), in the order found."""
    consts = _constants(model)
    carried, found = {name}, []
    for _ in range(8):  # values flow through a few carrying ops at most
        for g in _graphs(model.graph):
            for n in g.node:
                ins = [i for i in n.input if i in carried]
                if not ins:
                    continue
                if n.op_type in _CARRY and n.input[0] in carried:
                    carried.update(n.output)
                elif n.op_type in _COMPARE:
                    for other in n.input:
                        if other not in carried and other in consts:
                            v = np.asarray(consts[other]).reshape(-1)
                            found += [x.item() for x in v[:4] if x.item() not in found]
    return found


def suggestion(model: onnx.ModelProto, vi: onnx.ValueInfoProto) -> str:
    """The error for a non-float input given no value: what it is and what to pass."""
    dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
    dims = list(declared_dims(vi))
    what = f"{dtype} {'scalar' if not dims else dims}"
    values = compared_values(model, vi.name)
    if values:
        hint = (f"--const {vi.name}={values[0]} (consts={{{vi.name!r}: {values[0]}}} in Python); "
                f"the model compares it with {', '.join(map(str, values))}")
    else:
        hint = (f"--const {vi.name}=VALUE (consts={{{vi.name!r}: VALUE}} in Python); the model "
                f"compares it with no constant, so any value it was made for")
    return (f"input {vi.name!r} ({what}) is not a stream of float frames but a configuration "
            f"input: fix its value at conversion with {hint}")


def _parse(value, dtype: np.dtype, name: str) -> np.ndarray:
    """A value given on the command line (text) or in Python, as ``dtype``."""
    try:
        if isinstance(value, str):
            text = value.strip()
            value = int(text) if text.lstrip("+-").isdigit() else float(text)
        arr = np.asarray(value)
        if dtype.kind in "iu" and arr.dtype.kind == "f" and np.any(arr != np.round(arr)):
            raise ValueError
        return arr.astype(dtype)
    except (TypeError, ValueError):
        raise ConversionError(f"--const {name}={value!r}: not a {dtype} value") from None


def apply_consts(model: onnx.ModelProto, consts: dict) -> dict[str, dict]:
    """Replace each named input by an initializer holding its value, in place.

    Returns ``{name: {"value", "dtype", "shape"}}`` for the report and ``verify``
    (which feeds the same values to the source model).
    """
    if not consts:
        return {}
    inits = {t.name for t in model.graph.initializer}
    inputs = {vi.name: vi for vi in model.graph.input if vi.name not in inits}
    unknown = sorted(set(consts) - set(inputs))
    if unknown:
        raise ConversionError(f"--const given for {unknown}, which the model does not take as "
                              f"inputs; its inputs are {sorted(inputs)}")
    info = {}
    for name, value in consts.items():
        vi = inputs[name]
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type))
        dims = declared_dims(vi)
        shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in dims)
        arr = np.asarray(_parse(value, dtype, name))
        if arr.size != 1 and arr.shape != shape:
            raise ConversionError(f"--const {name}: {arr.shape} values, the input is {dims}")
        arr = np.broadcast_to(arr.reshape(-1)[0] if arr.size == 1 else arr, shape).copy()
        model.graph.input.remove(vi)
        model.graph.initializer.append(numpy_helper.from_array(arr, name))
        info[name] = {"value": arr.reshape(-1)[0].item() if arr.size == 1 else arr.tolist(),
                      "dtype": str(dtype), "shape": list(shape), "ifs": 0}
    return info


def _slice(graph: onnx.GraphProto, name: str, inputs: set[str]) -> list[onnx.NodeProto] | None:
    """The nodes computing ``name`` from constants only, in order; None if it needs an input."""
    producer = {o: n for n in graph.node for o in n.output}
    need, seen, order = [name], set(), []
    while need:
        cur = need.pop()
        if cur in seen or not cur:
            continue
        seen.add(cur)
        if cur in inputs:
            return None
        node = producer.get(cur)
        if node is None:
            continue  # an initializer
        if node.op_type in ("Shape", "Size") or any(a.type in (onnx.AttributeProto.GRAPH,
                                                               onnx.AttributeProto.GRAPHS)
                                                    for a in node.attribute):
            return None
        order.append(node)
        need.extend(node_inputs(node))
    index = {id(n): k for k, n in enumerate(graph.node)}
    return sorted(order, key=lambda n: index[id(n)])


def _value(model: onnx.ModelProto, nodes: list[onnx.NodeProto], name: str) -> np.ndarray:
    from onnx.reference import ReferenceEvaluator

    g = helper.make_graph(nodes, "cond", [], [helper.make_tensor_value_info(
        name, onnx.TensorProto.UNDEFINED, None)], list(model.graph.initializer))
    m = helper.make_model(g, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    return np.asarray(ReferenceEvaluator(m).run(None, {})[0])


def fold_constant_ifs(model: onnx.ModelProto, info: dict[str, dict]) -> int:
    """Inline, in place, every top-level If whose condition is computed from constants alone
    (repeatedly: a branch may hold more); count in ``info`` those that read a fixed input."""
    total = 0
    for _ in range(16):
        g = model.graph
        inputs = {vi.name for vi in g.input} - {t.name for t in g.initializer}
        nodes, changed = [], False
        for k, node in enumerate(g.node):
            part = _slice(g, node.input[0], inputs) if node.op_type == "If" else None
            if part is None:
                nodes.append(node)
                continue
            cond = bool(_value(model, part, node.input[0]).reshape(-1)[0])
            branch = attrs_of(node)["then_branch" if cond else "else_branch"]
            nodes.extend(_branch_nodes(g, branch, node.output, f"{node.name or 'If'}_{k}/"))
            for name, item in info.items():
                if any(name in n.input for n in part):
                    item["ifs"] += 1
            changed, total = True, total + 1
        if not changed:
            return total
        del g.node[:]
        g.node.extend(nodes)
    return total
