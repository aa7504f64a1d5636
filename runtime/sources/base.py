"""What every source shares: the ``Block`` it yields and the ``Source`` protocol.

A source is an iterator of :class:`Block` and a context manager.  Time is
*stream* time: the number of samples that have passed (delivered plus
dropped) divided by the rate, never the wall clock, so a recording and a live
device give the same times for the same samples.  Counters:

* ``frames``    samples delivered (one sample = one row of all channels);
* ``dropped``   samples lost (overflow, a full queue); each loss is also on the
  next block as ``Block.dropped``, so ``frames + dropped`` is the stream position;
* ``malformed`` input units skipped as unreadable (IMU lines or frames, a
  partial sample at the end of raw PCM).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Block:
    """``data`` f32[n, channels]; ``time`` of its first sample in seconds of stream
    time; ``dropped`` samples lost just before it (0 normally)."""

    data: np.ndarray
    time: float
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.data)


class Source:
    """Base class: iteration, context management, counters, stream time.

    Subclasses set ``rate`` and ``channels`` and implement ``_read() -> Block | None``
    (None at the end) using :meth:`_emit` to stamp blocks, and ``_close()``.
    """

    kind = "source"
    rate: float
    channels: int

    def __init__(self) -> None:
        self.frames = 0
        self.dropped = 0
        self.malformed = 0
        self.closed = False
        self.ended = False

    # --- protocol -------------------------------------------------------
    def __iter__(self) -> Source:
        return self

    def __next__(self) -> Block:
        while not (self.closed or self.ended):
            block = self._read()
            if block is None:
                self.ended = True
                break
            if len(block) or block.dropped:
                return block
        raise StopIteration

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the device or file; iteration stops.  Safe to call twice."""
        if not self.closed:
            self.closed = True
            self._close()

    def summary(self) -> dict[str, Any]:
        """Counters and settings, for a clean report at the end of a run."""
        return {"source": self.kind, "rate": self.rate, "channels": self.channels,
                "frames": self.frames, "dropped": self.dropped, "malformed": self.malformed,
                "seconds": (self.frames + self.dropped) / self.rate, **self._details()}

    # --- for subclasses -------------------------------------------------
    def _read(self) -> Block | None:
        raise NotImplementedError

    def _close(self) -> None:
        pass

    def _details(self) -> dict[str, Any]:
        return {}

    def _emit(self, data: np.ndarray, dropped: int = 0) -> Block:
        """Stamp f32[n, channels] with its stream time and count it."""
        self.dropped += dropped
        block = Block(data, (self.frames + self.dropped) / self.rate, dropped)
        self.frames += len(data)
        return block


class Converter:
    """Device-rate PCM -> the wanted rate and channel layout.

    ``push(x, lost)`` takes f32[n, C] at ``in_rate`` and the number of input
    samples lost just before it; it returns ``(y, dropped)``: f32[m, out_channels]
    at ``out_rate`` and the output samples those losses amount to.  ``mono``
    averages the channels first.
    """

    def __init__(self, in_rate: int, out_rate: int, channels: int, mono: bool):
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        self.mono = bool(mono) and channels > 1
        self.out_channels = 1 if mono else channels
        from ..resample import Resampler  # numba loads only for audio sources

        self.resampler = Resampler(in_rate, out_rate, self.out_channels)

    def _mix(self, x: np.ndarray) -> np.ndarray:
        return x.mean(axis=1, keepdims=True, dtype=np.float32) if self.mono else x

    def push(self, x: np.ndarray, lost: int = 0) -> tuple[np.ndarray, int]:
        dropped = self.skip(lost)
        return self.resampler.process(self._mix(x)), dropped

    def skip(self, lost: int) -> int:
        """``lost`` input samples are gone: the output samples they amount to."""
        return self.resampler.skip(lost) if lost else 0

    def flush(self) -> np.ndarray:
        return self.resampler.flush()
