"""Run an ahead-of-time built step (:mod:`edgernn.aotbuild`) with numpy alone.

>>> from edgernn import aot
>>> s = aot.load("model_aot")          # no numba, no LLVM, nothing compiles
>>> y = s.step(frame)

This module imports numpy and the standard library only.  The image's memory
regions are copied into fresh 64-byte aligned buffers, and the address table is
rebased onto them; the extension module then runs every op of a frame in one call.
"""

from __future__ import annotations

import importlib.util
import json
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
