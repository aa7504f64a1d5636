"""The instructions numba emits for a Pi 4 (Cortex-A72) and a Pi 5 (Cortex-A76).

Every case of :data:`asm_cases.CASES` is compiled by a fresh aarch64 process per CPU
(``QEMU_CPU`` and ``NUMBA_CPU_NAME`` both set to it, an empty cache so that numba really
compiles), whatever CPU this run emulates; the assembly is kept in ``$EDGERNN_ARM_OUT``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(platform.machine() != "aarch64",
                       reason="aarch64 only: bash tests/arm/run.sh runs it under qemu"),
    pytest.mark.arm_cross_cpu,
]

HERE = Path(__file__).parent
if platform.machine() == "aarch64":
    from asm_cases import CASES, CPUS
else:  # collected on the host: the ids only
    CASES, CPUS = [], ()


@pytest.fixture(scope="module")
def assembly(tmp_path_factory) -> dict[str, str]:
    """{case id: assembly} for every CPU of the table."""
    out: dict[str, str] = {}
    keep = Path(os.environ.get("EDGERNN_ARM_OUT") or tmp_path_factory.mktemp("out")) / "asm"
    keep.mkdir(parents=True, exist_ok=True)
    procs = {}
    for cpu in CPUS:  # the CPUs compile at once (the other CPU's run is over by then)
        tmp = tmp_path_factory.mktemp(cpu)
        env = {**os.environ, "QEMU_CPU": cpu, "NUMBA_CPU_NAME": cpu,
               "EDGERNN_CACHE_DIR": str(tmp / "cache")}
        env.pop("NUMBA_CPU_FEATURES", None)
        procs[cpu] = tmp, subprocess.Popen(
            [sys.executable, str(HERE / "asm_cases.py"), cpu, str(tmp / "asm.json")], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for cpu, (tmp, proc) in procs.items():
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"compiling for {cpu}: exit {proc.returncode}\n{err}"
        got = json.loads((tmp / "asm.json").read_text())
        for case_id, asm in got.items():
            (keep / (re.sub(r"[^\w.-]+", "_", case_id) + ".s")).write_text(asm)
        out.update(got)
    return out


def mnemonics(asm: str) -> Counter:
    return Counter(m.group(1) for m in re.finditer(r"^\s+([a-z][a-z0-9.]*)\s", asm, re.M))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_kernel_assembly(case, assembly):
    asm = assembly[case.id]
    seen = mnemonics(asm)
    assert sum(seen.values()) > 20, f"{case.id}: no real assembly:\n{asm[:500]}"
    vector = {k: v for k, v in seen.items() if k[0] in "fsu" or k in ("mul", "mla", "addv")}
    for pattern in case.require:
        assert re.search(pattern, asm), (
            f"{case.id} ({case.kernel}): no /{pattern}/ in the assembly; arithmetic seen: {vector}")
    for pattern in case.forbid:
        hit = re.search(pattern, asm)
        assert not hit, (f"{case.id} ({case.kernel}): {hit.group(0).strip()!r} "
                         f"matches /{pattern}/: a {case.cpu} would die with SIGILL")
