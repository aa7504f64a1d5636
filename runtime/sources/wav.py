"""WAV (RIFF) parsing and PCM decoding, written from the format definition.

The stdlib ``wave`` module refuses float data and WAVE_FORMAT_EXTENSIBLE, so
the chunks are walked here: ``RIFF <size> WAVE``, then chunks of ``<id> <u32 LE
size> <data>`` padded to an even length; ``fmt `` and ``data`` are required,
everything else (LIST, fact, cue, ...) is skipped.  Supported encodings:

=========================  ====================================================
format tag                 samples -> float32
=========================  ====================================================
1 PCM, 8 bit               unsigned: ``(u - 128) / 128``
1 PCM, 16/24/32 bit        signed little-endian: ``s / 2**(bits-1)``
3 IEEE float, 32/64 bit    as stored (64 bit rounded to float32)
0xFFFE EXTENSIBLE          as the tag in the first two bytes of its sub-format GUID
=========================  ====================================================

Samples are scaled by their container size (a 24-in-32-bit extensible file is
decoded as 32 bit), as libsndfile does.  Every problem raises ``SourceError``
naming it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ..errors import SourceError

PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
_REPAIR = "re-export it, or try `sox --ignore-length in.wav out.wav`"


@dataclass(frozen=True)
class WavFormat:
    """Where the samples are and how to read them."""

    rate: int
    channels: int
    bits: int            # container bits per sample
    is_float: bool
    data_offset: int     # byte offset of the first sample in the file
    frames: int          # samples per channel

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8


def _chunks(f: BinaryIO, file_size: int):
    """Yield (id, offset of data, size) for each chunk after the RIFF header."""
    pos = 12
    while pos + 8 <= file_size:
        f.seek(pos)
        cid, size = struct.unpack("<4sI", f.read(8))
        yield cid, pos + 8, size
        pos += 8 + size + (size & 1)


def _parse_fmt(raw: bytes, name: str) -> tuple[int, int, int, int, int]:
    if len(raw) < 16:
        raise SourceError(f"{name}: the fmt chunk is {len(raw)} bytes, shorter than 16: "
                          f"the file is corrupt; {_REPAIR}")
    tag, channels, rate, _, align, bits = struct.unpack("<HHIIHH", raw[:16])
    if tag == EXTENSIBLE:
        if len(raw) < 40:
            raise SourceError(f"{name}: WAVE_FORMAT_EXTENSIBLE fmt chunk of {len(raw)} bytes "
                              f"(needs 40): the file is corrupt; {_REPAIR}")
        tag = struct.unpack("<H", raw[24:26])[0]
    return tag, channels, rate, align, bits


def _check_format(name: str, tag: int, channels: int, rate: int, align: int,
                  bits: int) -> None:
    if tag not in (PCM, FLOAT):
        raise SourceError(f"{name}: WAV encoding {tag:#x} is not supported (only PCM integer "
                          "and IEEE float); convert it, e.g. `sox in.wav -e signed-integer "
                          "-b 16 out.wav`")
    ok_bits = (8, 16, 24, 32) if tag == PCM else (32, 64)
    if bits not in ok_bits:
        kind = "integer" if tag == PCM else "float"
        raise SourceError(f"{name}: {bits}-bit {kind} samples are not supported "
                          f"({'/'.join(map(str, ok_bits))} are); convert with sox")
    if channels < 1 or rate < 1:
        raise SourceError(f"{name}: the header says {channels} channels at {rate} Hz: "
                          f"the file is corrupt; {_REPAIR}")
    if align != channels * bits // 8:
        raise SourceError(f"{name}: block align {align} does not match {channels} channels "
                          f"of {bits} bits: the file is corrupt; {_REPAIR}")


def read_header(f: BinaryIO, name: str) -> WavFormat:
    """Parse the RIFF chunks of an open binary file; raise SourceError on any problem."""
    f.seek(0, 2)
    file_size = f.tell()
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        raise SourceError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    if head[:4] == b"RIFX":
        raise SourceError(f"{name}: big-endian (RIFX) WAV is not supported; convert it with "
                          "`sox in.wav -L out.wav`")
    fmt = data = None
    for cid, offset, size in _chunks(f, file_size):
        if cid == b"fmt ":
            fmt = _parse_fmt(f.read(min(size, 64)), name)
        elif cid == b"data":
            data = (offset, size)
            break
    if fmt is None:
        raise SourceError(f"{name}: no fmt chunk before the samples: the file is corrupt "
                          f"or truncated; {_REPAIR}")
    _check_format(name, *fmt)
    if data is None:
        raise SourceError(f"{name}: no data chunk: the file is truncated or empty; {_REPAIR}")
    tag, channels, rate, align, bits = fmt
    offset, size = data
    if offset + size > file_size:
        raise SourceError(f"{name}: the data chunk says {size} bytes but the file ends after "
                          f"{file_size - offset}: the file is truncated; {_REPAIR}")
    if size % align:
        raise SourceError(f"{name}: the data chunk ({size} bytes) is not a whole number of "
                          f"{align}-byte samples: the file is corrupt; {_REPAIR}")
    return WavFormat(rate, channels, bits, tag == FLOAT, offset, size // align)


def decode(raw: bytes, bits: int, is_float: bool, channels: int) -> np.ndarray:
    """Little-endian sample bytes -> f32[n, channels] in [-1, 1) for integers."""
    if is_float:
        x = np.frombuffer(raw, "<f4" if bits == 32 else "<f8").astype(np.float32)
    elif bits == 8:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / np.float32(128)
    elif bits == 24:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        s = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8) >> 8
        x = s.astype(np.float32) / np.float32(2 ** 23)
    else:
        s = np.frombuffer(raw, "<i2" if bits == 16 else "<i4")
        x = s.astype(np.float32) / np.float32(2.0 ** (bits - 1))
    return x.reshape(-1, channels)
