"""Every benchmark script runs in its ``--quick`` mode (a few iterations, writes nothing),
so none can crash unnoticed between the times someone measures with it.

A script is any ``benchmarks/*.py`` with a ``__main__`` block; a new one without
``--quick`` fails here (argparse refuses the flag).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if "__main__" in p.read_text())
NEEDS = {"bench_step.py": ("torch", "onnx", "onnxruntime"),
         "bench_memory.py": ("torch", "onnx", "onnxruntime"),
         "profile_step.py": ("torch",)}


def snapshot() -> dict[str, bytes]:
    """Every file under benchmarks/ (results.md, weights, fixtures) and its content."""
    return {str(p.relative_to(BENCH)): p.read_bytes() for p in BENCH.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def test_the_scripts_are_found():
    assert {"bench_step.py", "bench_memory.py", "profile_step.py", "make_tflite.py"} <= set(
        SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_quick_mode_runs_and_writes_nothing(script, tmp_path):
    for module in NEEDS.get(script, ()):
        pytest.importorskip(module)
    before = snapshot()
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run([sys.executable, str(BENCH / script), "--quick"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{script} --quick failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    assert r.stdout.strip(), f"{script} --quick printed nothing"
    assert snapshot() == before, f"{script} --quick changed files under benchmarks/"
    assert list(tmp_path.iterdir()) == [], f"{script} --quick left files in its cwd"
