"""A small float64 numpy evaluator of TFLite operators, for checking a recurrence step.

:mod:`.unrolled` uses it to check that the first step of an unrolled recurrence (which
the TF converter specializes: the zero initial state is folded away, so its ops differ
from the other steps') computes the same function of its frame as the general step
with a zero state.  Only the float operators a Keras cell step is made of are known;
:func:`run` returns None for anything else (the caller then does not fold).
"""

from __future__ import annotations

import numpy as np

from .reader import Operator, Subgraph
from .slicing import slice_spec

_BINARY = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply, "DIV": np.divide,
           "MAXIMUM": np.maximum, "MINIMUM": np.minimum}
_UNARY = {"LOGISTIC": lambda x: 1 / (1 + np.exp(-x)), "TANH": np.tanh,
          "RELU": lambda x: np.maximum(x, 0), "NEG": np.negative, "EXP": np.exp}
_FUSED = {"NONE": lambda x: x, "RELU": _UNARY["RELU"], "TANH": np.tanh,
          "RELU6": lambda x: np.clip(x, 0, 6), "RELU_N1_TO_1": lambda x: np.clip(x, -1, 1)}


def run(sg: Subgraph, ops: list[Operator], values: dict[int, np.ndarray]) -> dict | None:
    """Evaluate ``ops`` (in order) from ``values`` (tensor -> array) and the file's
    constants; the extended dict, or None if an operator is not known here."""
    vals = dict(values)
    for op in ops:
        ins = [None if i < 0 else vals[i] if i in vals else _const(sg, i) for i in op.inputs]
        if any(x is None for i, x in zip(op.inputs, ins, strict=True) if i >= 0):
            return None
        outs = _apply(sg, op, ins)
        act = _FUSED.get(op.options.get("fused_activation_function") or "NONE")
        if outs is None or act is None:
            return None
        for o, y in zip(op.outputs, outs, strict=True):
            vals[o] = act(np.asarray(y, np.float64)).reshape(sg.tensors[o].shape)
    return vals


def _const(sg: Subgraph, i: int) -> np.ndarray | None:
    t = sg.tensors[i]
    if t.data is None or t.is_variable or t.type_name not in ("FLOAT32", "INT32"):
        return None
    return np.asarray(t.data)


def _apply(sg: Subgraph, op: Operator, ins: list) -> list | None:
    c, x = op.opcode, ins[0]
    if c in _BINARY:
        return [_BINARY[c](x.astype(np.float64), ins[1].astype(np.float64))]
    if c in _UNARY:
        return [_UNARY[c](x.astype(np.float64))]
    if c == "FULLY_CONNECTED":
        w = ins[1].astype(np.float64)
        y = x.reshape(-1, w.shape[1]) @ w.T
        return [y + ins[2] if len(ins) > 2 and ins[2] is not None else y]
    if c == "RESHAPE":
        return [x]  # (reshaped to the output tensor's shape by run)
    if c == "SPLIT":
        return np.split(ins[1], len(op.outputs), axis=int(x.reshape(-1)[0]))
    if c == "SPLIT_V":
        sizes = [int(s) for s in ins[1].reshape(-1)]
        axis = int(ins[2].reshape(-1)[0]) % x.ndim
        if sizes.count(-1):
            sizes[sizes.index(-1)] = x.shape[axis] - sum(s for s in sizes if s != -1)
        return np.split(x, np.cumsum(sizes)[:-1], axis=axis)
    if c == "STRIDED_SLICE" and len(ins) == 4:
        spec = slice_spec(op, x.shape, *(ins[k].reshape(-1).tolist() for k in (1, 2, 3)))
        return [x[tuple(slice(a, b, s) for a, b, s, _ in spec)]]
    return None
