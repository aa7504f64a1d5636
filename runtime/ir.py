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

The op vocabulary, with input roles and attributes, is :data:`OP_SCHEMAS`.
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
    ``zero_point`` are scalars (per tensor) or 1-D along ``axis`` (per channel).
    """

    name: str
    data: np.ndarray
    dtype: str = "f32"
    shape: tuple[int, ...] = ()
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    axis: int | None = None

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
        if self.dtype in ("i32", "i64"):
            return self.data.astype(np.float32).reshape(self.shape)
        if self.dtype == "q8":
            q = self.data.astype(np.float32).reshape(self.shape)
        else:  # q4: unpack nibbles, sign-extend
            lo = (self.data & 0x0F).astype(np.int8)
            hi = (self.data >> 4).astype(np.int8)
            q = np.stack([lo, hi], axis=-1).reshape(-1)[: self.size]
            q = np.where(q > 7, q - 16, q).astype(np.float32).reshape(self.shape)
        return (q - self._bcast(self.zero_point, 0.0)) * self._bcast(self.scale, 1.0)

    def _bcast(self, v: np.ndarray | None, default: float) -> np.ndarray | float:
        if v is None:
            return default
        v = np.asarray(v, dtype=np.float32)
        if v.ndim == 0 or self.axis is None:
            return v
        shape = [1] * len(self.shape)
        shape[self.axis] = -1
        return v.reshape(shape)


@dataclass(frozen=True)
class Value:
    """A per-frame activation: a name and its frame shape (no time, no batch axis)."""

    name: str
    shape: tuple[int, ...]

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
        """The attribute, or its schema default."""
        if key in self.attrs:
            return self.attrs[key]
        return OP_SCHEMAS[self.kind].attrs[key]


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
        for op in self.ops:
            schema = OP_SCHEMAS.get(op.kind)
            if schema is None:
                raise GraphError(f"op {op.name!r}: unknown kind {op.kind!r}")
            schema.check(op)
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


@dataclass(frozen=True)
class OpSchema:
    """Input roles (``?`` suffix = optional, ``*`` = variadic) and attribute defaults."""

    inputs: tuple[str, ...]
    attrs: Mapping[str, Any]
    doc: str

    def check(self, op: Op) -> None:
        variadic = any(r.endswith("*") for r in self.inputs)
        required = [r for r in self.inputs if not r.endswith(("?", "*"))]
        if len(op.inputs) < len(required) or (
            not variadic and len(op.inputs) > len(self.inputs)
        ):
            raise GraphError(
                f"op {op.name!r} ({op.kind}) takes inputs {self.inputs}, got {len(op.inputs)}"
            )
        for i, role in enumerate(required):
            if not op.inputs[i]:
                raise GraphError(f"op {op.name!r} ({op.kind}): required input {role!r} missing")
        unknown = set(op.attrs) - set(self.attrs)
        if unknown:
            raise GraphError(f"op {op.name!r} ({op.kind}): unknown attributes {sorted(unknown)}")


_ACT = {"activation_alpha": (), "activation_beta": ()}

#: The op vocabulary.  Axes in attributes are *frame* axes (0 = first axis after
#: batch).  Activation names follow ONNX RNN ops: Sigmoid, Tanh, Relu, Affine,
#: LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus.
OP_SCHEMAS: dict[str, OpSchema] = {
    "Dense": OpSchema(
        ("x", "W", "B?"), {},
        "y = x @ W.T + B over the last axis. W (out, in), B (out,).",
    ),
    "LSTM": OpSchema(
        ("x", "W", "R", "B?", "P?", "Wproj?", "Bproj?", "H0?", "C0?"),
        {"hidden_size": 0, "proj_size": 0, "clip": 0.0, "input_forget": False,
         "cell_clip": 0.0, "proj_clip": 0.0,
         "activations": ("Sigmoid", "Tanh", "Tanh"), **_ACT},
        "One forward LSTM layer, x (I,) -> h (Hout,). W (4H, I) and R (4H, Hout) in gate "
        "order i,f,g,o; B (4H,) = input bias + recurrent bias; P (3H,) peepholes i,f,o "
        "(the o peephole uses the new cell); Wproj (P, H), Bproj (P,): "
        "h = Wproj @ (o*h(c)) + Bproj. clip > 0 clips gate pre-activations (ONNX); "
        "cell_clip > 0 clips c, proj_clip > 0 clips the projection (TFLite); "
        "input_forget couples f = 1 - i. activations (f, g, h) as in ONNX, "
        "activation_alpha/beta aligned one per activation (empty = ONNX defaults). "
        "H0/C0 are optional constant initial states.",
    ),
    "GRU": OpSchema(
        ("x", "W", "R", "WB?", "RB?", "H0?"),
        {"hidden_size": 0, "linear_before_reset": True, "clip": 0.0,
         "activations": ("Sigmoid", "Tanh"), **_ACT},
        "One forward GRU layer, gate order z,r,h. W (3H, I), R (3H, H), WB and RB (3H,). "
        "h~ = g(x Wh + (r*h) Rh + Rbh + Wbh) or, linear_before_reset, "
        "g(x Wh + r*(h Rh + Rbh) + Wbh); h' = (1-z) h~ + z h.",
    ),
    "RNN": OpSchema(
        ("x", "W", "R", "B?", "H0?"),
        {"hidden_size": 0, "clip": 0.0, "activations": ("Tanh",), **_ACT},
        "One forward Elman RNN layer: h' = f(W x + R h + B). W (H, I), R (H, H), B (H,).",
    ),
    "Conv": OpSchema(
        ("x", "W", "B?"),
        {"stride": 1, "dilation": 1, "groups": 1, "delay": 0,
         "freq_stride": 1, "freq_dilation": 1, "freq_pads": (0, 0)},
        "Convolution causal over time, per frame x (Cin,) or (Cin, F). W (Cout, Cin/groups, "
        "Kt) or (Cout, Cin/groups, Kt, Kf). State: a ring buffer of the last "
        "(Kt-1)*dilation frames (zeros at start = left padding). Emits every `stride` "
        "frames, the first at frame `delay` (delay = (Kt-1)*dilation - left_pad, the "
        "frames by which the source model's padding looks ahead). Over the frequency "
        "axis: an ordinary conv with freq_stride/freq_dilation/freq_pads.",
    ),
    "Unary": OpSchema(
        ("x",), {"fn": "Relu", "alpha": 0.0, "beta": 0.0},
        "Elementwise fn: Relu, LeakyRelu(alpha), Sigmoid, Tanh, Sqrt, Exp, Log, Abs, Neg, "
        "Reciprocal, Softplus, Softsign, Elu(alpha), HardSigmoid(alpha, beta), "
        "Clip(min=alpha, max=beta), Erf, Gelu.",
    ),
    "Binary": OpSchema(
        ("a", "b"), {"fn": "Add"},
        "Elementwise fn(a, b) with numpy broadcasting over frame shapes (a constant may "
        "have any broadcastable shape): Add, Sub, Mul, Div, Pow, Max, Min.",
    ),
    "Softmax": OpSchema(("x",), {"axis": -1, "log": False}, "(Log)Softmax over one frame axis."),
    "Reduce": OpSchema(
        ("x",), {"fn": "Mean", "axes": (-1,), "keepdims": False},
        "Mean, Max, Min or Sum over frame axes.",
    ),
    "LayerNorm": OpSchema(
        ("x", "scale", "bias?"), {"axis": -1, "epsilon": 1e-5},
        "Normalize over frame axes axis..end, then * scale + bias.",
    ),
    "Concat": OpSchema(("x*",), {"axis": -1}, "Concatenate values/constants on a frame axis."),
    "Reshape": OpSchema(("x",), {"shape": ()}, "New frame shape, same elements (a view)."),
    "Transpose": OpSchema(("x",), {"perm": ()}, "Permute frame axes."),
    "Slice": OpSchema(
        ("x",), {"axes": (), "starts": (), "ends": (), "steps": ()},
        "Slice frame axes (numpy semantics, ends clamped).",
    ),
    "Gather": OpSchema(
        ("x", "indices"), {"axis": 0}, "Take constant indices along a frame axis."
    ),
    "Pad": OpSchema(
        ("x",), {"pads": (), "value": 0.0},
        "Constant padding of frame axes: pads = (begin_0, ..., begin_n, end_0, ..., end_n).",
    ),
    "Identity": OpSchema(("x",), {}, "y = x (an alias, no copy)."),
}
