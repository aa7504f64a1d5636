"""Run an ahead-of-time built step (:mod:`edgernn.aotbuild`) with numpy alone.

>>> from edgernn import aot
>>> s = aot.load("model_aot")          # no numba, no LLVM, nothing compiles
>>> y = s.step(frame)

This module imports numpy and the standard library only.  The image's memory
regions are copied into fresh 64-byte aligned buffers, and the address table is
rebased onto them; the extension module then runs every op of a frame in one call.

``edgernn warmup --aot model.ern`` builds into the cache (:func:`cache_dir`: keyed by
the model file's bytes, this CPU and edgernn's source), where ``edgernn run`` and
:func:`cached` find it: such a process never imports numba.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import platform
from functools import cache
from pathlib import Path

import numpy as np

from .errors import InputError, ModelFormatError


def _aligned(raw: np.ndarray) -> np.ndarray:
    buf = np.empty(raw.nbytes + 64, np.uint8)
    start = -buf.ctypes.data % 64
    out = buf[start:start + raw.nbytes]
    out[...] = raw
    return out


class AotStream:
    """One stream (or a batch fixed at build time) on an ahead-of-time built step."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        try:
            meta = json.loads((folder / "meta.json").read_text())
            image = np.load(folder / "image.npz")
            lib = next(folder.glob(f"{meta['module']}.*"))
        except (OSError, KeyError, ValueError, StopIteration) as e:
            raise ModelFormatError(f"{folder}: not an edgernn ahead-of-time build ({e}); "
                                   f"make one with python -m edgernn.aotbuild") from None
        self.meta = meta
        self._regions = [_aligned(image[f"region{i}"]) for i in range(
            sum(k.startswith("region") for k in image.files))]
        self._p = image["p"].copy()
        for slot, (region, offset) in zip(image["slots"], image["where"], strict=True):
            if region >= 0:
                self._p[slot] = self._regions[region].ctypes.data + offset
        self._state = [(self._regions[r][o:o + n], self._regions[r][o:o + n].copy())
                       for r, o, n in image["state"] if r >= 0]
        spec = importlib.util.spec_from_file_location(meta["module"], lib)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        self._step, self._step64 = mod.step, mod.step_f64
        batch = meta["batch"]
        self._shape = tuple(([batch] if batch else []) + meta["frame"])
        self._out_shape, self._out_dtype = tuple(meta["out_shape"]), np.dtype(meta["out_dtype"])
        self.frames = 0

    def step(self, frame: np.ndarray) -> np.ndarray | None:
        """One frame (float32 or float64 of the input's frame shape) -> its output (None
        on frames the model emits nothing)."""
        if type(frame) is not np.ndarray or frame.shape != self._shape:
            frame = np.asarray(frame)
            if frame.shape != self._shape or frame.dtype.kind != "f":
                raise InputError(f"expected a float frame of shape {self._shape}, got "
                                 f"{frame.dtype} {frame.shape}")
        y = np.empty(self._out_shape, self._out_dtype)
        if frame.dtype == np.float32:
            n = self._step(self._p, frame, y)
        else:
            n = self._step64(self._p, frame.astype(np.float64, copy=False), y)
        if n < 0:
            raise InputError("the frame contains NaN or Inf; the stream state is unchanged, "
                             "drop or repair the frame")
        self.frames += 1
        return y if n else None

    def reset(self) -> None:
        """Back to the initial state."""
        for live, init in self._state:
            live[...] = init
        self.frames = 0


def load(folder: str | Path) -> AotStream:
    """A stream on the ahead-of-time build in ``folder``."""
    return AotStream(folder)


@cache
def cpu_fingerprint() -> str:
    """This machine's architecture and CPU (model and feature flags from /proc/cpuinfo),
    read without LLVM: a build made with ``--cpu host`` runs only where this matches."""
    text = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read().split("\n\n")[0]  # the first CPU's block
    except OSError:
        text = platform.processor()
    keep = [ln for ln in text.splitlines() if ln.split(":")[0].strip() in
            ("model name", "flags", "Features", "CPU implementer", "CPU part", "vendor_id")]
    digest = hashlib.sha256("\n".join(keep).encode()).hexdigest()[:12]
    return f"{platform.machine()}-{digest}"


def cache_dir(model_path: str | Path) -> Path:
    """Where ``edgernn warmup --aot`` puts ``model_path``'s build: under the kernel cache
    root, one directory per (model bytes, CPU, edgernn source)."""
    from ._cache import cache_root, source_key

    model_key = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()[:16]
    root = cache_root()
    return root / "aot" / cpu_fingerprint() / f"{model_key}-{source_key()[:12]}"


def cached(model_path: str | Path) -> AotStream | None:
    """A stream on the cached build of ``model_path`` (:func:`cache_dir`), or None when
    there is none (or it cannot be loaded: then the numba path serves)."""
    folder = cache_dir(model_path)
    if not (folder / "meta.json").is_file():
        return None
    try:
        return AotStream(folder)
    except (ModelFormatError, ImportError, OSError):
        return None
