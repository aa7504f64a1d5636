"""The numba cache directory: chosen before kernels load, one per compile target, never a
crash when unwritable.  (The aarch64 side, a Pi 5 cache on a Pi 4 under qemu, is in
tests/arm/test_cpu_cache.py.)"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from edgernn import _cache

SCRIPT = """
import json, numba, numpy as np, edgernn, llvmlite.binding as ll
from edgernn.builder import GraphBuilder
from edgernn.kernels import CACHE_DIR
b = GraphBuilder(); x = b.input("x", (3,)); b.output(b.relu(x), "y")
y = edgernn.Model(b.build()).stream().step(np.array([-1.0, 0.0, 2.0], np.float32))
assert y.tolist() == [0.0, 0.0, 2.0], y
print(json.dumps({"cache": CACHE_DIR, "cpu": numba.config.CPU_NAME or ll.get_host_cpu_name()}))
"""


def run(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("EDGERNN_CACHE_DIR", "NUMBA_CACHE_DIR", "NUMBA_CPU_NAME",
                        "NUMBA_CPU_FEATURES")}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)


def cache_of(proc: subprocess.CompletedProcess) -> tuple[str, str]:
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return got["cache"], got["cpu"]


def test_edgernn_cache_dir_is_the_root_of_a_per_target_directory(tmp_path):
    cache, cpu = cache_of(run({"EDGERNN_CACHE_DIR": str(tmp_path / "c")}))
    assert os.path.dirname(cache) == str(tmp_path / "c")
    name = os.path.basename(cache)
    assert name.startswith(f"{platform.machine()}-{cpu}-") and len(name.split("-")[-1]) == 12
    assert any((tmp_path / "c" / name).rglob("*.nbi")), "kernels were not cached there"
    outside = [p for p in (tmp_path / "c").rglob("*.nbi") if name not in p.parts]
    assert not outside, "kernels cached outside the target's directory"


def test_a_cold_cache_is_said_once_and_a_warm_one_is_silent(tmp_path):
    env = {"EDGERNN_CACHE_DIR": str(tmp_path / "c")}
    cold = run(env)
    assert cold.returncode == 0, cold.stderr
    # several kernels compiled, said once, with the way to avoid it
    notices = [ln for ln in cold.stderr.splitlines() if "compiling kernels" in ln]
    assert len(notices) == 1, cold.stderr
    assert str(tmp_path / "c") in notices[0] and "edgernn warmup" in notices[0]
    warm = run(env)
    assert warm.returncode == 0 and warm.stderr == "", warm.stderr


def test_compiling_someone_elses_numba_function_says_nothing(tmp_path):
    script = ("import numba, edgernn.kernels\n"
              "from edgernn._cache import COLD_NOTICE\n"
              "f = numba.njit(lambda x: x + 1)\n"
              "assert f(1) == 2 and COLD_NOTICE.compiles == 0\n")
    env = {**os.environ, "EDGERNN_CACHE_DIR": str(tmp_path / "c")}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_another_build_of_the_runtime_gets_another_directory(tmp_path, monkeypatch):
    """A kernel cached by another build (other callee source) must never be loaded."""
    cpu, features = _cache.compile_target()
    here = _cache.target_key(cpu, f"{features}|{_cache.source_key()}")
    other = _cache.target_key(cpu, f"{features}|{'0' * 40}")
    assert here != other and here.startswith(f"{platform.machine()}-{cpu}-")


@pytest.mark.skipif(platform.machine() != "x86_64", reason="names an x86-64 CPU")
def test_each_cpu_target_gets_its_own_directory(tmp_path):
    root = {"EDGERNN_CACHE_DIR": str(tmp_path)}
    host, _ = cache_of(run(root))
    base, cpu = cache_of(run({**root, "NUMBA_CPU_NAME": "x86-64"}))  # runs on every x86-64
    plain, _ = cache_of(run({**root, "NUMBA_CPU_NAME": "x86-64", "NUMBA_CPU_FEATURES": ""}))
    assert cpu == "x86-64" and "-x86-64-" in os.path.basename(base)
    assert len({host, base, plain}) == 3, "targets share a cache directory"
    for d in (host, base, plain):
        assert any(Path(d).rglob("*.nbi")), f"nothing cached in {d}"


def test_unwritable_locations_fall_back_without_crashing(tmp_path):
    # /proc refuses new files even to root: every preferred location is unwritable
    cache, _ = cache_of(run({"EDGERNN_CACHE_DIR": "/proc/edgernn-x",
                             "XDG_CACHE_HOME": "/proc/xdg-x", "HOME": "/proc/home-x",
                             "TMPDIR": str(tmp_path)}))
    assert cache.startswith(str(tmp_path))


# HWCAP bits of arch/arm64/include/uapi/asm/hwcap.h, by the names /proc/cpuinfo prints
KERNEL_HWCAP = {"fp": 0, "asimd": 1, "evtstrm": 2, "aes": 3, "pmull": 4, "sha1": 5, "sha2": 6,
                "crc32": 7, "atomics": 8, "fphp": 9, "asimdhp": 10, "cpuid": 11,
                "asimdrdm": 12, "jscvt": 13, "fcma": 14, "lrcpc": 15, "dcpop": 16,
                "asimddp": 20, "sve": 22, "asimdfhm": 23}
# "Features" of /proc/cpuinfo on a Raspberry Pi 4 (BCM2711) and a Pi 5 (BCM2712)
PI4 = "fp asimd evtstrm crc32 cpuid"
PI5 = ("fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
       "dcpop asimddp")


def hwcap(features: str) -> int:
    return sum(1 << KERNEL_HWCAP[f] for f in features.split())


@pytest.mark.parametrize("cpu, features, board, missing", [
    ("cortex-a76", "", PI4, ["dotprod", "fullfp16", "lse", "rcpc", "rdm"]),
    ("cortex-a76", "", PI5, []),
    ("cortex-a72", "", PI4, []),
    ("cortex-a72", "", PI5, []),
    ("generic", "", PI4, []),
    ("cortex-a72", "+neon,+lse,-aes", PI4, ["lse"]),           # features named explicitly
    ("cortex-a76", "-lse,-dotprod,-rdm,-rcpc,-fullfp16", PI4, []),
    ("cortex-a53", "+dotprod", PI5, []),
    ("some-future-core", "", PI4, None),                     # unknown: nothing to check
])
def test_missing_features_of_a_target_on_a_board(cpu, features, board, missing):
    assert _cache.missing_features(cpu, features, hwcap(board), 0) == missing


def test_target_key_separates_cpu_names_and_features():
    keys = {_cache.target_key(c, f, "aarch64") for c in ("cortex-a72", "cortex-a76")
            for f in ("", "+lse")}
    assert len(keys) == 4
    assert _cache.target_key("cortex-a72", "", "aarch64").startswith("aarch64-cortex-a72-")
    assert "/" not in _cache.target_key("a/b c", "", "x")
