"""Streams on the compiled kernels: per-stream state and the step()/run() API.

See :class:`edgernn.streambase.StreamBase` for what every backend shares.  This
backend binds the model's plan to preallocated buffers (a :class:`Program` per
chunk capacity) and advances B streams with one kernel call per op.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import InputError
from .fusedstep import FusedStep, fuse
from .kernels.io import copy_checked
from .plan import Plan, Program, reset_state
from .streambase import StreamBase

MAX_CHUNK = 256  # frames per bound program in run(); bounds buffer memory
#: one compiled call per step (:mod:`edgernn.fusedstep`); EDGERNN_FUSED=0 keeps per-op calls
FUSED = os.environ.get("EDGERNN_FUSED", "1") != "0"
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


class Stream(StreamBase):
    """Hidden state carried across frames; see :meth:`step` and :meth:`run`."""

    def __init__(self, plan: Plan, batch: int | None = None) -> None:
        self._count = np.zeros(1, np.int64)  # frames the C entry stepped (edgernn.cstep)
        super().__init__(plan, batch)
        self._state = plan.new_state(self._B)
        self._programs: dict[int, Program] = {}
        self._step_program = self._program(1)
        self._fused: FusedStep | None = None
        self._fused_ready = not FUSED  # built on the first frame: loading never compiles
        self._fast: tuple | None = None  # (frame shape, output shape, output dtype)

    def _make_fused(self) -> FusedStep | None:
        """The fused step of the one-frame program (compiled or loaded from the cache)."""
        self._fused_ready = True
        self._fused = fs = fuse(self._step_program)
        if fs is not None and len(self._in) == 1 and len(self._out) == 1 \
                and self._plan.graph.inputs[0].dtype == "f32":
            y = self._step_program.output(self._out[0], 1)[0]
            shape = self._frame_shape(next(iter(self._in)), ())
            if y.flags.c_contiguous:
                out = self._out_shape(self._out[0])
                entry = fs.entry(len(shape), np.empty(out, y.dtype))
                self._fast = (shape, out, y.dtype, entry, fs.p, fs.step)
                self._enter_from_c(fs, shape, out, y.dtype)
        return fs

    def _enter_from_c(self, fs: FusedStep, shape: tuple, out: tuple, dtype: np.dtype) -> None:
        """Make ``self.step`` the C entry of :mod:`edgernn.cstep` where it can be built:
        it steps plain float32 frames itself and passes every other call to the
        :meth:`step` method (an instance attribute, found before the method)."""
        from . import cstep

        if cstep.module() is None:
            return
        c = cstep.stepper(fs.c_address(dtype), fs.p, self._count, shape, out, dtype,
                          Stream.step.__get__(self))
        if c is not None:
            self.step = c

    @property
    def _frames(self) -> int:
        """Frames consumed: the Python paths' count plus the C entry's."""
        return self._nf + int(self._count[0])

    @_frames.setter
    def _frames(self, value: int) -> None:
        self._nf = value
        self._count[0] = 0

    def reset(self) -> None:
        """Back to the initial state (zeros, or the model's initial state)."""
        reset_state(self._plan, self._state)
        self._frames = 0

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
        if (fast is not None and type(frame) is np.ndarray and frame.shape == fast[0]
                and not inputs and (out is None or self._out_fits(out, fast))):
            # one float input, one output: load, run and copy out in one compiled call
            y = np.empty(fast[1], fast[2]) if out is None else out
            try:
                n = fast[3](fast[4], frame, y)  # the compiled entry, float32 frames
            except TypeError:  # another dtype (raised before anything ran)
                if frame.dtype != _F64:
                    return self._step(frame, out, inputs)
                n = fast[5](frame, y)  # float64: through numba's dispatcher
            if n < 0:
                raise InputError("the frame contains NaN or Inf; the stream state is "
                                 "unchanged, drop or repair the frame")
            self._nf += 1
            return y if n else None
        return self._step(frame, out, inputs)

    @staticmethod
    def _out_fits(out: Any, fast: tuple) -> bool:
        """An ``out=`` the compiled step writes into directly (else: checked, copied)."""
        return (type(out) is np.ndarray and out.shape == fast[1] and out.dtype == fast[2]
                and out.flags.c_contiguous and out.flags.writeable)

    def _step(self, frame: Any, out: np.ndarray | None, inputs: dict):
        """step() for everything the fast path does not take (several inputs, out=, ...)."""
        if not self._fused_ready:
            self._make_fused()
            if self._fast is not None:
                return self.step(frame, out=out, **inputs)  # with the fast path now
        fs = self._fused
        if out is not None:
            self._check_out(out, self._out_shape(self._out[0]))
        prog = self._step_program
        self._load(prog, self._frames_of(frame, inputs), leading=())
        n = prog.execute(1) if fs is None else fs.run()
        self._frames += 1
        if n == 0:
            return None
        return self._collect(prog, 1, single=True, out=out)

    def run(self, frames: Any = None, /, **inputs: Any):
        """Feed ``(T, *frame_shape)`` frames (``(T, B, ...)`` for batches); return outputs.

        Equal to T calls of :meth:`step`, stacked: ``(T', *out_shape)`` where T' is
        the number of frames the model emitted (T unless it has a strided conv).
        """
        if (type(frames) is np.ndarray and not inputs and len(self._in) == 1
                and len(self._out) == 1 and len(frames) == 1
                and frames.shape[1:] == self._frame_shape(next(iter(self._in)), ())):
            y = self.step(frames[0])  # one frame: the step's one compiled call
            return self._empty() if y is None else y[None]
        arrays = dict(self._frames_of(frames, inputs))
        total = self._check_chunk(arrays)
        step = 1 if self._plan.frame_by_frame else MAX_CHUNK
        pieces: list = []
        for start in range(0, total, step):
            count = min(step, total - start)
            prog = self._program(min(step, 1 << (count - 1).bit_length()))
            self._load(prog, {k: v[start:start + count] for k, v in arrays.items()},
                       leading=(count,))
            fs = self._fused if self._fused_ready else self._make_fused()
            n = fs.run() if fs is not None and prog is self._step_program else \
                prog.execute(count)
            self._frames += count
            pieces.append(self._collect(prog, n, single=False, out=None))
        if not pieces:
            return self._empty()
        return self._stack(pieces)

    def _load(self, prog: Program, arrays: dict[str, Any], leading: tuple) -> None:
        """Copy frames into the program's input buffers; check shape, dtype, finiteness."""
        for name, a in arrays.items():
            buf = prog.inputs[name]
            dst = buf[: leading[0]] if leading else buf[0]
            a = self._as_input(name, a)
            want = self._frame_shape(name, leading)
            if a.shape != want:
                raise InputError(f"input {name!r}: expected shape {want}, got {a.shape}")
            if a.dtype.kind != "f":
                dst[...] = a.reshape(dst.shape)
            elif not copy_checked(a.reshape(-1), dst.reshape(-1)):
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
