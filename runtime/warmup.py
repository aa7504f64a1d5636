"""Compile and cache every kernel once, so a device never compiles at start-up.

Kernels are specialized on argument types, not sizes: one tiny graph that uses
every op kind, stepped once and run once, compiles every signature the runtime
uses.  ``edgernn warmup`` calls this at install time (a Pi compiles several
times slower than a workstation), with :class:`Progress` showing how many of the
entry kernels (:func:`entry_kernels`) are ready: a bar on a terminal, one line per
kernel otherwise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import TextIO

import numpy as np
from numba.core import event

from .bindings import BUFFER_DTYPES
from .builder import GraphBuilder
from .ir import Graph, Op, Tensor, Value
from .shapes import infer_op


def kitchen_sink() -> Graph:
    """A small graph with every op kind (weights are random: only types matter)."""
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(np.float32) * 0.3  # noqa: E731
    b = GraphBuilder()
    x = b.input("x", (4,))
    h = b.conv(x, r(6, 4, 2), r(6), stride=1)
    h = b.lstm(h, r(32, 6), r(32, 8), r(32), P=r(24))
    h = b.lstm(h, r(32, 8), r(32, 4), proj=r(4, 8), proj_bias=r(4))
    h = b.gru(h, r(15, 4), r(15, 5), r(15), r(15))
    h = b.rnn(h, r(5, 5), r(5, 5), r(5))
    fm = b.reshape(b.tanh(b.dense(h, r(12, 5), r(12))), (3, 4))  # fused Dense+Tanh
    fm = frame_ops(b, fm, r)  # windows inside the (3, 4) frame
    fm = b.conv(fm, r(2, 3, 2, 2), r(2), freq_pads=(1, 0), stride=2)
    fm = b.binary("Mul", b.unary("Relu", fm), r(4))
    fm = b.layer_norm(fm, r(4), r(4))
    t = b.transpose(fm, (1, 0))
    s = b.slice(t, (1,), (3,), axes=(0,))
    g = b.gather(fm, [1, 0], axis=0)
    red = b.reduce("Max", b.pad(g, (0, 1, 0, 1)), axes=(0, 1), keepdims=True)
    mean = b.reduce("Mean", b.concat([fm, g], axis=0), axes=(0,))
    picked = b.add("Where", [b.binary("GreaterEqual", mean, r(4)), mean, r(4)])
    plain = b.dense(picked, r(2, 4))  # unfused: its own kernel, not only inside dense_act
    out = b.concat([b.reshape(s, (4,)), b.reshape(red, (1,)), mean, plain, r(1)], axis=0)
    b.output(b.softmax(out), "y")
    return b.build()


def frame_ops(b: GraphBuilder, fm: str, r) -> str:
    """FrameConv (+ fused Relu), Pad modes, Pool, FrameConvTranspose, PRelu on a
    (3, 4) frame; returns another (3, 4) value."""
    fm = b.relu(b.add("FrameConv", [fm, r(3, 3, 3), r(3)], {"pads": (1, 1),
                                                             "pad_mode": "reflect"}))
    fm = b.add("Pad", [fm], {"pads": (0, 1, 0, 1), "mode": "edge"})  # (3, 6)
    fm = b.add("Pool", [fm], {"fn": "avg", "kernel": (3,), "strides": (2,), "pads": (1, 1),
                              "count_include_pad": True})  # (3, 3)
    fm = b.add("FrameConvTranspose", [fm, r(3, 1, 2), r(3)], {"strides": (2,), "pads": (1, 1),
                                                               "groups": 3})  # (3, 4)
    fm = b.add("FrameConv", [b.binary("PRelu", fm, r(4)), r(3, 3, 1)])
    return b.add("Pool", [fm], {"fn": "max", "kernel": (2,), "pads": (1, 0)})


def looped() -> Graph:
    """A graph-level state loop (explicit-state step models)."""
    b = GraphBuilder()
    x = b.input("x", (3,))
    h = b.state("h", (3,))
    b.loop(h, b.unary("Tanh", b.binary("Add", x, h)))
    b.output(h, "y")
    return b.build()


class _Int8Graph:
    """Just enough of a builder for :func:`integer_sink` (typed values, q8/i32 constants)."""

    def __init__(self) -> None:
        self.values: dict[str, Value] = {"x": Value("x", (4,))}
        self.consts: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.rng = np.random.default_rng(0)

    def w(self, *shape: int, dtype: str = "q8", scale: float = 2e-4) -> str:
        """A q8 weight (scale 0.01 per row) or an i32 bias (scale 0.02 * 0.01)."""
        name = f"c{len(self.consts)}"
        data = self.rng.integers(-100, 100, shape).astype(np.int8 if dtype == "q8" else np.int32)
        scale = np.full(shape[0], 0.01, np.float32) if dtype == "q8" else np.float32(scale)
        self.consts[name] = Tensor(name, data, dtype, shape, scale, None,
                                   0 if dtype == "q8" else None)
        return name

    def op(self, kind: str, ins: list[str], attrs: dict | None = None, dtype: str = "i8",
           zp: int = 3, scale: float = 0.02) -> str:
        out = f"v{len(self.ops)}"
        op = Op(kind, out, tuple(ins), (out,), attrs or {})
        shapes = [self.values[n].shape if n in self.values else self.consts[n].shape if n
                  else None for n in ins]
        self.values[out] = Value(out, infer_op(op, shapes, self.consts), dtype,
                                 None if dtype == "f32" else scale,
                                 None if dtype == "f32" else zp)
        self.ops.append(op)
        return out


def integer_sink() -> Graph:
    """A small int8-full graph using every integer kernel (only types matter)."""
    g = _Int8Graph()
    w = g.w
    x = g.op("Quantize", ["x"], {"scale": 0.02, "zero_point": 3})
    h = g.op("Conv", [x, w(6, 4, 2), w(6, dtype="i32")])
    h = g.op("LSTM", [h, w(32, 6), w(32, 8), w(32, dtype="i32"), w(24, dtype="i32"), "", "",
                      w(8, dtype="i32")], {"cell_scale_log2": -12})
    h = g.op("LSTM", [h, w(32, 8), w(32, 4), w(32, dtype="i32"), "", w(4, 8),
                      w(4, dtype="i32", scale=1e-4), w(4, dtype="i32")],
             {"cell_scale_log2": -12, "hidden_scale": 0.01})
    for lbr in (True, False):
        h = g.op("GRU", [h, w(12, 4), w(12, 4), w(12, dtype="i32"), w(12, dtype="i32"),
                         w(4, dtype="i32")], {"linear_before_reset": lbr})
    for act in ("Tanh", "Relu"):
        h = g.op("RNN", [h, w(4, 4), w(4, 4), w(4, dtype="i32"), w(4, dtype="i32")],
                 {"activations": (act,)})
    d = g.op("Unary", [g.op("Dense", [h, w(12, 4), w(12, dtype="i32")])], {"fn": "Relu"})
    fm = g.op("Reshape", [d], {"shape": (3, 4)})
    fm = g.op("Conv", [fm, w(2, 3, 2, 2), w(2, dtype="i32")], {"freq_pads": (1, 0)})
    fm = g.op("Binary", [g.op("Unary", [fm], {"fn": "Sigmoid"}), fm], {"fn": "Mul"})
    fm = g.op("Binary", [fm, g.op("Slice", [fm], {"starts": (0,), "ends": (2,)})], {"fn": "Add"})
    t = g.op("Transpose", [g.op("Pad", [fm], {"pads": (0, 1, 0, 0)})], {"perm": (1, 0)})
    g.consts["idx"] = Tensor("idx", np.array([1, 0], np.int64), "i64", (2,))
    c = g.op("Concat", [g.op("Gather", [t, "idx"]), t], {"axis": 0}, zp=-5)
    r = g.op("Requantize", [c], {"scale": 0.02, "zero_point": 7, "in_scale": 0.02,
                                 "in_zero_point": -5}, zp=7)
    r = g.op("Softmax", [r], zp=-128, scale=1 / 256)
    y = g.op("Dequantize", [r], {"in_scale": 1 / 256, "in_zero_point": -128}, dtype="f32")
    g.values["y"] = Value("y", g.values[y].shape)
    g.ops.append(Op("Identity", "y", (y,), ("y",)))
    return Graph((g.values["x"],), ("y",), tuple(g.ops), g.values, g.consts)


def hybrid_sink() -> Graph:
    """TFLite's dynamic-range ops: DynamicQuantize, then HybridDense with q8 weights."""
    g = _Int8Graph()
    h = g.op("DynamicQuantize", ["x"], {"asymmetric": False}, dtype="f32")
    y = g.op("HybridDense", [h, g.w(6, 4)], {"asymmetric": True}, dtype="f32")
    g.values["y"] = Value("y", g.values[y].shape)
    g.ops.append(Op("Identity", "y", (y,), ("y",)))
    return Graph((g.values["x"],), ("y",), tuple(g.ops), g.values, g.consts)


def _stages(models: Iterable[str]) -> list[Callable[[], None]]:
    """Each unit of warmup work: the built-in graphs in every frame layout, then the models."""
    from .model import Model, load

    def exercise(graph: Graph) -> None:
        m = Model(graph)
        x = np.zeros((5, *m.inputs["x"]), np.float32)
        ro = x.copy()
        ro.flags.writeable = False  # frames from np.frombuffer / mmap are read-only
        strided = np.zeros((*m.inputs["x"], 2), np.float32)[..., 0]  # a column of a wider array
        assert not strided.flags.c_contiguous
        m.stream().step(strided)
        for frames in (x, x.astype(np.float64), ro):
            m.stream().step(frames[0])
            m.stream().run(frames)
        m.streams(2).run(np.zeros((5, 2, *m.inputs["x"]), np.float32))

    def one_frame(path: str) -> None:
        model = load(path)
        model.stream().step({v.name: np.zeros(v.shape, BUFFER_DTYPES[v.dtype])
                             for v in model.graph.inputs})

    return ([lambda g=g: exercise(g()) for g in (kitchen_sink, looped, integer_sink,
                                                 hybrid_sink)]
            + [live_input] + [lambda p=p: one_frame(p) for p in models])


def live_input() -> None:
    """What `edgernn listen` / `imu` compile besides the models: every front end's kernels
    (:func:`edgernn.features.warmup`) and the streaming resampler (48 kHz devices)."""
    from . import features
    from .resample import Resampler, resample

    features.warmup()
    for channels in (1, 2):
        r = Resampler(48000, 16000, channels)
        r.process(np.zeros((480, channels), np.float32))
        r.skip(48)
        r.flush()
    resample(np.zeros(441, np.float32), 44100, 16000)


Report = Callable[[int, int, str, bool], None]


def warmup(models: Iterable[str] = (), progress: Report | None = None) -> int:
    """Compile every kernel (and run each given model once); return signatures compiled.

    ``progress(ready, total, name, done)`` follows the entry kernels: ``done=False``
    when kernel ``name`` starts compiling, ``done=True`` when it is ready (compiled
    now or loaded from the cache); ``ready`` of ``total`` are ready."""
    from ._cache import COLD_NOTICE

    kernels = entry_kernels()
    ready: set[int] = set()
    report = progress or (lambda *_: None)

    def started(dispatcher: object) -> None:
        if any(k is dispatcher for k in kernels) and id(dispatcher) not in ready:
            report(len(ready), len(kernels), dispatcher.py_func.__name__, False)

    def check() -> None:
        for k in kernels:
            if id(k) not in ready and k.signatures:
                ready.add(id(k))
                report(len(ready), len(kernels), k.py_func.__name__, True)

    listener = _CompileListener(started, check)
    event.register("numba:compile", listener)
    quiet, COLD_NOTICE.enabled = COLD_NOTICE.enabled, False  # the progress says it all
    try:
        for stage in _stages(models):
            stage()
            check()
    finally:
        event.unregister("numba:compile", listener)
        COLD_NOTICE.enabled = quiet
    return compiled_signatures()


class _CompileListener(event.Listener):
    """``started(dispatcher)`` when numba starts compiling a function, ``ended()`` after."""

    def __init__(self, started: Callable[[object], None], ended: Callable[[], None]) -> None:
        self.started, self.ended = started, ended

    def on_start(self, ev: event.Event) -> None:
        self.started(ev.data["dispatcher"])

    def on_end(self, ev: event.Event) -> None:
        self.ended()


class Progress:
    """Shows ``warmup`` progress on ``stream``: a bar redrawn in place on a terminal
    (with the kernel compiling now), otherwise one plain line per ready kernel."""

    WIDTH = 20

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.perf_counter()
        self.drawn = False

    def __call__(self, ready: int, total: int, name: str, done: bool = True) -> None:
        secs = time.perf_counter() - self.t0
        if self.tty:
            fill = self.WIDTH * ready // max(total, 1)
            bar = "#" * fill + "-" * (self.WIDTH - fill)
            what = name if done else f"compiling {name}"
            self.stream.write(f"\rwarmup [{bar}] {ready}/{total} kernels {secs:5.1f} s  "
                              f"{what:<24.24}")
        elif done:
            self.stream.write(f"warmup {ready:{len(str(total))}d}/{total} {name} "
                              f"({secs:.1f} s)\n")
        else:
            return
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """End the bar's line (a terminal only)."""
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def entry_kernels() -> list:
    """Every jitted entry point a binder calls (from the op records) plus the input checks."""
    from .kernels import io
    from .ops import OPS

    seen: dict[int, object] = {}
    for d in OPS.values():
        for k in d.kernels:
            seen.setdefault(id(k), k)
    for k in (io.copy_checked, io.all_finite):
        seen.setdefault(id(k), k)
    return list(seen.values())


def compiled_signatures() -> int:
    """How many signatures of the entry kernels (those binders call) are ready."""
    return sum(len(k.signatures) for k in entry_kernels())
