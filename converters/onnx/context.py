"""The importer's working state: what each ONNX tensor is per frame.

A *dynamic* ONNX tensor (one that depends on input data) is described by a
:class:`Dyn`: the IR value holding one frame of it, its full ONNX shape at the
first probe (batch 1), and which ONNX axes are time and batch.  The frame shape
is the ONNX shape without those two axes.  Static tensors are not described:
their values come from the probe runs.  :class:`Context` reads both and emits
IR through the format-independent :class:`~..emit.Emitter` it extends.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import onnx

from ..emit import Emitter
from .graph import attrs_of

F32_MAX = 3.4028234663852886e38


class Refuse(Exception):  # noqa: N818 - a control-flow signal, collected into UnsupportedModelError
    """This node cannot be streamed; the message says why."""


@dataclass(frozen=True, eq=False)
class Dyn:
    """One dynamic ONNX tensor, seen per frame.

    ``reduced``: the time axis was removed by taking the last step (the value at
    frame t summarizes frames 1..t).  ``tpad``: zero padding over time not yet
    absorbed by a Conv.  ``tail``: trailing source frames computed from right
    padding that streaming never emits.  ``stride``/``delay``: input frames per
    output frame and input frames before the first one.  ``prov``: for state
    tracking, the origin of each element of a frame (object array) or None.
    """

    value: str | None
    shape: tuple[int, ...]
    time: int | None = None
    batch: int | None = None
    reduced: bool = False
    tpad: tuple[int, int] = (0, 0)
    tail: int | None = 0
    stride: int = 1
    delay: int = 0
    prov: np.ndarray | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def frame(self) -> tuple[int, ...]:
        return tuple(d for i, d in enumerate(self.shape) if i not in (self.time, self.batch))

    def faxis(self, axis: int, what: str = "the op") -> int:
        """The frame axis of ONNX ``axis``; refuse if it is the time or batch axis."""
        a = norm_axis(axis, self.rank)
        if a == self.time:
            raise Refuse(f"{what} works across the time axis (axis {axis}); streaming needs "
                         f"ops over time to be causal recurrences or convolutions")
        if a == self.batch:
            raise Refuse(f"{what} works across the batch axis (axis {axis})")
        return a - sum(1 for x in (self.time, self.batch) if x is not None and x < a)

    def onnx_axis(self, faxis: int) -> int:
        """Inverse of :meth:`faxis`."""
        rest = [i for i in range(self.rank) if i not in (self.time, self.batch)]
        return rest[faxis]

    def with_(self, **kw) -> Dyn:
        return dataclasses.replace(self, **kw)


def norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise Refuse(f"axis {axis} out of range for rank {rank}")
    return axis % rank if rank else 0


def apply_view(kind: str, attrs: dict, arrays: list[np.ndarray]) -> np.ndarray:
    """What a view op (Reshape, Transpose, Slice, Gather, Concat, Identity) does to arrays."""
    x = arrays[0]
    if kind == "Reshape":
        return x.reshape(attrs["shape"])
    if kind == "Transpose":
        return x.transpose(attrs["perm"])
    if kind == "Slice":
        idx = [slice(None)] * x.ndim
        for a, s, e, st in zip(attrs["axes"], attrs["starts"], attrs["ends"], attrs["steps"],
                               strict=True):
            idx[a] = slice(s, e, st)
        return x[tuple(idx)]
    if kind == "Gather":
        return np.take(x, attrs["indices"], axis=attrs["axis"])
    if kind == "Concat":
        return np.concatenate(arrays, axis=attrs["axis"])
    return x


class Context(Emitter):
    """Metas of dynamic tensors and static values from probes; emits the IR (:class:`Emitter`)."""

    def __init__(self, probes: list[dict], opset: int) -> None:
        super().__init__()
        self.probes, self.opset = probes, opset
        self.metas: dict[str, Dyn] = {}
        self.links: dict[tuple[str, str], tuple] = {}  # (LSTM op, "h"/"c") -> state elements
        self.state_data_use: set[str] = set()
        self.used: set[str] = set()
        self.poisoned: set[str] = set()

    # --- reading ---------------------------------------------------------------

    def is_dyn(self, name: str) -> bool:
        return bool(name) and name in self.metas

    def dyn(self, name: str, allow_pad: bool = False) -> Dyn:
        d = self.metas.get(name)
        if d is None:
            raise Refuse(f"expects data at {name!r} but it is a constant")
        if d.tpad != (0, 0) and not allow_pad:
            raise Refuse("zero padding over the time axis must feed a Conv directly")
        return d

    def static(self, name: str) -> np.ndarray:
        if name in self.metas:
            raise Refuse(f"input {name!r} must be a constant (it depends on the model's input)")
        if name not in self.probes[0]:
            raise Refuse(f"no value known for {name!r}")
        return self.probes[0][name]

    def static_all(self, name: str) -> list[np.ndarray]:
        self.static(name)
        return [p[name] for p in self.probes]

    def invariant(self, name: str, what: str = "") -> np.ndarray:
        """A static value that must not depend on the sequence length."""
        vals = self.static_all(name)
        for v in vals[1:]:
            if v.shape != vals[0].shape or not np.array_equal(v, vals[0]):
                raise Refuse(f"{what or repr(name)} depends on the sequence length")
        return vals[0]

    def opt(self, node: onnx.NodeProto, i: int) -> str:
        """Name of optional input ``i`` or ''."""
        return node.input[i] if i < len(node.input) else ""

    @staticmethod
    def attrs(node: onnx.NodeProto) -> dict:
        return attrs_of(node)

    def probe_shape(self, name: str, k: int = 0) -> tuple[int, ...]:
        return tuple(int(d) for d in np.shape(self.probes[k][name]))

    # --- IR values of dynamic tensors -----------------------------------------

    def value(self, d: Dyn) -> str:
        """The IR value of ``d`` for use as data (marks states read as data)."""
        if d.value is None:
            raise Refuse("uses an LSTM cell state output (Y_c) as data; only a carried state "
                         "output can be Y_c")
        self._note_use(d)
        return d.value

    def _note_use(self, d: Dyn) -> None:
        if d.prov is not None:
            for e in d.prov.reshape(-1):
                if e is not None and e[0] == "state":
                    self.state_data_use.add(e[1])

    def vector(self, d: Dyn) -> str:
        """``d`` as a flat frame ``(size,)``."""
        return self.reshape(d, (int(np.prod(d.frame, dtype=np.int64)),))

    def reshape(self, d: Dyn, frame: tuple[int, ...], out: str = "") -> str:
        frame = tuple(int(x) for x in frame)
        if d.frame == frame and not out:
            return self.value(d)
        return self.emit("Reshape", [self.value(d)], frame, {"shape": frame}, out=out)

    def view(self, kind: str, ins: list[Dyn], attrs: dict, frame, out: str = "",
             extra: list[str] | None = None) -> tuple[str | None, np.ndarray | None]:
        """Emit a view op; carry element provenance along.  No IR op for value-less inputs."""
        provs = [d.prov for d in ins]
        prov = None
        if all(p is not None for p in provs):
            prov = apply_view(kind, attrs, provs)
        if any(d.value is None for d in ins):  # holds a cell state (Y_c): a state output only
            return None, prov
        ir_attrs = {k: v for k, v in attrs.items() if k != "indices"}
        inputs = [d.value for d in ins] + list(extra or [])
        if kind == "Reshape" and ins[0].frame == tuple(frame) and not out:
            return ins[0].value, prov
        return self.emit(kind, inputs, frame, ir_attrs, out=out), prov

    def set(self, name: str, d: Dyn) -> None:
        if name:
            self.metas[name] = d

    def out_meta(self, name: str, like: Dyn, time: int | None, batch: int | None, **kw) -> Dyn:
        """A Dyn for ONNX output ``name`` with the probe's shape, timing copied from ``like``."""
        return like.with_(value=kw.pop("value", None), shape=self.probe_shape(name), time=time,
                          batch=batch, prov=kw.pop("prov", None), tpad=(0, 0), **kw)

    def frame_const(self, c: np.ndarray, rank: int, time: int | None, batch: int | None,
                    what: str = "a constant") -> np.ndarray:
        """A constant broadcast against an ONNX tensor of ``rank``: time/batch axes removed."""
        c = np.asarray(c)
        if c.ndim > rank:
            raise Refuse(f"{what} has more axes ({c.ndim}) than the data ({rank})")
        c = c.reshape((1,) * (rank - c.ndim) + c.shape)
        for ax, label in ((time, "time"), (batch, "batch")):
            if ax is None or c.shape[ax] == 1:
                continue
            first = np.take(c, [0], axis=ax)
            if not np.array_equal(np.broadcast_to(first, c.shape), c):
                raise Refuse(f"{what} varies along the {label} axis")
            c = first
        keep = [i for i in range(rank) if i not in (time, batch)]
        return c.reshape([c.shape[i] for i in keep])

