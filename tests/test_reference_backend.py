"""The shipped float64 reference backend: the executable spec, with the stream API.

On every convertible ONNX fixture it must match onnxruntime (or the ONNX reference
evaluator where onnxruntime refuses) within 1e-6, and the compiled backend must match
it within 1e-5.  It also keeps the stream contract: step == run == any chunking,
reset, state snapshots, batches, graph-level state loops.
"""

from __future__ import annotations

import functools

import numpy as np
import onnx
import pytest

import edgernn
from edgernn.builder import GraphBuilder
from edgernn.warmup import kitchen_sink, looped

ort = pytest.importorskip("onnxruntime")

from test_onnx_parity import AXES, CONVERTIBLE, FIXTURES  # noqa: E402 - one fixture list

from edgernn.converters import load_onnx  # noqa: E402
from edgernn.converters.onnx import OnnxRunner  # noqa: E402
from edgernn.converters.verify import source_outputs  # noqa: E402

FRAMES = 60


@functools.cache
def _source(name: str):
    """(graph, feeds, source outputs) for FRAMES random frames of a fixture."""
    g = load_onnx(FIXTURES / f"{name}.onnx", axes=AXES.get(name))
    meta = g.metadata
    fixed = [s["dims"][s["time"]] for s in meta["source_inputs"].values()
             if s["time"] is not None and isinstance(s["dims"][s["time"]], int)]
    frames = min(fixed, default=FRAMES)  # a fixed-shape export runs on its own length
    rng = np.random.default_rng(7)
    feeds = {v.name: rng.standard_normal((frames, *v.shape)).astype(np.float32)
             for v in g.inputs}
    src = OnnxRunner(onnx.load(FIXTURES / f"{name}.onnx"))
    want = source_outputs(src, meta, feeds, frames, chunk=1 if meta["source_states"] else 0)
    return g, feeds, want


@pytest.mark.parametrize("name", CONVERTIBLE)
def test_reference_backend_matches_source_and_kernels(name):
    g, feeds, want = _source(name)
    model = edgernn.Model(g)
    ref = model.stream(backend="reference").run(**feeds)
    fast = model.stream().run(**feeds)
    ref = ref if isinstance(ref, dict) else {g.outputs[0]: ref}
    fast = fast if isinstance(fast, dict) else {g.outputs[0]: fast}
    for out, (src_name, info) in zip(g.outputs, g.metadata["source_outputs"].items(),
                                     strict=True):
        r = ref[out]
        assert r.dtype == np.float64 and len(r) > 0
        s = np.asarray(want[src_name])
        # a last-step output: the source gives the value after the whole sequence
        got = r[-1] if info["reduced"] and not g.metadata["source_states"] else r
        s = s.reshape(got.shape) if got is not r else s[: len(r)]
        assert np.abs(got - s).max() <= 1e-6, (out, np.abs(got - s).max())
        assert np.abs(fast[out] - r).max() <= 1e-5


def _rnd(rng, *shape):
    return (rng.standard_normal(shape) * 0.4).astype(np.float32)


def test_reference_stream_contract_step_run_chunks_state():
    g = kitchen_sink()  # every op kind, a strided conv (None on some frames)
    m = edgernn.Model(g)
    x = np.random.default_rng(1).standard_normal((30, 4)).astype(np.float32)
    whole = m.stream(backend="reference").run(x)
    s = m.stream(backend="reference")
    stepped = [s.step(f) for f in x]
    assert any(y is None for y in stepped)
    np.testing.assert_array_equal(np.stack([y for y in stepped if y is not None]), whole)
    s.reset()
    first = s.run(x[:11])
    snap = s.get_state()
    rest = s.run(x[11:])
    np.testing.assert_array_equal(np.concatenate([first, rest]), whole)
    s.set_state(snap)
    np.testing.assert_array_equal(s.run(x[11:]), rest)
    assert s.frames == 30


def test_reference_batches_and_graph_state_loops():
    m = edgernn.Model(looped())
    x = np.random.default_rng(2).standard_normal((9, 3, 3)).astype(np.float32)
    got = m.streams(3, backend="reference").run(x)
    h = np.zeros((3, 3))
    for t in range(9):  # the loop's definition: y = h; then h <- tanh(x + h)
        np.testing.assert_allclose(got[t], h, atol=1e-12)
        h = np.tanh(x[t].astype(np.float64) + h)
    np.testing.assert_allclose(m.streams(3).run(x), got, atol=1e-6)


def test_reference_backend_errors_like_the_default():
    b = GraphBuilder()
    b.output(b.dense(b.input("x", (3,)), _rnd(np.random.default_rng(0), 2, 3)), "y")
    s = edgernn.Model(b.build()).stream(backend="reference")
    with pytest.raises(edgernn.InputError, match="NaN"):
        s.step(np.array([0, np.nan, 0], np.float32))
    with pytest.raises(edgernn.InputError, match="shape"):
        s.step(np.zeros(4, np.float32))
    assert s.frames == 0
    with pytest.raises(ValueError, match="backend"):
        edgernn.Model(b.build()).stream(backend="cuda")
