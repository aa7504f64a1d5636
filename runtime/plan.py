"""Graph -> execution plan: verified shapes, kernels per op, frame schedule, state layout.

A :class:`Plan` is built once per model and shared by every stream.  It holds
nothing mutable (constants widened for float kernels are cached once).
:class:`Program` binds a plan to one stream's state, a batch size B and a chunk
capacity T: it allocates every activation buffer once and turns each op into a
call of its jitted kernel on preallocated views.  Everything op-specific comes
from the op records of :mod:`edgernn.ops`.

Schedules: a value is produced at global frames ``n >= offset`` with
``(n - offset) % period == 0``.  Graph inputs have (1, 0); a Conv with stride s
and delay d turns (p, o) into (p*s, o + p*d); every other op keeps its input's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import bindings, packing
from .bindings import BUFFER_DTYPES
from .ir import Graph, GraphError, Op
from .ops import OpDef, get
from .shapes import check_graph


@dataclass(frozen=True)
class StateSpec:
    """One per-stream state array: ``(B, *shape)`` of ``dtype``, reset to ``init``."""

    key: str
    shape: tuple[int, ...]
    dtype: type
    init: np.ndarray | None  # broadcast over the batch; None = zeros


def emissions(n0: int, count: int, period: int, offset: int) -> int:
    """How many frames n in [n0, n0 + count) satisfy n >= offset, (n - offset) % period == 0."""
    if period == 1 and offset == 0:
        return count

    def upto(n: int) -> int:  # emissions in [0, n)
        return 0 if n <= offset else (n - offset - 1) // period + 1

    return upto(n0 + count) - upto(n0)


class Plan:
    """The immutable, verified, shareable half of a model."""

    def __init__(self, graph: Graph) -> None:
        graph.validate()
        check_graph(graph)
        self.graph = graph
        self._consts: dict[tuple[str, str], np.ndarray] = {}
        self.binders = {op.name: get(op.kind).binder_for(op, self._dtype_of)
                        for op in graph.ops}
        self.schedule = self._schedule()
        self.states = self._state_specs()
        rates = {self.schedule[o] for o in graph.outputs}
        if len(rates) > 1:
            raise GraphError(f"graph outputs are produced at different frame rates: {rates}")
        self.output_schedule = rates.pop() if rates else (1, 0)
        self.frame_by_frame = bool(graph.states)
        self.fusions = self._fusions()
        self.fused_away = {u.name for u in self.fusions.values()}

    @staticmethod
    def opdef(kind: str) -> OpDef:
        return get(kind)

    def _dtype_of(self, name: str) -> tuple[str, bool]:
        g = self.graph
        return (g.consts[name].dtype, True) if name in g.consts else (g.values[name].dtype, False)

    def const(self, name: str, dtype: str = "f32") -> np.ndarray:
        """Constant ``name`` in a kernel layout (:mod:`edgernn.packing`), made once per
        plan.  Constants stay in their stored dtype until a binder asks for a layout."""
        key = (name, dtype)
        arr = self._consts.get(key)
        if arr is None:
            arr = self._consts[key] = packing.convert(self.graph.consts[name], dtype)
        return arr

    def _fusions(self) -> dict[str, Op]:
        """Producer op name -> the Unary that alone reads its output (one kernel call)."""
        g = self.graph
        readers: dict[str, list[Op]] = {}
        for op in g.ops:
            for name in op.inputs:
                readers.setdefault(name, []).append(op)
        visible = set(g.outputs) | {s.output for s in g.states}
        fusions = {}
        for op in g.ops:
            out = op.outputs[0]
            users = readers.get(out, [])
            if (get(op.kind).fusable and out not in visible and len(users) == 1
                    and users[0].kind == "Unary"):
                fusions[op.name] = users[0]
        return fusions

    def _schedule(self) -> dict[str, tuple[int, int]]:
        g = self.graph
        sched = {v.name: (1, 0) for v in g.inputs} | {s.input: (1, 0) for s in g.states}
        for op in g.ops:
            ins = {sched[n] for n in op.inputs if n and n not in g.consts}
            if len(ins) != 1:
                raise GraphError(f"op {op.name!r}: inputs at different frame rates {ins}"
                                 if ins else f"op {op.name!r} has no time-varying input")
            sched[op.outputs[0]] = get(op.kind).schedule(ins.pop(), op)
        for s in g.states:
            if sched[s.output] != (1, 0):
                raise GraphError(f"state output {s.output!r} is not produced every frame")
        return sched

    def _state_specs(self) -> list[StateSpec]:
        g, specs = self.graph, []
        for op in g.ops:
            for d in get(op.kind).states(op, g):
                init = op.input(d.init) if d.init else ""
                specs.append(StateSpec(f"{op.name}/{d.suffix}", tuple(d.shape), d.dtype,
                                       self.const(init).reshape(-1) if init else None))
        for s in g.states:
            init = self.const(s.init).reshape(-1) if s.init else None
            dtype = BUFFER_DTYPES[g.values[s.input].dtype]
            specs.append(StateSpec(f"state/{s.input}", tuple(s.shape), dtype, init))
        return specs

    def new_state(self, batch: int) -> dict[str, np.ndarray]:
        """Fresh state arrays for ``batch`` streams, at their initial values."""
        state = {s.key: np.zeros((batch, *s.shape), dtype=s.dtype) for s in self.states}
        reset_state(self, state)
        return state

    def capacity(self, name: str, frames: int) -> int:
        """Rows a buffer of value ``name`` needs for a chunk of ``frames`` input frames."""
        period, _ = self.schedule[name]
        return frames if period == 1 else -(-frames // period) + 1


def reset_state(plan: Plan, state: dict[str, np.ndarray]) -> None:
    """Put every state array back to its initial value, in place."""
    for s in plan.states:
        arr = state[s.key]
        if s.init is None:
            arr.fill(0)
        else:
            arr[...] = s.init.reshape(s.shape)


class Program:
    """A plan bound to one stream's state, B streams and a chunk capacity of T frames."""

    def __init__(self, plan: Plan, state: dict[str, np.ndarray], batch: int, frames: int):
        self.plan, self.batch, self.frames = plan, batch, frames
        g = plan.graph
        self.buffers: dict[str, np.ndarray] = {}
        for v in (*g.inputs, *(g.values[s.input] for s in g.states)):
            self.buffers[v.name] = np.zeros((frames, batch, *v.shape),
                                            dtype=BUFFER_DTYPES[v.dtype])
        ctx = bindings.Context(plan, self.buffers, state, batch, frames)
        self.calls: list[tuple[Callable[[int], int], str, str]] = []
        for op in g.ops:
            if op.name in plan.fused_away:  # its producer's kernel applies it in place
                ctx.alias(op)
                call = _same_count
            else:
                call = plan.binders[op.name].bind(op, ctx)
            src = next(n for n in op.inputs if n and n not in g.consts)
            self.calls.append((call, src, op.outputs[0]))
        self.state_io = [(state[f"state/{s.input}"], self.buffers[s.input][0],
                          self.buffers[s.output]) for s in g.states]
        self.uniform = all(plan.schedule[v] == (1, 0) for v in plan.schedule)
        self.inputs = {v.name: self.buffers[v.name] for v in g.inputs}

    def execute(self, n: int) -> int:
        """Run every op on the first ``n`` frames of the input buffers; return output frames."""
        for st, buf, _ in self.state_io:
            buf[...] = st
        if self.uniform:
            for call, _, _ in self.calls:
                call(n)
        else:
            counts = dict.fromkeys([*self.inputs, *(s.input for s in self.plan.graph.states)], n)
            for call, src, dst in self.calls:
                counts[dst] = call(counts[src]) if counts[src] else 0
            n = counts[self.plan.graph.outputs[0]] if self.plan.graph.outputs else n
        for st, _, out in self.state_io:
            st[...] = out[0]
        return n

    def output(self, name: str, n: int) -> np.ndarray:
        """View of the first ``n`` produced frames of output ``name``: (n, B, *shape)."""
        return self.buffers[name][:n]


def _same_count(n: int) -> int:
    return n
