"""PCM from files and pipes: ``WavFile`` and ``RawPCM`` (s16le, e.g. on stdin).

Both read the bytes block by block (a file of any length streams in constant
memory), decode them to float32, resample to the wanted rate and optionally
mix to mono (:class:`~edgernn.sources.base.Converter`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import SourceError
from .base import Block, Converter, Source
from .wav import WavFormat, decode, read_header


class _PcmReader(Source):
    """Shared loop: read n frames of bytes, decode, convert, emit; flush at the end."""

    def _setup(self, in_rate: int, channels: int, rate: int | None, mono: bool,
               block: int) -> None:
        if block < 1:
            raise ValueError(f"block must be at least 1 frame, got {block}")
        self.in_rate = int(in_rate)
        self.rate = int(rate or in_rate)
        self.block = int(block)
        self.converter = Converter(self.in_rate, self.rate, channels, mono)
        self.channels = self.converter.out_channels
        # read about `block` output frames per block
        self._in_block = max(1, round(self.block * self.in_rate / self.rate))

    def _bytes(self, n: int) -> bytes:
        raise NotImplementedError

    def _decode(self, raw: bytes) -> np.ndarray:
        raise NotImplementedError

    def _read(self) -> Block | None:
        raw = self._bytes(self._in_block)
        if raw:
            y, _ = self.converter.push(self._decode(raw))
            return self._emit(y)
        if self.ended:
            return None
        self.ended = True
        tail = self.converter.flush()
        return self._emit(tail) if len(tail) else None


class WavFile(_PcmReader):
    """Stream a WAV file as Blocks of about ``block`` frames at ``rate``.

    ``rate`` None keeps the file's rate; ``mono`` averages its channels.
    Integer, float and extensible WAVs of any rate and channel count
    (:mod:`edgernn.sources.wav`); a truncated or corrupt file raises
    ``SourceError`` when opened.
    """

    kind = "wav"

    def __init__(self, path: str | Path, rate: int | None = None, *, mono: bool = False,
                 block: int = 1024):
        super().__init__()
        self.path = str(path)
        try:
            self._f: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise SourceError(f"cannot open WAV file {path}: {e.strerror}") from None
        try:
            self.format: WavFormat = read_header(self._f, self.path)
        except (SourceError, OSError, ValueError) as e:
            self._f.close()
            if isinstance(e, SourceError):
                raise
            raise SourceError(f"{path}: unreadable WAV header ({e})") from None
        fmt = self.format
        self._setup(fmt.rate, fmt.channels, rate, mono, block)
        self._f.seek(fmt.data_offset)
        self._left = fmt.frames

    def _bytes(self, n: int) -> bytes:
        n = min(n, self._left)
        self._left -= n
        raw = self._f.read(n * self.format.frame_bytes)
        if len(raw) != n * self.format.frame_bytes:
            raise SourceError(f"{self.path}: the file ended early while reading: it was "
                              "truncated while open")
        return raw

    def _decode(self, raw: bytes) -> np.ndarray:
        fmt = self.format
        return decode(raw, fmt.bits, fmt.is_float, fmt.channels)

    def _close(self) -> None:
        self._f.close()

    def _details(self) -> dict[str, Any]:
        f = self.format
        return {"path": self.path, "file_rate": f.rate, "file_channels": f.channels,
                "bits": f.bits, "float": f.is_float}


class RawPCM(_PcmReader):
    """Raw signed 16-bit little-endian interleaved PCM from a binary stream.

    ``stream`` defaults to standard input (``sys.stdin.buffer``), e.g.
    ``arecord -f S16_LE -r 16000 -c 1 -t raw | edgernn listen -``.  ``in_rate``
    and ``channels`` describe the input; ``rate`` is the wanted output rate.
    A partial sample frame at the end is dropped and counted as malformed.
    """

    kind = "raw"

    def __init__(self, in_rate: int, channels: int = 1, *, stream: BinaryIO | None = None,
                 rate: int | None = None, mono: bool = False, block: int = 1024):
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        self._in_channels = int(channels)
        self._stream = stream if stream is not None else sys.stdin.buffer
        self._setup(in_rate, channels, rate, mono, block)

    def _bytes(self, n: int) -> bytes:
        want = n * 2 * self._in_channels
        parts, got = [], 0
        while got < want:
            chunk = self._stream.read(want - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        raw = b"".join(parts)
        extra = len(raw) % (2 * self._in_channels)
        if extra:
            self.malformed += 1
            raw = raw[: len(raw) - extra]
        return raw

    def _decode(self, raw: bytes) -> np.ndarray:
        return decode(raw, 16, False, self._in_channels)

    def _details(self) -> dict[str, Any]:
        return {"input_rate": self.in_rate, "input_channels": self._in_channels}
