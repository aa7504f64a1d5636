"""The importer's working state for one TFLite subgraph: a :class:`Meta` per tensor,
constants, and IR emission through the format-independent :class:`~..emit.Emitter`.

One :class:`Context` exists per subgraph being converted (the main graph, a WHILE
body); they share one :class:`~..emit.Emitter`, so everything lands in one IR graph.
Integer tensors become integer IR values with their scale and zero point
(``edgernn.ops.quant`` conventions); they are never dequantized silently.
"""

from __future__ import annotations

import numpy as np

from edgernn.ir import Tensor, Value

from ..emit import Emitter
from .meta import Meta, Refuse, identity
from .reader import Operator, Subgraph, TensorInfo, TFLModel

#: TFLite tensor type -> IR value dtype of a quantized activation
INT_TYPES = {"INT8": "i8", "UINT8": "u8", "INT16": "i16", "INT32": "i32"}


def value_q(t: TensorInfo) -> tuple[str, float, int] | None:
    """(IR dtype, scale, zero point) of a tensor as an activation; None for float32 (and
    BOOL, streamed as float32 1.0/0.0, the IR's comparison results)."""
    if t.type_name in ("FLOAT32", "BOOL"):
        return None
    q = t.quantization
    if t.type_name not in INT_TYPES or q is None:
        raise Refuse(f"tensor {t.name!r} is {t.type_name}"
                     + (" without quantization" if t.type_name in INT_TYPES else "")
                     + "; edgernn streams float32 and quantized int8/uint8/int16 values")
    if q.scale.size != 1:
        raise Refuse(f"tensor {t.name!r}: an activation quantized per axis is not supported")
    return INT_TYPES[t.type_name], float(np.float32(q.scale[0])), int(q.zero_point[0])


def dequantize(t: TensorInfo, data: np.ndarray | None = None) -> np.ndarray:
    """The float32 value of a constant tensor (dequantized per tensor or per axis)."""
    a = t.data if data is None else data
    if a.dtype == np.float32:
        return a
    q = t.quantization
    if q is None or a.dtype == np.float16:
        return a.astype(np.float32)
    shape = [1] * a.ndim
    if q.scale.size > 1:
        shape[q.quantized_dimension] = -1
    scale, zp = q.scale.reshape(shape), q.zero_point.reshape(shape)
    return ((a.astype(np.float64) - zp) * scale).astype(np.float32)


class Context:
    """Metas of one subgraph's tensors; emits IR ops into the shared emitter."""

    def __init__(self, model: TFLModel, sg_index: int, em: Emitter, prefix: str = "") -> None:
        self.model, self.index = model, sg_index
        self.sg: Subgraph = model.subgraphs[sg_index]
        self.em, self.prefix = em, prefix
        self.metas: dict[int, Meta] = {}
        self.op: Operator | None = None
        self.intercept = None  # (ctx, op) -> True when it converted op (see .unrolled)
        if not hasattr(em, "view_cache"):
            em.view_cache = {}

    # --- reading ---------------------------------------------------------------

    def tensor(self, i: int) -> TensorInfo:
        return self.sg.tensors[i]

    def meta(self, i: int) -> Meta:
        """The meta of tensor ``i``: converted before, or a constant of the file."""
        if i in self.metas:
            return self.metas[i]
        t = self.tensor(i)
        if t.data is not None and not t.is_variable:
            if t.sparse:
                raise Refuse(f"tensor {t.name!r} is stored sparse; densify the model first")
            return Meta(t.shape, data=t.data, q=None)
        if 0 in t.shape and not t.is_variable:  # an empty constant has no buffer
            return Meta(t.shape, data=np.zeros(t.shape, t.dtype), q=None)
        raise Refuse(f"internal error: tensor {i} ({t.name!r}) has not been converted")

    def is_const(self, i: int) -> bool:
        return i >= 0 and self.meta(i).is_const

    def const(self, i: int) -> np.ndarray:
        """A constant input as float32 (dequantized if stored quantized)."""
        m = self.meta(i)
        if not m.is_const:
            raise Refuse(f"input tensor {self.tensor(i).name!r} must be a constant")
        return dequantize(self.tensor(i), m.data) if m.data.dtype != np.float32 else m.data

    def ints(self, i: int) -> list[int]:
        """A constant integer input (axes, shapes, begin/end) as a list."""
        m = self.meta(i)
        if not m.is_const:
            raise Refuse(f"input tensor {self.tensor(i).name!r} must be a constant")
        return [int(v) for v in np.asarray(m.data).reshape(-1)]

    def inputs(self, op: Operator) -> list[Meta | None]:
        return [self.meta(i) if i >= 0 else None for i in op.inputs]

    def out(self, op: Operator, k: int = 0) -> TensorInfo:
        return self.tensor(op.outputs[k])

    # --- emitting --------------------------------------------------------------

    def emit(self, kind: str, inputs: list[str], shape, attrs: dict | None = None,
             q: tuple[str, float, int] | None = None) -> str:
        """Append an IR op whose output has frame ``shape`` and quantization ``q``."""
        name = self.em.emit(kind, inputs, shape, attrs)
        if q is not None:
            self.em.values[name] = Value(name, tuple(int(d) for d in shape), *q)
        return name

    def add_const(self, array, hint: str) -> str:
        a = np.asarray(array)
        if a.ndim == 0 and a.dtype.kind == "f":  # a scalar frame (numpy would make it 1-D)
            return self.add_tensor(Tensor(hint, np.array(a, np.float32), "f32", ()))
        return self.em.add_const(a, hint)

    def add_tensor(self, t: Tensor) -> str:
        name = self.em.fresh(f"{self.em.node_name}:{t.name}" if self.em.node_name else t.name)
        self.em.consts[name] = Tensor(name, t.data, t.dtype, t.shape, t.scale, t.zero_point,
                                      t.axis, t.group)
        return name

    def put(self, i: int, meta: Meta) -> None:
        self.metas[i] = meta

    def result(self, op: Operator, like: Meta, value: str, k: int = 0, **kw) -> Meta:
        """Record output ``k`` of ``op`` as ``value`` with ``like``'s time/batch/schedule."""
        t = self.out(op, k)
        m = like.with_(value=value, data=None, q=value_q(t), **kw)
        if -1 not in t.shape_signature and tuple(t.shape) != tuple(m.shape):
            raise Refuse(f"internal error: output {t.name!r} computed as {list(m.shape)}, "
                         f"the file says {list(t.shape)}")
        self.put(op.outputs[k], m)
        return m

    def value(self, m: Meta, layout: tuple[int, ...] | None = None) -> str:
        """The IR value of ``m`` with its frame axes in ``layout`` order (default: TFLite's).

        A layout change that keeps the order of the axes longer than 1 is a free view
        (Reshape); otherwise a Transpose is emitted, once per value and layout.
        """
        if m.is_const:
            raise Refuse("internal error: a constant used as a value")
        want = tuple(layout) if layout is not None else identity(len(m.frame))
        cur = m.layout
        if cur == want:
            return m.value
        key = (m.value, want)
        if key not in self.em.view_cache:
            shape = tuple(m.frame[p] for p in want)
            src = tuple(cur.index(p) for p in want)  # new axis k = current axis src[k]
            big = [s for s in src if m.ir_shape[s] > 1]
            if big == sorted(big):
                v = self.emit("Reshape", [m.value], shape, {"shape": shape}, q=m.q)
            else:
                v = self.emit("Transpose", [m.value], shape, {"perm": src}, q=m.q)
            self.em.view_cache[key] = v
        return self.em.view_cache[key]

    def reshape(self, m: Meta, shape) -> str:
        """The value of ``m`` (TFLite order) viewed with IR frame ``shape``."""
        v = self.value(m)
        if tuple(shape) == m.frame:
            return v
        return self.emit("Reshape", [v], tuple(shape), {"shape": tuple(shape)}, q=m.q)

    def frame_const(self, m: Meta, array: np.ndarray, what: str) -> np.ndarray:
        """A constant operand broadcast against ``m`` (numpy rules on TFLite shapes) as an
        array of ``m``'s IR frame rank and layout; it must not vary along time or batch."""
        a = np.asarray(array)
        if a.ndim > m.rank:
            raise Refuse(f"{what}: a constant of rank {a.ndim} against a tensor of rank "
                         f"{m.rank}")
        a = a.reshape((1,) * (m.rank - a.ndim) + a.shape)
        for ax, name in ((m.time, "time"), (m.batch, "batch")):
            if ax is not None and a.shape[ax] != 1:
                raise Refuse(f"{what}: the constant varies along the {name} axis")
        a = a.reshape([a.shape[i] for i in m.frame_axes])
        return np.array(a.transpose(m.layout), order="C")  # (keeps a 0-d array 0-d)
