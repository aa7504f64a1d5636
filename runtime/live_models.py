"""One model inside a :class:`~edgernn.pipeline.Pipeline`: its stream, detector and guard.

A model's ``.ern`` metadata says how it is used live:

* ``frontend``: the front-end spec it was trained on (:mod:`edgernn.features`); models
  without one take raw samples as frames (IMU), at ``sample_rate_hz``;
* ``labels``: one per output score;
* ``detector``: ``{"type": "keyword", "threshold", "window", "suppression",
  "min_count", "thresholds"}`` (:class:`~edgernn.postprocess.KeywordDetector`) or
  ``{"type": "gesture", "threshold", "frames", "release"}``
  (:class:`~edgernn.postprocess.GestureDetector`).  Without it: keyword detection
  for audio front ends, gesture detection (1 s of frames) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from time import thread_time_ns as _ns  # CPU time: what a frame costs, not the wait
from typing import Any

import numpy as np

from .errors import EdgeRNNError
from .postprocess import GestureDetector, KeywordDetector

SILENCE_DBFS = -70.0  # the "silence" a model's idle state is learned on
SILENCE_SECONDS = 2.0
STEP_BELOW = 8  # frames per block up to which step() per frame beats one run() call


@dataclass(frozen=True)
class Detection:
    """An event of one model: stream ``time`` (s), ``label``, ``score``, ``model`` name."""

    time: float
    label: str
    score: float
    model: str

    def as_json(self, with_model: bool) -> dict[str, Any]:
        d = {"event": "detection", "time": round(self.time, 4), "label": self.label,
             "score": round(self.score, 4)}
        return {**d, "model": self.model} if with_model else d


def load_model(m: Any) -> Any:
    """A Model as is; a path or a bundled model's name loaded."""
    if hasattr(m, "stream"):
        return m
    from .demo import resolve_model
    from .model import load

    return load(resolve_model(str(m)) if not isinstance(m, Path) else m)


def _fe_of(model: Any) -> Any:
    from . import features

    return features.for_model(model)


def shared_frontend(models: list[Any], frontend: Any, rate: float | None) -> Any:
    """The one front end every model takes (from their metadata unless given)."""
    from . import features

    if frontend is not None:
        fe = frontend if hasattr(frontend, "process") else features.from_spec(frontend)
    else:
        specs = [m.metadata.get("frontend") for m in models]
        if any(s != specs[0] for s in specs):
            raise EdgeRNNError("these models were trained on different front ends and cannot "
                               "share one: " + "; ".join(f"{m.source}: {s}"
                                                         for m, s in zip(models, specs,
                                                                         strict=True)))
        fe = _fe_of(models[0]) if specs[0] is not None else _identity(models[0], rate)
    for m in models:
        shape = list(m.inputs.values())
        if len(shape) != 1 or tuple(shape[0]) != (fe.n_features,):
            raise EdgeRNNError(f"{m.source}: takes {m.inputs}, but the front end makes frames "
                               f"of {fe.n_features} values; the pipeline feeds one input")
    return fe


def _identity(model: Any, rate: float | None) -> Any:
    """Raw samples as frames (IMU models without a front end) at the model's rate."""
    from . import features

    (shape,) = list(model.inputs.values())[:1] or [()]
    n = int(np.prod(shape))
    rate = rate or float(model.metadata.get("sample_rate_hz") or 0) or None
    if not rate:
        raise EdgeRNNError(f"{model.source}: no sample rate in its metadata; give one (--rate)")
    return features.from_spec({"type": "imu", "mean": [0.0] * n, "std": [1.0] * n,
                               "sample_rate": float(rate)})


def make_detector(model: Any, fe: Any, labels: list[str], threshold: float | None) -> Any:
    """The detector the metadata asks for (``threshold`` overrides every label's)."""
    cfg = dict(model.metadata.get("detector") or {})
    kind = cfg.pop("type", "keyword" if not fe.channels else "gesture")
    if threshold is not None:
        cfg["threshold"] = float(threshold)
        cfg.pop("thresholds", None)
    if kind == "keyword":
        keys = ("threshold", "thresholds", "window", "suppression", "min_count", "ignore")
        return KeywordDetector(labels, **{k: v for k, v in cfg.items() if k in keys})
    if kind == "gesture":
        cfg.setdefault("frames", max(1, round(fe.frame_rate)))
        keys = ("threshold", "thresholds", "frames", "release", "ignore")
        return GestureDetector(labels, **{k: v for k, v in cfg.items() if k in keys})
    raise EdgeRNNError(f"{model.source}: unknown detector type {kind!r} in its metadata "
                       "(use 'keyword' or 'gesture')")


class Runner:
    """A model's stream, detector, silence state and counters inside a pipeline."""

    def __init__(self, name: str, model: Any, fe: Any, threshold: float | None) -> None:
        self.name, self.model = name, model
        (self.output, shape), = list(model.outputs.items())[:1]
        self._single = len(model.outputs) == 1
        n = int(np.prod(shape))
        labels = model.labels or [f"class{k}" for k in range(n)]
        if len(labels) != n:
            raise EdgeRNNError(f"{model.source}: {len(labels)} labels for {n} output scores")
        self.labels = labels
        self.detector = make_detector(model, fe, labels, threshold)
        self.stream = model.stream()
        self.silence, self.idle = self._learn_silence(fe)
        self.reset()

    def _learn_silence(self, fe: Any) -> tuple[dict, np.ndarray]:
        from . import features

        s = self.model.stream()
        zeros = np.zeros((2, fe.n_features), np.float32)
        s.step(zeros[0])  # load the kernels of both paths now, not on the first live block
        s.run(zeros)
        s.reset()
        if fe.channels:  # IMU: no "silence"; the fresh state and no score
            return s.get_state(), np.zeros(len(self.labels), np.float32)
        n = int(SILENCE_SECONDS * fe.sample_rate)
        noise = np.random.default_rng(0).standard_normal(n) * 10 ** (SILENCE_DBFS / 20)
        out = self._first(s.run(features.from_spec(fe.spec).offline(noise)))
        return s.get_state(), np.asarray(out[-1], np.float32)

    def _first(self, out: Any) -> np.ndarray:
        return out[self.output] if isinstance(out, dict) else out

    def reset(self) -> None:
        self.stream.reset()  # a new stream starts from zero state, as in training
        self.detector.reset()
        self.closed = False
        self.steps = self.ns = self.detections = self.guard_resets = self._since = 0
        self.scores, self.last_scores = self.idle, self.idle[None][:0]

    def advance(self, feats: np.ndarray, times: np.ndarray, open_: np.ndarray, gated: str,
                pipe: Any) -> list[Detection]:
        """Step through k frames (skipping closed ones); update the detector per frame."""
        scores = np.empty((len(feats), len(self.labels)), np.float32)
        bounds = [0, *(np.flatnonzero(open_[1:] != open_[:-1]) + 1), len(feats)]
        for i, j in zip(bounds[:-1], bounds[1:], strict=False):
            if open_[i]:
                self._step(feats[i:j], scores[i:j])
            else:
                if not self.closed and gated == "reset":
                    self.stream.set_state(self.silence)
                self.closed = True
                scores[i:j] = self.idle
        self._guard(scores, pipe)
        events = []
        for t, s in zip(times, scores, strict=True):
            events += [Detection(e.time, e.label, e.score, self.name)
                       for e in self.detector.update(s, float(t))]
        self.detections += len(events)
        self.scores, self.last_scores = scores[-1], scores
        return events

    def _step(self, feats: np.ndarray, into: np.ndarray) -> None:
        t0 = _ns()
        if len(feats) <= STEP_BELOW and self._single:  # step() is the fast path
            k = 0
            for f in feats:  # a delayed model answers late: outputs fill from the start
                if self.stream.step(f, out=into[k]) is not None:
                    k += 1
            out = into[:k].copy()
        else:
            out = self._first(self.stream.run(feats)).reshape(-1, len(self.labels))
        self.ns += _ns() - t0
        self.steps += len(feats)
        into[len(into) - len(out):] = out
        into[:len(into) - len(out)] = self.idle  # frames a delayed model has not answered
        self.closed = False

    def _guard(self, scores: np.ndarray, pipe: Any) -> None:
        """Non-finite scores, or (every guard_every frames) a state out of bounds: reset."""
        bad = ~np.isfinite(scores).all(axis=1)
        self._since += len(scores)
        if bad.any() or self._since >= pipe.guard_every:
            self._since = 0
            state = self.stream.get_state()
            ok = all(np.isfinite(v).all() and (v.size == 0 or np.abs(v).max() <= pipe.state_bound)
                     for k, v in state.items() if k != "frames")
            if bad.any() or not ok:
                self.stream.set_state(self.silence)
                self.guard_resets += 1
                scores[bad] = self.idle

    def summary(self) -> dict[str, Any]:
        return {"steps": self.steps, "step_us": round(self.ns / 1e3 / max(self.steps, 1), 2),
                "detections": self.detections, "guard_resets": self.guard_resets}

