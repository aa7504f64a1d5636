"""The C entry of Stream.step (edgernn.cstep) against numba's entry: the same outputs bit
for bit, the same errors and fallbacks, the same frame counts; and streams without it.

Reference: the stream's own Python method (numba's entry of the fused step), which
tests/test_fused_step.py checks against per-op calls and those against float64.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import edgernn
from edgernn import cstep
from edgernn.builder import GraphBuilder
from edgernn.converters.quantize import quantize
from edgernn.errors import InputError
from edgernn.stream import Stream
from edgernn.warmup import kitchen_sink

F32 = np.float32


def gru_model(int8: bool = False) -> edgernn.Model:
    rng = np.random.default_rng(0)
    b = GraphBuilder()
    x = b.input("x", (3, 8))  # a 2-D frame: the C entry checks every axis
    h = b.gru(b.reshape(x, (24,)), rng.standard_normal((48, 24)).astype(F32) * 0.3,
              rng.standard_normal((48, 16)).astype(F32) * 0.3, linear_before_reset=True)
    b.output(b.dense(h, rng.standard_normal((5, 16)).astype(F32)), "y")
    g = b.build()
    return edgernn.Model(quantize(g, "int8") if int8 else g)


@pytest.fixture
def c_entry():
    if cstep.module() is None:
        if cstep._compiler() is not None:
            pytest.fail("a C compiler and Python's headers are here, yet the C entry "
                        "was not built")
        pytest.skip("no C compiler or Python headers: streams keep numba's entry "
                    "(tested below)")


@pytest.mark.parametrize(("make", "batch"), [(lambda: gru_model(), None),
                                             (lambda: gru_model(True), None),
                                             (lambda: gru_model(True), 3),
                                             (lambda: edgernn.Model(kitchen_sink()), None)])
def test_c_entry_equals_numba_entry_bit_for_bit(c_entry, make, batch):
    model = make()
    (shape,) = model.inputs.values()
    lead = () if batch is None else (batch,)
    x = np.random.default_rng(1).standard_normal((25, *lead, *shape)).astype(F32)
    c, py = (model.stream(), model.stream()) if batch is None else \
        (model.streams(batch), model.streams(batch))
    py_step = Stream.step.__get__(py)  # the method: numba's entry
    for f in x:
        a, b = c.step(f), py_step(f)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype and a.shape == b.shape
    assert type(c.step).__name__ == "Stepper"
    assert c.frames == py.frames == 25
    for k, v in py.get_state().items():
        np.testing.assert_array_equal(c.get_state()[k], v)


def test_other_calls_take_the_python_path_unchanged(c_entry):
    model = gru_model()
    x = np.random.default_rng(2).standard_normal((6, 3, 8)).astype(F32)
    c, py = model.stream(), model.stream()
    py_step = Stream.step.__get__(py)
    wide = np.repeat(x[..., None], 2, axis=-1)
    for i, f in enumerate(x):  # float32, float64, strided and out= frames in turn
        want = py_step(f)
        if i % 3 == 0:
            got = c.step(f.astype(np.float64))
        elif i % 3 == 1:
            got = c.step(wide[i, ..., 0])
        else:
            got = np.empty(5, F32)
            assert c.step(f, out=got) is got
        np.testing.assert_array_equal(got, want)
    assert c.frames == 6
    before = c.get_state()
    bad = x[0].copy()
    bad[1, 2] = np.nan
    with pytest.raises(InputError, match="NaN or Inf; the stream state is unchanged"):
        c.step(bad)
    with pytest.raises(InputError, match=r"expected shape \(3, 8\)"):
        c.step(np.zeros((3, 9), F32))
    for k, v in before.items():
        np.testing.assert_array_equal(c.get_state()[k], v)
    c.reset()
    assert c.frames == 0


def test_a_stream_with_the_c_entry_is_freed(c_entry):
    s = gru_model().stream()
    s.step(np.zeros((3, 8), F32))
    ref = weakref.ref(s)
    del s
    gc.collect()
    assert ref() is None


def test_without_a_compiler_streams_keep_numbas_entry(monkeypatch, tmp_path):
    def no_compiler(out):
        raise FileNotFoundError("cc")

    monkeypatch.setattr(cstep, "_compile", no_compiler)
    monkeypatch.setattr(cstep, "_build_dir", lambda: tmp_path / "cstep")
    cstep.module.cache_clear()
    try:
        model = gru_model()
        s = model.stream()
        y = s.step(np.ones((3, 8), F32))
        assert y.shape == (5,)
        assert "step" not in s.__dict__  # the method: numba's entry
        monkeypatch.setenv("EDGERNN_CSTEP", "0")
        cstep.module.cache_clear()
        assert cstep.module() is None
    finally:
        cstep.module.cache_clear()
