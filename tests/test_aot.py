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
