"""Calibration data: reading it, checking it, and the value ranges it gives.

Data is streamed through the *float* model (the float64 reference backend, frame by
frame) so that recurrent state ranges are the real ones: the range of every value,
and of every LSTM cell state (``f"{op}/c"``), over every frame.  ``method="minmax"``
takes the extremes; ``"percentile"`` clips outliers at the given percentile.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from edgernn.ir import Graph

from .errors import QuantizationError

MIN_FRAMES = 20
SAMPLES = 200_000  # values kept per tensor for percentiles
Sequence = dict[str, np.ndarray]  # input name -> (T, *frame)


def _as_sequences(data, graph: Graph, what: str) -> list[Sequence]:
    names = [v.name for v in graph.inputs]
    if isinstance(data, (str, os.PathLike)):
        data = _read(Path(data), what)
    if isinstance(data, np.ndarray):
        if len(names) != 1:
            raise QuantizationError(f"{what}: the model has inputs {names}; give an .npz "
                                    f"with one array per input name")
        return [{names[0]: data}]
    if isinstance(data, Mapping):
        if set(names) <= set(data):  # one sequence, several inputs
            return [{n: np.asarray(data[n]) for n in names}]
        if len(names) == 1:  # one sequence per key
            return [{names[0]: np.asarray(v)} for v in data.values()]
        raise QuantizationError(f"{what}: keys {sorted(data)} do not name the inputs {names}")
    if isinstance(data, Iterable):
        return [s if isinstance(s, Mapping) else {names[0]: np.asarray(s)} for s in data]
    raise QuantizationError(f"{what}: expected frames (T, *frame) as .npy/.npz or arrays")


def _read(path: Path, what: str):
    if not path.exists():
        raise QuantizationError(f"{what} {path}: no such file")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise QuantizationError(f"{what} {path}: not a readable numpy file ({e})") from None
    raise QuantizationError(f"{what} {path}: expected .npy frames (T, *frame) or an .npz "
                            f"with one sequence per key")


def sequences(data, graph: Graph, what: str = "--calibrate",
              min_frames: int = MIN_FRAMES) -> list[Sequence]:
    """Validated float32 sequences ``[{input: (T, *frame)}]`` from a path, array, dict or
    list; QuantizationError names the problem (shape, NaN, too few frames)."""
    seqs = _as_sequences(data, graph, what)
    shapes = {v.name: v.shape for v in graph.inputs}
    total = 0
    for s in seqs:
        lengths = set()
        for name, a in s.items():
            a = np.asarray(a)
            if a.ndim != len(shapes[name]) + 1 or a.shape[1:] != shapes[name]:
                raise QuantizationError(f"{what}: input {name!r} needs frames of shape "
                                        f"(T, {', '.join(map(str, shapes[name]))}), got "
                                        f"{a.shape}")
            if a.dtype.kind != "f" or not np.all(np.isfinite(a)):
                raise QuantizationError(f"{what}: input {name!r} has non-finite or non-float "
                                        f"values; give float frames without NaN/Inf")
            s[name] = a.astype(np.float32)
            lengths.add(len(a))
        if len(lengths) != 1:
            raise QuantizationError(f"{what}: inputs of one sequence differ in length")
        total += lengths.pop()
    if total < min_frames:
        raise QuantizationError(f"{what}: {total} frames; calibration needs at least "
                                f"{min_frames} frames of representative input")
    return seqs


class _Range:
    """Running min/max and a uniform sample of values (for percentiles)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.lo, self.hi, self.seen, self.rng = np.inf, -np.inf, 0, rng
        self.sample = np.zeros(0)

    def add(self, a: np.ndarray) -> None:
        a = np.asarray(a, np.float64).reshape(-1)
        if not a.size:
            return
        self.lo, self.hi = min(self.lo, float(a.min())), max(self.hi, float(a.max()))
        self.seen += a.size
        keep = a if a.size <= SAMPLES else self.rng.choice(a, SAMPLES, replace=False)
        self.sample = np.concatenate([self.sample, keep])
        if self.sample.size > SAMPLES:
            self.sample = self.rng.choice(self.sample, SAMPLES, replace=False)

    def bounds(self, method: str, percentile: float) -> tuple[float, float]:
        if method == "minmax" or not self.sample.size:
            return self.lo, self.hi
        return (float(np.percentile(self.sample, 100.0 - percentile)),
                float(np.percentile(self.sample, percentile)))


def calibrate(graph: Graph, data, method: str = "minmax",
              percentile: float = 99.99) -> dict[str, tuple[float, float]]:
    """``{value name or "op/c": (min, max)}`` over the calibration data, streamed through
    the float model frame by frame (state carried within each sequence)."""
    import edgernn

    if method not in ("minmax", "percentile"):
        raise QuantizationError(f"unknown calibration method {method!r}; use minmax or "
                                f"percentile")
    if not 50.0 < percentile <= 100.0:
        raise QuantizationError(f"--percentile must lie in (50, 100], got {percentile}")
    seqs = sequences(data, graph)
    model = edgernn.Model(graph)
    rng = np.random.default_rng(0)
    ranges: dict[str, _Range] = {}

    def observe(env: dict, state: dict) -> None:
        for name, arr in env.items():
            ranges.setdefault(name, _Range(rng)).add(arr)
        for key, arr in state.items():
            if key.endswith("/c"):
                ranges.setdefault(key, _Range(rng)).add(arr)

    for seq in seqs:
        s = model.stream(backend="reference")
        s.observe = observe
        for t in range(len(next(iter(seq.values())))):
            s.step({k: v[t] for k, v in seq.items()})
    return {k: r.bounds(method, percentile) for k, r in ranges.items() if r.seen}
