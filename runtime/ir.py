"""The edgernn intermediate representation: a typed, per-frame dataflow graph.

A :class:`Graph` describes what happens to ONE frame (one time step) of input.
Every value has a *frame shape*: its shape without the time and batch axes
(a 40-bin log-mel frame is ``(40,)``; a conv feature map over (channel, freq) is
``(C, F)``).  At run time the planner adds two leading axes, ``(T, B, *shape)``:
T frames of a chunk and B independent streams.

Time lives in two places only:

* inside ops that keep state across frames (``LSTM``, ``GRU``, ``RNN``, the
  causal ``Conv`` over time): their state is op-internal and never appears as a
  value;
* in :attr:`Graph.states`: explicit graph-level loops (a step model exported
  with ``(x, h) -> (y, h')``): the value named ``State.input`` is read from the
  stream's state at the start of a frame, ``State.output`` is written back at
  its end.

Weights are :class:`Tensor` constants that carry their storage type and
quantization (f32, f16, q8 with scale/zero point per tensor or per axis, q4).

Canonical gate layouts (every converter normalizes to these; kernels see only these):

* LSTM: rows ``i, f, c, o`` (c = the cell candidate, PyTorch's g), each ``H`` long;
  peepholes ``i, f, o``.
* GRU:  rows ``z, r, h``.
* RNN:  one gate.

The op vocabulary, with input roles and attributes, is :data:`edgernn.ops.OPS`
(one record per op kind).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import EdgeRNNError

#: storage dtypes of constant tensors, and the numpy dtype of their raw data
STORAGE_DTYPES: dict[str, np.dtype] = {
    "f32": np.dtype("<f4"),
    "f16": np.dtype("<f2"),
    "q8": np.dtype("i1"),  # int8, value = scale * (q - zero_point)
    "q4": np.dtype("u1"),  # two int4 per byte, low nibble first; value = scale * (q - zp)
    "i32": np.dtype("<i4"),
    "i64": np.dtype("<i8"),
}

#: canonical gate orders.  Letters: LSTM i f c(=g) o; GRU z r h(=n).
LSTM_GATES = "ifco"
GRU_GATES = "zrh"
_GATE_ALIASES = {"g": "c", "n": "h"}


def reorder_gates(w: np.ndarray, src: str, dst: str, axis: int = 0) -> np.ndarray:
    """Reorder equal-size gate blocks of ``w`` along ``axis`` from order ``src`` to ``dst``.

    Orders are strings of gate letters: PyTorch LSTM ``"ifgo"``, ONNX ``"iofc"``,
    Keras/TFLite ``"ifco"``; PyTorch GRU ``"rzn"``, ONNX/Keras ``"zrh"``.
    ``g`` is an alias of ``c`` and ``n`` of ``h``.
    """
    norm = lambda order: "".join(_GATE_ALIASES.get(ch, ch) for ch in order)  # noqa: E731
    src, dst = norm(src), norm(dst)
    if sorted(src) != sorted(dst):
        raise GraphError(f"gate orders {src!r} and {dst!r} name different gates")
    w = np.asarray(w)
    if w.ndim == 0 or w.shape[axis] % len(src):
        raise GraphError(f"an array of shape {w.shape} cannot hold {len(src)} equal gate blocks "
                         f"({src}) along axis {axis}")
    blocks = np.split(w, len(src), axis=axis)
    return np.concatenate([blocks[src.index(ch)] for ch in dst], axis=axis)


class GraphError(EdgeRNNError, ValueError):
    """A graph is malformed: a dangling name, a shape that does not fit an op."""


@dataclass(frozen=True, eq=False)
class Tensor:
    """A constant (weight) tensor.

    ``data`` holds the raw storage (see :data:`STORAGE_DTYPES`); for ``q4`` it is
    the packed bytes and ``shape`` is the logical shape.  ``scale`` and
    ``zero_point`` are scalars (per tensor) or 1-D along ``axis`` (per channel);
    with ``group`` set, ``scale`` has shape ``(*shape[:-1], ceil(shape[-1] / group))``:
    one scale per ``group`` consecutive elements of the last axis (int4 weights).
    An ``i32`` tensor with a scale is quantized too (int32 biases).
    """

    name: str
    data: np.ndarray
    dtype: str = "f32"
    shape: tuple[int, ...] = ()
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    axis: int | None = None
    group: int | None = None

    def __post_init__(self) -> None:
        if self.dtype not in STORAGE_DTYPES:
            raise GraphError(f"tensor {self.name!r}: unknown dtype {self.dtype!r}")
        if not self.shape and self.dtype != "q4":
            object.__setattr__(self, "shape", tuple(int(d) for d in self.data.shape))
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @classmethod
    def f32(cls, name: str, array: Any) -> Tensor:
        """A float32 tensor from any array-like (copied, C-contiguous)."""
        data = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
        return cls(name=name, data=data, dtype="f32", shape=data.shape)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def to_float(self) -> np.ndarray:
        """The tensor as float32 (dequantized / widened), in its logical shape."""
        if self.dtype in ("f32", "f16"):
            return np.asarray(self.data, dtype=np.float32).reshape(self.shape)
        if self.dtype == "q4":
            q = unpack_int4(self.data, self.size).astype(np.float32).reshape(self.shape)
        else:
            q = self.data.astype(np.float32).reshape(self.shape)
            if self.scale is None:  # plain integers (indices)
                return q
        return (q - self._bcast(self.zero_point, 0.0)) * self._bcast(self.scale, 1.0)

    def _bcast(self, v: np.ndarray | None, default: float) -> np.ndarray | float:
        if v is None:
            return default
        v = np.asarray(v, dtype=np.float32)
        if self.group:
            return np.repeat(v.reshape(*self.shape[:-1], -1), self.group,
                             axis=-1)[..., :self.shape[-1]]
        if v.ndim == 0 or self.axis is None:
            return v
        shape = [1] * len(self.shape)
        shape[self.axis] = -1
        return v.reshape(shape)


def pack_int4(q: np.ndarray) -> np.ndarray:
    """Signed int4 values (any shape, -8..7) -> bytes, two per byte, low nibble first."""
    flat = np.asarray(q, dtype=np.int8).reshape(-1)
    if flat.size % 2:
        flat = np.append(flat, np.int8(0))
    nib = (flat.astype(np.uint8) & 0x0F).reshape(-1, 2)
    return (nib[:, 0] | (nib[:, 1] << 4)).astype(np.uint8)


def unpack_int4(data: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` signed int4 values of packed bytes (inverse of pack_int4)."""
    data = np.asarray(data, dtype=np.uint8).reshape(-1)
    q = np.stack([data & 0x0F, data >> 4], axis=-1).reshape(-1)[:count].astype(np.int8)
    return np.where(q > 7, q - 16, q).astype(np.int8)


#: dtypes of activations (values); quantized ones carry a scale and zero point
VALUE_DTYPES = ("f32", "i8", "u8", "i16", "i32")


@dataclass(frozen=True)
class Value:
    """A per-frame activation: name, frame shape (no time, no batch axis) and dtype.

    Integer values are quantized: ``real = scale * (q - zero_point)``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "f32"
    scale: float | None = None
    zero_point: int | None = None

    def __post_init__(self) -> None:
        if self.dtype not in VALUE_DTYPES:
            raise GraphError(f"value {self.name!r}: unknown dtype {self.dtype!r}; "
                             f"known: {', '.join(VALUE_DTYPES)}")

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class Op:
    """One operation. ``inputs`` name values or constants; ``''`` is an absent optional."""

    kind: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "attrs", MappingProxyType(dict(self.attrs)))

    def attr(self, key: str) -> Any:
        """The attribute, or its default from the op kind's record."""
        if key in self.attrs:
            return self.attrs[key]
        from .ops import get

        return get(self.kind).attrs[key]

    def input(self, role: str) -> str:
        """The name bound to input ``role`` (e.g. ``"H0"``), '' when absent."""
        from .ops import get

        i = get(self.kind).index(role)
        return self.inputs[i] if i < len(self.inputs) else ""


@dataclass(frozen=True)
class State:
    """A graph-level recurrent loop: ``input`` is fed from ``output`` of the previous frame."""

    input: str
    output: str
    shape: tuple[int, ...]
    init: str = ""  # name of a constant with the initial value; '' = zeros


@dataclass(frozen=True, eq=False)
class Graph:
    """A whole model: per-frame values, constants, ops in topological order."""

    inputs: tuple[Value, ...]
    outputs: tuple[str, ...]
    ops: tuple[Op, ...]
    values: Mapping[str, Value]
    consts: Mapping[str, Tensor]
    states: tuple[State, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("inputs", "outputs", "ops", "states"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        object.__setattr__(self, "consts", MappingProxyType(dict(self.consts)))
        object.__setattr__(self, "metadata", dict(self.metadata))

    def shape(self, name: str) -> tuple[int, ...]:
        """The frame shape of a value, or the shape of a constant."""
        if name in self.values:
            return self.values[name].shape
        return self.consts[name].shape

    def validate(self) -> None:
        """Check names, topological order and op schemas; raise :class:`GraphError`."""
        known = {v.name for v in self.inputs} | {s.input for s in self.states}
        for v in self.inputs:
            if v.name not in self.values:
                raise GraphError(f"graph input {v.name!r} has no value entry")
        from .ops import get

        for op in self.ops:
            try:
                opdef = get(op.kind)
            except GraphError as e:
                raise GraphError(f"op {op.name!r}: {e}") from None
            opdef.check(op)
            for i, name in enumerate(op.inputs):
                if name and name not in known and name not in self.consts:
                    raise GraphError(f"op {op.name!r} input {i} {name!r} is not defined before it")
            for name in op.outputs:
                if name not in self.values:
                    raise GraphError(f"op {op.name!r} output {name!r} has no value entry")
                known.add(name)
        for name in self.outputs:
            if name not in known:
                raise GraphError(f"graph output {name!r} is never produced")
        for s in self.states:
            if s.output not in known:
                raise GraphError(f"state output {s.output!r} is never produced")
            if s.init and s.init not in self.consts:
                raise GraphError(f"state init {s.init!r} is not a constant")
