"""IMU wire formats: CSV text lines and a small binary frame, as streaming decoders.

**CSV lines** (what ``Serial.println(ax); ...`` sketches print): numbers
separated by commas, semicolons, tabs or spaces (a run of them is one
separator; leading and trailing ones are ignored), one sample per line, ``\\n``
or ``\\r\\n`` endings.  A line that is not all finite numbers (a boot message, a
cut-off line, ``nan``) is *malformed*: counted and skipped.  Lines longer than
4096 bytes are malformed too, so garbage without newlines cannot grow memory.

**Binary frame** (little-endian), one sample per frame::

    offset  size  field
    0       2     sync bytes 0xA5 0x5A
    2       1     n, the number of values (1..64)
    3       4*n   the values, float32 little-endian
    3+4*n   2     CRC-16/CCITT-FALSE of bytes 2 .. 3+4*n-1 (n and the values),
                  little-endian: poly 0x1021, init 0xFFFF, no reflection, no final xor

An Arduino sends one with::

    uint16_t crc16(const uint8_t *p, size_t len) {     // CRC-16/CCITT-FALSE
      uint16_t crc = 0xFFFF;
      while (len--) { crc ^= (uint16_t)(*p++) << 8;
        for (int i = 0; i < 8; i++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1; }
      return crc;
    }
    void send(const float *v, uint8_t n) {               // AVR/ARM are little-endian
      uint8_t buf[3 + 4 * 64 + 2] = {0xA5, 0x5A, n};
      memcpy(buf + 3, v, 4 * n);
      uint16_t c = crc16(buf + 2, 1 + 4 * n);
      buf[3 + 4 * n] = c & 0xFF; buf[4 + 4 * n] = c >> 8;
      Serial.write(buf, 5 + 4 * n);
    }

A frame with a bad CRC, n = 0 / n > 64 or a non-finite value is one malformed
unit; the decoder then searches for the next sync bytes.  Other bytes between
frames are skipped, and each run of them counts as one malformed unit.
"""

from __future__ import annotations

import math
import re
import struct
from binascii import crc_hqx

SYNC = b"\xa5\x5a"
MAX_VALUES = 64
MAX_LINE = 4096
_SPLIT = re.compile(rb"[,;\s]+")


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF)."""
    return crc_hqx(data, 0xFFFF)


def parse_line(line: bytes) -> list[float] | None:
    """A CSV line -> its numbers, or None when any field is not a finite number."""
    fields = _SPLIT.split(line.strip(b" \t\r\n\v\f,;"))
    try:
        row = [float(f) for f in fields]
    except ValueError:
        return None
    if not row or not all(math.isfinite(v) for v in row):
        return None
    return row


class LineDecoder:
    """Bytes -> text rows.  ``feed(data, final)`` returns (rows, malformed count).

    ``final`` ends the stream (or one datagram): a last line without newline
    counts as a line.  With ``header=True`` a first line that is not numeric is
    kept as ``self.header`` (column names) instead of being malformed.
    """

    def __init__(self, header: bool = False):
        self._buf = b""
        self._want_header = header
        self.header: list[str] | None = None

    def _row(self, line: bytes) -> tuple[list[float] | None, int]:
        if not line.strip():
            return None, 0
        row = parse_line(line)
        if row is None and self._want_header:
            self.header = [f.decode("utf-8", "replace").strip()
                           for f in re.split(rb"[,;\t]", line.strip())]
            self._want_header = False
            return None, 0
        self._want_header = False
        return row, int(row is None)

    def feed(self, data: bytes, final: bool = False) -> tuple[list[list[float]], int]:
        lines = (self._buf + data).split(b"\n")
        self._buf = b"" if final else lines.pop()
        bad = 0
        if len(self._buf) > MAX_LINE:
            self._buf, bad = b"", 1
        rows = []
        for line in lines:
            if len(line) > MAX_LINE:
                bad += 1
                continue
            row, b = self._row(line)
            bad += b
            if row is not None:
                rows.append(row)
        return rows, bad


class FrameDecoder:
    """Bytes -> rows of binary frames.  ``feed(data, final)`` returns (rows, malformed)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_junk = False   # inside a run of bytes that are not a good frame

    def _junk(self) -> int:
        """Count a run of junk once."""
        first = not self._in_junk
        self._in_junk = True
        return int(first)

    def _frame(self, start: int) -> tuple[list[float] | None, int]:
        """Decode at a sync: (values, end) on success, (None, end) if more bytes are needed,
        (None, -1) if the frame is bad."""
        buf = self._buf
        if start + 3 > len(buf):
            return None, len(buf) + 1
        n = buf[start + 2]
        end = start + 5 + 4 * n
        if n == 0 or n > MAX_VALUES:
            return None, -1
        if end > len(buf):
            return None, end
        body = bytes(buf[start + 2: end - 2])
        if crc16(body) != int.from_bytes(buf[end - 2: end], "little"):
            return None, -1
        values = list(struct.unpack(f"<{n}f", body[1:]))
        return (values, end) if all(math.isfinite(v) for v in values) else (None, -1)

    def feed(self, data: bytes, final: bool = False) -> tuple[list[list[float]], int]:
        buf = self._buf
        buf += data
        rows, bad, pos = [], 0, 0
        while True:
            start = buf.find(SYNC, pos)
            if start < 0:   # keep a last 0xA5: it may begin a sync
                keep = len(buf) - 1 if buf[-1:] == SYNC[:1] else len(buf)
                bad += self._junk() if keep > pos else 0
                pos = max(pos, keep)
                break
            if start > pos:
                bad += self._junk()
            values, end = self._frame(start)
            if end == -1:   # a bad frame counts once; its bytes belong to it
                bad += 1
                self._in_junk, pos = True, start + 1
            elif values is None:
                pos = start
                break
            else:
                rows.append(values)
                self._in_junk, pos = False, end
        del buf[:pos]
        if final:
            bad += self._junk() if buf else 0
            buf.clear()
            self._in_junk = False
        return rows, bad
