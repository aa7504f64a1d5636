"""Gates: decide per feature frame whether the models need to run at all (silence skipping).

A gate sees every frame the front end emits and returns a boolean mask: True where
the models step, False where they are skipped (the pipeline then reports each
model's idle scores and keeps its state coherent, see :mod:`edgernn.pipeline`).
Both gates hold open for ``hangover`` frames after the last active one, so the
end of a word is never cut off.

* :class:`EnergyGate`: the RMS level (dBFS) of the last ``hop`` samples of each
  frame, compared to ``open_db``.  Needs the raw samples (audio).
* :class:`VadGate`: a voice-activity ``.ern`` model stepped on the same feature
  frames; active where its ``index``-th output is above ``threshold``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError


class _Hangover:
    """Active-frame mask -> open mask held ``hangover`` frames past each active frame."""

    def __init__(self, hangover: int) -> None:
        if hangover < 0:
            raise ValueError(f"hangover must be >= 0 frames, got {hangover}")
        self.hangover = int(hangover)
        self._left = 0  # frames the gate stays open after the last active frame

    def _hold(self, active: np.ndarray) -> np.ndarray:
        out = np.empty(len(active), bool)
        left = self._left
        for i, a in enumerate(active):
            left = self.hangover + 1 if a else max(left - 1, 0)
            out[i] = left > 0
        self._left = left
        return out

    def reset(self) -> None:
        self._left = 0


class EnergyGate(_Hangover):
    """Open where the RMS level of a frame's last ``hop`` samples exceeds ``open_db`` dBFS.

    ``update(samples, ends, hop)``: ``samples`` f32[n] is the block the front end just
    consumed, ``ends`` int[k] where the k frames it completed end in it (exclusive
    indices, ``hop`` apart).  Returns bool[k].
    """

    needs_samples = True

    def __init__(self, open_db: float = -50.0, hangover: int = 50) -> None:
        super().__init__(hangover)
        self.open_db = float(open_db)
        self._tail = np.zeros(0, np.float32)
        self.level_db = -np.inf

    def update(self, samples: np.ndarray, ends: np.ndarray, hop: int) -> np.ndarray:
        buf = np.concatenate([self._tail, samples.astype(np.float32, copy=False)])
        base = len(self._tail)
        levels = np.empty(len(ends))
        for i, e in enumerate(ends):
            seg = buf[max(base + e - hop, 0):base + e]
            levels[i] = 10 * np.log10(np.mean(np.square(seg, dtype=np.float64)) + 1e-12)
        self._tail = buf[-hop:].copy()
        if len(ends):
            self.level_db = float(levels[-1])
        return self._hold(levels > self.open_db)

    def reset(self) -> None:
        super().reset()
        self._tail = np.zeros(0, np.float32)


class VadGate(_Hangover):
    """Open where a VAD model's output ``index`` exceeds ``threshold`` (plus hangover).

    The VAD model takes the pipeline's feature frames; it is stepped on every frame
    (it is the cheap model that decides whether the others run).
    """

    needs_samples = False

    def __init__(self, model: Any, threshold: float = 0.5, hangover: int = 30,
                 index: int = -1) -> None:
        super().__init__(hangover)
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise InputError("a VAD gate model must have one input and one output")
        self.model, self.threshold, self.index = model, float(threshold), int(index)
        self.stream = model.stream()
        self.level_db = -np.inf

    def update(self, feats: np.ndarray) -> np.ndarray:
        """``feats`` f32[n, F] -> bool[n]."""
        if not len(feats):
            return np.zeros(0, bool)
        out = np.asarray(self.stream.run(feats), np.float32).reshape(len(feats), -1)
        p = out[:, self.index]
        self.level_db = float(p[-1])
        return self._hold(p > self.threshold)

    def reset(self) -> None:
        super().reset()
        self.stream.reset()
