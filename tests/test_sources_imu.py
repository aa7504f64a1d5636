"""IMU sources over real transports: a pty pair as the serial port, UDP on loopback, CSV files.

Binary frames are built here from the documented layout with struct and a
bit-by-bit CRC-16/CCITT-FALSE (not the runtime's binascii one); interpolation
by a time column is checked against linear interpolation written out here.
"""

from __future__ import annotations

import os
import socket
import struct
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgernn.errors import SourceError
from edgernn.sources import CsvIMU, SerialIMU, UdpIMU
from edgernn.sources.imu_codec import FrameDecoder, LineDecoder

pytest.importorskip("serial")


def crc_ccitt_false(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def frame(values) -> bytes:
    body = bytes([len(values)]) + struct.pack(f"<{len(values)}f", *values)
    return b"\xa5\x5a" + body + struct.pack("<H", crc_ccitt_false(body))


def collect(src, frames: int, deadline: float = 10.0) -> list:
    blocks, end = [], time.monotonic() + deadline
    while src.frames < frames:
        assert time.monotonic() < end, f"only {src.frames} of {frames} samples arrived"
        blocks.append(next(src))
    return blocks


def rows(n: int, channels: int, seed: int = 0) -> np.ndarray:
    """Values that float32 and "%.6g" text both hold exactly enough."""
    return np.round(np.random.default_rng(seed).normal(size=(n, channels)), 3)


# ------------------------------------------------------------------ serial
@pytest.fixture
def pty():
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            pass


def test_serial_csv_lines_and_unplug(pty):
    master, port = pty
    x = rows(120, 3)
    src = SerialIMU(port, rate=100)
    junk = [b"IMU ready v1.2", b"1.0,2.0", b"1,x,3", b"nan,1,2", b"1,2,3,4"]
    for i, r in enumerate(x):
        if i % 30 == 5:
            os.write(master, junk[(i // 30) % len(junk)] + b"\r\n")
        os.write(master, (",".join(f"{v:g}" for v in r) + ("\r\n" if i % 2 else "\n")).encode())
        if i % 40 == 0:
            time.sleep(0.02)   # bursts and pauses: times follow the count, not the clock
    blocks = collect(src, len(x))
    got = np.concatenate([b.data for b in blocks])
    np.testing.assert_array_equal(got, x.astype(np.float32))
    starts = np.cumsum([0] + [len(b) for b in blocks[:-1]])
    np.testing.assert_allclose([b.time for b in blocks], starts / 100, rtol=0, atol=1e-12)
    assert src.malformed == 4 and src.channels == 3
    os.close(master)                      # unplugged
    with pytest.raises(SourceError, match=r"disappeared.*120 samples, 4 malformed"):
        next(src)
    summary = src.summary()
    assert summary["frames"] == 120 and summary["malformed"] == 4 and summary["error"]
    src.close()


def test_serial_binary_frames_with_damage(pty):
    master, port = pty
    x = rows(50, 6, seed=1)
    src = SerialIMU(port, rate=50, format="binary")
    stream = bytearray()
    for i, r in enumerate(x):
        if i == 10:
            stream += b"\x00garbage\xa5"           # one run of junk
        if i == 20:
            bad = bytearray(frame(r))
            bad[7] ^= 0x40                          # one frame with a bad CRC
            stream += bad
        stream += frame(r)
    for k in range(0, len(stream), 37):            # frames split across writes
        os.write(master, bytes(stream[k: k + 37]))
    got = np.concatenate([b.data for b in collect(src, len(x))])
    np.testing.assert_array_equal(got, x.astype(np.float32))
    assert src.malformed == 2
    src.close()


def test_reads_with_no_whole_row_before_the_first_row():
    from edgernn.sources.imu_rows import RowAssembler
    rows_ = RowAssembler(rate=50)
    x, bad = rows_.add([])
    assert x.shape == (0, 0) and bad == 0
    x, bad = rows_.add([[1.0, 2.0]])
    assert x.tolist() == [[1.0, 2.0]] and bad == 0
    assert rows_.add([])[0].shape == (0, 2)
    timed = RowAssembler(rate=50, time_column=0)
    assert timed.add([])[0].shape == (0, 0)


def test_serial_missing_port_lists_ports(tmp_path):
    with pytest.raises(SourceError, match="cannot open serial port"):
        SerialIMU(str(tmp_path / "ttyUSB9"), rate=100)


def test_serial_without_pyserial_says_what_to_install(monkeypatch, pty):
    monkeypatch.setitem(__import__("sys").modules, "serial", None)
    with pytest.raises(SourceError, match=r"pip install 'edgernn\[imu\]'"):
        SerialIMU(pty[1], rate=100)


# --------------------------------------------------------------------- UDP
def test_udp_lines_and_frames():
    x = rows(40, 3, seed=2)
    with UdpIMU(0, rate=100, host="127.0.0.1") as csv_src, \
            UdpIMU(0, rate=100, host="127.0.0.1", format="binary") as bin_src, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i, r in enumerate(x):
            tx.sendto(",".join(f"{v:g}" for v in r).encode(), csv_src.address)
            tx.sendto(frame(r), bin_src.address)
            if i == 7:
                tx.sendto(b"not,a,number", csv_src.address)
                tx.sendto(frame(r)[:-1], bin_src.address)   # truncated datagram
        for src in (csv_src, bin_src):
            got = np.concatenate([b.data for b in collect(src, len(x))])
            np.testing.assert_array_equal(got, x.astype(np.float32))
            assert src.malformed == 1
            assert src.summary()["frames"] == len(x)


def test_udp_port_in_use():
    with UdpIMU(0, rate=100, host="127.0.0.1") as first, \
            pytest.raises(SourceError, match="another program"):
        UdpIMU(first.address[1], rate=100, host="127.0.0.1")


def test_udp_idle_timeout():
    with UdpIMU(0, rate=100, host="127.0.0.1", timeout=0.2) as src, \
            pytest.raises(SourceError, match="no data for 0.2 s"):
        next(src)


# --------------------------------------------------------------------- CSV
def test_csv_without_time_column(tmp_path):
    x = rows(300, 4, seed=3)
    path = tmp_path / "imu.csv"
    path.write_text("ax,ay,az,label\n" + "".join(",".join(f"{v:g}" for v in r) + "\n" for r in x)
                    + "1,2\n")
    src = CsvIMU(path, rate=104, columns=["ax", "az"], chunk=100)
    with src:
        blocks = list(src)
    got = np.concatenate([b.data for b in blocks])
    np.testing.assert_array_equal(got, x[:, [0, 2]].astype(np.float32))
    starts = np.cumsum([0] + [len(b) for b in blocks[:-1]])
    np.testing.assert_allclose([b.time for b in blocks], starts / 104, rtol=0, atol=1e-12)
    assert src.malformed == 1


def lerp_reference(t: np.ndarray, v: np.ndarray, rate: float) -> np.ndarray:
    """Linear interpolation at t0 + k/rate, written out (float64)."""
    k = np.arange(int(np.floor((t[-1] - t[0]) * rate)) + 1)
    grid = t[0] + k / rate
    grid = grid[grid <= t[-1]]
    out = np.empty((len(grid), v.shape[1]))
    for i, g in enumerate(grid):
        j = min(max(np.searchsorted(t, g, side="right") - 1, 0), len(t) - 2)
        w = (g - t[j]) / (t[j + 1] - t[j])
        out[i] = (1 - w) * v[j] + w * v[j + 1]
    return out


def test_csv_time_column_is_resampled(tmp_path):
    rng = np.random.default_rng(4)
    t_ms = np.cumsum(rng.integers(7, 14, size=400)) + 123456   # Arduino millis(), jittery
    x = rows(400, 3, seed=5)
    lines = [f"{t},{a:g},{b:g},{c:g}" for t, (a, b, c) in zip(t_ms, x, strict=True)]
    lines.insert(100, f"{t_ms[98]},9,9,9")                        # time goes back: malformed
    path = tmp_path / "imu.csv"
    path.write_text("t,ax,ay,az\n" + "\n".join(lines) + "\n")
    with CsvIMU(path, rate=50, time_column="t", time_unit=1e-3, chunk=256) as src:
        blocks = list(src)
    got = np.concatenate([b.data for b in blocks])
    want = lerp_reference(t_ms / 1000.0, x, 50)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-6)
    starts = np.cumsum([0] + [len(b) for b in blocks[:-1]])
    np.testing.assert_allclose([b.time for b in blocks], starts / 50, rtol=0, atol=1e-12)
    assert src.malformed == 1


def test_csv_unknown_column_name(tmp_path):
    path = tmp_path / "imu.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(SourceError, match="no column named 'time'"):
        CsvIMU(path, rate=10, time_column="time")


# ------------------------------------------------- decoders: chunking is irrelevant
def _feed_in_pieces(decoder, data: bytes, cuts: list[int], final=True):
    rows_, bad, pos = [], 0, 0
    for c in sorted(set(cuts)):
        r, b = decoder.feed(data[pos:c])
        rows_ += r
        bad += b
        pos = c
    r, b = decoder.feed(data[pos:], final=final)
    return rows_ + r, bad + b


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(st.one_of(
    st.lists(st.floats(-1e3, 1e3, width=32), min_size=1, max_size=8).map(frame),
    st.binary(max_size=12),
    st.lists(st.floats(-1e3, 1e3, width=32), min_size=1, max_size=8)
      .map(lambda v: bytes(bytearray(frame(v))[:-1]) + b"\x00")), max_size=12),
    data=st.data())
def test_frame_decoder_any_chunking_same_result(parts, data):
    stream = b"".join(parts)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    assert _feed_in_pieces(FrameDecoder(), stream, cuts) == \
        _feed_in_pieces(FrameDecoder(), stream, [])


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.one_of(st.lists(st.integers(-999, 999), min_size=3, max_size=3)
                                .map(lambda v: ",".join(map(str, v))),
                                st.text(alphabet="ab,1 ;.", max_size=10)), max_size=20),
       data=st.data())
def test_line_decoder_any_chunking_same_result(lines, data):
    stream = "\r\n".join(lines).encode()
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    got = _feed_in_pieces(LineDecoder(), stream, cuts)
    assert got == _feed_in_pieces(LineDecoder(), stream, [])
    want, bad = [], 0
    for line in lines:
        fields = line.replace(",", " ").replace(";", " ").split()
        try:
            want.append([float(f) for f in fields])
        except ValueError:
            bad += 1
        else:
            if not fields:
                want.pop()
                bad += bool(line.strip())
    assert got == (want, bad)
