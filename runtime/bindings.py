"""The toolkit op binders use to turn an op into a call of its jitted kernel.

A binder (one per op kind and dtype combination, in :mod:`edgernn.ops`) returns
``call(n) -> m``: run the op on the first ``n`` frames of its input buffers, return
how many output frames it produced.  Every array a kernel touches (weights,
buffers, state, scratch, index maps) is made at bind time, once; a call only takes
views of the first ``n`` rows when ``n`` is below the buffer's capacity, and calls
the kernel's compiled entry point directly (no Python wrapper in between).

A bound call also *describes* itself for the fused step (:mod:`edgernn.fusedstep`):
``call.parts(n)`` is the tuple of ``(kernel, args)`` it runs for ``n`` frames, in
order, and ``call.counted`` says whether the last kernel returns the output frame
count (else the count passes through).  :func:`each_n`, :func:`counted` and
:func:`chain` set both; a call without ``parts`` keeps its program on per-op calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .ir import Op

if TYPE_CHECKING:
    from .plan import Plan

F32 = np.float32
EMPTY1 = np.zeros(0, dtype=F32)
EMPTY2 = np.zeros((0, 0), dtype=F32)
NO_INDEX = np.zeros(0, dtype=np.int64)
Call = Callable[[int], int]

#: IR value dtype -> numpy dtype of its buffers
BUFFER_DTYPES = {"f32": np.float32, "i8": np.int8, "u8": np.uint8, "i16": np.int16,
                 "i32": np.int32}


class Context:
    """What binders draw on: constants, value buffers, per-stream state, sizes."""

    def __init__(self, plan: Plan, buffers: dict, state: dict, batch: int, frames: int):
        self.plan, self.buffers, self.state = plan, buffers, state
        self.B, self.frames = batch, frames

    def name(self, op: Op, role: str) -> str:
        """The value or constant name bound to ``role`` ('' if absent)."""
        i = self.plan.opdef(op.kind).index(role)
        return op.inputs[i] if i < len(op.inputs) else ""

    def const(self, op: Op, role: str, empty: np.ndarray | None = None,
              dtype: str = "f32") -> np.ndarray:
        """The constant at ``role`` as ``dtype`` (widened once per plan), or ``empty``."""
        name = self.name(op, role)
        return self.plan.const(name, dtype) if name else empty

    def is_const(self, name: str) -> bool:
        return name in self.plan.graph.consts

    def shape(self, name: str) -> tuple[int, ...]:
        return self.plan.graph.shape(name)

    def cap(self, name: str) -> int:
        return self.plan.capacity(name, self.frames)

    def value(self, name: str) -> np.ndarray:
        return self.buffers[name]

    def state_of(self, op: Op, suffix: str) -> np.ndarray:
        return self.state[f"{op.name}/{suffix}"]

    def output(self, op: Op) -> np.ndarray:
        """Allocate the buffer of ``op``'s output: (capacity, B, *frame) of its dtype."""
        name = op.outputs[0]
        v = self.plan.graph.values[name]
        buf = np.zeros((self.cap(name), self.B, *v.shape), dtype=BUFFER_DTYPES[v.dtype])
        self.buffers[name] = buf
        return buf

    def alias(self, op: Op) -> np.ndarray:
        """The output shares the input's memory (Reshape, Identity, a fused activation)."""
        src = self.buffers[op.inputs[0]]
        shape = self.plan.graph.values[op.outputs[0]].shape
        self.buffers[op.outputs[0]] = src.reshape(src.shape[0], self.B, *shape)
        return self.buffers[op.outputs[0]]

    def epilogue(self, op: Op) -> tuple:
        """(code, alpha, beta) of the activation fused into ``op``, or () if none."""
        act = self.plan.fusions.get(op.name)
        if act is None:
            return ()
        from .ops.elementwise import unary_params

        return unary_params(act)


#: storage dtypes a packed-weight kernel takes (see :mod:`edgernn.kernels.linalg`)
PACKED = frozenset({"f32", "f16", "q8", "q4"})


#: float weights with at most this many outputs stay in the row form: a column-form tile
#: of 16 outputs is one FMA chain as long as the inputs (128 inputs: ~0.15 µs of latency
#: for a 12-class Dense), the row form's vectorized sums take a few ns
SMALL_ROWS = 32


def pack(ctx: Context, op: Op, role: str, n_rows: int,
         rows: tuple[int, int] | None = None) -> tuple:
    """The packed weight at ``role`` (only its ``rows`` [start, stop) if given) for kernel
    calls of up to ``n_rows`` rows of x: ``(wt, acc)`` for float weights (the column form
    of :mod:`edgernn.kernels.gemm`), ``(w,)`` (the row form) for float weights of at most
    :data:`SMALL_ROWS` outputs,
    ``(w, wsum, ws, xq, sx, acc)`` for int8 (the column form of :mod:`edgernn.kernels.dot`),
    ``(wq, gs, xq, sx)`` for int4 groups (xq/sx/acc: scratch); ``(EMPTY2,)`` if absent.

    The form never depends on the chunk size: forms round differently, and any chunking
    must equal the whole sequence exactly."""
    name = ctx.name(op, role)
    if not name:
        return (EMPTY2,)
    t = ctx.plan.graph.consts[name]
    dtype = t.dtype
    if dtype not in ("q8", "q4"):
        n_out = rows[1] - rows[0] if rows else t.shape[0]
        if n_out <= SMALL_ROWS:  # decided on the shape: no float32 copy made for panels
            w = ctx.plan.const(name, rows=rows)
            return (w.reshape(w.shape[0], -1),)
        wt = ctx.plan.const(name, "f32cols", rows)
        return (wt, np.zeros((n_rows, wt.shape[0] * wt.shape[2]), F32))
    if dtype == "q8":
        w, wsum, ws = ctx.plan.const(name, "q8cols", rows)
        cols = 4 * w.shape[1]
        return (w, wsum, ws, np.zeros((n_rows, cols), np.int8), np.zeros(n_rows, F32),
                np.zeros(wsum.shape[0], np.int32))
    wq, scales = ctx.plan.const(name, "q4groups", rows)
    cols = 2 * wq.shape[1]  # q4: two values per byte
    return (wq, scales, np.zeros((n_rows, cols), np.int8), np.zeros(n_rows, F32))


def _compiled(kernel, args: tuple):
    """The compiled overload for these argument types, skipping numba's type dispatch
    (~0.05 µs per argument); the dispatcher itself when there is none."""
    overloads = getattr(kernel, "overloads", None)
    if overloads is None:
        return kernel
    found = overloads.get(tuple(kernel.typeof_pyval(a) for a in args))
    return kernel if found is None else found.entry_point


def direct(kernel) -> Callable:
    """Call ``kernel`` through numba's dispatcher once, then its compiled overload for
    those argument types directly.  Another type later raises TypeError while
    unboxing, before anything runs, and goes back through the dispatcher."""
    fn = kernel

    def call(*args):
        nonlocal fn
        try:
            result = fn(*args)
        except TypeError:
            if fn is kernel:
                raise
            fn = kernel
            return fn(*args)
        if fn is kernel:
            fn = _compiled(kernel, args)
        return result

    return call


def describe(call: Call, parts: Callable[[int], tuple], counts: bool = False) -> Call:
    """Attach the fused-step description to ``call`` (see the module docstring)."""
    call.parts, call.counted = parts, counts
    return call


def each_n(cap: int, kernel, make: Callable[[int], tuple]) -> Call:
    """A call that passes full-capacity views, or views of the first n rows."""
    full, run = make(cap), direct(kernel)

    def call(n: int) -> int:
        run(*(full if n == cap else make(n)))
        return n

    return describe(call, lambda n: ((kernel, full if n == cap else make(n)),))


def counted(cap: int, kernel, make: Callable[[int], tuple]) -> Call:
    """Like :func:`each_n` for a kernel that returns how many frames it emitted."""
    full, run = make(cap), direct(kernel)

    def call(n: int) -> int:
        return run(*(full if n == cap else make(n)))

    return describe(call, lambda n: ((kernel, full if n == cap else make(n)),), counts=True)


def chain(*calls: Call) -> Call:
    """Bound calls run in order on the same n; the count of the last is the result."""

    def call(n: int) -> int:
        m = n
        for c in calls:
            m = c(n)
        return m

    if all(hasattr(c, "parts") for c in calls):
        describe(call, lambda n: tuple(p for c in calls for p in c.parts(n)),
                 counts=bool(calls) and calls[-1].counted)
    return call


def no_op(n: int) -> int:
    """The call of an op with no kernel (a view, an activation fused into its producer)."""
    return n


describe(no_op, lambda n: ())


def rows(buf: np.ndarray, n: int, cols: int) -> np.ndarray:
    """The first n frames of a (T, B, ...) buffer as a (n*B*rows, cols) matrix."""
    return buf[:n].reshape(-1, cols)


def split_axes(shape: tuple, start: int, stop: int) -> tuple[int, int, int]:
    """(outer, middle, inner) sizes around frame axes [start, stop)."""
    p = lambda s: int(np.prod(s, dtype=np.int64))  # noqa: E731
    return p(shape[:start]), p(shape[start:stop]), p(shape[stop:])
