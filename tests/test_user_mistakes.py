"""Regressions for mistakes real users make (found by review); each must fail clearly
and lose nothing, or just work."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import edgernn
from edgernn.builder import GraphBuilder
from edgernn.reference.backend import evaluate


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 0.3


def scalar_output_model():
    """A voice-activity-style model: one probability per frame, frame shape ()."""
    b = GraphBuilder()
    h = b.gru(b.input("x", (8,)), rnd(12, 8), rnd(12, 4), rnd(12), rnd(12))
    b.output(b.sigmoid(b.reshape(b.dense(h, rnd(1, 4), rnd(1)), ())), "vad")
    return edgernn.Model(b.build())


def test_scalar_output_steps_like_numpy():
    model = scalar_output_model()
    x = rnd(20, 8, seed=1)
    whole = evaluate(model.graph, {"x": x[:, None]})["vad"][:, 0]  # independent numpy
    np.testing.assert_allclose(model.stream().run(x), whole, atol=1e-6)
    s = model.stream()
    stepped = np.array([float(s.step(f)) for f in x])
    np.testing.assert_allclose(stepped, whole, atol=1e-6)
    assert len(set(np.round(stepped, 6))) > 5  # not a frozen value
    out, s = np.empty((), np.float32), model.stream()
    for f in x[:3]:
        s.step(f, out=out)
    assert float(out) == pytest.approx(float(whole[2]), abs=1e-6)


@pytest.fixture(scope="module")
def lstm():
    b = GraphBuilder()
    b.output(b.lstm(b.input("x", (4,)), rnd(24, 4), rnd(24, 6), rnd(24)), "y")
    return edgernn.Model(b.build())


@pytest.mark.parametrize("out", [np.empty(5, np.float32), np.empty((3, 6), np.float32),
                                 np.empty(6, np.int32), [0.0] * 6])
def test_bad_out_is_refused_before_the_frame_is_consumed(lstm, out):
    s = lstm.stream()
    with pytest.raises(edgernn.InputError, match="out= must be"):
        s.step(np.ones(4, np.float32), out=out)
    assert s.frames == 0 and not s.get_state()[next(iter(s.get_state()))].any()


def test_float64_too_large_for_float32_is_refused(lstm):
    s = lstm.stream()
    with pytest.raises(edgernn.InputError, match="NaN or Inf"):
        s.step(np.full(4, 1e39))
    with pytest.raises(edgernn.InputError, match="NaN or Inf"):
        s.run(np.full((3, 4), 1e39))
    assert s.frames == 0


def test_longdouble_and_float16_frames_work(lstm):
    x = rnd(5, 4, seed=2)
    want = lstm.stream().run(x)
    np.testing.assert_allclose(lstm.stream().run(x.astype(np.longdouble)), want, atol=1e-6)
    np.testing.assert_allclose(lstm.stream().run(x.astype(np.float16)), want, atol=2e-3)


def test_small_api_conveniences(lstm):
    assert lstm.streams(np.int64(2)).batch == 2
    b = GraphBuilder()
    a, c = b.input("a", (2,)), b.input("c", (2,))
    b.output(b.binary("Add", a, c), "y")
    m = edgernn.Model(b.build())
    frames = {"a": [[1.0, 2.0]], "c": np.ones((1, 2), np.float32)}
    np.testing.assert_array_equal(m.run(a=frames["a"], c=frames["c"]), [[2.0, 3.0]])
    m.stream().run(frames)
    assert isinstance(frames["a"], list)  # the caller's dict is not modified


@pytest.mark.parametrize("kind,args,needle", [
    ("rnn", dict(W=rnd(8, 4), R=rnd(8, 8), B=np.zeros(2)), r"\(B\) has shape \(2,\), needs 8"),
    ("lstm", dict(W=rnd(16, 4), R=rnd(16, 4), B=np.zeros(32)), "sum the input and recurrent"),
    ("lstm", dict(W=rnd(16, 4), R=rnd(16, 4), P=np.zeros(9)), r"\(P\)"),
    ("gru", dict(W=rnd(12, 4), R=rnd(12, 4), WB=np.zeros(12), RB=np.zeros(6)), r"\(RB\)"),
    ("lstm", dict(W=rnd(15, 4), R=rnd(15, 4)), "cannot hold 4 equal gate blocks"),
])
def test_wrong_recurrent_sizes_are_graph_errors(kind, args, needle):
    b = GraphBuilder()
    with pytest.raises(edgernn.GraphError, match=needle):
        getattr(b, kind)(b.input("x", (4,)), **args)


def test_state_loop_with_a_delayed_conv():
    b = GraphBuilder()
    x = b.input("x", (3,))
    h = b.state("h", (3,))
    b.loop(h, b.tanh(b.binary("Add", h, x)))
    b.output(b.conv(x, rnd(2, 3, 2), delay=1), "y")
    y = edgernn.Model(b.build()).stream().run(rnd(6, 3, seed=3))
    assert y.shape == (5, 2)


def test_save_to_a_directory_leaves_nothing_behind(tmp_path, lstm):
    with pytest.raises(IsADirectoryError, match="give a file name"):
        edgernn.save(lstm, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_loading_an_onnx_file_says_convert(tmp_path):
    p = tmp_path / "model.onnx"
    p.write_bytes(b"\x08\x07\x12\x07pytorch" + b"\0" * 100)
    with pytest.raises(edgernn.ModelFormatError, match="edgernn convert model.onnx"):
        edgernn.load(p)


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgernn.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_input_file_mistakes(tmp_path):
    b = GraphBuilder()
    x = b.input("spec", (2, 3))
    b.output(b.dense(b.reshape(x, (6,)), rnd(2, 6)), "y")
    model = tmp_path / "m.ern"
    edgernn.save(b.build(), model)
    np.savetxt(tmp_path / "bad.csv", np.ones((4, 5)), delimiter=",")
    r = cli("run", model, "-i", tmp_path / "bad.csv")
    assert r.returncode == 2 and "5 values per row" in r.stderr
    np.savetxt(tmp_path / "one.csv", np.ones((1, 6)), delimiter=",")
    r = cli("run", model, "-i", tmp_path / "one.csv", "-o", tmp_path / "y.txt")
    assert r.returncode == 0, r.stderr  # .txt is text, like .csv (the same as on input)
    np.testing.assert_allclose(np.loadtxt(tmp_path / "y.txt", delimiter=",", ndmin=2),
                               edgernn.load(model).run(np.ones((1, 2, 3), np.float32)),
                               rtol=1e-6)
    np.save(tmp_path / "empty.npy", np.zeros((0, 2, 3), np.float32))
    r = cli("run", model, "-i", tmp_path / "empty.npy", "-o", tmp_path / "e.csv")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    np.save(tmp_path / "ints.npy", np.zeros((3, 2, 3), np.int16))
    r = cli("run", model, "-i", tmp_path / "ints.npy")
    assert r.returncode == 2 and "not floating point" in r.stderr
    r = cli("run", model, "-i", tmp_path / "one.csv", "-o", tmp_path / "no" / "y.npy")
    assert r.returncode == 2 and "cannot write" in r.stderr
