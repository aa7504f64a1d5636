"""ONNX -> edgernn IR: the driver.

1. load, check the opset (:mod:`.graph`); fix configuration inputs to their given
   values and inline the If nodes they decide (:mod:`.consts`); rewrite LSTM cells
   spelled out in elementwise ops as LSTM nodes (:mod:`.cells`);
2. find each input's time and batch axes, pair state inputs with outputs
   (:mod:`.io`); give chunk axes their length (:mod:`.chunks`);
3. probe: run the model at two sequence lengths (batch 1) with the reference
   evaluator, keeping every intermediate; inline If nodes with a constant
   condition; re-probe (:mod:`.probing`);
4. convert every node that depends on input data with its op function
   (the op table, :mod:`.table`), collecting every refusal;
5. resolve states (:mod:`.states`), run the clean-up passes
   (:mod:`..passes`), build and check the :class:`~edgernn.ir.Graph`.

A step model whose data axis is named like time but does not convert as time is
tried once more with that axis as a chunk of samples (:func:`.chunks.as_chunks`).
"""

from __future__ import annotations

import os

import onnx

from edgernn.ir import Graph, GraphError, Value
from edgernn.shapes import check_graph

from ..errors import ConversionError, Problem, UnsupportedModelError
from .cells import fuse_lstm_cells
from .chunks import as_chunks, size_free_axes
from .consts import apply_consts, fold_constant_ifs
from .context import Context, Dyn, Refuse
from .graph import default_opset, dynamic_names, load_model, node_inputs
from .io import InputSpec, input_specs, pair_states
from .probing import HINTS, probe_model
from .states import resolve_states, state_prov
from .table import OpTable, default_table


def load_onnx(src: str | os.PathLike | onnx.ModelProto, *, axes: dict | None = None,
              state_pairs: dict[str, str] | None = None, consts: dict | None = None,
              frame: dict | None = None, table: OpTable | None = None) -> Graph:
    """Import an ONNX model as an edgernn IR graph (see the module docstring).

    ``axes`` maps input names to axis letters (``"BTF"``: T = time, B = batch)
    where the model does not say; ``state_pairs`` maps state inputs to the
    outputs they are fed from (``{"h_in": "h_out"}``) where names do not say;
    ``consts`` fixes configuration inputs (``{"sr": 16000}``, :mod:`.consts`);
    ``frame`` gives the length of chunk axes (``{"input": 576}``, :mod:`.chunks`).
    ``table``: the ops known (default: every op of this package, :mod:`.table`).
    Raises :class:`UnsupportedModelError` listing every node that cannot stream.
    """
    table = table or default_table()
    label = os.fspath(src) if not isinstance(src, onnx.ModelProto) else (
        src.graph.name or "model")
    model = onnx.ModelProto()
    model.CopyFrom(load_model(src))
    fixed = apply_consts(model, dict(consts or {}))
    fold_constant_ifs(model, fixed)
    fuse_lstm_cells(model)
    specs = pair_states(input_specs(model, table, axes), list(model.graph.output), state_pairs)
    pristine = onnx.ModelProto()
    pristine.CopyFrom(model)
    try:
        return _import(model, size_free_axes(model, specs, frame), label, table, fixed)
    except ConversionError as first:
        chunked = as_chunks(specs)
        if chunked is None or axes:
            raise
        try:  # a step model's axis named like time may be a chunk of samples
            return _import(pristine, size_free_axes(pristine, chunked, frame), label, table,
                           fixed)
        except ConversionError:
            raise first from None


def _import(model: onnx.ModelProto, specs: list[InputSpec], label: str, table: OpTable,
            fixed: dict) -> Graph:
    probes = probe_model(model, specs, label, table)
    names = [s.name for s in specs]
    dynamic = dynamic_names(model.graph, names)
    ctx = Context(probes, default_opset(model))
    ctx.used = {i for n in model.graph.node for i in node_inputs(n)} | {
        o.name for o in model.graph.output}
    inputs = _seed_inputs(ctx, specs)
    problems = _convert_nodes(ctx, model, dynamic, table)
    outputs, out_info = _outputs(ctx, model, specs, problems)
    states, state_info, state_problems = resolve_states(ctx, specs)
    problems += state_problems
    if problems:
        raise UnsupportedModelError(problems, label, hints=_axis_hints(specs))
    keep = {s.output for s in states} | {s.input for s in states} | {v.name for v in inputs}
    g, outputs = ctx.finish(outputs, keep)
    for item, value in zip(out_info.values(), outputs, strict=True):
        item["value"] = value
    graph = Graph(inputs=tuple(inputs), outputs=tuple(outputs), ops=tuple(g.ops),
                  values=g.values, consts=g.consts, states=tuple(states),
                  metadata=_metadata(model, label, specs, out_info, state_info, fixed))
    try:
        graph.validate()
        check_graph(graph)
    except GraphError as e:
        raise ConversionError(f"{label}: internal error, the imported graph is inconsistent: "
                              f"{e}") from None
    return graph


def _metadata(model: onnx.ModelProto, label: str, specs: list[InputSpec], out_info: dict,
              state_info: dict, fixed: dict) -> dict:
    """What the importer understood, under the format-neutral keys the report reads."""
    return {
        "source": os.path.basename(label), "source_format": "onnx",
        "source_version": f"opset {default_opset(model)}",
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "source_inputs": {s.name: {"dims": list(s.dims), "time": s.time, "batch": s.batch,
                                   "how": s.how} for s in specs if not s.state_of},
        "source_outputs": out_info,
        "source_states": state_info,
        "source_consts": fixed,
    }


def _axis_hints(specs: list[InputSpec]) -> list[str]:
    return [f"input {s.name!r} {list(s.dims)} was taken to have no time axis (no dim named "
            f"like 'time', no LSTM/GRU/RNN/Conv revealing one); if it has one, give its "
            f"layout: axes={{{s.name!r}: '{_guess(s)}'}} / --axes {s.name}={_guess(s)}"
            for s in specs if s.time is None and not s.state_of and len(s.dims) >= 2]


def _guess(s: InputSpec) -> str:
    return {2: "TF", 3: "BTF", 4: "BCTF"}.get(len(s.dims), "B" + "T" + "F" * (len(s.dims) - 2))


def _seed_inputs(ctx: Context, specs: list[InputSpec]) -> list[Value]:
    inputs = []
    for s in specs:
        d = Dyn(value=s.name, shape=ctx.probe_shape(s.name), time=s.time, batch=s.batch)
        if s.state_of:
            d = d.with_(prov=state_prov(s.name, d.frame))
        else:
            inputs.append(Value(s.name, d.frame))
        ctx.declare(s.name, d.frame)
        ctx.set(s.name, d)
    return inputs


def _convert_nodes(ctx: Context, model: onnx.ModelProto, dynamic: set[str],
                   table: OpTable) -> list[Problem]:
    """Convert every dynamic node; return every refusal.

    The outputs of a refused node get stand-ins (:func:`_stand_in`) where their time
    axis is clear, so that the nodes after it are still checked and listed too (a
    mean over time after a refused bidirectional GRU); everything computed from a
    refused node is *poisoned*: never an output or a state of the graph.
    """
    problems, poisoned = [], set()
    for k, node in enumerate(model.graph.node):
        if not any(o in dynamic for o in node.output):
            continue
        name = node.name or f"{node.op_type}_{k}"
        tainted = [i for i in node_inputs(node) if i in poisoned]
        if tainted:
            poisoned.update(node.output)
            if not all(ctx.is_dyn(i) for i in tainted):
                continue
        why = _convert_node(ctx, node, name, dynamic, table)
        if why and not (tainted and why.startswith("internal error")):
            problems.append(Problem(node.op_type, name, why))
        if why:
            poisoned.update(node.output)
            _stand_in(ctx, node, name)
    ctx.poisoned = poisoned
    return problems


def _convert_node(ctx: Context, node: onnx.NodeProto, name: str, dynamic: set[str],
                  table: OpTable) -> str:
    """Convert one node; the reason it is refused, or ''."""
    spec = table.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    ctx.node_name = name
    try:
        if spec is None:
            raise Refuse(HINTS.get(node.op_type, "no converter for this op"))
        spec.convert(ctx, node)
        for o in node.output:
            if o in dynamic and o in ctx.used and o not in ctx.metas:
                raise Refuse(f"internal error: output {o!r} was not converted")
            if o in ctx.metas and ctx.metas[o].shape != ctx.probe_shape(o):
                raise Refuse(f"internal error: output {o!r} tracked as "
                             f"{ctx.metas[o].shape}, but it is {ctx.probe_shape(o)}")
    except Refuse as r:
        return str(r)
    return ""


def _stand_in(ctx: Context, node: onnx.NodeProto, name: str) -> None:
    """Metas for the outputs of a refused node, only to check the nodes after it.

    An output gets one when its time axis is clear: exactly one axis whose length
    follows the time axis of the node's first timed input across the probes.
    Batch is unknown (None); the IR value has no producer (the graph is never built).
    """
    for o in node.output:
        ctx.metas.pop(o, None)
    timed = [i for i in node.input if ctx.is_dyn(i) and ctx.metas[i].time is not None]
    if not timed or len(ctx.probes) < 2:
        return
    ref = ctx.metas[timed[0]]
    lengths = [ctx.probe_shape(timed[0], p)[ref.time] for p in range(len(ctx.probes))]
    for o in node.output:
        if not o or o not in ctx.probes[0]:
            continue
        shapes = [ctx.probe_shape(o, p) for p in range(len(ctx.probes))]
        axes = [a for a in range(len(shapes[0])) if [s[a] for s in shapes] == lengths]
        if len(axes) == 1:
            d = ref.with_(value=None, shape=shapes[0], time=axes[0], batch=None, prov=None,
                          reduced=False, tpad=(0, 0))
            value = ctx.declare(ctx.fresh(f"{name}:refused:{o}"), d.frame)
            ctx.set(o, d.with_(value=value.name))


def _outputs(ctx: Context, model: onnx.ModelProto, specs, problems) -> tuple[list, dict]:
    state_outs = {s.state_of for s in specs if s.state_of}
    outputs, info = [], {}
    for o in model.graph.output:
        if o.name in state_outs or o.name in ctx.poisoned:
            continue
        d = ctx.metas.get(o.name)
        why = ("does not depend on the input" if d is None else
               "is zero-padded over time" if d.tpad != (0, 0) else
               "is an LSTM cell state (Y_c); only a carried state can be Y_c"
               if d.value is None else "")
        if why:
            problems.append(Problem("output", o.name, why))
            continue
        first = next(iter(info.values()), None)
        if first is not None and (first["stride"], first["delay"]) != (d.stride, d.delay):
            problems.append(Problem("output", o.name, f"comes every {d.stride} frame(s) after "
                                    f"a delay of {d.delay}, unlike {outputs[0][0]!r}; all "
                                    f"outputs of a stream must share one frame schedule"))
            continue
        outputs.append((o.name, ctx.value(d)))
        info[o.name] = {"time": d.time, "batch": d.batch, "reduced": d.reduced,
                        "stride": d.stride, "delay": d.delay, "tail": d.tail,
                        "shape": list(d.shape)}
    return outputs, info
