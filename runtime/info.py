"""A model's vital statistics (parameters, bytes by dtype, state size, MACs per frame)
and the text ``edgernn info`` prints from them."""

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
        "ratio_to_fp32": sum(by_dtype.values()) / max(4 * params, 1),
        "state_bytes_per_stream": state_bytes,
        "macs_per_frame": sum(op_macs(graph, op) for op in graph.ops),
        "output_every": plan.output_schedule[0],
        "metadata": dict(graph.metadata),
    }


def _fmt_bytes(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    n /= 1024
    return f"{n:.1f} KiB" if n < 1024 else f"{n / 1024:.1f} MiB"


def _fmt_meta(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def text(info: dict[str, Any], model: str) -> str:
    """The human-readable form of :func:`summary` (the default of ``edgernn info``).

    Identity ops (output renames, no work) are left out of the layers.  Metadata with
    plain values (strings, numbers, lists such as labels) is shown;
    structured entries (a converter's records of axes and probes) are only named:
    ``--json`` has them in full."""
    meta = info["metadata"]
    plain = {k: v for k, v in meta.items() if not isinstance(v, dict)}
    width = max([12, *(len(k) + 1 for k in plain)])
    row = lambda key, value: f"{key:<{width}} {value}"  # noqa: E731
    lines = [row("model", model)]
    for key in ("inputs", "outputs"):
        lines.append(row(key, ", ".join(f"{k} {tuple(v)}" for k, v in info[key].items())))
    lines.append("layers")
    for layer in info["layers"]:
        if layer["kind"] == "Identity":  # a renamed output: no work (--json lists it)
            continue
        macs = f"{layer['macs']:>10,} MACs" if layer["macs"] else ""
        lines.append(f"  {layer['name']:<24} {layer['kind']:<10} -> "
                     f"{tuple(layer['output'])!s:<14}{macs}".rstrip())
    lines += [row("parameters", f"{info['parameters']:,}"),
              row("weights", ", ".join(f"{d} {_fmt_bytes(b)}"
                                       for d, b in info["bytes_by_dtype"].items())
                  + f" ({info['ratio_to_fp32']:.2f}x the fp32 size)"),
              row("state", f"{_fmt_bytes(info['state_bytes_per_stream'])} per stream"),
              row("MACs/frame", f"{info['macs_per_frame']:,}")]
    if info["output_every"] > 1:
        lines.append(row("emits", f"every {info['output_every']} frames"))
    lines += [row(k, _fmt_meta(v)) for k, v in plain.items()]
    nested = [k for k in meta if k not in plain]
    if nested:
        lines.append(row("also", f"{', '.join(nested)} (see --json)"))
    return "\n".join(lines)
