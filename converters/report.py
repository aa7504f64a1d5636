"""What a conversion did, from the graph's format-neutral metadata.

Every importer records what it understood under the same keys, which this
report reads:

* ``source``, ``source_format``, ``source_version``, ``producer``;
* ``source_inputs``: ``{name: {dims, time, batch, how}}`` (time/batch: source axes);
* ``source_outputs``: ``{name: {value, time, batch, reduced, stride, delay, tail, shape}}``;
* ``source_states``: ``{input: {output, mode ("internal"/"graph"), dims[, ops]}}``;
* ``source_consts``: ``{input: {value, dtype, shape, ifs}}``: inputs fixed at conversion
  (``verify`` feeds these values to the source model).
* ``notes``: anything else the importer wants the report to say.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from edgernn.ir import Graph

from .verify import VerifyResult


@dataclass
class ConversionReport:
    """What was converted, how inputs/outputs/states were understood, and verification."""

    source: str
    destination: str | None
    graph: Graph
    verification: VerifyResult | None = None
    notes: list[str] = field(default_factory=list)
    quantization: object | None = None  # a quantize.report.QuantReport

    @property
    def source_format(self) -> str:
        return self.graph.metadata.get("source_format", "")

    @property
    def op_counts(self) -> dict[str, int]:
        return dict(Counter(op.kind for op in self.graph.ops))

    @property
    def weight_bytes(self) -> int:
        return sum(t.nbytes for t in self.graph.consts.values())

    def __str__(self) -> str:
        g, meta = self.graph, self.graph.metadata
        lines = [f"{self.source} -> {self.destination or '(not written)'}"]
        made = ", ".join(str(meta[k]) for k in ("source_version", "producer") if meta.get(k))
        lines.append(f"  source: {self.source_format or 'unknown'}" + (f" ({made})" if made
                                                                         else ""))
        for v in g.inputs:
            info = meta.get("source_inputs", {}).get(v.name, {})
            lines.append(f"  input  {v.name}: frame {v.shape}; source dims {info.get('dims')}, "
                         f"time axis {info.get('time')}, batch axis {info.get('batch')} "
                         f"({info.get('how', '')})")
        for name, info in meta.get("source_outputs", {}).items():
            kind = "last step (at frame t: the source on frames 1..t)" if info["reduced"] \
                else "one per frame" if info["time"] is not None else "per call"
            lines.append(f"  output {name}: frame {g.shape(info['value'])}, {kind}")
        for name, info in meta.get("source_consts", {}).items():
            ifs = f"; {info['ifs']} If node(s) on it resolved" if info.get("ifs") else ""
            lines.append(f"  const  {name} = {info['value']} ({info['dtype']}): fixed at "
                         f"conversion, folded into the graph, not an input of the stream{ifs}")
        for name, info in meta.get("source_states", {}).items():
            how = (f"inside {', '.join(info['ops'])}" if info["mode"] == "internal"
                   else "graph state fed back every frame")
            lines.append(f"  state  {name} <- {info['output']}: {how}")
        ops = ", ".join(f"{k} x{n}" for k, n in self.op_counts.items())
        lines.append(f"  ops: {ops}; weights {self.weight_bytes / 1024:.1f} KiB")
        lines += [f"  note: {n}" for n in self.notes]
        if self.verification is not None:
            lines.append("  " + str(self.verification).replace("\n", "\n  "))
        if self.quantization is not None:
            lines.append("  " + str(self.quantization).replace("\n", "\n  "))
        return "\n".join(lines)


def conversion_notes(graph: Graph) -> list[str]:
    """Delays, strides and dropped tails of the outputs; labels that do not fit; what the
    importer noted (metadata ``notes``)."""
    return _timing_notes(graph) + _label_notes(graph) + list(graph.metadata.get("notes", []))


def _timing_notes(graph: Graph) -> list[str]:
    notes = []
    for name, o in graph.metadata.get("source_outputs", {}).items():
        if o["delay"]:
            notes.append(f"output {name!r} is delayed by {o['delay']} input frames: the source "
                         f"model's padding looks ahead; the first arrives at frame {o['delay']}")
        if o["stride"] > 1:
            notes.append(f"output {name!r} is emitted every {o['stride']} input frames")
        if o["tail"]:
            notes.append(f"the source emits {o['tail']} extra trailing frames of {name!r} "
                         f"computed from right padding; a stream never emits them")
    return notes


def _label_notes(graph: Graph) -> list[str]:
    labels = graph.metadata.get("labels")
    if not labels or not graph.outputs:
        return []
    size = int(np.prod(graph.shape(graph.outputs[0])))
    if len(labels) == size:
        return []
    return [f"{len(labels)} labels given but output {graph.outputs[0]!r} has {size} values "
            f"per frame: labels will not be shown"]
