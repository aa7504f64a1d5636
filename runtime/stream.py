"""Streams: per-stream state and the step()/run() API over a shared model plan.

A :class:`Stream` owns only mutable things: state arrays, its frame counter and
the bound programs (buffers).  The plan and weights belong to the model and are
shared by every stream.  ``batch=None`` is one stream whose frames have no batch
axis; ``batch=B`` is B independent streams advanced together by one kernel call
per op, frames shaped ``(B, *frame_shape)``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .errors import InputError
from .kernels.io import all_finite, copy_checked
from .plan import Plan, Program, emissions, reset_state

MAX_CHUNK = 256  # frames per bound program in run(); bounds buffer memory


class Stream:
    """Hidden state carried across frames; see :meth:`step` and :meth:`run`."""

    def __init__(self, plan: Plan, batch: int | None = None) -> None:
        if batch is not None:
            try:
                batch = operator.index(batch)
            except TypeError:
                batch = 0
            if batch < 1:
                raise ValueError("batch must be a positive int")
        self._plan, self.batch = plan, batch
        self._B = batch or 1
        self._state = plan.new_state(self._B)
        self._frames = 0
        self._programs: dict[int, Program] = {}
        self._step_program = self._program(1)
        g = plan.graph
        self._in = {v.name: v.shape for v in g.inputs}
        self._out = tuple(g.outputs)
        self._fast = None
        if len(self._out) == 1:
            shape = g.shape(self._out[0])
            self._out_shape = shape if batch is None else (batch, *shape)
        if len(self._in) == 1 and len(self._out) == 1 and plan.output_schedule == (1, 0):
            prog, (name, shape) = self._step_program, next(iter(self._in.items()))
            want = shape if batch is None else (batch, *shape)
            y = prog.output(self._out[0], 1)[0]  # (B, *shape)
            # y[0, ...] stays a view even for a scalar output (y[0] would copy it once)
            self._fast = (want, prog.inputs[name][0].reshape(-1),
                          y[0, ...] if batch is None else y)

    # --- state -------------------------------------------------------------------

    @property
    def frames(self) -> int:
        """Frames consumed since creation or the last reset()."""
        return self._frames

    def reset(self) -> None:
        """Back to the initial state (zeros, or the model's initial state)."""
        reset_state(self._plan, self._state)
        self._frames = 0

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

    # --- running -------------------------------------------------------------------

    def _program(self, frames: int) -> Program:
        """The bound program for chunks of up to ``frames`` (a power of two: at most 9)."""
        prog = self._programs.get(frames)
        if prog is None:
            prog = self._programs[frames] = Program(self._plan, self._state, self._B, frames)
        return prog

    def step(self, frame: Any = None, /, *, out: np.ndarray | None = None, **inputs: Any):
        """Feed one frame; return this frame's output (a dict if the model has several).

        Returns None on frames where the model emits nothing (after a strided
        conv).  The returned array is a fresh copy; pass ``out=`` to write into
        an array of yours instead, with no allocation.
        """
        fast = self._fast
        if out is not None:
            self._check_out(out)
        if (fast is not None and type(frame) is np.ndarray and frame.shape == fast[0]
                and frame.dtype == np.float32 and not inputs):
            # one input, one output, a float32 frame of the right shape: skip the dict work
            if not copy_checked(frame.reshape(-1), fast[1]):
                raise InputError("the frame contains NaN or Inf; the stream state is "
                                 "unchanged, drop or repair the frame")
            self._step_program.execute(1)
            self._frames += 1
            if out is None:
                return fast[2].copy()
            out[...] = fast[2]
            return out
        prog = self._step_program
        self._load(prog, self._frames_of(frame, inputs), leading=())
        n = prog.execute(1)
        self._frames += 1
        if n == 0:
            return None
        return self._collect(prog, 1, single=True, out=out)

    def _check_out(self, out: Any) -> None:
        if len(self._out) != 1:
            raise InputError("out= needs a model with one output; this one has "
                             f"{list(self._out)}")
        want = self._out_shape
        if not isinstance(out, np.ndarray) or out.shape != want or out.dtype.kind != "f" \
                or not out.flags.writeable:
            got = (f"{type(out).__name__} {getattr(out, 'shape', '')} "
                   f"{getattr(out, 'dtype', '')}").strip()
            raise InputError(f"out= must be a writable float array of shape {want}, got {got}")

    def run(self, frames: Any = None, /, **inputs: Any):
        """Feed ``(T, *frame_shape)`` frames (``(T, B, ...)`` for batches); return outputs.

        Equal to T calls of :meth:`step`, stacked: ``(T', *out_shape)`` where T' is
        the number of frames the model emitted (T unless it has a strided conv).
        """
        arrays = dict(self._frames_of(frames, inputs))
        total = self._check_chunk(arrays)
        step = 1 if self._plan.frame_by_frame else MAX_CHUNK
        pieces: list = []
        for start in range(0, total, step):
            count = min(step, total - start)
            prog = self._program(min(step, 1 << (count - 1).bit_length()))
            self._load(prog, {k: v[start:start + count] for k, v in arrays.items()},
                       leading=(count,))
            n = prog.execute(count)
            self._frames += count
            pieces.append(self._collect(prog, n, single=False, out=None))
        if not pieces:
            return self._empty()
        return self._stack(pieces)

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
        return ", ".join(f"{k!r} of shape {(*b, *s)}" for k, s in self._in.items())

    def _check_chunk(self, arrays: dict[str, Any]) -> int:
        lengths = set()
        for name, a in arrays.items():
            a = np.asarray(a) if not isinstance(a, np.ndarray) else a
            arrays[name] = a
            want = (self._B,) if self.batch is not None else ()
            want += self._in[name]
            if a.ndim != len(want) + 1 or a.shape[1:] != want:
                raise InputError(f"input {name!r}: expected frames of shape (T, "
                                 f"{', '.join(map(str, want))}), got {a.shape}")
            lengths.add(a.shape[0])
            arrays[name] = a = _as_float(name, a)  # converted once, for _load too
            if not all_finite(a.reshape(-1)):
                raise InputError(f"input {name!r} contains NaN or Inf; nothing was consumed, "
                                 f"the stream state is unchanged")
        if len(lengths) != 1:
            raise InputError(f"inputs have different numbers of frames: {sorted(lengths)}")
        return lengths.pop()

    def _load(self, prog: Program, arrays: dict[str, Any], leading: tuple) -> None:
        """Copy frames into the program's input buffers; check shape, dtype, finiteness."""
        for name, a in arrays.items():
            buf = prog.inputs[name]
            dst = buf[: leading[0]] if leading else buf[0]
            a = _as_float(name, a)
            want = dst.shape if self.batch is not None else (*leading, *self._in[name])
            if a.shape != want:
                raise InputError(f"input {name!r}: expected shape {want}, got {a.shape}")
            if not copy_checked(a.reshape(-1), dst.reshape(-1)):
                raise InputError(f"input {name!r} contains NaN or Inf; the stream state is "
                                 f"unchanged, drop or repair the frame")

    def _collect(self, prog: Program, n: int, single: bool, out: np.ndarray | None):
        res = {}
        for name in self._out:
            y = prog.output(name, n)  # (n, B, *shape)
            y = y[0] if single else y
            if self.batch is None:
                y = y[0] if single else y[:, 0]
            if out is not None and len(self._out) == 1:
                out[...] = y
                res[name] = out
            else:
                res[name] = y.copy()
        return res[self._out[0]] if len(self._out) == 1 else res

    def _empty(self):
        b = () if self.batch is None else (self.batch,)
        res = {k: np.zeros((0, *b, *self._plan.graph.shape(k)), np.float32) for k in self._out}
        return res[self._out[0]] if len(self._out) == 1 else res

    def _stack(self, pieces: list):
        if len(self._out) == 1:
            return np.concatenate(pieces, axis=0)
        return {k: np.concatenate([p[k] for p in pieces], axis=0) for k in self._out}

    def expected_outputs(self, frames: int) -> int:
        """How many output frames the next ``frames`` input frames will produce."""
        period, offset = self._plan.output_schedule
        return emissions(self._frames, frames, period, offset)


def _as_float(name: str, a: Any) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise InputError(f"input {name!r}: dtype {a.dtype} is not floating point; convert "
                         f"with .astype(np.float32) (scale audio samples to [-1, 1] or "
                         f"compute features first)")
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float32)
