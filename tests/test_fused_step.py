"""The fused step (one compiled call per frame) vs the per-op program it replaces.

Both run the same kernels on the same buffers, so the outputs must be identical bit
for bit; the per-op path is itself tested against the float64 reference backend
(tests/test_graph_ops.py, tests/test_reference_backend.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import edgernn
from edgernn import fusedstep
from edgernn.builder import GraphBuilder
from edgernn.warmup import kitchen_sink, looped

f32 = np.float32


def strided_crnn():
    rng = np.random.default_rng(5)
    r = lambda *s: (rng.standard_normal(s) * 0.3).astype(f32)  # noqa: E731
    b = GraphBuilder()
    h = b.relu(b.conv(b.input("x", (6,)), r(8, 6, 3), r(8), stride=2))
    h = b.gru(h, r(24, 8), r(24, 8), r(24), r(24))
    b.output(b.dense(h, r(3, 8), r(3)), "y")
    return b.build()


def per_op(stream):
    stream._fused_ready = True  # never build the fused step: one call per op
    return stream


@pytest.mark.parametrize("make", [kitchen_sink, looped, strided_crnn])
@pytest.mark.parametrize("batch", [None, 3])
def test_fused_step_is_bit_identical_to_per_op_calls(make, batch):
    model = edgernn.Model(make())
    (shape,) = model.inputs.values()
    lead = () if batch is None else (batch,)
    x = np.random.default_rng(1).standard_normal((12, *lead, *shape)).astype(f32)
    fused = model.stream() if batch is None else model.streams(batch)
    ops = per_op(model.stream() if batch is None else model.streams(batch))
    for f in x:
        a, b = fused.step(f), ops.step(f)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
    assert fused._fused is not None and ops._fused is None
    for k, v in ops.get_state().items():
        np.testing.assert_array_equal(fused.get_state()[k], v)


def test_frames_of_any_strides_and_float64_give_the_same_outputs():
    model = edgernn.Model(kitchen_sink())
    (shape,) = model.inputs.values()
    x = np.random.default_rng(2).standard_normal((8, *shape, 2)).astype(f32)
    want = [model.stream(), model.stream(), model.stream()]
    got = [want[0].step(np.ascontiguousarray(f[..., 0])) for f in x]
    strided = [want[1].step(f[..., 0]) for f in x]  # a column of a wider array
    as64 = [want[2].step(f[..., 0].astype(np.float64)) for f in x]
    for a, b, c in zip(got, strided, as64, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_every_binder_describes_its_calls():
    model = edgernn.Model(kitchen_sink())
    prog = model.stream()._step_program
    for op, (call, _, _) in zip(model.graph.ops, prog.calls, strict=True):
        assert hasattr(call, "parts"), op.kind
        for kern, args in call.parts(1):
            assert hasattr(kern, "overloads") and isinstance(args, tuple), op.kind


def test_the_driver_depends_on_structure_not_sizes():
    """Two sizes with the same weight forms (both past bindings.SMALL_ROWS gate rows)."""
    def lstm(hidden):
        rng = np.random.default_rng(hidden)
        r = lambda *s: rng.standard_normal(s).astype(f32)  # noqa: E731
        b = GraphBuilder()
        h = b.lstm(b.input("x", (5,)), r(4 * hidden, 5), r(4 * hidden, hidden), r(4 * hidden))
        b.output(b.dense(h, r(2, hidden), r(2)), "y")
        return edgernn.Model(b.build())

    small, big = (lstm(n).stream() for n in (12, 24))
    small.step(np.zeros(5, f32))
    big.step(np.zeros(5, f32))
    assert small._fused.source == big._fused.source
    assert not np.array_equal(small._fused.p, big._fused.p)


def test_a_call_without_description_keeps_per_op_calls(monkeypatch):
    model = edgernn.Model(strided_crnn())
    s = model.stream()
    call, src, dst = s._step_program.calls[-1]
    s._step_program.calls[-1] = (lambda n: call(n), src, dst)  # a binder's own closure
    x = np.random.default_rng(3).standard_normal((6, 6)).astype(f32)
    got = [s.step(f) for f in x]
    assert s._fused is None
    ref = per_op(model.stream())
    for a, f in zip(got, x, strict=True):
        b = ref.step(f)
        assert (a is None) == (b is None) and (a is None or np.array_equal(a, b))


def test_nan_frame_through_the_fused_path_changes_nothing():
    model = edgernn.Model(looped())
    s = model.stream()
    s.step(np.ones(3, f32))
    before = s.get_state()
    with pytest.raises(edgernn.InputError, match="NaN or Inf"):
        s.step(np.array([0, np.nan, 0], f32))
    for k, v in s.get_state().items():
        np.testing.assert_array_equal(before[k], v)
    assert fusedstep.NotFusable is not None  # the module's public failure type
