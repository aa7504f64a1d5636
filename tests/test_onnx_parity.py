"""Every ONNX fixture converts and matches its source model, streamed any way.

Reference: onnxruntime (a layout=1 recurrent op runs as its layout-0 twin,
between Transposes, since onnxruntime refuses layout=1).  200-frame sequences,
max abs error <= 1e-5, streamed whole, one frame at a time and in random chunks
(plus hypothesis-chosen chunk boundaries on a few models).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("onnxruntime")

from edgernn.converters import load_onnx, verify  # noqa: E402
from edgernn.converters.onnx import OnnxRunner  # noqa: E402
from edgernn.converters.verify import source_outputs  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "onnx"
REFUSED = {"onnx_lstm_bidirectional", "onnx_unsupported_ops", "torch_refused_mean_over_time_op17",
           "torch_refused_bigru_mean_op17"}
ALL = sorted(p.stem for p in FIXTURES.glob("*.onnx"))
CONVERTIBLE = [n for n in ALL if n not in REFUSED]
TOL = 1e-5
#: fixtures whose layout the converter cannot infer (fixed dims, no recurrent op on the input)
AXES = {"torch_fixed_crnn2d_op17": {"x": "BCTF"}}


@functools.cache
def graph(name: str):
    return load_onnx(FIXTURES / f"{name}.onnx", axes=AXES.get(name))


def test_fixture_set_is_complete():
    assert len(CONVERTIBLE) >= 30
    for stem in ("torch_lstm1_op13", "torch_lstm2_op17", "torch_lstm3_tmajor_op13",
                 "torch_gru2_op17", "torch_rnn_tanh_op13", "torch_rnn_relu_tmajor_op17",
                 "torch_crnn_op13", "torch_crnn2d_op17", "torch_classifier_last_op17",
                 "torch_step_lstm_op13", "torch_step_cell_op17", "torch_lstm2_op11",
                 "onnx_lstm_peephole_clip", "onnx_gru_lbr0", "onnx_lstm_layout1",
                 "onnx_if_const_gru"):
        assert stem in CONVERTIBLE
    assert sum(p.stat().st_size for p in FIXTURES.glob("*.onnx")) < 2_000_000


@pytest.mark.parametrize("name", CONVERTIBLE)
def test_fixture_matches_source(name):
    res = verify(FIXTURES / f"{name}.onnx", graph(name), frames=200, tolerance=TOL, seed=1)
    assert res.errors and res.passed, str(res)
    assert res.max_error <= TOL


def test_layout1_is_verified_with_onnxruntime_on_a_layout0_twin():
    res = verify(FIXTURES / "onnx_lstm_layout1.onnx", graph("onnx_lstm_layout1"), frames=50)
    assert res.reference.startswith("onnxruntime") and "layout 0" in res.reference
    assert res.passed


@pytest.mark.parametrize("name", ["torch_crnn_op17", "torch_step_lstm_op13",
                                  "torch_strided_conv_gru_op17", "torch_step_cell_op13"])
@settings(max_examples=12, deadline=None)
@given(cuts=st.lists(st.integers(1, 199), max_size=12, unique=True))
def test_any_chunking_equals_source(name, cuts):
    """Chunked run() at hypothesis-chosen boundaries == the source on the whole sequence."""
    import edgernn

    g = graph(name)
    ref, feeds = _reference(name, g)
    s = edgernn.Model(g).stream()
    bounds = [0, *sorted(cuts), 200]
    parts = [s.run({k: v[a:b] for k, v in feeds.items()}) for a, b in zip(bounds, bounds[1:],
                                                                         strict=False)]
    out_name = g.outputs[0]
    got = np.concatenate([p if not isinstance(p, dict) else p[out_name] for p in parts])
    want = ref[: len(got)]
    assert len(got) > 0
    assert np.max(np.abs(got - want)) <= TOL


@functools.cache
def _reference(name: str, g):
    """Source output for 200 random frames (frame by frame with state feedback for step models)."""
    rng = np.random.default_rng(3)
    feeds = {v.name: rng.standard_normal((200, *v.shape)).astype(np.float32) for v in g.inputs}
    meta = g.metadata
    src = OnnxRunner(onnx.load(FIXTURES / f"{name}.onnx"))
    out = next(iter(meta["source_outputs"]))
    chunk = 1 if meta["source_states"] else 0
    return source_outputs(src, meta, feeds, 200, chunk=chunk)[out], feeds


def test_verify_reports_failure_above_tolerance():
    g = graph("torch_lstm1_op13")
    res = verify(FIXTURES / "torch_lstm1_op13.onnx", g, frames=30, tolerance=0.0)
    assert not res.passed and "FAIL" in str(res)


def test_verify_given_inputs():
    x = np.random.default_rng(0).standard_normal((1, 40, 8)).astype(np.float32)
    res = verify(FIXTURES / "torch_gru2_op13.onnx", graph("torch_gru2_op13"),
                 inputs={"x": x}, tolerance=TOL)
    assert res.frames == 40 and res.passed


@pytest.mark.parametrize("name", ["torch_step_cell_op13", "torch_crnn_op17",
                                  "torch_strided_conv_gru_op13", "torch_step_lstm_op17"])
def test_multi_stream_batch_equals_single_streams(name):
    import edgernn

    g = graph(name)
    m = edgernn.Model(g)
    x = np.random.default_rng(0).standard_normal((60, 3, *g.inputs[0].shape)).astype(np.float32)
    batched = m.streams(3).run(x)
    single = np.stack([m.stream().run(x[:, i]) for i in range(3)], axis=1)
    np.testing.assert_allclose(batched, single, atol=1e-6)


def test_fixed_shape_export_matches_its_dynamic_twin_on_200_frames():
    """torch_fixed_crnn2d bakes its 7 frames into a Reshape: check 200 frames against the
    same module exported with dynamic axes."""
    res = verify(FIXTURES / "torch_crnn2d_op17.onnx", graph("torch_fixed_crnn2d_op17"),
                 frames=200, tolerance=TOL)
    assert res.frames == 200 and res.passed, str(res)
