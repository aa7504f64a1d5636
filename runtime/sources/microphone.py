"""``Microphone``: live capture through PortAudio (sounddevice), with honest gaps.

PortAudio calls ``_callback`` on its own thread with each captured buffer.
The callback only copies the buffer into a bounded queue; the consumer
(iteration) converts, resamples and stamps it.  Nothing is ever lost silently:

* a full queue (the consumer is too slow): the buffer is dropped, its samples
  are counted and reported on the next block as ``Block.dropped``;
* PortAudio's input-overflow flag (the device overran before the callback
  ran): counted in ``overflows``; the samples lost are estimated from the
  ADC timestamps when the host API provides them (``dropped`` too).

When the device cannot open at ``rate`` it is opened at its default rate and
the stream is resampled (:mod:`edgernn.resample`); ``dropped`` is then counted
in output samples.  Stream time is samples / rate, never the wall clock.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import numpy as np

from ..errors import SourceError
from .base import Block, Converter, Source
from .devices import find_input, import_sounddevice, pick_rate

_SCALE = {"int16": 2.0 ** -15, "int32": 2.0 ** -31, "float32": 1.0}


class Microphone(Source):
    """Capture from an input device as Blocks of ``blocksize`` frames at ``rate``.

    ``device``: None (the default input), an index, or a name substring (ALSA
    PCM names from ``~/.asoundrc`` included).  ``dtype``: the capture format
    (``int16``, ``int32`` or ``float32``; blocks are always float32 in [-1, 1)).
    ``queue_blocks``: how many callback buffers may wait for the consumer.
    ``duration``: stop after that many seconds of device samples (None: never).
    ``timeout``: seconds without any buffer before ``SourceError`` (a device
    that stopped delivering, e.g. unplugged).  ``mono`` averages the channels.
    ``device_rate``: open the device at this rate (and resample) instead of
    trying ``rate`` first and then the device's default rate.
    """

    kind = "microphone"

    def __init__(self, device: int | str | None = None, rate: int = 16000, channels: int = 1,
                 *, blocksize: int | None = None, dtype: str = "int16", mono: bool = False,
                 queue_blocks: int = 32, duration: float | None = None,
                 timeout: float = 2.0, latency: str | float | None = None,
                 device_rate: int | None = None):
        super().__init__()
        if dtype not in _SCALE:
            raise ValueError(f"dtype must be one of {sorted(_SCALE)}, got {dtype!r}")
        sd = import_sounddevice()
        self._sd = sd
        self.dtype, self.timeout = dtype, float(timeout)
        self.rate = int(rate)
        self.blocksize = int(blocksize or self.rate // 50)
        dev = find_input(sd, device)
        self.device_name = dev["name"]
        self.device_rate = pick_rate(sd, dev, self.rate, channels, dtype, device_rate)
        self.converter = Converter(self.device_rate, self.rate, channels, mono)
        self.channels = self.converter.out_channels
        self._limit = None if duration is None else round(duration * self.device_rate)
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(queue_blocks)))
        self._captured = 0        # device frames that passed through the callback
        self._pending_lost = 0    # device frames lost, not yet attached to a buffer
        self.lost_device_frames = 0
        self.overflows = 0
        self._next_adc = None
        self._done = threading.Event()
        self._limit_reached = False
        self._stream = self._open(sd, dev, channels, latency)

    def _open(self, sd: Any, dev: dict[str, Any], channels: int, latency: Any) -> Any:
        kwargs = {} if latency is None else {"latency": latency}
        device_block = max(1, round(self.blocksize * self.device_rate / self.rate))
        try:
            stream = sd.InputStream(device=dev["index"], samplerate=self.device_rate,
                                    channels=channels, dtype=self.dtype,
                                    blocksize=device_block, callback=self._callback,
                                    finished_callback=self._done.set, **kwargs)
            stream.start()
        except sd.PortAudioError as e:
            raise SourceError(f"cannot open {dev['name']!r} at {self.device_rate} Hz: {e}; "
                              "is another program using it?") from None
        return stream

    # --- PortAudio thread ---------------------------------------------------
    def _lost_by_clock(self, frames: int, time_info: Any, overflow: bool) -> int:
        """Device frames lost before this buffer, from the ADC clock (0 if unknown)."""
        adc = getattr(time_info, "inputBufferAdcTime", 0.0) or 0.0
        expected, self._next_adc = self._next_adc, (adc + frames / self.device_rate
                                                    if adc > 0 else None)
        if not overflow or expected is None or adc <= 0:
            return 0
        return max(0, round((adc - expected) * self.device_rate))

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        overflow = bool(status.input_overflow)
        self.overflows += overflow
        lost = self._lost_by_clock(frames, time_info, overflow)
        self._pending_lost += lost
        self.lost_device_frames += lost
        n = frames if self._limit is None else min(frames, self._limit - self._captured - lost)
        self._captured += lost + max(n, 0)
        if n > 0:
            try:
                self._queue.put_nowait((indata[:n].copy(), self._pending_lost))
                self._pending_lost = 0
            except queue.Full:
                self._pending_lost += n
                self.lost_device_frames += n
        if self._limit is not None and self._captured >= self._limit:
            self._limit_reached = True
            raise self._sd.CallbackStop

    # --- consumer -----------------------------------------------------------
    def _read(self) -> Block | None:
        waited_since = time.monotonic()
        while not self.closed:
            try:
                data, lost = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._done.is_set() and self._queue.empty():
                    return self._finish()
                if time.monotonic() - waited_since > self.timeout:
                    msg = self._stopped_message(f"no audio for {self.timeout:g} s")
                    raise SourceError(msg) from None
                continue
            x = data.astype(np.float32)
            if self.dtype != "float32":
                x *= np.float32(_SCALE[self.dtype])
            y, dropped = self.converter.push(x, lost)
            return self._emit(y, dropped)
        return None

    def _finish(self) -> Block | None:
        if self.ended:
            return None
        self.ended = True
        if not self._limit_reached:
            raise SourceError(self._stopped_message("the input stream stopped"))
        dropped = self.converter.skip(self._pending_lost)
        tail = self.converter.flush()
        return self._emit(tail, dropped) if len(tail) or dropped else None

    def _stopped_message(self, what: str) -> str:
        return (f"{what} from {self.device_name!r} (unplugged?) after {self.frames} samples, "
                f"{self.dropped} dropped, {self.overflows} overflows")

    def _close(self) -> None:
        try:
            self._stream.abort()
            self._stream.close()
        except self._sd.PortAudioError:
            pass

    def _details(self) -> dict[str, Any]:
        return {"device": self.device_name, "device_rate": self.device_rate,
                "dtype": self.dtype, "overflows": self.overflows,
                "lost_device_frames": self.lost_device_frames,
                "queue_blocks": self._queue.maxsize}
