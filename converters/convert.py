"""``convert(src, dst)``: source model -> IR -> (verified) ``.ern`` file, with a report."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from edgernn.ir import Graph

from .errors import ConversionError, VerificationError
from .verify import VerifyResult


@dataclass
class ConversionReport:
    """What was converted, how inputs/outputs/states were understood, and verification."""

    source: str
    destination: str | None
    graph: Graph
    verification: VerifyResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def op_counts(self) -> dict[str, int]:
        return dict(Counter(op.kind for op in self.graph.ops))

    @property
    def weight_bytes(self) -> int:
        return sum(t.nbytes for t in self.graph.consts.values())

    def __str__(self) -> str:
        g, meta = self.graph, self.graph.metadata
        lines = [f"{self.source} -> {self.destination or '(not written)'}"]
        for v in g.inputs:
            info = meta.get("onnx_inputs", {}).get(v.name, {})
            lines.append(f"  input  {v.name}: frame {v.shape}; source dims {info.get('dims')}, "
                         f"time axis {info.get('time')}, batch axis {info.get('batch')} "
                         f"({info.get('how', '')})")
        for name, info in meta.get("onnx_outputs", {}).items():
            kind = "last step (at frame t: the source on frames 1..t)" if info["reduced"] \
                else "one per frame" if info["time"] is not None else "per call"
            lines.append(f"  output {name}: frame {g.shape(info['value'])}, {kind}")
        for name, info in meta.get("onnx_states", {}).items():
            how = (f"inside {', '.join(info['ops'])}" if info["mode"] == "internal"
                   else "graph state fed back every frame")
            lines.append(f"  state  {name} <- {info['output']}: {how}")
        ops = ", ".join(f"{k} x{n}" for k, n in self.op_counts.items())
        lines.append(f"  ops: {ops}; weights {self.weight_bytes / 1024:.1f} KiB")
        lines += [f"  note: {n}" for n in self.notes]
        if self.verification is not None:
            lines.append("  " + str(self.verification).replace("\n", "\n  "))
        return "\n".join(lines)


def _notes(graph: Graph) -> list[str]:
    notes = []
    for name, o in graph.metadata.get("onnx_outputs", {}).items():
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


def source_format(src) -> str:
    if isinstance(src, onnx.ModelProto):
        return "onnx"
    suffix = Path(os.fspath(src)).suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".tflite":
        raise ConversionError(
            f"{src}: TFLite import is not supported yet (it is planned); export the model to "
            f"ONNX (tf2onnx for Keras/TF, torch.onnx.export for PyTorch) and convert that")
    raise ConversionError(f"{src}: unknown model format {suffix!r}; edgernn converts .onnx files")


def convert(src, dst: str | os.PathLike | None = None, *, verify: bool = False,
            state_pairs: dict[str, str] | None = None, axes: dict[str, str] | None = None,
            tolerance: float = 1e-4, frames: int = 200, seed: int = 0,
            inputs: dict | None = None, metadata: dict | None = None) -> ConversionReport:
    """Convert ``src`` (.onnx) to an IR graph and write ``dst`` (.ern) if given.

    ``verify=True`` runs the source model (onnxruntime, or the ONNX reference
    evaluator where onnxruntime refuses) and edgernn side by side on ``frames``
    random frames (or ``inputs``, in the source's layout with batch 1), streamed
    whole, frame by frame and in random chunks; above ``tolerance`` it raises
    :class:`VerificationError` and writes nothing.  ``state_pairs`` and ``axes``:
    see :func:`edgernn.converters.load_onnx`.  ``metadata`` is stored in the file
    (e.g. ``{"labels": [...]}``, which ``edgernn run`` and ``Model.labels`` use).
    """
    source_format(src)
    from .onnx import load_onnx
    from .verify import verify as run_verify

    graph = load_onnx(src, axes=axes, state_pairs=state_pairs)
    label = "<model>" if isinstance(src, onnx.ModelProto) else os.fspath(src)
    graph.metadata.update(metadata or {})
    report = ConversionReport(label, None, graph, notes=_notes(graph) + _label_notes(graph))
    if verify:
        report.verification = run_verify(src, graph, frames=frames, tolerance=tolerance,
                                          seed=seed, inputs=inputs)
        if not report.verification.passed:
            raise VerificationError(f"{label}: verification failed, nothing written\n"
                                    f"{report.verification}")
    if dst is not None:
        import edgernn

        edgernn.save(graph, dst)
        report.destination = os.fspath(dst)
    return report
