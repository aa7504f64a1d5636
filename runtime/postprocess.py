"""Posteriors -> events: keyword spotting and gestures, in fixed memory.

``KeywordDetector`` follows TensorFlow Lite Micro's ``RecognizeCommands``
(``micro_speech/recognize_commands.cc``).  On each ``update(scores, time)``:

1. the scores join a window; entries older than ``time - window`` leave it;
2. with fewer than ``min_count`` entries, or spanning less than ``window / 4``,
   nothing fires (the average is not reliable yet);
3. the scores are averaged over the window and the top label is taken
   (the first one on ties);
4. it fires if its average is above its threshold (strictly) and it is not the
   label that fired last, or more than ``suppression`` seconds passed since then.

Differences from TFLM, on purpose: float scores and a threshold per label; the
``ignore`` labels (``_silence_``, ``_unknown_``, ...) never fire and do not
reset the suppression (in TFLM a winning "silence" does); the window is a ring
of ``capacity`` entries (oldest dropped if a window holds more) and the average
is recomputed from the window every time (no running sum to drift).

``GestureDetector`` fires when one class has stayed above its threshold for
``frames`` consecutive updates, then not again for that class until its score
has dropped to ``release`` (default: the threshold) or below.

Times are seconds of stream time (``Block.time``), kept as integer
microseconds, so long runs compare exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InputError

_IGNORED = ("silence", "unknown", "background", "noise", "none", "other", "idle")


@dataclass(frozen=True)
class Event:
    """A detection: ``time`` (s, stream time of the frame that fired), ``label``,
    ``score`` (the averaged posterior for keywords, the mean over the run for gestures)."""

    time: float
    label: str
    score: float


def default_ignored(label: str) -> bool:
    """Labels that never fire by default: ``_x_`` style, and silence, unknown, background,
    noise, none, other, idle (any case)."""
    return (label.startswith("_") and label.endswith("_")) or label.lower() in _IGNORED


def _per_label(labels: Sequence[str], value: float, overrides: Mapping[str, float] | None,
               what: str) -> np.ndarray:
    out = np.full(len(labels), float(value))
    for name, v in (overrides or {}).items():
        if name not in labels:
            raise ValueError(f"{what} for unknown label {name!r}; labels are {list(labels)}")
        out[list(labels).index(name)] = float(v)
    return out


def _ignored_mask(labels: Sequence[str], ignore: Iterable[str] | None) -> np.ndarray:
    if ignore is None:
        return np.array([default_ignored(label) for label in labels], bool)
    ignore = set(ignore)
    return np.array([label in ignore for label in labels], bool)


def _micros(time: float) -> int:
    return round(float(time) * 1_000_000)


class _Detector:
    """Label bookkeeping and input checks shared by both detectors."""

    def __init__(self, labels: Sequence[str], threshold: float,
                 thresholds: Mapping[str, float] | None, ignore: Iterable[str] | None):
        self.labels = list(labels)
        if not self.labels:
            raise ValueError("a detector needs at least one label")
        self.thresholds = _per_label(self.labels, threshold, thresholds, "threshold")
        self.ignored = _ignored_mask(self.labels, ignore)
        self._last_t: int | None = None

    def _check(self, scores: np.ndarray, time: float) -> tuple[np.ndarray, int]:
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        if s.shape[0] != len(self.labels):
            raise InputError(f"expected {len(self.labels)} scores (one per label), got "
                             f"{np.shape(scores)}")
        if not np.isfinite(s).all():
            raise InputError("scores contain NaN or Inf")
        t = _micros(time)
        if self._last_t is not None and t < self._last_t:
            raise InputError(f"time went backwards ({time} s after "
                             f"{self._last_t / 1e6} s): pass stream times in order")
        self._last_t = t
        return s, t


class KeywordDetector(_Detector):
    """TFLM-style keyword detection on a stream of posteriors (see the module docstring).

    ``window``, ``suppression`` in seconds; ``threshold`` for every label,
    ``thresholds`` per-label overrides; ``ignore`` the labels that never fire
    (None: :func:`default_ignored`).  Defaults are TFLM's (1 s, 3 results,
    1.5 s; its threshold 200/255 rounded to 0.8).
    """

    def __init__(self, labels: Sequence[str], *, threshold: float = 0.8,
                 thresholds: Mapping[str, float] | None = None, window: float = 1.0,
                 min_count: int = 3, suppression: float = 1.5,
                 ignore: Iterable[str] | None = None, capacity: int = 512):
        super().__init__(labels, threshold, thresholds, ignore)
        self.window, self.suppression = _micros(window), _micros(suppression)
        self.min_count, self.capacity = int(min_count), int(capacity)
        self._times = np.zeros(self.capacity, np.int64)
        self._scores = np.zeros((self.capacity, len(self.labels)), np.float64)
        self.average: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the window and the last detection (a new stream)."""
        self._head = self._size = 0
        self._last_label: int | None = None
        self._last_fire = 0
        self._last_t = None
        self.average = None

    def update(self, scores: np.ndarray, time: float) -> list[Event]:
        """Add one frame's posteriors at stream ``time``; return the events it fires (0 or 1)."""
        s, t = self._check(scores, time)
        cap = self.capacity
        if self._size == cap:
            self._head, self._size = (self._head + 1) % cap, cap - 1
        tail = (self._head + self._size) % cap
        self._times[tail], self._scores[tail] = t, s
        self._size += 1
        while self._times[self._head] < t - self.window:
            self._head, self._size = (self._head + 1) % cap, self._size - 1
        if self._size < self.min_count or 4 * (t - self._times[self._head]) < self.window:
            self.average = None
            return []
        idx = (self._head + np.arange(self._size)) % cap
        self.average = avg = self._scores[idx].mean(axis=0)
        top = int(np.argmax(avg))
        if self.ignored[top] or not avg[top] > self.thresholds[top]:
            return []
        if top == self._last_label and t - self._last_fire <= self.suppression:
            return []
        self._last_label, self._last_fire = top, t
        return [Event(t / 1e6, self.labels[top], float(avg[top]))]


class GestureDetector(_Detector):
    """An event when a class stays above its threshold for ``frames`` consecutive updates.

    After firing, that class is latched until its score is at most ``release``
    (default: its threshold); a new run of ``frames`` can then fire again.
    """

    def __init__(self, labels: Sequence[str], *, threshold: float = 0.8,
                 thresholds: Mapping[str, float] | None = None, frames: int = 5,
                 release: float | None = None, ignore: Iterable[str] | None = None):
        super().__init__(labels, threshold, thresholds, ignore)
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        self.frames = int(frames)
        self.release = self.thresholds.copy() if release is None else \
            np.minimum(float(release), self.thresholds)
        n = len(self.labels)
        self._run = np.zeros(n, np.int64)
        self._sum = np.zeros(n, np.float64)
        self._latched = np.zeros(n, bool)

    def reset(self) -> None:
        """Clear runs and latches (a new stream)."""
        self._run[:] = 0
        self._sum[:] = 0.0
        self._latched[:] = False
        self._last_t = None

    def update(self, scores: np.ndarray, time: float) -> list[Event]:
        """Add one frame's class scores at stream ``time``; return the events it fires."""
        s, t = self._check(scores, time)
        self._latched &= s > self.release
        above = (s > self.thresholds) & ~self._latched & ~self.ignored
        self._run = np.where(above, self._run + 1, 0)
        self._sum = np.where(above, self._sum + s, 0.0)
        fired = np.flatnonzero(self._run == self.frames)
        events = [Event(t / 1e6, self.labels[c], float(self._sum[c] / self.frames))
                  for c in fired]
        self._latched[fired] = True
        self._run[fired] = 0
        self._sum[fired] = 0.0
        return events
