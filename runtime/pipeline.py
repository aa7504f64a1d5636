"""``Pipeline``: source -> front end -> model(s) -> events, for hours, in fixed memory.

One front end feeds any number of models (several wake words on one core), each
with its own stream and detector::

    from edgernn.pipeline import Pipeline
    from edgernn.sources import WavFile
    pipe = Pipeline(["kws", "other.ern"], gate=EnergyGate(-50))
    with WavFile("x.wav", rate=pipe.rate, mono=True) as src:
        for det in pipe.run(src):
            print(det.time, det.model, det.label, det.score)
    pipe.summary()

**Time.** A detection's ``time`` is stream time: the seconds of input consumed when
the frame that fired was complete (``anchor + (delay + (f+1)*hop) / rate`` for
feature frame ``f``).  A block that follows lost samples (``Block.dropped``) starts
a new anchor at the block's own stream time; the front end restarts there (no
samples are invented), the models carry their state.

**Gate.** With a gate (:mod:`edgernn.gates`), frames where it is closed skip every
model step; each model reports its *idle scores* there.  ``gated="reset"`` puts a
model back into its *silence state* when the gate closes; ``"carry"`` keeps the
state it had.  The silence state is learned from the model itself: the state it
settles in after two seconds of very quiet noise (-70 dBFS) through the front end.
A new stream (:meth:`Pipeline.reset`) starts from zero state, as in training.

**Long-run guard.** Every ``guard_every`` frames each model's state is checked:
non-finite values, or any above ``state_bound`` in magnitude, put it back into its
silence state and count a ``guard_resets``.  Non-finite scores do the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .errors import EdgeRNNError
from .live_models import Runner, load_model, shared_frontend

_cpu_ns = time.thread_time_ns  # CPU time of this thread: what a frame costs, not the wait


class Pipeline:
    """Front end + models + detectors (+ gate); feed it blocks with :meth:`push`."""

    def __init__(self, models: Sequence[Any], *, names: Sequence[str] | None = None,
                 frontend: Any = None, rate: float | None = None, threshold: float | None = None,
                 gate: Any = None, gated: str = "reset", guard_every: int = 1000,
                 state_bound: float = 1e4) -> None:
        if not models:
            raise EdgeRNNError("a pipeline needs at least one model")
        if gated not in ("reset", "carry"):
            raise ValueError(f"gated must be 'reset' or 'carry', got {gated!r}")
        loaded = [load_model(m) for m in models]
        names = list(names or _names(models))
        self.frontend = shared_frontend(loaded, frontend, rate)
        self.runners = [Runner(n, m, self.frontend, threshold) for n, m in zip(names, loaded,
                                                                               strict=True)]
        self.gate, self.gated = gate, gated
        self.guard_every, self.state_bound = int(guard_every), float(state_bound)
        self.rate = float(self.frontend.sample_rate)
        self.hop, self.delay = int(self.frontend.hop), int(self.frontend.delay)
        self._warm()
        self.reset()

    def _warm(self) -> None:
        """Load the front end's kernels before the first block (a copy; no state touched)."""
        from . import features

        fe = self.frontend
        n = fe.delay + 2 * fe.hop
        features.from_spec(fe.spec).offline(np.zeros((n, fe.channels) if fe.channels else n,
                                                     np.float32))

    def reset(self) -> None:
        """A new stream: front end, models, detectors, gate and counters start over."""
        self.frontend.reset()
        for r in self.runners:
            r.reset()
        if self.gate is not None:
            self.gate.reset()
        self._anchor, self._fed, self._made = 0.0, 0, 0  # time, samples and frames since
        self.frames = self.samples = self.dropped = self.gaps = 0
        self.gated_frames = self.detections = 0
        self.fe_ns = 0
        self.level_db = -np.inf

    # --- feeding ---------------------------------------------------------------------
    def push(self, samples: np.ndarray, time: float | None = None,
             dropped: int = 0) -> list[Any]:
        """Consume a block (f32[n] audio, or f32[n, C] IMU); return its detections.

        ``time``: the stream time of its first sample (None: right after the last
        block); ``dropped``: samples lost just before it (a new time anchor).
        """
        x = np.asarray(samples)
        if x.ndim == 2 and not self.frontend.channels:
            x = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1)
        if dropped:
            self._restart(time if time is not None else self._now() + dropped / self.rate)
            self.dropped += int(dropped)
        t0 = _cpu_ns()
        feats = self.frontend.process(x)
        self.fe_ns += _cpu_ns() - t0
        k = len(feats)
        self.samples += len(x)
        self._fed += len(x)
        self.last_times, self.last_feats = np.zeros(0), feats
        if k == 0:
            for r in self.runners:
                r.last_scores = r.last_scores[:0]
            return []
        first = self._made
        self._made += k
        ends = self.delay + (np.arange(first, first + k) + 1) * self.hop
        times = self._anchor + ends / self.rate
        open_ = self._gate(x, feats, ends - (self._fed - len(x)))
        self.frames += k
        self.gated_frames += int(k - open_.sum())
        out = []
        for r in self.runners:
            out += r.advance(feats, times, open_, self.gated, self)
        self.detections += len(out)
        self.last_times, self.last_open = times, open_
        return sorted(out, key=lambda d: d.time)

    def push_block(self, block: Any) -> list[Any]:
        """A source :class:`~edgernn.sources.base.Block`: its data, time and gap."""
        return self.push(block.data, block.time, block.dropped)

    def run(self, source: Iterable[Any], *, realtime: bool = False) -> Iterator[Any]:
        """Every detection of a whole source, as they happen; ``realtime`` paces a file
        at its own rate (blocks are not consumed faster than the clock)."""
        for block in paced(source, self.rate) if realtime else source:
            yield from self.push_block(block)

    # --- helpers ---------------------------------------------------------------------
    def _now(self) -> float:
        return self._anchor + self._fed / self.rate

    def _restart(self, at: float) -> None:
        self.frontend.reset()
        if self.gate is not None:
            self.gate.reset()
        self._anchor, self._fed, self._made = float(at), 0, 0
        self.gaps += 1

    def _gate(self, x: np.ndarray, feats: np.ndarray, ends: np.ndarray) -> np.ndarray:
        if self.gate is None:
            return np.ones(len(feats), bool)
        if self.gate.needs_samples:
            mask = self.gate.update(x, ends, self.hop)
        else:
            mask = self.gate.update(feats)
        self.level_db = self.gate.level_db
        return mask

    def summary(self) -> dict[str, Any]:
        """Counters: frames, dropped samples, detections, and CPU time (this thread's) per
        frame: ``step_us`` of all models together, ``frontend_us`` of the front end."""
        model_ns = sum(r.ns for r in self.runners)
        stepped = max(sum(r.steps for r in self.runners), 1)
        return {"frames": self.frames, "dropped": self.dropped, "detections": self.detections,
                "step_us": round(model_ns / 1e3 / max(self.frames, 1), 2),
                "samples": self.samples, "gaps": self.gaps, "gated_frames": self.gated_frames,
                "frontend_us": round(self.fe_ns / 1e3 / max(self.frames, 1), 2),
                "model_step_us": round(model_ns / 1e3 / stepped, 2),
                "models": {r.name: r.summary() for r in self.runners}}


def paced(blocks: Iterable[Any], rate: float) -> Iterator[Any]:
    """The blocks, each one not before the wall clock has reached its end in stream time."""
    start = time.monotonic()
    for block in blocks:
        ahead = block.time + len(block) / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
        yield block


def _names(models: Sequence[Any]) -> list[str]:
    out: list[str] = []
    for m in models:
        base = str(getattr(m, "source", None) or m).rsplit("/", 1)[-1]
        base = base[:-4] if base.endswith(".ern") else base
        name, k = base, 2
        while name in out:
            name, k = f"{base}#{k}", k + 1
        out.append(name)
    return out
