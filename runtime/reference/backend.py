"""The float64 reference backend: the executable spec of every op, with the stream API.

``model.stream(backend="reference")`` gives a :class:`ReferenceStream`: the same
``step``/``run``/``reset``/``get_state``/``set_state`` as the compiled backend, but
each op runs its float64 reference implementation (the ``reference`` of its record in
:mod:`edgernn.ops`, written from the operator specs with numpy's own slicing, take,
pad and transpose).  It shares no code with the bindings, index maps or kernels,
so every optimized and integer kernel is tested against it; for users it answers
"is it my model or the kernels?".  Outputs are float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..ir import Graph
from ..ops import get
from ..ops.base import RefCall
from ..plan import Plan
from ..streambase import StreamBase


class ReferenceStream(StreamBase):
    """Hidden state carried across frames, every op in float64 numpy."""

    def __init__(self, plan: Plan, batch: int | None = None) -> None:
        super().__init__(plan, batch)
        g = plan.graph
        self._consts = {n: t.to_float().astype(np.float64) for n, t in g.consts.items()}
        self._ops = [(op, get(op.kind)) for op in g.ops]
        self._decls = {op.name: [d.suffix for d in opdef.states(op, g)]
                       for op, opdef in self._ops}
        self._state = {}
        #: called as ``observe(values, state)`` after every chunk with every value of the
        #: chunk ``{name: (T, B, *frame)}`` and the state; calibration reads ranges so
        self.observe = None
        self.reset()

    def reset(self) -> None:
        """Back to the initial state (zeros, or the model's initial state)."""
        self._state = {}
        for s in self._plan.states:
            dtype = np.int64 if np.dtype(s.dtype).kind == "i" else np.float64
            arr = np.zeros((self._B, *s.shape), dtype=dtype)
            if s.init is not None:
                arr[...] = s.init.reshape(s.shape)
            self._state[s.key] = arr
        self._frames = 0

    def step(self, frame: Any = None, /, *, out: np.ndarray | None = None, **inputs: Any):
        """Feed one frame; return its output (float64), or None when nothing is emitted."""
        arrays = self._frames_of(frame, inputs)
        if out is not None:
            self._check_out(out, self._out_shape(self._out[0]))
        chunk = {}
        for name, a in arrays.items():
            a = self._as_input(name, a)
            want = self._frame_shape(name, ())
            if a.shape != want:
                raise InputError(f"input {name!r}: expected shape {want}, got {a.shape}")
            chunk[name] = a[None]
        self._check_chunk(chunk)
        res = self._advance(chunk)
        first = {k: v[0] for k, v in res.items() if len(v)}
        if not first:
            return None
        if out is not None:
            out[...] = first[self._out[0]]
            return out
        return first[self._out[0]] if len(self._out) == 1 else first

    def run(self, frames: Any = None, /, **inputs: Any):
        """Feed ``(T, *frame_shape)`` frames; return ``(T', *out_shape)`` float64 outputs."""
        arrays = dict(self._frames_of(frames, inputs))
        self._check_chunk(arrays)
        res = self._advance(arrays)
        return res[self._out[0]] if len(self._out) == 1 else res

    def _advance(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a chunk; outputs without the batch axis for a single stream."""
        lead = 1 if self.batch is None else 0
        chunk = {k: np.asarray(v, np.float64) if v.dtype.kind == "f" else v.astype(np.float64)
                 for k, v in arrays.items()}
        if lead:
            chunk = {k: v[:, None] for k, v in chunk.items()}
        total = next(iter(chunk.values())).shape[0]
        g = self._plan.graph
        if g.states:  # a graph-level loop: frame by frame
            pieces = [self._loop_frame({k: v[t:t + 1] for k, v in chunk.items()})
                      for t in range(total)]
            out = {k: np.concatenate([p[k] for p in pieces]) for k in self._out}
        else:
            env = self._evaluate(chunk)
            out = {k: env[k] for k in self._out}
        self._frames += total
        return {k: v[:, 0] if lead else v for k, v in out.items()}

    def _loop_frame(self, frame: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        g = self._plan.graph
        for s in g.states:
            frame[s.input] = self._state[f"state/{s.input}"][None].astype(np.float64)
        env = self._evaluate(frame)
        for s in g.states:
            self._state[f"state/{s.input}"][...] = env[s.output][0]
        return {k: env[k] for k in self._out}

    def _evaluate(self, env: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        g = self._plan.graph
        env = dict(env)
        for op, opdef in self._ops:
            args = [None if not n else self._consts[n] if n in self._consts else env[n]
                    for n in op.inputs]
            const = [bool(n) and n in self._consts for n in op.inputs]
            first = next(a for a, c in zip(args, const, strict=True) if a is not None and not c)
            y = None
            if len(first):
                state = {s: self._state[f"{op.name}/{s}"] for s in self._decls[op.name]}
                y = opdef.reference(RefCall(op, opdef, args, const, state))
            if y is None:  # no frame reached this op, or it emitted none
                y = np.zeros((0, self._B, *g.shape(op.outputs[0])))
            env[op.outputs[0]] = y
        if self.observe is not None:
            self.observe(env, self._state)
        return env


def evaluate(graph: Graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All outputs of ``graph`` for whole input sequences ``{name: (T, B, *shape)}``
    from a fresh state, in float64."""
    batch = next(iter(inputs.values())).shape[1]
    s = ReferenceStream(Plan(graph), batch=batch)
    res = s.run(**{k: np.asarray(v) for k, v in inputs.items()})
    return res if isinstance(res, dict) else {graph.outputs[0]: res}
