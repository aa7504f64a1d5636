"""Reading an ONNX model for import: opset check, dataflow, If inlining, probe runs.

The importer learns the concrete shape of every tensor and the value of every
shape-plumbing tensor (Shape -> Gather -> Concat -> Reshape ...) by *probing*:
running the model with the ONNX reference evaluator on random inputs at two
sequence lengths (batch 1) and keeping every intermediate result.  A tensor is
*dynamic* when it depends on input data; everything else (initializers,
Constant nodes, anything computed from them and from Shape/Size) is *static*
and is read from the probes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ConversionError

OPSETS = range(11, 22)  # default-domain opsets we accept (11 .. 21)
SHAPE_ONLY = {"Shape", "Size"}  # outputs depend on the input's shape, not its data
RECURRENT = ("LSTM", "GRU", "RNN")


def load_model(src: str | os.PathLike | onnx.ModelProto) -> onnx.ModelProto:
    """The model from a path or a ModelProto, with an accepted opset."""
    if isinstance(src, onnx.ModelProto):
        model = src
    else:
        path = os.fspath(src)
        if not os.path.exists(path):
            raise ConversionError(f"{path}: no such file")
        try:
            model = onnx.load(path)
        except Exception as e:  # noqa: BLE001 - any parse failure means "not an ONNX file"
            raise ConversionError(f"{path}: not a readable ONNX model ({e})") from None
    opset = default_opset(model)
    if not _sorted(model.graph):  # tools such as onnxconverter-common leave nodes unsorted
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        toposort(copy.graph)
        model = copy
    if opset not in OPSETS:
        raise ConversionError(
            f"the model uses ONNX opset {opset}; edgernn imports opsets "
            f"{OPSETS.start}..{OPSETS.stop - 1}. Re-export with opset_version=17, or "
            f"upgrade it with onnx.version_converter.convert_version(model, 17)."
        )
    return model


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return 0


def attrs_of(node: onnx.NodeProto) -> dict:
    """Node attributes as Python values (strings decoded, subgraphs kept)."""
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [s.decode() for s in v]
        out[a.name] = v
    return out


def data_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are real inputs (old exporters also list initializers)."""
    inits = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in inits]


def declared_dims(vi: onnx.ValueInfoProto) -> tuple[int | str, ...]:
    """Declared dims: ints, dim_param names, or '' for unknown."""
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return ()
    return tuple(d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim)


def outer_refs(graph: onnx.GraphProto) -> set[str]:
    """Names a subgraph reads from its enclosing scope."""
    local = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    refs: set[str] = set()
    for node in graph.node:
        for name in node_inputs(node):
            if name and name not in local:
                refs.add(name)
        local.update(node.output)
    return refs


def node_inputs(node: onnx.NodeProto) -> list[str]:
    """Explicit inputs plus the outer names read by the node's subgraphs (If, Loop)."""
    names = list(node.input)
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            names.extend(sorted(outer_refs(a.g)))
        elif a.type == onnx.AttributeProto.GRAPHS:
            for g in a.graphs:
                names.extend(sorted(outer_refs(g)))
    return names


def dynamic_names(graph: onnx.GraphProto, inputs: Iterable[str]) -> set[str]:
    """Names whose value depends on input data (Shape/Size outputs do not)."""
    dyn = set(inputs)
    for node in graph.node:
        if node.op_type in SHAPE_ONLY:
            continue
        if any(n in dyn for n in node_inputs(node)):
            dyn.update(o for o in node.output if o)
    return dyn


def consumers(graph: onnx.GraphProto) -> dict[str, list[tuple[onnx.NodeProto, int]]]:
    """For every name, the nodes reading it and at which input index."""
    out: dict[str, list] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name:
                out.setdefault(name, []).append((node, i))
    return out


def probe(model: onnx.ModelProto, feeds: list[dict[str, np.ndarray]]) -> list[dict]:
    """Every tensor's value (initializers, inputs, node outputs) for each of ``feeds``.

    Only shapes and static values are used, so recurrent ops run with default
    activations (the reference evaluator knows no others).  Where the evaluator
    fails, onnxruntime is tried (:mod:`.ort_probe`).
    """
    from onnx.reference import ReferenceEvaluator

    plain = onnx.ModelProto()
    plain.CopyFrom(model)
    for node in plain.graph.node:
        if node.op_type in RECURRENT:
            keep = [a for a in node.attribute if not a.name.startswith("activation")]
            del node.attribute[:]
            node.attribute.extend(keep)
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            ev = ReferenceEvaluator(plain)
            for f in feeds:
                res = ev.run(None, f, intermediate=True)
                values = dict(init)
                values.update({k: np.asarray(v) for k, v in res.items() if k})
                out.append(values)
        except Exception as first:  # noqa: BLE001 - ops the evaluator lacks: onnxruntime
            from .ort_probe import probe_ort

            try:
                return probe_ort(plain, feeds)
            except Exception:  # noqa: BLE001 - report the evaluator's reason
                raise first from None
    return out


def inline_static_ifs(model: onnx.ModelProto, probes: list[dict], dynamic: set[str]) -> bool:
    """Replace each If whose condition is static and the same in every probe by its branch.

    Returns True if the graph changed (probes must then be rerun).
    """
    g = model.graph
    nodes: list[onnx.NodeProto] = []
    changed = False
    for k, node in enumerate(g.node):
        cond = node.input[0] if node.op_type == "If" else ""
        if not cond or cond in dynamic or any(cond not in p for p in probes):
            nodes.append(node)
            continue
        values = {bool(np.asarray(p[cond]).reshape(-1)[0]) for p in probes}
        if len(values) != 1:
            nodes.append(node)
            continue
        branch = attrs_of(node)["then_branch" if values.pop() else "else_branch"]
        nodes.extend(_branch_nodes(g, branch, node.output, prefix=f"{node.name or 'If'}_{k}/"))
        changed = True
    if changed:
        del g.node[:]
        g.node.extend(nodes)
    return changed


def _branch_nodes(main: onnx.GraphProto, branch: onnx.GraphProto, outputs, prefix: str):
    """The branch's nodes with its local names prefixed, then Identity to the If's outputs."""
    local = {t.name for t in branch.initializer}
    for node in branch.node:
        local.update(o for o in node.output if o)
    rename = {n: prefix + n for n in local}
    for t in branch.initializer:
        t2 = onnx.TensorProto()
        t2.CopyFrom(t)
        t2.name = rename[t.name]
        main.initializer.append(t2)
    nodes = []
    for node in branch.node:
        n2 = onnx.NodeProto()
        n2.CopyFrom(node)
        n2.name = prefix + (node.name or node.op_type)
        n2.input[:] = [rename.get(n, n) for n in node.input]
        n2.output[:] = [rename.get(n, n) for n in node.output]
        for sub in _subgraphs(n2):  # a nested If reads the branch's names from outside
            _rename_refs(sub, rename)
        nodes.append(n2)
    for dst, src in zip(outputs, branch.output, strict=True):
        if dst:
            nodes.append(helper.make_node("Identity", [rename.get(src.name, src.name)], [dst],
                                          name=f"{prefix}out_{dst}"))
    return nodes


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    out = []
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            out.append(a.g)
        elif a.type == onnx.AttributeProto.GRAPHS:
            out.extend(a.graphs)
    return out


def _rename_refs(graph: onnx.GraphProto, rename: dict[str, str]) -> None:
    """Rename, in place, the names ``graph`` reads from enclosing scopes."""
    local = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    for node in graph.node:
        node.input[:] = [n if n in local else rename.get(n, n) for n in node.input]
        local.update(node.output)
    for node in graph.node:
        for sub in _subgraphs(node):
            _rename_refs(sub, {k: v for k, v in rename.items() if k not in local})
    for v in graph.output:
        if v.name not in local and v.name in rename:
            v.name = rename[v.name]


def _sorted(graph: onnx.GraphProto) -> bool:
    produced = {o for n in graph.node for o in n.output}
    known: set[str] = set()
    for node in graph.node:
        if any(n in produced and n not in known for n in node_inputs(node)):
            return False
        known.update(node.output)
    return True


def toposort(graph: onnx.GraphProto) -> None:
    """Order the nodes so each comes after the producers of what it reads (stable), in place.

    Names read by subgraphs count; names produced nowhere (outer scope) are ignored.
    """
    producer = {o: k for k, n in enumerate(graph.node) for o in n.output if o}
    done: set[int] = set()
    order: list[int] = []
    for k in range(len(graph.node)):
        stack = [(k, False)]
        while stack:
            j, expanded = stack.pop()
            if j in done:
                continue
            if expanded:
                done.add(j)
                order.append(j)
                continue
            stack.append((j, True))
            for name in node_inputs(graph.node[j]):
                p = producer.get(name)
                if p is not None and p not in done and p != j:
                    stack.append((p, False))
    nodes = [graph.node[j] for j in order]
    del graph.node[:]
    graph.node.extend(nodes)
