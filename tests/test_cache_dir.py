"""The numba cache directory: chosen before kernels load, never a crash when unwritable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import numpy as np, edgernn
from edgernn.builder import GraphBuilder
from edgernn.kernels import CACHE_DIR
b = GraphBuilder(); x = b.input("x", (3,)); b.output(b.relu(x), "y")
y = edgernn.Model(b.build()).stream().step(np.array([-1.0, 0.0, 2.0], np.float32))
assert y.tolist() == [0.0, 0.0, 2.0], y
print(CACHE_DIR)
"""


def run(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("EDGERNN_CACHE_DIR",
                                                            "NUMBA_CACHE_DIR")}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)


def test_edgernn_cache_dir_is_used(tmp_path):
    proc = run({"EDGERNN_CACHE_DIR": str(tmp_path / "c")})
    assert proc.returncode == 0, proc.stderr
    used = Path(proc.stdout.strip())
    assert used.parent == tmp_path / "c" and used.name.startswith("build-")
    assert any((tmp_path / "c").rglob("*.nbi")), "kernels were not cached there"
    # a cold cache: several kernels compiled, said once, with the way to avoid it
    notices = [ln for ln in proc.stderr.splitlines() if "compiling kernels" in ln]
    assert len(notices) == 1, proc.stderr
    assert str(tmp_path / "c") in notices[0] and "edgernn warmup" in notices[0]
    warm = run({"EDGERNN_CACHE_DIR": str(tmp_path / "c")})  # now warm: silent
    assert warm.returncode == 0 and warm.stderr == "", warm.stderr


def test_unwritable_locations_fall_back_without_crashing(tmp_path):
    # /proc refuses new files even to root: every preferred location is unwritable
    proc = run({"EDGERNN_CACHE_DIR": "/proc/edgernn-x", "XDG_CACHE_HOME": "/proc/xdg-x",
                "HOME": "/proc/home-x", "TMPDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(tmp_path))


def test_compiling_someone_elses_numba_function_says_nothing(tmp_path):
    script = ("import numba, edgernn.kernels\n"
              "from edgernn._cache import COLD_NOTICE\n"
              "f = numba.njit(lambda x: x + 1)\n"
              "assert f(1) == 2 and COLD_NOTICE.compiles == 0\n")
    env = {**os.environ, "EDGERNN_CACHE_DIR": str(tmp_path / "c")}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
