"""Each input's time and batch axes, and the input and output names.

In this order:

1. ``axes={"x": "BTF"}`` (``--axes x=BTF``): T time, B batch, other letters features;
2. the time axis a recurrence reveals: the sequence input of a fused LSTM/RNN (axis 1,
   or 0 with ``time_major``) or of a WHILE loop over time (axis 0: the body takes one
   frame per iteration with ``GATHER(x, counter)``), traced back to the graph input
   through reshapes, transposes, convs, padding and elementwise ops;
3. otherwise the input has no time axis: one ``invoke()`` is one frame (a step model
   such as microWakeWord's, or a window model such as openWakeWord's).

The batch axis is a leading axis of size 1 (or -1 in the shape signature).  Names
come from the signature def (``serving_default``) when the model has one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConversionError
from .reader import Subgraph, TFLModel


@dataclass
class InputSpec:
    name: str            # the IR input name (signature name, else tensor name)
    index: int           # tensor index in the main subgraph
    dims: list[int]      # TFLite shape (after user shapes)
    time: int | None
    batch: int | None
    how: str


def main_subgraph(model: TFLModel) -> tuple[int, dict[int, str], dict[int, str]]:
    """(subgraph index, input names by tensor, output names by tensor)."""
    sig = next((s for s in model.signatures if s.key == "serving_default"),
               model.signatures[0] if model.signatures else None)
    index = sig.subgraph_index if sig else 0
    sg = model.subgraphs[index]
    ins = {i: sg.tensors[i].name for i in sg.inputs}
    outs = {i: sg.tensors[i].name for i in sg.outputs}
    if sig:
        ins.update({i: n for n, i in sig.inputs.items() if i in ins})
        outs.update({i: n for n, i in sig.outputs.items() if i in outs})
    return index, ins, outs


def _prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _back(sg: Subgraph, producer: dict, tensor: int, axis: int):
    """Trace (tensor, axis) back one op: [(input tensor, axis)] or [] where it stops."""
    op = producer.get(tensor)
    if op is None:
        return []
    shp = lambda i: sg.tensors[i].shape  # noqa: E731
    dyn = [i for i in op.inputs if i >= 0 and sg.tensors[i].data is None]
    c = op.opcode
    if c in ("RESHAPE", "EXPAND_DIMS", "SQUEEZE"):
        src, dst = shp(dyn[0]), shp(tensor)
        before = _prod(dst[:axis])
        hits = [i for i in range(len(src)) if src[i] == dst[axis] and _prod(src[:i]) == before]
        return [(dyn[0], hits[0])] if hits else []
    if c == "TRANSPOSE":
        perm = [int(p) for p in np.asarray(sg.tensors[op.inputs[1]].data).reshape(-1)]
        return [(dyn[0], perm[axis])]
    if c in ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D"):
        return [(dyn[0], axis)] if axis in (1, 2) else []
    if c == "FULLY_CONNECTED":
        return [(dyn[0], axis)] if op.options.get("keep_num_dims") and axis < len(
            shp(tensor)) - 1 else ([(dyn[0], _rows_axis(shp(dyn[0])))] if axis == 0 else [])
    if c in ("CONCATENATION",) and op.options.get("axis", 0) % len(shp(tensor)) == axis:
        return []
    if c in _SAME_AXIS:
        rank = len(shp(tensor))
        return [(i, axis - (rank - len(shp(i)))) for i in dyn
                if axis - (rank - len(shp(i))) >= 0 and shp(i)[axis - (rank - len(shp(i)))] > 1]
    return []


def _rows_axis(shape) -> int:
    big = [a for a, d in enumerate(shape[:-1]) if d > 1]
    return big[0] if len(big) == 1 else 0


_SAME_AXIS = {"PAD", "PADV2", "QUANTIZE", "DEQUANTIZE", "ADD", "SUB", "MUL", "DIV", "MAXIMUM",
              "MINIMUM", "LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "LOG", "RSQRT",
              "SQRT", "EXP", "ABS", "NEG", "CONCATENATION", "HARD_SWISH", "ELU", "GELU",
              "CAST", "SQUARE", "RELU_N1_TO_1"}


def _revealed(model: TFLModel, sg: Subgraph) -> list[tuple[int, int, str]]:
    """(tensor, time axis, by what) for every recurrence's sequence input."""
    found = []
    for op in sg.operators:
        if op.opcode in ("UNIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN"):
            found.append((op.inputs[0], 0 if op.options.get("time_major") else 1,
                          f"{op.opcode} (operator {op.index})"))
        elif op.opcode == "WHILE":
            body = model.subgraphs[int(op.options["body_subgraph_index"])]
            for b in body.operators:
                if b.opcode == "GATHER" and b.inputs[0] in body.inputs and \
                        b.inputs[1] in body.inputs and not b.options.get("axis", 0):
                    k = body.inputs.index(b.inputs[0])
                    found.append((op.inputs[k], 0, f"the WHILE loop (operator {op.index})"))
    return found


def input_specs(model: TFLModel, index: int, names: dict[int, str],
                axes: dict[str, str] | None, revealed: list | None = None) -> list[InputSpec]:
    """``revealed``: more (tensor, time axis, by what), e.g. an unrolled recurrence's."""
    sg = model.subgraphs[index]
    producer = {o: op for op in sg.operators for o in op.outputs}
    times: dict[int, tuple[int, str]] = {}
    for tensor, axis, how in _revealed(model, sg) + list(revealed or ()):
        stack = [(tensor, axis)]
        while stack:
            t, a = stack.pop()
            if t in names and t not in times:
                times[t] = (a, f"time axis of {how}")
            stack += _back(sg, producer, t, a)
    specs = []
    for i in sg.inputs:
        t = sg.tensors[i]
        dims, sig = list(t.shape), list(t.shape_signature)
        name = names[i]
        if axes and name in axes:
            specs.append(_from_letters(name, i, dims, axes[name]))
            continue
        time, how = times.get(i, (None, "no recurrence reads it over time: one call = one frame"))
        batch = next((a for a in range(len(dims)) if a != time and (dims[a] == 1 or sig[a] == -1)
                      and a in (0, 1) and len(dims) >= 2 and (a == 0 or time == 0)), None)
        specs.append(InputSpec(name, i, dims, time, batch, how))
    for name in axes or {}:
        if name not in names.values():
            raise ConversionError(f"axes: the model has no input {name!r}; inputs: "
                                  f"{', '.join(names.values())}")
    return specs


def _from_letters(name: str, index: int, dims: list[int], letters: str) -> InputSpec:
    if len(letters) != len(dims) or letters.count("T") > 1 or letters.count("B") > 1:
        raise ConversionError(f"axes {name}={letters}: give one letter per axis of "
                              f"{dims}, at most one T and one B")
    time = letters.index("T") if "T" in letters else None
    batch = letters.index("B") if "B" in letters else None
    if batch is not None and dims[batch] != 1:
        raise ConversionError(f"axes {name}={letters}: the batch axis has size {dims[batch]}; "
                              "edgernn streams batch 1 per stream")
    return InputSpec(name, index, dims, time, batch, f"given: {letters}")
