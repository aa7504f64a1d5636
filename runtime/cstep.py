"""A stream's ``step(frame)`` entered from C: ~0.8 µs less per frame than numba's entry.

Calling a jitted function from Python costs numba's unboxing (a MemInfo per array
argument) and ``Stream.step`` adds its checks and the output's allocation: measured
here ~0.8 µs per frame, as long as the whole step of a small model.  ``_cstep.c`` is
a tiny CPython extension whose ``Stepper`` object does the common case itself (one
float32 C-contiguous frame of the expected shape: allocate the output, call the
fused step's numba ``cfunc`` by address) and hands everything else to the stream's
Python step, so behaviour and errors stay those of the Python path.

The extension is compiled once per machine, Python and source into the kernel cache
with the C compiler Python was built with (``sysconfig``), at the first stream that
can use it.  Without a compiler or Python's headers (``python3-dev``), or with
``EDGERNN_CSTEP=0``, streams keep numba's entry: same outputs, slower calls.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

_SOURCE = Path(__file__).with_name("_cstep.c")


def enabled() -> bool:
    """False when ``EDGERNN_CSTEP=0`` asks for numba's entry."""
    return os.environ.get("EDGERNN_CSTEP", "1") != "0"


def _build_dir() -> Path:
    from ._cache import cache_root

    key = hashlib.sha256(_SOURCE.read_bytes() + sys.version.encode() + sysconfig.get_platform()
                         .encode() + np.__version__.encode()).hexdigest()[:16]
    return cache_root() / "cstep" / key


def _compiler() -> list[str] | None:
    """The C compiler command, if it and Python's headers are here (two stat calls: a
    machine without them pays nothing per process)."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    if not cc or shutil.which(cc[0]) is None:
        return None
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return None
    return cc


def _compile(out: Path) -> None:
    """Compile ``_cstep.c`` into the extension module ``out`` (raises on failure)."""
    cc = _compiler()
    if cc is None:
        raise FileNotFoundError("no C compiler or no Python headers (python3-dev)")
    includes = [sysconfig.get_paths()["include"], np.get_include()]
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    cmd = [*cc, "-O2", "-shared", "-fPIC", *(f"-I{i}" for i in includes), str(_SOURCE),
           "-o", str(tmp)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    os.replace(tmp, out)  # atomic: another process may be loading it


@cache
def module() -> Any | None:
    """The compiled extension (built on first use), or None where it cannot be built."""
    if not enabled():
        return None
    folder = _build_dir()
    path = folder / f"_cstep{sysconfig.get_config_var('EXT_SUFFIX') or '.so'}"
    failed = folder / "failed"  # a compiler that failed once is not retried per process
    try:
        if not path.exists():
            if failed.exists():
                return None
            folder.mkdir(parents=True, exist_ok=True)
            try:
                _compile(path)
            except subprocess.CalledProcessError as e:
                failed.write_bytes(e.stderr or b"")
                raise
        loader = importlib.machinery.ExtensionFileLoader("edgernn._cstep", str(path))
        spec = importlib.util.spec_from_file_location("edgernn._cstep", path, loader=loader)
        mod = importlib.util.module_from_spec(spec)
        loader.exec_module(mod)
        return mod
    except (OSError, subprocess.SubprocessError, ImportError):
        return None  # no compiler / headers, or a read-only cache: numba's entry serves


def stepper(fn_address: int, p: np.ndarray, count: np.ndarray, frame_shape: tuple,
            out_shape: tuple, out_dtype: np.dtype, fallback: Callable) -> Callable | None:
    """A C ``step(frame)``: the compiled step at ``fn_address`` for float32 C-contiguous
    frames of ``frame_shape``, ``fallback`` for any other call; it adds each frame it
    steps to ``count[0]``.  None where the extension is not available."""
    mod = module()
    if mod is None:
        return None
    return mod.make(fn_address, p, count, tuple(frame_shape), tuple(out_shape),
                    np.dtype(out_dtype).num, fallback)
