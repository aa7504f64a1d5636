"""IMU sources: ``SerialIMU`` (pyserial), ``UdpIMU`` (one line or frame per datagram), ``CsvIMU``.

Each decodes CSV lines or binary frames (:mod:`edgernn.sources.imu_codec`),
turns rows into evenly spaced samples at ``rate`` (:mod:`edgernn.sources.imu_rows`:
a row is one sample, or with ``time_column`` the values are interpolated by the
column's times, never by arrival time) and yields a Block of every sample
decoded so far.  Malformed lines/frames are counted in ``malformed`` and
skipped.  A serial port that disappears (unplugged) raises ``SourceError`` with
the counts; ``summary()`` still works afterwards.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SourceError
from .base import Block, Source
from .imu_codec import FrameDecoder, LineDecoder
from .imu_rows import RowAssembler

IMU_EXTRA = "pip install 'edgernn[imu]'"


class _ImuSource(Source):
    """Shared decode loop; subclasses implement ``_chunk() -> (bytes | None, final)``."""

    def _setup(self, rate: float, fmt: str, channels: int | None, columns: Sequence[int] | None,
               time_column: int | None, time_unit: float, timeout: float | None,
               header: bool = False) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if fmt not in ("csv", "binary"):
            raise ValueError(f"format must be 'csv' or 'binary', got {fmt!r}")
        self.rate, self.format, self.timeout = float(rate), fmt, timeout
        self.decoder = LineDecoder(header) if fmt == "csv" else FrameDecoder()
        self.rows = RowAssembler(rate, channels, columns, time_column, time_unit)
        self.error: str | None = None

    @property
    def channels(self) -> int:  # known after the first good row
        return self.rows.channels or 0

    def _chunk(self) -> tuple[bytes | None, bool]:
        raise NotImplementedError

    def _read(self) -> Block | None:
        idle_since = time.monotonic()
        while not self.closed:
            data, final = self._chunk()
            if data is None:
                rows, bad = self.decoder.feed(b"", final=True)
                x, bad2 = self.rows.add(rows)
                self.malformed += bad + bad2
                return self._emit(x) if len(x) else None
            if data:
                rows, bad = self.decoder.feed(data, final)
                x, bad2 = self.rows.add(rows)
                self.malformed += bad + bad2
                if len(x):
                    return self._emit(x)
                idle_since = time.monotonic()
            elif self.timeout is not None and time.monotonic() - idle_since > self.timeout:
                self._fail(f"no data for {self.timeout:g} s")
        return None

    def _fail(self, what: str) -> None:
        self.error = what
        self.ended = True
        raise SourceError(f"{self._where()}: {what}; {self.frames} samples, "
                          f"{self.malformed} malformed")

    def _where(self) -> str:
        return self.kind

    def _details(self) -> dict[str, Any]:
        return {"format": self.format, "error": self.error}


def _import_serial() -> Any:
    try:
        import serial
    except ImportError:
        raise SourceError(f"serial IMU input needs the pyserial package: {IMU_EXTRA}") from None
    return serial


def _port_list() -> str:
    try:
        from serial.tools.list_ports import comports
        ports = [p.device for p in comports()]
    except Exception:  # noqa: BLE001 - listing is a courtesy
        ports = []
    return ", ".join(ports) if ports else "none found"


class SerialIMU(_ImuSource):
    """Samples from a serial port (e.g. ``/dev/ttyACM0``, an Arduino printing CSV lines).

    ``rate``: the sensor's sample rate (each row is one sample; with
    ``time_column`` the rows are resampled to it).  ``format``: ``"csv"`` or
    ``"binary"`` (frames as in :mod:`edgernn.sources.imu_codec`).  ``timeout``:
    seconds without bytes before ``SourceError`` (None: wait forever).
    """

    kind = "serial"

    def __init__(self, port: str, rate: float, *, baudrate: int = 115200, format: str = "csv",
                 channels: int | None = None, columns: Sequence[int] | None = None,
                 time_column: int | None = None, time_unit: float = 1.0,
                 timeout: float | None = None):
        super().__init__()
        self._setup(rate, format, channels, columns, time_column, time_unit, timeout)
        serial = _import_serial()
        self.port = port
        self._errors = (serial.SerialException, OSError)
        try:
            self._ser = serial.Serial(port, baudrate=baudrate, timeout=0.05)
        except self._errors as e:
            raise SourceError(f"cannot open serial port {port}: {e}; serial ports: "
                              f"{_port_list()}") from None

    def _chunk(self) -> tuple[bytes | None, bool]:
        try:
            return self._ser.read(max(1, self._ser.in_waiting)), False
        except self._errors as e:
            self._fail(f"the port disappeared (unplugged?): {e}")
        return None, True

    def _where(self) -> str:
        return f"serial port {self.port}"

    def _close(self) -> None:
        try:
            self._ser.close()
        except self._errors:
            pass

    def _details(self) -> dict[str, Any]:
        return {**super()._details(), "port": self.port}


class UdpIMU(_ImuSource):
    """Samples from UDP datagrams, each one CSV line (or several) or one binary frame.

    Binds ``host:port`` (port 0: any free port; see ``address``).
    """

    kind = "udp"

    def __init__(self, port: int, rate: float, *, host: str = "0.0.0.0", format: str = "csv",
                 channels: int | None = None, columns: Sequence[int] | None = None,
                 time_column: int | None = None, time_unit: float = 1.0,
                 timeout: float | None = None):
        super().__init__()
        self._setup(rate, format, channels, columns, time_column, time_unit, timeout)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, int(port)))
        except OSError as e:
            self._sock.close()
            raise SourceError(f"cannot listen on UDP {host}:{port}: {e.strerror}; "
                              "is another program using the port?") from None
        self._sock.settimeout(0.05)
        self.address: tuple[str, int] = self._sock.getsockname()

    def _chunk(self) -> tuple[bytes | None, bool]:
        try:
            return self._sock.recv(65536), True
        except TimeoutError:
            return b"", False
        except OSError as e:
            self._fail(f"the socket failed: {e}")
        return None, True

    def _where(self) -> str:
        return f"UDP {self.address[0]}:{self.address[1]}"

    def _close(self) -> None:
        self._sock.close()

    def _details(self) -> dict[str, Any]:
        return {**super()._details(), "address": f"{self.address[0]}:{self.address[1]}"}


class CsvIMU(_ImuSource):
    """Samples from a CSV file; a first non-numeric line is a header of column names.

    ``time_column`` and ``columns`` take indices or header names.
    """

    kind = "csv"

    def __init__(self, path: str | Path, rate: float, *, columns: Sequence[int | str] | None = None,
                 time_column: int | str | None = None, time_unit: float = 1.0,
                 channels: int | None = None, chunk: int = 16384):
        super().__init__()
        self.path = str(path)
        try:
            self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise SourceError(f"cannot open CSV file {path}: {e.strerror}") from None
        self._chunk_size = int(chunk)
        header = self._peek_header()
        tcol = self._index(time_column, header)
        cols = None if columns is None else [self._index(c, header) for c in columns]
        self._setup(rate, "csv", channels, cols, tcol, time_unit, None, header=True)

    def _peek_header(self) -> list[str] | None:
        probe = LineDecoder(header=True)
        probe.feed(self._f.readline(), final=True)
        self._f.seek(0)
        return probe.header

    def _index(self, col: int | str | None, header: list[str] | None) -> int | None:
        if col is None or isinstance(col, int):
            return col
        if header is None or col not in header:
            raise SourceError(f"{self.path}: no column named {col!r}; the header is "
                              f"{header if header else 'missing (the first line is numeric)'}")
        return header.index(col)

    def _chunk(self) -> tuple[bytes | None, bool]:
        data = self._f.read(self._chunk_size)
        return (data, False) if data else (None, True)

    def _where(self) -> str:
        return self.path

    def _close(self) -> None:
        self._f.close()

    def _details(self) -> dict[str, Any]:
        return {**super()._details(), "path": self.path}
