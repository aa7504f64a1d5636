"""The bundled gesture model and ``edgernn demo``: outputs vs an independent PyTorch
rebuild of the .ern's weights, accuracy on the bundled held-out recordings, CLI."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import edgernn
from edgernn.demo import bundled_model, load_samples, resolve_model, settle_frames
from edgernn.errors import EdgeRNNError
from edgernn.ir import GRU_GATES, LSTM_GATES, reorder_gates
from edgernn.weightfile import load_graph

TOL = 1e-5
# Measured (demos/gesture/README.md): 40/40 at the last frame, 0.97 after 30 frames.
MIN_ACC_LAST = 0.9
MIN_ACC_30 = 0.85


@pytest.fixture(scope="module")
def samples():
    return load_samples()


@pytest.fixture(scope="module")
def model():
    return edgernn.load(bundled_model("gesture"))


def _t(graph, name: str) -> torch.Tensor:
    return torch.from_numpy(graph.consts[name].to_float().copy())


def _torch_rnn(graph, op) -> torch.nn.Module:
    """nn.GRU / nn.LSTM holding the op's weights, gate order converted back to PyTorch's."""
    c = lambda i: graph.consts[op.inputs[i]].to_float()  # noqa: E731
    H = int(op.attr("hidden_size"))
    if op.kind == "GRU":
        assert op.attr("linear_before_reset"), "nn.GRU is linear_before_reset=1"
        rnn, src, dst = torch.nn.GRU(c(1).shape[1], H), GRU_GATES, "rzn"
        biases = (c(3), c(4))
    else:
        rnn, src, dst = torch.nn.LSTM(c(1).shape[1], H), LSTM_GATES, "ifgo"
        biases = (c(3), np.zeros(4 * H, np.float32))
    params = (c(1), c(2), *biases)  # W, R, input bias, recurrent bias
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    with torch.no_grad():
        for name, value in zip(names, params, strict=True):
            getattr(rnn, name).copy_(torch.from_numpy(reorder_gates(value, src, dst)))
    return rnn


def torch_reference(path, x: np.ndarray) -> np.ndarray:
    """Run the .ern's graph as PyTorch modules over whole sequences: x (N, T, C)."""
    graph = load_graph(path)
    env = {graph.inputs[0].name: torch.from_numpy(x).transpose(0, 1)}  # (T, N, C)
    binary = {"Sub": torch.sub, "Mul": torch.mul, "Add": torch.add, "Div": torch.div}
    for op in graph.ops:
        arg = lambda i, op=op: env[op.inputs[i]] if op.inputs[i] in env else _t(  # noqa: E731
            graph, op.inputs[i])
        if op.kind == "Binary":
            y = binary[op.attr("fn")](arg(0), arg(1))
        elif op.kind in ("GRU", "LSTM"):
            assert len([i for i in op.inputs if i]) <= 5, "no peephole/projection/h0 expected"
            y = _torch_rnn(graph, op)(arg(0))[0]
        elif op.kind == "Dense":
            y = torch.nn.functional.linear(arg(0), arg(1), arg(2))
        elif op.kind == "Softmax":
            y = torch.softmax(arg(0), dim=op.attr("axis"))
        elif op.kind == "Identity":
            y = arg(0)
        else:
            raise AssertionError(f"the reference does not know {op.kind}")
        env[op.outputs[0]] = y
    return env[graph.outputs[0]].detach().transpose(0, 1).numpy()


def test_bundled_files(samples, model):
    x, y = samples["x"], samples["y"]
    assert x.shape == (40, 100, 6) and x.dtype == np.float32 and np.isfinite(x).all()
    assert y.shape == (40,) and set(y.tolist()) == {0, 1, 2, 3}
    assert np.bincount(y).tolist() == [10] * 4
    assert bundled_model("gesture").stat().st_size < 64 * 1024
    assert (bundled_model("gesture").parent / "gesture_samples.npz").stat().st_size < 150 * 1024
    assert model.inputs == {"imu": (6,)} and list(model.outputs.values()) == [(4,)]
    meta = model.metadata
    assert model.labels == [str(v) for v in samples["labels"]]
    assert meta["sample_rate_hz"] == 10 and len(meta["channels"]) == 6
    assert "BasicMotions" in meta["source"]


def test_streamed_outputs_match_torch_rebuild(samples, model):
    x = samples["x"]
    want = torch_reference(bundled_model("gesture"), x)
    got = np.empty_like(want)
    for n, rec in enumerate(x):
        s = model.stream()
        for t, frame in enumerate(rec):
            got[n, t] = s.step(frame)
    assert np.abs(got - want).max() <= TOL
    batch = model.streams(len(x)).run(np.ascontiguousarray(x.transpose(1, 0, 2)))
    assert np.abs(batch.transpose(1, 0, 2) - want).max() <= TOL
    np.testing.assert_allclose(want.sum(axis=-1), 1.0, atol=1e-5)


def test_accuracy_on_held_out_recordings(samples, model):
    probs = model.streams(40).run(np.ascontiguousarray(samples["x"].transpose(1, 0, 2)))
    pred = probs.argmax(axis=-1).T  # (N, T)
    y = samples["y"]
    assert (pred[:, -1] == y).mean() >= MIN_ACC_LAST
    assert (pred[:, 29] == y).mean() >= MIN_ACC_30  # a streaming classifier: early too


def test_settle_frames():
    pred = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 1], [2, 2, 1, 1]])
    assert settle_frames(pred).tolist() == [1, 2, 4, 3]


def test_resolve_model_names(tmp_path):
    assert resolve_model("gesture") == bundled_model("gesture")
    f = tmp_path / "gesture"
    f.write_bytes(b"")
    assert resolve_model(str(f)) == str(f)  # an existing file wins over a bundled name
    with pytest.raises(EdgeRNNError, match="bundled"):
        resolve_model("no_such_model")


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgernn.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_demo_command():
    r = _cli("demo")
    assert r.returncode == 0, r.stderr
    m = re.search(r"^accuracy\s+(\d+)/(\d+) = ", r.stdout, re.M)
    assert m, r.stdout
    assert int(m[2]) == 40 and int(m[1]) / 40 >= MIN_ACC_LAST
    assert re.search(r"^latency\s+step\(\): [\d.]+ µs per frame", r.stdout, re.M)


def test_demo_options(tmp_path):
    r = _cli("demo", "--limit", "4", "--model", str(bundled_model("gesture")))
    assert r.returncode == 0, r.stderr
    rows = re.findall(r"^\s*\d+  (\w+)\s+(\w+)", r.stdout, re.M)
    assert [t for t, _ in rows] == ["Standing", "Running", "Walking", "Badminton"]
    assert re.search(r"^accuracy\s+\d/4 = ", r.stdout, re.M)
    bad = _cli("demo", "--model", str(tmp_path / "missing.ern"))
    assert bad.returncode == 2 and "error" in bad.stderr and "Traceback" not in bad.stderr


def test_run_bundled_model_by_name(tmp_path, samples, model):
    rec = samples["x"][1]  # a Running recording
    csv = tmp_path / "rec.csv"
    np.savetxt(csv, rec, delimiter=",", header="ax,ay,az,gx,gy,gz", comments="", fmt="%.9g")
    r = _cli("run", "gesture", "--input", str(csv), "--every", "33")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[-2].split()[1] == model.labels[samples["y"][1]]
    out = tmp_path / "probs.npy"
    assert _cli("run", "gesture", "-i", str(csv), "-o", str(out)).returncode == 0
    np.testing.assert_allclose(np.load(out), model.run(rec), atol=1e-6, rtol=0)
    r = _cli("run", "no_such_model", "-i", str(csv))
    assert r.returncode == 2 and "no bundled model" in r.stderr


def test_demo_counts_one_recording_in_the_singular():
    r = _cli("demo", "--limit", "1")
    assert r.returncode == 0, r.stderr
    assert "recordings 1 held-out BasicMotions test recording, 100 frames each" in r.stdout
    assert "1 stream batched" in r.stdout and "1 streams" not in r.stdout
