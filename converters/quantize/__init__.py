"""Quantize a converted graph: smaller weight files and integer kernels.

>>> from edgernn.converters import quantize
>>> g8 = quantize(graph, "int8")                                   # dynamic-range int8
>>> gf = quantize(graph, "int8-full", calibration="frames.npy")   # full integer

Schemes (the weights are the roles each op record lists as ``weights``):

* ``fp16``: weights stored as float16, widened once at load;
* ``int8``: symmetric int8 weights per output row; activations quantized per step on
  the fly; int32 accumulation; float gates and state (the default to reach for);
* ``int8-full``: TFLite's 8x8_16 scheme: int8 activations and hidden state, int16 cell
  state on a power-of-two scale, int32 biases (needs calibration data);
* ``int4``: symmetric int4 weights in groups along the input axis (``group_size``), two
  per byte, a scale per group (conv weights: int8 rows);
* ``none``: unchanged.

``keep_float`` names ops whose weights stay float (mixed precision).
"""

from __future__ import annotations

from collections.abc import Iterable

from edgernn.ir import Graph, Op, Tensor
from edgernn.ops import get

from .calibrate import calibrate, sequences
from .errors import QuantizationError
from .weights import to_f16, to_q4_groups, to_q8_rows

SCHEMES = ("none", "fp16", "int8", "int8-full", "int4")


def weight_roles(graph: Graph) -> list[tuple[Op, str]]:
    """(op, role) of every float weight matrix in the graph."""
    out = []
    for op in graph.ops:
        for role in get(op.kind).weights:
            name = op.input(role)
            if name and graph.consts[name].dtype in ("f32", "f16"):
                out.append((op, role))
    return out


def _check(graph: Graph, scheme: str, keep: set[str]) -> list[tuple[Op, str]]:
    if scheme not in SCHEMES:
        raise QuantizationError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    done = graph.metadata.get("quantization", "none")
    if done != "none":
        raise QuantizationError(f"the model is already quantized ({done}); quantize the float "
                                f"model instead")
    roles = weight_roles(graph)
    with_weights = sorted({op.name for op, _ in roles})
    unknown = sorted(keep - {op.name for op in graph.ops})
    if unknown:
        raise QuantizationError(f"--keep-float: no op named {', '.join(unknown)}; ops with "
                                f"weights: {', '.join(with_weights) or 'none'}")
    if not roles:
        raise QuantizationError("nothing to quantize: the model has no weight matrices "
                                "(Dense, LSTM, GRU, RNN or Conv)")
    return [(op, role) for op, role in roles if op.name not in keep]


def _compress(t: Tensor, op: Op, scheme: str, group_size: int) -> Tensor:
    if scheme == "fp16":
        return to_f16(t)
    if scheme == "int4" and op.kind != "Conv":
        return to_q4_groups(t, group_size)
    return to_q8_rows(t)


def quantize(graph: Graph, scheme: str = "int8", *, calibration=None,
             keep_float: Iterable[str] = (), group_size: int = 32, method: str = "minmax",
             percentile: float = 99.99) -> Graph:
    """``graph`` with its weights (and, for int8-full, activations) quantized."""
    keep = set(keep_float)
    targets = _check(graph, scheme, keep)
    meta = {**graph.metadata, "quantization": scheme}
    if keep:
        meta["keep_float"] = sorted(keep)
    if scheme == "none":
        return _with(graph, dict(graph.consts), meta)
    if scheme == "int8-full":
        if calibration is None:
            raise QuantizationError("int8-full needs calibration data: --calibrate frames.npy "
                                    "(T, *frame) or an .npz with one sequence per key")
        stats = calibrate(graph, calibration, method, percentile)
        from .full import to_int8_full

        return to_int8_full(_with(graph, dict(graph.consts), meta), stats, frozenset(keep))
    consts = dict(graph.consts)
    for op, role in targets:
        name = op.input(role)
        consts[name] = _compress(graph.consts[name], op, scheme, group_size)
    return _with(graph, consts, meta)


def _with(graph: Graph, consts: dict, meta: dict) -> Graph:
    g = Graph(graph.inputs, graph.outputs, graph.ops, graph.values, consts, graph.states, meta)
    g.validate()
    return g


__all__ = ["SCHEMES", "QuantizationError", "calibrate", "quantize", "sequences",
           "weight_roles"]
