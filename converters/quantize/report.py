"""What quantization cost: output error, argmax agreement, accuracy, bytes, per-layer
sensitivity.

The float graph and the quantized graph stream the same sequences (compiled
kernels, state carried within each sequence) and their first outputs are compared
frame by frame.  With labels (``--eval data.npz`` holding ``x`` (N, T, *frame) and
``y`` (N,) per sequence or (N, T) per frame) both accuracies are reported.  The
sensitivity table quantizes one layer at a time, so a user sees which layer to
keep float (``--keep-float NAME``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgernn.ir import Graph

from .calibrate import Sequence
from .errors import QuantizationError


@dataclass
class Assessment:
    """Quantized vs float on the same frames."""

    frames: int
    max_abs: float
    mean_abs: float
    agreement: float | None  # argmax agreement per frame (None for a single output value)
    accuracy_float: float | None = None
    accuracy_quant: float | None = None

    def cells(self) -> list[str]:
        pct = lambda v: "—" if v is None else f"{100 * v:.1f} %"  # noqa: E731
        return [f"{self.max_abs:.3g}", f"{self.mean_abs:.3g}", pct(self.agreement),
                pct(self.accuracy_float), pct(self.accuracy_quant)]


@dataclass
class QuantReport:
    """The report ``--verify`` / ``--report`` print."""

    scheme: str
    bytes_float: int
    bytes_quant: int
    assessment: Assessment | None = None
    sensitivity: list[tuple[str, str, Assessment]] = field(default_factory=list)
    data: str = ""

    def __str__(self) -> str:
        ratio = self.bytes_quant / max(self.bytes_float, 1)
        lines = [f"quantized {self.scheme}: weights {self.bytes_float:,} -> "
                 f"{self.bytes_quant:,} bytes ({ratio:.2f}x)"]
        head = "| max abs err | mean abs err | argmax agreement | acc float | acc quant |"
        if self.assessment is not None:
            lines += [f"against the float model on {self.assessment.frames} frames "
                      f"({self.data}):", head, "|---:|---:|---:|---:|---:|",
                      "| " + " | ".join(self.assessment.cells()) + " |"]
        if self.sensitivity:
            lines += ["per-layer sensitivity (only that layer quantized):",
                      "| layer | kind " + head, "|---|---|---:|---:|---:|---:|---:|"]
            lines += [f"| {name} | {kind} | " + " | ".join(a.cells()) + " |"
                      for name, kind, a in self.sensitivity]
        return "\n".join(lines)


def weight_bytes(graph: Graph) -> int:
    return sum(t.nbytes for t in graph.consts.values())


def load_eval(path, graph: Graph) -> tuple[list[Sequence], np.ndarray]:
    """``x`` (N, T, *frame) and ``y`` (N,) or (N, T) from an .npz (single-input models)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = z["x"], z["y"]
    except (OSError, ValueError, KeyError) as e:
        raise QuantizationError(f"--eval {path}: need an .npz with x (N, T, *frame) and "
                                f"y (N,) or (N, T) labels ({e})") from None
    if len(graph.inputs) != 1 or len(x) != len(y):
        raise QuantizationError(f"--eval {path}: x and y must hold the same number of "
                                f"sequences, for a model with one input")
    name = graph.inputs[0].name
    return [{name: np.asarray(s, np.float32)} for s in x], np.asarray(y)


def _outputs(model, seqs: list[Sequence]) -> list[np.ndarray]:
    out = []
    for seq in seqs:
        y = model.stream().run(seq)
        y = y[model.graph.outputs[0]] if isinstance(y, dict) else y
        out.append(np.asarray(y, np.float64).reshape(len(y), -1))
    return out


def _accuracy(outs: list[np.ndarray], labels: np.ndarray) -> float:
    hits = []
    for y, lab in zip(outs, labels, strict=True):
        lab = np.asarray(lab)
        if lab.ndim == 0:  # a label per sequence: the prediction after its last frame
            hits.append(y[-1].argmax() == lab)
        else:  # a label per frame
            hits.extend(y.argmax(axis=1) == lab[-len(y):])
    return float(np.mean(hits))


def assess(float_graph: Graph, quant_graph: Graph, seqs: list[Sequence],
           labels: np.ndarray | None = None) -> Assessment:
    """Compare the quantized graph with the float one on ``seqs`` (and ``labels``)."""
    import edgernn

    a = _outputs(edgernn.Model(float_graph), seqs)
    b = _outputs(edgernn.Model(quant_graph), seqs)
    diff = np.concatenate([np.abs(x - y).reshape(-1) for x, y in zip(a, b, strict=True)])
    frames = sum(len(x) for x in a)
    agree = None
    if a[0].shape[1] > 1:
        agree = float(np.mean(np.concatenate([x.argmax(1) == y.argmax(1)
                                              for x, y in zip(a, b, strict=True)])))
    res = Assessment(frames, float(diff.max()), float(diff.mean()), agree)
    if labels is not None:
        res.accuracy_float, res.accuracy_quant = _accuracy(a, labels), _accuracy(b, labels)
    return res


def sensitivity(graph: Graph, scheme: str, seqs: list[Sequence],
                labels: np.ndarray | None = None, **options) -> list[tuple[str, str, Assessment]]:
    """One row per op with weights: quantized alone, everything else float."""
    from . import quantize, weight_roles

    ops = list({op.name: op for op, _ in weight_roles(graph)}.values())
    rows = []
    for op in ops:
        others = [o.name for o in ops if o.name != op.name]
        q = quantize(graph, scheme, keep_float=others, **options)
        rows.append((op.name, op.kind, assess(graph, q, seqs, labels)))
    return rows
