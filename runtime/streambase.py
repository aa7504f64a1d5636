"""What every stream backend shares: input checking, state snapshots, the schedule.

A stream owns only mutable things (state arrays, its frame counter); the plan and
weights belong to the model.  ``batch=None`` is one stream whose frames have no
batch axis; ``batch=B`` is B independent streams advanced together, frames shaped
``(B, *frame_shape)``.  Backends (:class:`edgernn.stream.Stream`, the compiled
kernels; :class:`edgernn.reference.ReferenceStream`, float64 numpy) subclass
:class:`StreamBase` and implement ``step``/``run``/``reset``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .bindings import BUFFER_DTYPES
from .errors import InputError
from .kernels.io import all_finite
from .plan import Plan, emissions


def _batch(batch: Any) -> int | None:
    if batch is None:
        return None
    try:
        batch = operator.index(batch)
    except TypeError:
        batch = 0
    if batch < 1:
        raise ValueError("batch must be a positive int")
    return batch


class StreamBase:
    """Input handling, state snapshots and the output schedule shared by backends."""

    _state: dict[str, np.ndarray]

    def __init__(self, plan: Plan, batch: int | None = None) -> None:
        self._plan, self.batch = plan, _batch(batch)
        self._B = self.batch or 1
        self._frames = 0
        g = plan.graph
        self._in = {v.name: v.shape for v in g.inputs}
        self._dtypes = {v.name: v.dtype for v in g.inputs}
        self._out = tuple(g.outputs)

    @property
    def frames(self) -> int:
        """Frames consumed since creation or the last reset()."""
        return self._frames

    def get_state(self) -> dict[str, np.ndarray]:
        """A copy of the state: ``{key: array}`` plus ``"frames"``."""
        snap = {k: self._strip(v).copy() for k, v in self._state.items()}
        snap["frames"] = np.array(self._frames, dtype=np.int64)
        return snap

    def set_state(self, snap: dict[str, np.ndarray]) -> None:
        """Restore a state taken by :meth:`get_state` (of a stream of the same model)."""
        missing = set(self._state) - set(snap)
        if missing:
            raise InputError(f"state snapshot lacks {sorted(missing)}; take it with get_state()")
        for k, arr in self._state.items():
            v = np.asarray(snap[k])
            want = self._strip(arr).shape
            if v.shape != want:
                raise InputError(f"state {k!r}: shape {v.shape}, this stream needs {want}")
        for k, arr in self._state.items():
            arr[...] = np.asarray(snap[k]).reshape(arr.shape)
        self._frames = int(snap.get("frames", 0))

    def _strip(self, arr: np.ndarray) -> np.ndarray:
        return arr[0] if self.batch is None else arr

    def expected_outputs(self, frames: int) -> int:
        """How many output frames the next ``frames`` input frames will produce."""
        period, offset = self._plan.output_schedule
        return emissions(self._frames, frames, period, offset)

    # --- inputs ----------------------------------------------------------------------

    def _frames_of(self, frame: Any, inputs: dict) -> dict[str, Any]:
        if frame is not None and inputs:
            raise InputError("give either one positional frame or named inputs, not both")
        if frame is None and not inputs:
            raise InputError(f"no input given; the model takes {self._describe()}")
        if frame is not None:
            if isinstance(frame, dict):
                inputs = dict(frame)
            elif len(self._in) == 1:
                inputs = {next(iter(self._in)): frame}
            else:
                raise InputError(f"this model has several inputs; pass them by name: "
                                 f"{self._describe()}")
        unknown = set(inputs) - set(self._in)
        missing = set(self._in) - set(inputs)
        if unknown or missing:
            raise InputError(f"inputs {sorted(unknown)} unknown, {sorted(missing)} missing; "
                             f"the model takes {self._describe()}")
        return inputs

    def _describe(self) -> str:
        b = () if self.batch is None else (self.batch,)
        return ", ".join(f"{k!r} of shape {(*b, *s)}" + ("" if self._dtypes[k] == "f32"
                                                        else f" ({self._dtypes[k]})")
                         for k, s in self._in.items())

    def _frame_shape(self, name: str, leading: tuple) -> tuple[int, ...]:
        b = () if self.batch is None else (self.batch,)
        return (*leading, *b, *self._in[name])

    def _check_chunk(self, arrays: dict[str, Any]) -> int:
        """Check and convert (T, [B,] *frame) chunks in place; return T."""
        lengths = set()
        for name, a in arrays.items():
            a = np.asarray(a)
            want = self._frame_shape(name, ())
            if a.ndim != len(want) + 1 or a.shape[1:] != want:
                raise InputError(f"input {name!r}: expected frames of shape (T, "
                                 f"{', '.join(map(str, want))}), got {a.shape}")
            lengths.add(a.shape[0])
            arrays[name] = a = self._as_input(name, a)  # converted once
            if a.dtype.kind == "f" and not all_finite(a.reshape(-1)):
                raise InputError(f"input {name!r} contains NaN or Inf; nothing was consumed, "
                                 f"the stream state is unchanged")
        if len(lengths) != 1:
            raise InputError(f"inputs have different numbers of frames: {sorted(lengths)}")
        return lengths.pop()

    def _as_input(self, name: str, a: Any) -> np.ndarray:
        """``a`` in a dtype the input takes: float32/64 for float inputs, the exact integer
        dtype for quantized ones."""
        a = np.asarray(a)
        dtype = self._dtypes[name]
        if dtype != "f32":
            want = np.dtype(BUFFER_DTYPES[dtype])
            if a.dtype != want:
                raise InputError(f"input {name!r} is quantized ({dtype}): pass a {want} array "
                                 f"(got {a.dtype}); quantize real values with the input's "
                                 f"scale and zero point (`edgernn info MODEL` shows them)")
            return a
        if a.dtype.kind != "f":
            raise InputError(f"input {name!r}: dtype {a.dtype} is not floating point; convert "
                             f"with .astype(np.float32) (scale audio samples to [-1, 1] or "
                             f"compute features first)")
        return a if a.dtype in (np.float32, np.float64) else a.astype(np.float32)

    def _check_out(self, out: Any, shape: tuple) -> None:
        if len(self._out) != 1:
            raise InputError("out= needs a model with one output; this one has "
                             f"{list(self._out)}")
        own = np.dtype(BUFFER_DTYPES[self._plan.graph.values[self._out[0]].dtype])
        if not isinstance(out, np.ndarray) or out.shape != shape or not out.flags.writeable \
                or not (out.dtype.kind == "f" or out.dtype == own):
            got = (f"{type(out).__name__} {getattr(out, 'shape', '')} "
                   f"{getattr(out, 'dtype', '')}").strip()
            kind = "float" if own.kind == "f" else f"float or {own}"
            raise InputError(f"out= must be a writable {kind} array of shape {shape}, got {got}")

    def _out_shape(self, name: str) -> tuple[int, ...]:
        shape = self._plan.graph.shape(name)
        return shape if self.batch is None else (self.batch, *shape)

    def _empty(self, dtype=np.float32):
        b = () if self.batch is None else (self.batch,)
        res = {k: np.zeros((0, *b, *self._plan.graph.shape(k)), dtype) for k in self._out}
        return res[self._out[0]] if len(self._out) == 1 else res

    def _stack(self, pieces: list):
        if len(self._out) == 1:
            return np.concatenate(pieces, axis=0)
        return {k: np.concatenate([p[k] for p in pieces], axis=0) for k in self._out}
