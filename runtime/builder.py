"""Build graphs by hand in Python: the way to make a model without a converter.

>>> b = GraphBuilder()
>>> x = b.input("features", (40,))
>>> h = b.lstm(x, W, R, B, gate_order="ifgo")       # PyTorch weights, any gate order
>>> y = b.softmax(b.dense(h, W_out, b_out))
>>> b.output(y, "probs")
>>> edgernn.save(b.build(labels=["yes", "no"]), "kws.ern")

Each method adds one op, infers its output shape (:mod:`edgernn.shapes`) and
returns the name of the output value.  Arrays passed where a value name is
expected become constants: anything array-like (numpy arrays, nested lists, torch
tensors, also parameters that require grad, on any device) goes through
:func:`as_array`, which is the one place weights enter the builder.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .ir import GRU_GATES, LSTM_GATES, Graph, GraphError, Op, State, Tensor, Value, reorder_gates
from .shapes import infer_op

ArrayLike = Any


def as_array(x: ArrayLike, what: str = "weight") -> np.ndarray:
    """``x`` as a float32 numpy array.  Torch tensors are detached from autograd and
    moved to the CPU first (``np.asarray`` refuses a tensor that requires grad)."""
    if callable(getattr(x, "detach", None)):  # torch.Tensor / nn.Parameter, duck-typed
        x = x.detach()
        x = x.cpu() if callable(getattr(x, "cpu", None)) else x
        x = x.float() if callable(getattr(x, "float", None)) else x  # bfloat16 has no numpy
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError, RuntimeError) as e:
        raise GraphError(f"{what}: expected an array of numbers (a numpy array, a nested list "
                         f"or a torch tensor), got {type(x).__name__}: {e}") from None


class GraphBuilder:
    """Accumulates values, constants and ops; :meth:`build` returns a checked Graph."""

    def __init__(self) -> None:
        self._inputs: list[Value] = []
        self._values: dict[str, Value] = {}
        self._consts: dict[str, Tensor] = {}
        self._ops: list[Op] = []
        self._outputs: list[str] = []
        self._states: list[State] = []
        self._renamed: dict[str, str] = {}  # old value name -> new, after output() renames
        self._count = 0

    def _fresh(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def input(self, name: str, shape: Sequence[int]) -> str:
        """Declare a graph input with the given frame shape."""
        self._add_value(name, tuple(int(d) for d in shape))
        self._inputs.append(self._values[name])
        return name

    def const(self, array: ArrayLike, name: str | None = None) -> str:
        """Add a float32 constant; return its name."""
        name = name or self._fresh("const")
        if name in self._consts or name in self._values:
            raise GraphError(f"name {name!r} is already used")
        self._consts[name] = Tensor.f32(name, as_array(array, f"constant {name!r}"))
        return name

    def _ref(self, x: str | ArrayLike | None) -> str:
        if x is None:
            return ""
        if isinstance(x, str):
            return self._renamed.get(x, x)
        return self.const(x)

    def _add_value(self, name: str, shape: tuple[int, ...]) -> None:
        if name in self._values or name in self._consts:
            raise GraphError(f"name {name!r} is already used")
        self._values[name] = Value(name, shape)

    def add(self, kind: str, inputs: Sequence[str | ArrayLike | None],
            attrs: dict[str, Any] | None = None, name: str | None = None) -> str:
        """Add any op kind of :data:`edgernn.ops.OPS`; return its output value name."""
        refs = [self._ref(x) for x in inputs]
        while refs and not refs[-1]:
            refs.pop()
        name = name or self._fresh(kind.lower())
        out = f"{name}:out"
        op = Op(kind, name, tuple(refs), (out,), attrs or {})
        shapes = [self._shape(r) if r else None for r in refs]
        self._add_value(out, tuple(infer_op(op, shapes, self._consts)))
        self._ops.append(op)
        return out

    def _shape(self, name: str) -> tuple[int, ...]:
        name = self._renamed.get(name, name)
        if name in self._values:
            return self._values[name].shape
        if name in self._consts:
            return self._consts[name].shape
        raise GraphError(f"unknown value {name!r}")

    def shape(self, name: str) -> tuple[int, ...]:
        """The frame shape of a value (or the shape of a constant)."""
        return self._shape(name)

    # --- layers ----------------------------------------------------------------------

    def dense(self, x: str, W: ArrayLike, B: ArrayLike | None = None, **kw: Any) -> str:
        """y = x @ W.T + B over the last axis; W is (out, in) like nn.Linear.weight."""
        return self.add("Dense", [x, W, B], **kw)

    def lstm(self, x: str, W: ArrayLike, R: ArrayLike, B: ArrayLike | None = None, *,
             gate_order: str = LSTM_GATES, P: ArrayLike | None = None,
             peephole_order: str = "ifo", proj: ArrayLike | None = None,
             proj_bias: ArrayLike | None = None, h0: ArrayLike | None = None,
             c0: ArrayLike | None = None, name: str | None = None, **attrs: Any) -> str:
        """One LSTM layer.  W (4H, I), R (4H, H or P), B (4H,) (sum both biases first),
        rows in ``gate_order`` (PyTorch "ifgo", ONNX "iofc", Keras/TFLite "ifco")."""
        W, R = (reorder_gates(as_array(a, f"LSTM {k}"), gate_order, LSTM_GATES)
                for k, a in (("W", W), ("R", R)))
        B = None if B is None else reorder_gates(as_array(B, "LSTM B"), gate_order, LSTM_GATES)
        if P is not None:
            P = reorder_gates(as_array(P, "LSTM P"), peephole_order, "ifo")
        attrs.setdefault("hidden_size", W.shape[0] // 4)
        if proj is not None:
            proj = as_array(proj, "LSTM proj")
            attrs.setdefault("proj_size", proj.shape[0])
        return self.add("LSTM", [x, W, R, B, P, proj, proj_bias, h0, c0], attrs, name)

    def gru(self, x: str, W: ArrayLike, R: ArrayLike, WB: ArrayLike | None = None,
            RB: ArrayLike | None = None, *, gate_order: str = GRU_GATES,
            h0: ArrayLike | None = None, name: str | None = None, **attrs: Any) -> str:
        """One GRU layer; PyTorch nn.GRU is gate_order="rzn", linear_before_reset=True."""
        W, R, WB, RB = (None if v is None else
                        reorder_gates(as_array(v, f"GRU {k}"), gate_order, GRU_GATES)
                        for k, v in (("W", W), ("R", R), ("WB", WB), ("RB", RB)))
        attrs.setdefault("hidden_size", W.shape[0] // 3)
        return self.add("GRU", [x, W, R, WB, RB, h0], attrs, name)

    def rnn(self, x: str, W: ArrayLike, R: ArrayLike, B: ArrayLike | None = None, *,
            activation: str = "Tanh", h0: ArrayLike | None = None, name: str | None = None,
            **attrs: Any) -> str:
        """One Elman RNN layer, h' = act(W x + R h + B)."""
        W = as_array(W, "RNN W")
        attrs.setdefault("hidden_size", W.shape[0])
        attrs["activations"] = (activation,)
        return self.add("RNN", [x, W, R, B, h0], attrs, name)

    def conv(self, x: str, W: ArrayLike, B: ArrayLike | None = None, *,
             name: str | None = None, **attrs: Any) -> str:
        """Causal conv over time; W (Cout, Cin/groups, Kt[, Kf]) like nn.Conv1d/2d.weight."""
        return self.add("Conv", [x, W, B], attrs, name)

    # --- elementwise and shape ops -------------------------------------------------

    def unary(self, fn: str, x: str, alpha: float | None = None,
              beta: float | None = None) -> str:
        """Any activation of :mod:`edgernn.activations`; alpha/beta None = its defaults."""
        attrs = {"fn": fn} | ({} if alpha is None else {"alpha": float(alpha)}) \
            | ({} if beta is None else {"beta": float(beta)})
        return self.add("Unary", [x], attrs)

    def relu(self, x: str) -> str:
        return self.unary("Relu", x)

    def sigmoid(self, x: str) -> str:
        return self.unary("Sigmoid", x)

    def tanh(self, x: str) -> str:
        return self.unary("Tanh", x)

    def clip(self, x: str, lo: float = -math.inf, hi: float = math.inf) -> str:
        return self.unary("Clip", x, lo, hi)

    def binary(self, fn: str, a: str | ArrayLike, b: str | ArrayLike) -> str:
        return self.add("Binary", [a, b], {"fn": fn})

    def softmax(self, x: str, axis: int = -1, log: bool = False) -> str:
        return self.add("Softmax", [x], {"axis": axis, "log": log})

    def reduce(self, fn: str, x: str, axes: Sequence[int] = (-1,), keepdims: bool = False) -> str:
        return self.add("Reduce", [x], {"fn": fn, "axes": tuple(axes), "keepdims": keepdims})

    def layer_norm(self, x: str, scale: ArrayLike, bias: ArrayLike | None = None,
                   axis: int = -1, epsilon: float = 1e-5) -> str:
        return self.add("LayerNorm", [x, scale, bias], {"axis": axis, "epsilon": epsilon})

    def concat(self, xs: Sequence[str | ArrayLike], axis: int = -1) -> str:
        return self.add("Concat", list(xs), {"axis": axis})

    def reshape(self, x: str, shape: Sequence[int]) -> str:
        shape = list(shape)
        if -1 in shape:
            known = int(np.prod([d for d in shape if d != -1]))
            shape[shape.index(-1)] = int(np.prod(self._shape(x))) // max(known, 1)
        return self.add("Reshape", [x], {"shape": tuple(shape)})

    def transpose(self, x: str, perm: Sequence[int]) -> str:
        return self.add("Transpose", [x], {"perm": tuple(perm)})

    def slice(self, x: str, starts: Sequence[int], ends: Sequence[int],
              axes: Sequence[int] | None = None, steps: Sequence[int] | None = None) -> str:
        axes = tuple(axes) if axes is not None else tuple(range(len(starts)))
        steps = tuple(steps) if steps is not None else (1,) * len(starts)
        return self.add("Slice", [x], {"starts": tuple(starts), "ends": tuple(ends),
                                       "axes": axes, "steps": steps})

    def gather(self, x: str, indices: Sequence[int], axis: int = 0) -> str:
        idx = self.const(np.asarray(indices, dtype=np.float32))
        return self.add("Gather", [x, idx], {"axis": axis})

    def pad(self, x: str, pads: Sequence[int], value: float = 0.0) -> str:
        return self.add("Pad", [x], {"pads": tuple(pads), "value": value})

    # --- graph interface -------------------------------------------------------------

    def state(self, name: str, shape: Sequence[int]) -> str:
        """A graph-level recurrent value: read here, written by :meth:`loop`."""
        self._add_value(name, tuple(int(d) for d in shape))
        return name

    def loop(self, state: str, new_value: str, init: ArrayLike | None = None) -> None:
        """Feed ``new_value`` back as ``state`` on the next frame."""
        shape = self._shape(state)
        if self._shape(new_value) != shape:
            raise GraphError(f"state {state!r} {shape} vs {new_value!r} {self._shape(new_value)}")
        init_name = (self.const(np.broadcast_to(as_array(init, f"init of {state!r}"), shape))
                     if init is not None else "")
        self._states.append(State(*map(self._ref, (state, new_value)), shape, init_name))

    def output(self, x: str, name: str | None = None) -> str:
        """Mark a value as a graph output, optionally renaming it.

        The value an op produced is renamed in place (the old name stays usable);
        an input, a state or a value that is already an output gets an Identity op."""
        x = self._ref(x)
        if name and name != x:
            if self._is_op_output(x) and x not in self._outputs:
                self._rename(x, name)
            else:
                op = Op("Identity", self._fresh("output"), (x,), (name,))
                self._add_value(name, self._shape(x))
                self._ops.append(op)
            x = name
        self._outputs.append(x)
        return x

    def _is_op_output(self, name: str) -> bool:
        return any(name in op.outputs for op in self._ops)

    def _rename(self, old: str, new: str) -> None:
        """Rename value ``old`` to ``new`` everywhere it is mentioned."""
        self._add_value(new, self._shape(old))
        del self._values[old]
        sub = lambda names: tuple(new if n == old else n for n in names)  # noqa: E731
        self._ops = [dataclasses.replace(op, inputs=sub(op.inputs), outputs=sub(op.outputs))
                     for op in self._ops]
        self._states = [dataclasses.replace(st, output=new) if st.output == old else st
                        for st in self._states]
        self._renamed = {k: (new if v == old else v) for k, v in self._renamed.items()}
        self._renamed[old] = new

    def build(self, **metadata: Any) -> Graph:
        """The finished graph; keyword arguments become metadata (labels=..., source=...)."""
        from . import __version__

        metadata.setdefault("creator", f"edgernn {__version__} GraphBuilder")
        graph = Graph(tuple(self._inputs), tuple(self._outputs), tuple(self._ops),
                      self._values, self._consts, tuple(self._states), metadata)
        graph.validate()
        return graph
