"""Compile and cache every kernel once, so a device never compiles at start-up.

Kernels are specialized on argument types, not sizes: one tiny graph that uses
every op kind, stepped once and run once, compiles every signature the runtime
uses.  ``edgernn warmup`` calls this at install time (a Pi compiles several
times slower than a workstation).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .builder import GraphBuilder
from .ir import Graph


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
    out = b.concat([b.reshape(s, (4,)), b.reshape(red, (1,)), mean, r(1)], axis=0)
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


def warmup(models: Iterable[str] = ()) -> int:
    """Compile every kernel (and run each given model once); return signatures compiled."""
    from .model import Model, load

    for graph in (kitchen_sink(), looped()):
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
    for path in models:
        model = load(path)
        s = model.stream()
        s.step({k: np.zeros(v, np.float32) for k, v in model.inputs.items()})
    return compiled_signatures()


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
