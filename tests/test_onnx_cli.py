"""``edgernn convert`` end to end in a subprocess: exit codes, messages, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgernn

FIXTURES = Path(__file__).parent / "fixtures" / "onnx"


def convert_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgernn.cli", "convert", *args],
                          capture_output=True, text=True, timeout=300)


def test_convert_and_verify_writes_a_loadable_model(tmp_path):
    dst = tmp_path / "crnn.ern"
    r = convert_cli(str(FIXTURES / "torch_crnn_op13.onnx"), "-o", str(dst), "--verify",
                    "--tolerance", "1e-5", "--frames", "120")
    assert r.returncode == 0, r.stderr
    assert "max abs error" in r.stdout and "ok" in r.stdout
    m = edgernn.load(dst)
    assert m.inputs == {"x": (8,)} and m.outputs == {"y": (4,)}
    y = m.stream().run(np.zeros((5, 8), np.float32))
    assert y.shape == (5, 4)


@pytest.mark.parametrize(("fixture", "nodes"), [
    ("onnx_lstm_bidirectional.onnx", ["bilstm"]),
    ("onnx_unsupported_ops.onnx", ["running_sum", "hardmax_feat"]),
    ("torch_refused_bigru_mean_op17.onnx", ["/gru/GRU", "/ReduceMean"]),
])
def test_refused_models_exit_nonzero_without_traceback(tmp_path, fixture, nodes):
    dst = tmp_path / "m.ern"
    r = convert_cli(str(FIXTURES / fixture), "-o", str(dst))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("edgernn: error:")
    for n in nodes:
        assert n in r.stderr
    assert not dst.exists()


def test_bad_arguments_exit_2(tmp_path):
    src = str(FIXTURES / "torch_step_cell_op13.onnx")
    for args in (["--state", "nonsense"], ["--state", "state=missing"], ["--axes", "x=T"]):
        r = convert_cli(src, "-o", str(tmp_path / "m.ern"), *args)
        assert r.returncode == 2, args
        assert "Traceback" not in r.stderr
    r = convert_cli(str(tmp_path / "missing.onnx"))
    assert r.returncode == 2 and "no such file" in r.stderr


def test_failed_verification_exits_1_and_writes_nothing(tmp_path):
    dst = tmp_path / "m.ern"
    r = convert_cli(str(FIXTURES / "torch_lstm1_op13.onnx"), "-o", str(dst), "--verify",
                    "--tolerance", "0", "--frames", "20")
    assert r.returncode == 1 and "verification failed" in r.stderr
    assert "Traceback" not in r.stderr and not dst.exists()


def test_labels_and_metadata_are_stored_and_used(tmp_path):
    dst = tmp_path / "crnn.ern"
    (tmp_path / "labels.txt").write_text("yes\nno\nup\ndown\n")
    r = convert_cli(str(FIXTURES / "torch_crnn_op13.onnx"), "-o", str(dst),
                    "--labels", f"@{tmp_path / 'labels.txt'}", "--meta", "task=kws")
    assert r.returncode == 0, r.stderr
    m = edgernn.load(dst)
    assert m.labels == ["yes", "no", "up", "down"] and m.metadata["task"] == "kws"
    x = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    run = subprocess.run([sys.executable, "-m", "edgernn.cli", "run", str(dst), "-i",
                          str(tmp_path / "x.npy")], capture_output=True, text=True, timeout=300)
    want = [m.labels[k] for k in m.stream().run(x).argmax(1)]
    assert [line.split()[1] for line in run.stdout.splitlines()] == want
    r = convert_cli(str(FIXTURES / "torch_crnn_op13.onnx"), "-o", str(dst), "--labels", "a,b")
    assert r.returncode == 0 and "2 labels given but output 'y' has 4 values" in r.stdout
