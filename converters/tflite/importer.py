"""TFLite -> edgernn IR: the driver.

1. read the flatbuffer (:mod:`.reader`), pick the main subgraph (the signature's);
2. list every operator no converter takes (custom, Flex, unknown builtins, in any
   subgraph the main one runs) - all of them, with their operator index;
3. find each input's time and batch axes (:mod:`.io`), scan the variables and their
   CALL_ONCE initial values (:mod:`.variables`);
4. convert the operators in order with the op table (:mod:`.table`), folding
   all-constant ones (:mod:`.fold`), collecting every refusal;
5. the outputs, the graph states (variables, loops, layer-norm LSTM cells), the
   shared clean-up passes (:mod:`..passes`), a checked :class:`~edgernn.ir.Graph`.
"""

from __future__ import annotations

import os

from edgernn.ir import Graph, GraphError, Value
from edgernn.shapes import check_graph

from ..emit import Emitter
from ..errors import ConversionError, Problem, UnsupportedModelError
from ..passes import (
    OpList,
    collapse_views,
    dead_code,
    fold_affine,
    fuse_output_views,
    name_outputs,
    select_from_concat,
)
from .context import Context, value_q
from .fold import all_const, fold
from .io import InputSpec, input_specs, main_subgraph
from .meta import Meta, Refuse
from .reader import Operator, TFLModel, read_tflite
from .table import HINTS, table
from .unrolled import NotUnrolled, Plan
from .unrolled import find as find_unrolled
from .variables import Variables
from .variables import states as variable_states

#: operators handled inside another's converter (loop bodies, variable init)
INNER = {"WHILE": ("body_subgraph_index",),
         "IF": ("then_subgraph_index", "else_subgraph_index")}


def load_tflite(src, *, axes: dict[str, str] | None = None,
                state_pairs: dict[str, str] | None = None,
                shapes: dict[str, list[int]] | None = None,
                frame: dict[str, int] | None = None, consts: dict | None = None) -> Graph:
    """Import a ``.tflite`` model (path or bytes) as an edgernn IR graph.

    ``axes`` maps input names to axis letters (``"BTF"``) where the model does not say
    (see :mod:`.io`); ``shapes`` gives inputs with a dynamic size their shape
    (``{"input": [1, 1760]}``), ``frame`` their dynamic length (``{"input": 1760}``,
    ``--frame input=1760``: every ``-1`` of the signature but the batch).  Raises
    :class:`UnsupportedModelError` listing every operator that cannot stream, with its
    index.
    """
    label = os.fspath(src) if isinstance(src, str | os.PathLike) else "<model>"
    if state_pairs or consts:
        raise ConversionError(f"{label}: TFLite models keep their state in variables and "
                              "have no configuration inputs; --state and --const apply to "
                              "ONNX models")
    model = read_tflite(src)
    plan = find_unrolled(model, main_subgraph(model)[0])
    if plan is not None:
        try:
            return _load(model, label, axes, shapes, frame, plan)
        except (NotUnrolled, ConversionError):
            pass  # as before: no time axis, one call = a window of T frames
    return _load(model, label, axes, shapes, frame, None)


def _load(model: TFLModel, label: str, axes, shapes, frame, plan: Plan | None) -> Graph:
    """Convert ``model``; ``plan``: an unrolled recurrence to fold (:mod:`.unrolled`)."""
    index, out_names, specs = _read(model, label, axes, shapes, frame,
                                    [plan.revealed] if plan else [])
    em = Emitter()
    em.states, em.notes = [], []
    try:
        em.variables = Variables.scan(model, index)
    except Refuse as r:
        raise UnsupportedModelError([Problem("CALL_ONCE", "init subgraph", str(r))],
                                    label) from None
    ctx = Context(model, index, em)
    ctx.intercept = plan.hook if plan else None
    inputs = [_seed(ctx, s) for s in specs]
    problems = convert_ops(ctx)
    outputs, out_info = _outputs(ctx, out_names, problems)
    states = []
    try:
        states = variable_states(ctx) + em.states
    except Refuse as r:
        problems.append(Problem("ASSIGN_VARIABLE", "variables", str(r)))
    if problems:
        raise UnsupportedModelError(problems, label)
    return _graph(em, inputs, outputs, out_info, states,
                  _metadata(model, label, specs, out_info, states, em.notes), label)


def _read(model: TFLModel, label: str, axes, shapes, frame, revealed: list):
    """(main subgraph, output names, input specs), refusing unknown operators."""
    index, in_names, out_names = main_subgraph(model)
    problems = unknown_ops(model, index)
    if problems:
        raise UnsupportedModelError(problems, label)
    specs = input_specs(model, index, in_names, axes, revealed)
    shapes = dict(shapes or {})
    for s in specs:
        if frame and s.name in frame:
            sig = model.subgraphs[index].tensors[s.index].shape_signature
            shapes[s.name] = [int(frame[s.name]) if d == -1 and a != s.batch else
                              s.dims[a] for a, d in enumerate(sig)]
    unknown = set(frame or {}) - {s.name for s in specs}
    if unknown:
        raise ConversionError(f"{label}: --frame for unknown inputs {sorted(unknown)}")
    _apply_shapes(specs, shapes, label)
    return index, out_names, specs


def _graph(em: Emitter, inputs, outputs, out_info: dict, states, metadata: dict,
           label: str) -> Graph:
    """The clean-up passes, then a checked Graph."""
    fixed = {s.output for s in states} | {s.input for s in states} | {v.name for v in inputs}
    g, names = finish(em, outputs, fixed, {s.init for s in states if s.init})
    for item, value in zip(out_info.values(), names, strict=True):
        item["value"] = value
    graph = Graph(tuple(inputs), tuple(names), tuple(g.ops), g.values, g.consts, tuple(states),
                  metadata)
    try:
        graph.validate()
        check_graph(graph)
    except GraphError as e:
        raise ConversionError(f"{label}: internal error, the imported graph is inconsistent: "
                              f"{e}") from None
    return graph


def unknown_ops(model: TFLModel, index: int, seen: set | None = None) -> list[Problem]:
    """Every operator of subgraph ``index`` (and the subgraphs it runs) without a converter."""
    seen = seen if seen is not None else set()
    seen.add(index)
    sg, known, out = model.subgraphs[index], table(), []
    where = "" if index == 0 else f" of subgraph {index} ({sg.name})"
    for op in sg.operators:
        if op.opcode not in known:
            why = HINTS.get(op.opcode, "no converter for this TFLite operator")
            if op.opcode == "CUSTOM":
                flex = (op.custom_code or "").startswith("Flex")
                why = (f"a TensorFlow (Flex, SELECT_TF_OPS) operator {op.custom_code!r}; "
                       "convert with builtin ops only" if flex else
                       f"a custom operator {op.custom_code!r}")
            out.append(Problem(op.opcode, f"operator {op.index}{where}", why))
        for key in INNER.get(op.opcode, ()):
            sub = int(op.options.get(key, -1))
            if 0 <= sub < len(model.subgraphs) and sub not in seen:
                out += unknown_ops(model, sub, seen)
    return out


def _apply_shapes(specs: list[InputSpec], shapes: dict, label: str) -> None:
    for s in specs:
        if s.name in shapes:
            new = [int(d) for d in shapes[s.name]]
            if len(new) != len(s.dims):
                raise ConversionError(f"{label}: shapes[{s.name!r}] has {len(new)} axes, the "
                                      f"input has {len(s.dims)}")
            s.dims = new
    unknown = set(shapes) - {s.name for s in specs}
    if unknown:
        raise ConversionError(f"{label}: shapes for unknown inputs {sorted(unknown)}")


def _seed(ctx: Context, s: InputSpec) -> Value:
    t = ctx.tensor(s.index)
    try:
        q = value_q(t)
    except Refuse as r:
        raise ConversionError(f"input {s.name!r}: {r}") from None
    m = Meta(tuple(s.dims), value=s.name, q=q, time=s.time, batch=s.batch)
    v = Value(s.name, m.frame, *(q or ("f32",)))
    ctx.em.values[s.name] = v
    ctx.em.fresh(s.name)
    ctx.put(s.index, m)
    return v


def convert_ops(ctx: Context, hooks: dict | None = None) -> list[Problem]:
    """Convert every operator of ``ctx``'s subgraph in order; return every refusal (in a
    loop body, hooks take the loop's counters and frames; refusals raise)."""
    problems, poisoned, ops = [], set(), table()
    where = "" if ctx.index == 0 else f" of subgraph {ctx.index} ({ctx.sg.name})"
    for op in ctx.sg.operators:
        if any(i in poisoned for i in op.inputs):
            poisoned.update(op.outputs)
            continue
        ctx.em.node_name = f"{ctx.prefix}{op.opcode.lower()}{op.index}"
        try:
            _convert(ctx, op, ops, hooks)
        except Refuse as r:
            if hooks is not None:
                raise Refuse(f"{op.opcode} (operator {op.index}{where}): {r}") from None
            problems.append(Problem(op.opcode, f"operator {op.index}{where}", str(r)))
            poisoned.update(op.outputs)
    return problems


def _convert(ctx: Context, op: Operator, ops: dict, hooks: dict | None) -> None:
    if ctx.intercept is not None and ctx.intercept(ctx, op):
        return
    if hooks and any(k in hooks and hooks[k](ctx, op) for k in (op.opcode, "*")):
        return
    if all_const(ctx, op):
        fold(ctx, op)
        return
    conv = ops.get(op.opcode)
    if conv is None:
        raise Refuse(HINTS.get(op.opcode, "no converter for this TFLite operator"))
    conv(ctx, op)
    for k, o in enumerate(op.outputs):
        t = ctx.tensor(o)
        m = ctx.metas.get(o)
        if m is None:
            raise Refuse(f"internal error: output {k} was not converted")
        if not m.kind and -1 not in t.shape_signature and tuple(m.shape) != tuple(t.shape):
            raise Refuse(f"internal error: output {t.name!r} computed as {list(m.shape)}, "
                         f"the file says {list(t.shape)}")


def _outputs(ctx: Context, names: dict[int, str], problems: list) -> tuple[list, dict]:
    outputs, info = [], {}
    for i in ctx.sg.outputs:
        name = names[i]
        m = ctx.metas.get(i)
        if m is None and ctx.tensor(i).data is None:
            continue  # refused upstream: listed already
        if m is None or m.is_const:
            problems.append(Problem("output", name, "does not depend on the input"))
            continue
        if m.tpad != (0, 0):
            problems.append(Problem("output", name, "is zero-padded over time"))
            continue
        first = next(iter(info.values()), None)
        if first is not None and (first["stride"], first["delay"]) != (m.stride, m.delay):
            problems.append(Problem("output", name, "comes at another frame rate than the "
                                    "first output; a stream emits all outputs together"))
            continue
        outputs.append((name, ctx.value(m)))
        info[name] = {"time": m.time, "batch": m.batch, "reduced": m.reduced,
                      "stride": m.stride, "delay": m.delay, "tail": m.tail,
                      "shape": list(m.shape)}
    return outputs, info


def finish(em: Emitter, outputs: list[tuple[str, str]], fixed: set[str], keep: set[str]):
    """The shared clean-up passes (affine folding only into float weights); ``keep``:
    constants no op reads that must stay (state initial values)."""
    g = OpList(em.ops, dict(em.values), dict(em.consts))
    g.protected = fixed | {v for _, v in outputs} | keep
    collapse_views(g)
    weights = [g.consts[op.inputs[1]] for op in g.ops if op.kind in ("Dense", "Conv")]
    if all(w.dtype == "f32" for w in weights) and \
            all(v.dtype == "f32" for v in g.values.values()):
        fold_affine(g)
    select_from_concat(g)
    collapse_views(g)
    dead_code(g, g.protected)
    fuse_output_views(g)
    names = name_outputs(g, dict(outputs), fixed)
    return g, names


def _metadata(model: TFLModel, label: str, specs: list[InputSpec], out_info: dict, states,
              notes: list[str]) -> dict:
    runtime = model.metadata.get("min_runtime_version", b"").rstrip(b"\0").decode(
        "utf-8", "replace")
    return {
        "source": os.path.basename(label), "source_format": "tflite",
        "source_version": f"schema {model.version}",
        "producer": (f"TFLite runtime >= {runtime}" if runtime else model.description),
        "source_inputs": {s.name: {"dims": list(s.dims), "time": s.time, "batch": s.batch,
                                   "how": s.how} for s in specs},
        "source_outputs": out_info,
        "source_states": {},
        "notes": [_state_note(s) for s in states] + list(notes),
    }


def _state_note(s) -> str:
    what = (f"variable {s.input[6:]!r}" if s.input.startswith("state:") else
            f"recurrent state {s.input!r}")
    return (f"state: {what}, {list(s.shape)}, carried from step to step inside the stream "
            f"(reset() restores its initial value)")
