"""The edgernn command as a user runs it: real subprocesses, real files."""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

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
    header, *printed = cli("run", model_path, "-i", tmp_path / "x.npy",
                           check=True).stdout.splitlines()
    assert header.split() == ["frame", "label", "score"]
    labels = ["yes", "no", "up"]
    assert [line.split()[1] for line in printed] == [labels[k] for k in want.argmax(1)]
    assert [int(line.split()[0]) for line in printed] == list(range(12))
    assert [float(line.split()[2]) for line in printed] == pytest.approx(want.max(1), abs=1e-4)


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


# --- output formats (-o), closed pipes, what run/warmup report -------------------------

@pytest.mark.parametrize("name", ["out.dat", "out", "out.npz", "out.json"])
def test_run_refuses_an_output_it_cannot_write_as_named(model_path, tmp_path, name):
    np.save(tmp_path / "x.npy", np.zeros((3, 6), np.float32))
    r = cli("run", model_path, "-i", tmp_path / "x.npy", "-o", tmp_path / name)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("edgernn: error: ") and ".npy" in r.stderr and ".csv" in r.stderr
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name", ["y.txt", "Y.CSV"])
def test_run_writes_text_to_text_files(model_path, tmp_path, name):
    x = np.random.default_rng(2).standard_normal((5, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    cli("run", model_path, "-i", tmp_path / "x.npy", "-o", tmp_path / name, check=True)
    text = (tmp_path / name).read_text()  # text, not NumPy's binary header
    assert not text.startswith("\x93NUMPY")
    want = edgernn.load(model_path).stream().run(x)
    np.testing.assert_allclose(np.loadtxt(tmp_path / name, delimiter=","), want, atol=1e-6)


def shell(script: str, cwd) -> subprocess.CompletedProcess:
    """A real shell pipeline; the exit code of ``edgernn`` (the first command) is the
    last line of stderr (PIPESTATUS)."""
    env_path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    return subprocess.run(["bash", "-c", f"{script}; echo \"rc=${{PIPESTATUS[0]}}\" >&2"],
                          cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": env_path})


@pytest.mark.parametrize("command", ["run model.ern -i x.npy", "info model.ern",
                                     "demo --limit 2"])
def test_a_closed_pipe_ends_quietly(model_path, tmp_path, command):
    shutil.copy(model_path, tmp_path / "model.ern")
    # 20000 rows print ~600 KB: far more than a pipe holds, so the writer must meet the
    # closed pipe (a small output could fit in the pipe before `head` exits).
    np.save(tmp_path / "x.npy", np.zeros((20000, 6), np.float32))
    r = shell(f"python -m edgernn.cli {command} | head -1", tmp_path)
    assert r.stdout.count("\n") == 1
    assert r.stderr.splitlines()[-1] == "rc=0", r.stderr
    assert "rror" not in r.stderr and "Traceback" not in r.stderr and "Broken" not in r.stderr


def test_run_reports_load_time_apart_from_time_per_frame(model_path, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((200, 6), np.float32))
    r = cli("run", model_path, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy", check=True)
    m = re.search(r"ready in (\d+) ms \((compiled now|from the cache)\); 200 frames in "
                  r"([\d.]+) ms = ([\d.]+) µs/frame", r.stderr)
    assert m, r.stderr
    assert float(m[4]) == pytest.approx(float(m[3]) * 1e3 / 200, rel=0.05, abs=0.1)
    assert float(m[3]) < float(m[1]) or float(m[1]) == 0  # loading is not in the frame time


def test_warmup_shows_progress_as_plain_lines_when_piped():
    from edgernn.warmup import entry_kernels

    r = cli("warmup", check=True)
    lines = r.stderr.splitlines()
    total = len(entry_kernels())
    assert [ln.split()[1] for ln in lines] == [f"{k}/{total}" for k in range(1, total + 1)]
    assert "\r" not in r.stderr
    assert {ln.split()[2] for ln in lines} == {k.py_func.__name__ for k in entry_kernels()}


def test_warmup_draws_a_bar_on_a_terminal():
    from edgernn.warmup import entry_kernels

    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "edgernn.cli", "warmup"], stdin=slave,
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    seen = b""
    while select.select([master], [], [], 300)[0]:  # a hung child fails below, not here
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.wait(timeout=300) == 0
    total = len(entry_kernels())
    text = seen.decode()
    assert text.count("\r") >= total and f"] {total}/{total} kernels" in text, text
    assert "#" * 20 in text and proc.stdout.read().split()[0].isdigit()
