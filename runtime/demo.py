"""``edgernn demo``: the bundled gesture model streamed over bundled real IMU recordings.

Bundled files live in ``edgernn/models/`` (package data, found with
:mod:`importlib.resources`, so this works from a wheel as well as a checkout):

* ``gesture.ern``: x (6,) accel+gyro at 10 Hz -> normalization -> GRU(32) ->
  Dense -> Softmax over Standing / Running / Walking / Badminton.
* ``gesture_samples.npz``: the 40 BasicMotions test recordings the model never
  saw in training: ``x`` (N, 100, 6) float32, ``y`` (N,) class indices,
  ``labels``, ``index`` (position in the aeon test split).  Interleaved by class,
  so ``--limit 4`` shows one of each.

Both are made by ``demos/gesture/train.py``.
"""

from __future__ import annotations

import atexit
import contextlib
import time
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EdgeRNNError

DEFAULT_MODEL = "gesture"
SAMPLES = "gesture_samples.npz"
TIMELINE_EVERY = 5  # one timeline character per this many frames
_extracted = contextlib.ExitStack()  # resources extracted from a zipped install
atexit.register(_extracted.close)


def _resource(filename: str) -> Path | None:
    res = files(__package__).joinpath("models", filename)
    if not res.is_file():
        return None
    if isinstance(res, Path):
        return res
    return _extracted.enter_context(as_file(res))  # a zip: a temp copy for this process


def bundled_models() -> list[str]:
    """Names of the models shipped with the package."""
    root = files(__package__).joinpath("models")
    if not root.is_dir():
        return []
    return sorted(p.name[:-4] for p in root.iterdir() if p.name.endswith(".ern"))


def bundled_model(name: str) -> Path:
    """The path of the bundled model ``name`` (e.g. ``"gesture"``)."""
    path = _resource(f"{name}.ern")
    if path is None:
        raise EdgeRNNError(f"no bundled model {name!r}; bundled: {', '.join(bundled_models())}")
    return path


def resolve_model(arg: str) -> str | Path:
    """A model argument: an existing file as is, else a bundled model's name."""
    p = Path(arg)
    if p.exists() or p.suffix == ".ern" or len(p.parts) > 1:
        return arg
    if _resource(f"{arg}.ern") is None:
        raise EdgeRNNError(f"{arg}: no such file, and no bundled model of that name "
                           f"(bundled: {', '.join(bundled_models())})")
    return bundled_model(arg)


def load_samples() -> dict[str, np.ndarray]:
    """The bundled test recordings: ``x`` (N, T, 6), ``y`` (N,), ``labels``, ``index``."""
    path = _resource(SAMPLES)
    if path is None:
        raise EdgeRNNError(f"the bundled recordings ({SAMPLES}) are missing from the package")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def settle_frames(pred: np.ndarray) -> np.ndarray:
    """Per row of per-frame class indices (N, T): how many frames had been seen when
    the prediction took its final value for good (1 = right from the first frame)."""
    changed = pred != pred[:, -1:]
    return np.where(changed.any(axis=1), pred.shape[1] - np.argmax(changed[:, ::-1], axis=1),
                    0) + 1


def stream_recordings(model: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stream every recording frame by frame through its own ``step()``.

    Returns the outputs (N, T, ...) and each step's wall time in µs (N, T).
    """
    out = model.stream().step(x[0, 0])  # compile / load kernels before timing
    outs = np.empty((*x.shape[:2], *np.shape(out)), np.float32)
    us = np.empty(x.shape[:2])
    clock = time.perf_counter_ns
    for n, rec in enumerate(x):
        s = model.stream()
        for t, frame in enumerate(rec):
            t0 = clock()
            y = s.step(frame, out=outs[n, t])
            us[n, t] = (clock() - t0) / 1e3
            if y is None:
                raise EdgeRNNError("the model skips frames (a strided conv); the demo needs "
                                   "one output per frame")
    return outs, us


def warm_up(model: Any, x: np.ndarray) -> float:
    """Seconds to make the first frame of one stream and of a batch (compiling the
    kernels on first use, or loading them from the cache)."""
    t0 = time.perf_counter()
    model.stream().step(x[0, 0])
    model.streams(len(x)).step(np.ascontiguousarray(x[:, 0]))
    return time.perf_counter() - t0


def batch_latency(model: Any, x: np.ndarray) -> float:
    """µs per step() of a batch of N streams (one frame of every recording per call)."""
    s = model.streams(len(x))
    frames = np.ascontiguousarray(x.transpose(1, 0, 2))
    s.step(frames[0])
    t0 = time.perf_counter_ns()
    for f in frames[1:]:
        s.step(f)
    return (time.perf_counter_ns() - t0) / 1e3 / max(len(frames) - 1, 1)


def _initials(labels: list[str]) -> list[str]:
    initials = [lab[:1].upper() for lab in labels]
    if len(set(initials)) < len(initials):
        initials = [str(k % 10) for k in range(len(labels))]
    return initials


def _legend(labels: list[str]) -> list[tuple[str, str]]:
    return list(zip(_initials(labels), labels, strict=True))


def _timeline(pred: np.ndarray, labels: list[str]) -> str:
    """The predicted class every TIMELINE_EVERY frames, one character each."""
    initials = _initials(labels)
    return "".join(initials[k] for k in pred[TIMELINE_EVERY - 1::TIMELINE_EVERY])


def _load_model(arg: str | None) -> Any:
    from .model import load

    model = load(resolve_model(arg or DEFAULT_MODEL))
    if list(model.inputs.values()) != [(6,)]:
        raise EdgeRNNError(f"the demo feeds 6-channel IMU frames; this model takes "
                           f"{model.inputs}")
    if [len(s) for s in model.outputs.values()] != [1]:
        raise EdgeRNNError(f"the demo reads one output of class scores (C,); this model "
                           f"has {model.outputs}")
    return model


def _header(model: Any, path: str, n: int, frames: int) -> None:
    meta = model.metadata
    layers = ", ".join(op.kind for op in model.graph.ops if op.kind != "Identity")
    rate = meta.get("sample_rate_hz")
    print(f"model      {path}")
    print(f"           {layers}; {len(meta.get('channels') or ()) or 6} IMU channels"
          + (f" at {rate:g} Hz" if rate else ""))
    if meta.get("source"):
        print(f"           {meta['source']}")
    print(f"recordings {plural(n, 'held-out BasicMotions test recording')}, "
          f"{plural(frames, 'frame')} each", flush=True)


def plural(n: int, noun: str) -> str:
    """``1 frame``, ``2 frames``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _labels(model: Any, classes: int, true_labels: list[str]) -> list[str]:
    if model.labels and len(model.labels) == classes:
        return model.labels
    return true_labels if classes == len(true_labels) else [f"class{k}" for k in range(classes)]


def run(model_arg: str | None = None, limit: int | None = None) -> int:
    """Stream the bundled recordings through the model; print a report."""
    if limit is not None and limit < 1:
        raise EdgeRNNError(f"--limit must be at least 1, got {limit}")
    model = _load_model(model_arg)
    data = load_samples()
    x, y = data["x"][:limit], data["y"][:limit]
    truth = [str(data["labels"][k]) for k in y]
    rate = float(model.metadata.get("sample_rate_hz") or 0) or None
    _header(model, model.source or model_arg or DEFAULT_MODEL, len(x), x.shape[1])
    from ._cache import COLD_NOTICE

    compiles = COLD_NOTICE.compiles
    ready = warm_up(model, x)
    how = ("compiled now and cached; `edgernn warmup` does this at install time"
           if COLD_NOTICE.compiles > compiles else "from the cache")
    print(f"kernels    ready in {ready:.2f} s ({how})\n", flush=True)
    probs, us = stream_recordings(model, x)
    probs = probs.reshape(len(x), x.shape[1], -1)
    labels = _labels(model, probs.shape[-1], [str(v) for v in data["labels"]])
    def secs(n: int) -> str:
        return f"{plural(n, 'frame')} ({n / rate:.1f} s)" if rate else plural(n, "frame")

    correct, settle = _table(probs, truth, labels, secs)
    med = round(float(np.median(settle[correct]))) if correct.any() else 0
    print(f"\naccuracy   {correct.sum()}/{len(y)} = {correct.mean():.3f} at the last frame; "
          f"predictions settle after {secs(med)} (median of the correct ones)")
    steps, batch_us = us.reshape(-1), batch_latency(model, x)
    print(f"latency    step(): {np.median(steps):.1f} µs per frame (median; p99 "
          f"{np.percentile(steps, 99):.1f} µs) over {steps.size} frames, one stream at a time")
    print(f"           {plural(len(y), 'stream')} batched: {batch_us:.1f} µs per step() = "
          f"{batch_us / len(y):.2f} µs per stream-frame")
    return 0


def _table(probs: np.ndarray, truth: list[str], labels: list[str], secs) -> tuple:
    """One line per recording; returns (correct (N,) bool, settle (N,) frames)."""
    pred = probs.argmax(axis=-1)
    settle = settle_frames(pred)
    final = [labels[k] for k in pred[:, -1]]
    print(f"  #  {'true':<10} {'predicted':<10}  p(end)       settled after  "
          f"prediction every {TIMELINE_EVERY} frames")
    for n, (want, got) in enumerate(zip(truth, final, strict=True)):
        p_end = probs[n, -1, pred[n, -1]]
        print(f"{n:3d}  {want:<10} {got:<10}{' ' if got == want else 'x'} {p_end:6.3f}"
              f"  {secs(int(settle[n])):>18}  {_timeline(pred[n], labels)}")
    print("timeline   " + " ".join(f"{i}={lab}" for i, lab in _legend(labels)))
    return np.array(final) == np.array(truth), settle
