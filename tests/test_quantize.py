"""Quantization (fp16, dynamic-range int8, int4 groups): bounds, kernels, streaming, files.

References: the float64 reference backend on the *dequantized* weights (what the
quantized kernels approximate, only activation quantization differs) and the float
model (error and argmax agreement).  The kernels against a plain-numpy model of their
integer arithmetic: tests/test_kernels_quantized.py (it runs on aarch64 too).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import edgernn
from edgernn.builder import GraphBuilder
from edgernn.converters.quantize import QuantizationError, quantize
from edgernn.converters.quantize.weights import to_f16, to_q4_groups, to_q8_rows
from edgernn.ir import Tensor

F32 = np.float32
SCHEMES = ["fp16", "int8", "int4"]


def rnd(rng, *shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(F32)


def model_graph(kind: str, seed: int = 0):
    """Random LSTM / GRU / RNN / CRNN classifiers (all weights >= 2-D are quantizable)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input("x", (12,))
    if kind == "crnn":
        x = b.relu(b.conv(x, rnd(rng, 16, 12, 3), rnd(rng, 16)))
        h = b.gru(x, rnd(rng, 72, 16), rnd(rng, 72, 24), rnd(rng, 72), rnd(rng, 72))
    elif kind == "lstm":
        h = b.lstm(x, rnd(rng, 96, 12), rnd(rng, 96, 24), rnd(rng, 96))
        h = b.lstm(h, rnd(rng, 64, 24), rnd(rng, 64, 8), proj=rnd(rng, 8, 16))
    elif kind == "gru":
        h = b.gru(x, rnd(rng, 72, 12), rnd(rng, 72, 24), rnd(rng, 72), rnd(rng, 72),
                  linear_before_reset=False)
    elif kind == "gru_torch":  # PyTorch's GRU: int8 runs it one fused loop per frame
        h = b.gru(x, rnd(rng, 72, 12), rnd(rng, 72, 24), rnd(rng, 72), rnd(rng, 72),
                  linear_before_reset=True)
        h = b.gru(h, rnd(rng, 24, 24), rnd(rng, 24, 8), linear_before_reset=True)
    else:
        h = b.rnn(x, rnd(rng, 24, 12), rnd(rng, 24, 24), rnd(rng, 24))
    b.output(b.softmax(b.dense(h, rnd(rng, 5, b.shape(h)[0]), rnd(rng, 5))), "p")
    return b.build()


# --- weights: quantize -> dequantize within half a step ------------------------------------

weights = arrays(F32, st.tuples(st.integers(1, 9), st.integers(1, 70)),
                 elements=st.floats(-50, 50, width=32))


@settings(max_examples=80, deadline=None)
@given(w=weights, group=st.sampled_from([2, 8, 32]))
def test_dequantize_error_is_at_most_half_a_step(w, group):
    t = Tensor.f32("w", w)
    q8 = to_q8_rows(t)
    step8 = np.asarray(q8.scale).reshape(-1, 1)
    assert np.all(np.abs(q8.to_float() - w) <= step8 / 2 * (1 + 1e-6) + 1e-30)
    q4 = to_q4_groups(t, group)
    step4 = np.repeat(np.asarray(q4.scale), group, axis=1)[:, : w.shape[1]]
    assert np.all(np.abs(q4.to_float() - w) <= step4 / 2 * (1 + 1e-6) + 1e-30)
    assert np.all(np.abs(to_f16(t).to_float() - w) <= np.abs(w) * 2.0 ** -11 + 1e-7)


def test_fp16_overflow_is_refused():
    with pytest.raises(QuantizationError, match="overflow float16.*--keep-float"):
        to_f16(Tensor.f32("big", np.array([[1e6]], F32)))


# --- whole models: vs the reference backend, streaming, files ----------------------------

BOUNDS = {"fp16": 2e-3, "int8": 0.06, "int4": 0.3}  # max abs error of probabilities


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_torch", "rnn", "crnn"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_quantized_models_vs_reference_and_float(kind, scheme):
    g = model_graph(kind)
    q = quantize(g, scheme)
    x = np.random.default_rng(5).standard_normal((60, 12)).astype(F32)
    got = edgernn.Model(q).stream().run(x)
    # the reference backend on the dequantized weights: only on-the-fly activation
    # quantization separates them
    ref = edgernn.Model(q).stream(backend="reference").run(x)
    flt = edgernn.Model(g).stream(backend="reference").run(x)
    act_bound = {"fp16": 1e-5, "int8": 0.03, "int4": 0.03}[scheme]
    assert np.abs(got - ref).max() <= act_bound
    assert np.abs(got - flt).max() <= BOUNDS[scheme]
    # random weights leave small margins between classes: agreement is a loose check here,
    # accuracy on a trained model is demos/gesture/quantize.py's (and the README's)
    assert np.mean(got.argmax(1) == flt.argmax(1)) >= {"fp16": 0.98, "int8": 0.85,
                                                       "int4": 0.7}[scheme]


@pytest.mark.parametrize("kind", ["crnn", "gru_torch", "lstm"])
@pytest.mark.parametrize("scheme", SCHEMES)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(1, 39), max_size=6, unique=True))
def test_any_chunking_equals_whole(kind, scheme, cuts):
    m = edgernn.Model(quantize(model_graph(kind), scheme))
    x = np.random.default_rng(9).standard_normal((40, 12)).astype(F32)
    whole = m.stream().run(x)
    s = m.stream()
    bounds = [0, *sorted(cuts), 40]
    parts = [s.run(x[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    s = m.stream()
    np.testing.assert_array_equal(np.stack([s.step(f) for f in x]), whole)


@pytest.mark.parametrize("kind", ["gru_torch", "lstm"])
def test_int8_streams_in_a_batch_equal_single_streams(kind):
    m = edgernn.Model(quantize(model_graph(kind), "int8"))
    x = np.random.default_rng(4).standard_normal((20, 3, 12)).astype(F32)
    batch = m.streams(3).run(x)
    for i in range(3):
        np.testing.assert_array_equal(batch[:, i], m.stream().run(x[:, i]))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_save_load_identical_and_smaller(tmp_path, scheme):
    g = model_graph("lstm")
    q = quantize(g, scheme)
    edgernn.save(g, tmp_path / "f.ern")
    edgernn.save(q, tmp_path / "q.ern")
    x = np.random.default_rng(3).standard_normal((20, 12)).astype(F32)
    back = edgernn.load(tmp_path / "q.ern")
    np.testing.assert_array_equal(back.stream().run(x), edgernn.Model(q).stream().run(x))
    assert back.metadata["quantization"] == scheme
    ratio = (tmp_path / "q.ern").stat().st_size / (tmp_path / "f.ern").stat().st_size
    assert ratio < {"fp16": 0.85, "int8": 0.8, "int4": 0.8}[scheme]  # small: headers count


def test_size_ratios_for_a_model_over_50k_parameters(tmp_path):
    """The acceptance bound: int8 <= 0.30x, int4 <= 0.18x the fp32 file (LSTM 40->128)."""
    rng = np.random.default_rng(0)
    b = GraphBuilder()
    h = b.lstm(b.input("x", (40,)), rnd(rng, 512, 40), rnd(rng, 512, 128), rnd(rng, 512))
    b.output(b.dense(h, rnd(rng, 12, 128), rnd(rng, 12)), "y")
    g = b.build()
    assert sum(t.size for t in g.consts.values()) >= 50_000
    sizes = {}
    for scheme in ("none", "int8", "int4"):
        edgernn.save(quantize(g, scheme), tmp_path / f"{scheme}.ern")
        sizes[scheme] = (tmp_path / f"{scheme}.ern").stat().st_size
    assert sizes["int8"] <= 0.30 * sizes["none"]
    assert sizes["int4"] <= 0.18 * sizes["none"]


def test_keep_float_and_already_quantized():
    g = model_graph("gru")
    dense = next(op.name for op in g.ops if op.kind == "Dense")
    q = quantize(g, "int8", keep_float=[dense])
    assert q.consts[next(op for op in q.ops if op.kind == "Dense").inputs[1]].dtype == "f32"
    with pytest.raises(QuantizationError, match="no op named nope.*ops with weights"):
        quantize(g, "int8", keep_float=["nope"])
    with pytest.raises(QuantizationError, match="already quantized"):
        quantize(q, "int4")


def test_user_mistakes_give_one_error_line(tmp_path):
    b = GraphBuilder()
    b.output(b.relu(b.input("x", (3,))), "y")
    with pytest.raises(QuantizationError, match="nothing to quantize"):
        quantize(b.build(), "int8")
    with pytest.raises(QuantizationError, match="unknown scheme"):
        quantize(model_graph("rnn"), "int3")
    edgernn.save(model_graph("rnn"), tmp_path / "m.ern")
    bad = {"shape.npy": np.zeros((50, 11), F32), "nan.npy": np.full((50, 12), np.nan, F32),
           "few.npy": np.zeros((3, 12), F32)}
    needles = {"shape.npy": r"frames of shape \(T, 12\)", "nan.npy": "non-finite",
               "few.npy": "at least 20 frames"}
    for name, arr in bad.items():
        np.save(tmp_path / name, arr)
        res = subprocess.run([sys.executable, "-m", "edgernn.cli", "quantize",
                              str(tmp_path / "m.ern"), "-o", str(tmp_path / "q.ern"),
                              "--quantize", "int8-full", "--calibrate", str(tmp_path / name)],
                             capture_output=True, text=True)
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("edgernn: error:"), res.stderr
        assert __import__("re").search(needles[name], lines[0]), lines[0]
