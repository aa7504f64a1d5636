"""A model's vital statistics: parameters, bytes by dtype, state size, MACs per frame."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from .ir import Graph, Op
from .ops import get
from .plan import Plan


def _prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def op_macs(graph: Graph, op: Op) -> int:
    """Multiply-accumulates of one op for one input frame (strided convs: averaged)."""
    return get(op.kind).macs(op, graph)


def summary(graph: Graph) -> dict[str, Any]:
    """Everything ``edgernn info`` prints, as a dict."""
    plan = Plan(graph)
    by_dtype: Counter = Counter()
    params = 0
    for t in graph.consts.values():
        by_dtype[t.dtype] += t.nbytes
        params += t.size
    state_bytes = sum(_prod(s.shape) * np.dtype(s.dtype).itemsize for s in plan.states)
    return {
        "inputs": {v.name: list(v.shape) for v in graph.inputs},
        "outputs": {n: list(graph.shape(n)) for n in graph.outputs},
        "ops": dict(Counter(op.kind for op in graph.ops)),
        "layers": [{"name": op.name, "kind": op.kind, "output": list(graph.shape(op.outputs[0])),
                    "macs": op_macs(graph, op)} for op in graph.ops],
        "parameters": params,
        "bytes_by_dtype": dict(by_dtype),
        "state_bytes_per_stream": state_bytes,
        "macs_per_frame": sum(op_macs(graph, op) for op in graph.ops),
        "output_every": plan.output_schedule[0],
        "metadata": dict(graph.metadata),
    }
