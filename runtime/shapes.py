"""Frame-shape inference and checking, from each op kind's record (:mod:`edgernn.ops`).

The builder uses it to give values their shapes; the planner uses it to check
that a loaded graph's declared shapes are consistent *before* any kernel sees
them (kernels do no bounds checks, so a lying header must be stopped here).
"""

from __future__ import annotations

from collections.abc import Mapping

from .ir import Graph, GraphError, Op, Tensor

Shape = tuple[int, ...]


def infer_op(op: Op, shapes: list[Shape | None],
             consts: Mapping[str, Tensor] | None = None) -> Shape:
    """The output frame shape of ``op`` given its input shapes (None for absent optionals)."""
    from .ops import get

    opdef = get(op.kind)
    if len(op.outputs) != 1:
        raise GraphError(f"op {op.name!r} ({op.kind}): ops have exactly one output")
    try:
        return tuple(opdef.infer(op, shapes, consts))
    except GraphError:
        raise
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise GraphError(f"op {op.name!r} ({op.kind}): bad attributes ({e})") from None


def check_graph(graph: Graph) -> None:
    """Infer every op's output shape and compare with the declared one."""
    for op in graph.ops:
        shapes = [graph.shape(n) if n else None for n in op.inputs]
        got = infer_op(op, shapes, graph.consts)
        declared = graph.values[op.outputs[0]].shape
        if tuple(got) != tuple(declared):
            raise GraphError(f"op {op.name!r} ({op.kind}): output {op.outputs[0]!r} is declared "
                             f"{declared} but the op produces {got}")
    for s in graph.states:
        for name in (s.input, s.output):
            if graph.shape(name) != tuple(s.shape):
                raise GraphError(f"state {s.input}->{s.output}: {name!r} has shape "
                                 f"{graph.shape(name)}, state declared {s.shape}")
