"""A numba cache filled on a Pi 5 (Cortex-A76) never runs on a Pi 4 (Cortex-A72).

Each case starts aarch64 processes under qemu with their own ``QEMU_CPU`` (the CPU
emulated: it traps what that CPU lacks) and ``NUMBA_CPU_NAME`` (the CPU numba compiles
for; a real Pi detects its own, qemu-user cannot).  The model's output is checked
against float64 numpy each time.  The control shows that A76 code on the emulated A72
does die with SIGILL, so the other cases would catch it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(platform.machine() != "aarch64",
                       reason="aarch64 only: bash tests/arm/run.sh runs it under qemu"),
    pytest.mark.arm_cross_cpu,
]
A72, A76 = "cortex-a72", "cortex-a76"
A76_ONLY = ["dotprod", "fullfp16", "lse", "rcpc", "rdm"]  # Armv8.2 features a Pi 4 lacks

MODEL = """
import json, numba, numpy as np
import edgernn
from edgernn.builder import GraphBuilder
from edgernn.kernels import CACHE_DIR
rng = np.random.default_rng(7)
w, b = rng.standard_normal((6, 5)).astype(np.float32), rng.standard_normal(6).astype(np.float32)
x = rng.standard_normal((4, 5)).astype(np.float32)
g = GraphBuilder(); i = g.input("x", (5,)); g.output(g.tanh(g.dense(i, w, b)), "y")
y = edgernn.Model(g.build()).stream().run(x)
want = np.tanh(x.astype(np.float64) @ w.T.astype(np.float64) + b)
print(json.dumps({"cache": CACHE_DIR, "cpu": numba.config.CPU_NAME,
                  "err": float(np.max(np.abs(y - want)))}))
"""

# numba alone, no edgernn: an int8 dot that compiles to sdot for a Cortex-A76
BARE_NUMBA = """
import numpy as np, numba
@numba.njit(cache=True)
def dot(w, x):
    acc = np.int32(0)
    for k in range(w.shape[0]):
        acc = np.int32(acc + np.int32(w[k]) * np.int32(x[k]))
    return acc
a = np.arange(64, dtype=np.int8)
print(dot(a, a))
"""

# numba builds its target before edgernn can check it: edgernn must refuse, clearly
TOO_LATE = """
import numba
numba.njit(lambda v: v + 1)   # the first njit creates numba's CPU target (A76 here)
import edgernn.kernels
"""


def run(code: str, qemu_cpu: str, numba_cpu: str, cache: Path) -> subprocess.CompletedProcess:
    """Run ``code`` as a script file (numba caches only functions from files; written once,
    as its modification time is part of numba's cache key)."""
    script = cache.parent / f"script-{zlib.crc32(code.encode()):08x}.py"
    if not script.exists():
        script.write_text(code)
    env = {**os.environ, "QEMU_CPU": qemu_cpu, "NUMBA_CPU_NAME": numba_cpu,
           "EDGERNN_CACHE_DIR": str(cache), "NUMBA_CACHE_DIR": str(cache)}
    env.pop("NUMBA_CPU_FEATURES", None)
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=900)


def model(qemu_cpu: str, numba_cpu: str, cache: Path) -> tuple[dict, str]:
    proc = run(MODEL, qemu_cpu, numba_cpu, cache)
    assert proc.returncode != -signal.SIGILL, f"SIGILL:\n{proc.stderr[-2000:]}"
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["err"] < 1e-5, got
    return got, proc.stderr


def snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in d.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def pi5_cache(tmp_path_factory) -> Path:
    """A cache root filled by a Pi 5 (emulated Cortex-A76 compiling for itself)."""
    root = tmp_path_factory.mktemp("pi5") / "cache"
    got, _ = model(A76, A76, root)
    assert Path(got["cache"]).parent == root and A76 in Path(got["cache"]).name
    assert any(Path(got["cache"]).rglob("*.nbi"))
    return root


def test_pi5_cache_on_pi4_is_not_loaded(pi5_cache, tmp_path):
    root = tmp_path / "cache"
    shutil.copytree(pi5_cache, root)          # the SD card moved from a Pi 5 to a Pi 4
    before = snapshot(root)
    got, _ = model(A72, A72, root)
    mine = Path(got["cache"])
    assert mine.parent == root and A72 in mine.name, got
    assert any(mine.rglob("*.nbi")), "the Pi 4 did not cache its own kernels"
    after = snapshot(root)
    assert {k: v for k, v in after.items() if k in before} == before, "A76 entries touched"


def test_pi5_setting_on_pi4_compiles_for_the_pi4(pi5_cache, tmp_path):
    root = tmp_path / "cache"
    shutil.copytree(pi5_cache, root)          # and NUMBA_CPU_NAME=cortex-a76 came along
    got, stderr = model(A72, A76, root)
    assert "compiles instructions this CPU does not have" in stderr, stderr
    assert f"({', '.join(A76_ONLY)})" in stderr, stderr
    assert got["cpu"] is None and A76 not in Path(got["cache"]).name, got


def test_control_a76_code_on_a72_dies_with_sigill(tmp_path):
    """Without edgernn's check: numba's A76 code on the emulated A72 is trapped."""
    warm = run(BARE_NUMBA, A76, A76, tmp_path / "cache")
    assert warm.returncode == 0, warm.stderr[-2000:]
    assert warm.stdout.split() == [str(sum(k * k for k in range(64)))]
    for cache in ("cache", "empty"):  # loaded from the A76 cache, or compiled afresh
        proc = run(BARE_NUMBA, A72, A76, tmp_path / cache)
        assert proc.returncode == -signal.SIGILL, (proc.returncode, proc.stderr[-2000:])


def test_target_fixed_before_edgernn_is_refused(tmp_path):
    proc = run(TOO_LATE, A72, A76, tmp_path / "cache")
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert "EdgeRNNError: NUMBA_CPU_NAME=cortex-a76 compiles instructions" in proc.stderr
    assert "Unset NUMBA_CPU_NAME" in proc.stderr
