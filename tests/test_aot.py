"""Ahead-of-time builds (``python -m edgernn.aotbuild``) run with numpy alone and give
the compiled stream's outputs (which tests/test_stream.py checks against PyTorch)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

import edgernn
from edgernn.builder import GraphBuilder

f32 = np.float32

RUNNER = """
import sys, numpy as np
from edgernn import aot
s = aot.load(sys.argv[1])
x = np.load(sys.argv[2])
ys = [s.step(f) for f in x]
s.reset()
again = s.step(x[0])
np.save(sys.argv[3], np.stack(ys + [again]))
assert "numba" not in sys.modules and "llvmlite" not in sys.modules, "numba was imported"
"""


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="numba.pycc needs a C compiler")
def test_aot_build_runs_without_numba_and_matches_the_stream(tmp_path):
    rng = np.random.default_rng(0)
    r = lambda *s: (rng.standard_normal(s) * 0.4).astype(f32)  # noqa: E731
    b = GraphBuilder()
    h = b.lstm(b.input("x", (5,)), r(32, 5), r(32, 8), r(32))
    b.output(b.dense(h, r(3, 8), r(3)), "y")
    model = edgernn.Model(b.build())
    path = model.save(tmp_path / "m.ern")
    from edgernn.aotbuild import build

    out = build(path, tmp_path / "aot")
    x = rng.standard_normal((20, 5)).astype(f32)
    np.save(tmp_path / "x.npy", x)
    subprocess.run([sys.executable, "-c", RUNNER, str(out), str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npy")], check=True, timeout=120)
    got = np.load(tmp_path / "y.npy")
    s = model.stream()
    want = np.stack([s.step(f) for f in x])
    assert np.abs(got[:20] - want).max() <= 1e-6
    np.testing.assert_allclose(got[20], want[0], atol=1e-6)  # reset() restores the state


def test_aot_load_of_a_wrong_folder_says_what_to_do(tmp_path):
    from edgernn import aot

    with pytest.raises(edgernn.ModelFormatError, match="aotbuild"):
        aot.load(tmp_path)


def _run_cli(args: list[str], env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """``edgernn ARGS`` in a fresh process that fails if numba gets imported on the way
    (unless EDGERNN_AOT=0 asks for the numba path)."""
    import os

    code = ("import sys; from edgernn.cli import main; rc = main(sys.argv[1:]); "
            "sys.stderr.write('numba imported\\n' if 'numba' in sys.modules else ''); "
            "sys.exit(rc)")
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="numba.pycc needs a C compiler")
def test_warmup_aot_makes_edgernn_run_start_without_numba(tmp_path):
    """`edgernn warmup --aot` (its build step, in process on the warm kernel cache), then
    `edgernn run` in a fresh process: no numba, outputs equal to the float64 reference
    backend; EDGERNN_AOT=0 and a changed model file take the numba path."""
    from edgernn import cli
    from edgernn.demo import bundled_model, load_samples

    path = tmp_path / "gesture.ern"
    path.write_bytes(bundled_model("gesture").read_bytes())
    cli._build_aot("gesture", str(path))
    x = load_samples()["x"][0][:40].astype(f32)
    np.save(tmp_path / "x.npy", x)
    res = _run_cli(["run", str(path), "-i", str(tmp_path / "x.npy"), "-o",
                    str(tmp_path / "y.npy")])
    assert res.returncode == 0, res.stderr
    assert "ahead-of-time build, no numba" in res.stderr and "numba imported" not in res.stderr
    model = edgernn.load(path)
    want = model.stream(backend="reference").run(x)
    assert np.abs(np.load(tmp_path / "y.npy") - want).max() <= 1e-5
    off = _run_cli(["run", str(path), "-i", str(tmp_path / "x.npy")], {"EDGERNN_AOT": "0"})
    assert off.returncode == 0 and "model and kernels ready" in off.stderr
    graph = model.graph  # the same model with another label text: another file, no build
    meta = dict(graph.metadata, labels=[f"{v}!" for v in graph.metadata["labels"]])
    edgernn.Model(type(graph)(graph.inputs, graph.outputs, graph.ops, graph.values,
                              graph.consts, graph.states, meta)).save(path)
    stale = _run_cli(["run", str(path), "-i", str(tmp_path / "x.npy")])
    assert stale.returncode == 0 and "model and kernels ready" in stale.stderr
    assert "!" in stale.stdout


def test_warmup_aot_mistakes_are_one_line_errors(tmp_path):
    res = _run_cli(["warmup", "--aot"])
    assert res.returncode == 2 and "--aot builds the models named after it" in res.stderr
    b = GraphBuilder()
    x = b.input("x", (3,))
    b.output(b.unary("Tanh", x), "y")
    b.output(b.unary("Relu", x), "z")
    path = edgernn.Model(b.build()).save(tmp_path / "two.ern")
    from edgernn import cli

    with pytest.raises(edgernn.EdgeRNNError, match="cannot be built ahead of time.*one "
                                                   "output"):
        cli._build_aot("two.ern", str(path))
