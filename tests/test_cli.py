"""The edgernn command as a user runs it: real subprocesses, real files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import edgernn
from edgernn.builder import GraphBuilder


def cli(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "edgernn.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    rng = np.random.default_rng(0)
    b = GraphBuilder()
    x = b.input("features", (6,))
    h = b.lstm(x, rng.standard_normal((32, 6)), rng.standard_normal((32, 8)) * 0.3)
    b.output(b.softmax(b.dense(h, rng.standard_normal((3, 8)))), "probs")
    path = tmp_path_factory.mktemp("cli") / "kws.ern"
    edgernn.save(b.build(labels=["yes", "no", "up"]), path)
    return path


def test_version():
    out = cli("--version", check=True).stdout
    assert out.strip() == f"edgernn {edgernn.__version__}"


def test_info_reports_parameters_state_and_macs(model_path):
    out = cli("info", model_path, check=True).stdout
    assert "LSTM" in out and "Dense" in out
    assert "parameters   472" in out  # 32*6 + 32*8 + 3*8, no biases
    assert "MACs/frame   472" in out  # 32*(6+8) + 3*8
    assert "64 B per stream" in out  # h (8) + c (8) float32


def test_run_npy_and_csv_match_the_python_api(model_path, tmp_path):
    x = np.random.default_rng(1).standard_normal((12, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", header="a,b,c,d,e,f", comments="")
    want = edgernn.load(model_path).stream().run(x)
    cli("run", model_path, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy",
        check=True)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-6)
    cli("run", model_path, "-i", tmp_path / "x.csv", "-o", tmp_path / "y.csv", check=True)
    np.testing.assert_allclose(np.loadtxt(tmp_path / "y.csv", delimiter=","), want, atol=1e-5)
    printed = cli("run", model_path, "-i", tmp_path / "x.npy", check=True).stdout.splitlines()
    labels = ["yes", "no", "up"]
    assert [line.split()[1] for line in printed] == [labels[k] for k in want.argmax(1)]


@pytest.mark.parametrize("corrupt", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_model_clear_error_no_traceback(model_path, tmp_path, corrupt):
    raw = bytearray(model_path.read_bytes())
    if corrupt == "truncate":
        raw = raw[: len(raw) // 2]
    elif corrupt == "flip":
        raw[len(raw) - 10] ^= 0x55
    elif corrupt == "garbage":
        raw = bytearray(b"PK\x03\x04 this is a zip, not a model" * 4)
    else:
        raw = bytearray()
    bad = tmp_path / "bad.ern"
    bad.write_bytes(bytes(raw))
    for args in (("info", bad), ("run", bad, "-i", bad)):
        proc = cli(*args)
        assert proc.returncode == 2
        assert proc.stderr.startswith("edgernn: error: ")
        assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


@pytest.mark.parametrize("frames,needle", [
    (np.zeros((4, 5), np.float32), "expected frames of shape (T, 6)"),
    (np.full((4, 6), np.nan, np.float32), "NaN or Inf"),
])
def test_bad_input_file_clear_error(model_path, tmp_path, frames, needle):
    np.save(tmp_path / "f.npy", frames)
    proc = cli("run", model_path, "-i", tmp_path / "f.npy")
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr


def test_missing_files_clear_error(model_path, tmp_path):
    for args in (("info", tmp_path / "none.ern"), ("run", model_path, "-i", tmp_path / "no.npy")):
        proc = cli(*args)
        assert proc.returncode == 2 and "no such file" in proc.stderr


def test_warmup_compiles_every_entry_kernel(tmp_path):
    out = cli("warmup", check=True).stdout
    assert int(out.split()[0]) >= 14  # every entry kernel at least once
