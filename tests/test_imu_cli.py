"""``edgernn imu`` over a real pseudo-terminal (the stand-in for /dev/ttyACM0), UDP and CSV.

The reference is composed here: the bundled gesture model on the float64 reference
backend, a fresh ``GestureDetector`` with the model's detection defaults, and
sample ``t`` at stream time ``(t + 1) / rate``: lines carry no clock, so bursts and
pauses in their arrival must not move any time.  Closing the pty's master is the
unplugged cable: the command ends cleanly with its summary and exit code 0.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import termios
import time
import tty

import numpy as np
import pytest

from edgernn.demo import bundled_model, load_samples
from edgernn.model import load
from edgernn.postprocess import GestureDetector

CLI = [sys.executable, "-m", "edgernn.cli"]


def recordings(n: int = 4) -> np.ndarray:
    return load_samples()["x"][:n].reshape(-1, 6).astype(np.float32)


def expected(x: np.ndarray, rate: float) -> list[tuple[float, str]]:
    model = load(bundled_model("gesture"))
    probs = model.stream(backend="reference").run(x)
    det = GestureDetector(model.labels, threshold=0.8, frames=round(rate))
    return [(round(e.time, 4), e.label) for t, p in enumerate(probs)
            for e in det.update(p, (t + 1) / rate)]


def lines(x: np.ndarray) -> list[bytes]:
    return [(",".join(repr(float(v)) for v in row) + "\r\n").encode() for row in x]


def parse(out: str) -> tuple[list[dict], dict]:
    objs = [json.loads(line) for line in out.splitlines()]
    assert objs[-1]["event"] == "summary"
    return objs[:-1], objs[-1]


def wait_open(pid: int, path: str, deadline: float = 120.0) -> None:
    """Until process ``pid`` has ``path`` open (pyserial flushes input when it opens)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == path
                   for fd in os.listdir(f"/proc/{pid}/fd")):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the command never opened {path}")


def drained(fd: int, deadline: float = 60.0) -> None:
    """Until the pty's input queue is empty (the reader took every byte)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if int.from_bytes(fcntl.ioctl(fd, termios.TIOCINQ, b"\0\0\0\0"), "little") == 0:
            time.sleep(0.3)  # and decoded them
            return
        time.sleep(0.05)
    raise AssertionError("the command stopped reading the port")


@pytest.fixture
def pty():
    pytest.importorskip("serial")
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no line editing: bytes pass as they are
    yield master, slave, os.ttyname(slave)
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            pass


def test_pty_stream_in_bursts_then_unplugged(pty):
    master, slave, port = pty
    x = recordings()
    p = subprocess.Popen([*CLI, "imu", "--port", port, "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    wait_open(p.pid, port)
    data = lines(x)
    data.insert(57, b"IMU ready v1.2\r\n")  # a boot message: malformed, skipped
    for i in range(0, len(data), 37):
        os.write(master, b"".join(data[i:i + 37]))
        time.sleep(0.05 if i % 2 else 0.0)  # bursts and pauses
    drained(slave)
    os.close(master)  # unplugged
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    dets, summary = parse(out)
    assert [(d["time"], d["label"]) for d in dets] == expected(x, 10.0)
    assert summary["frames"] == len(x) and summary["dropped"] == 0
    assert summary["malformed"] == 1 and summary["detections"] == len(dets)
    assert "disappeared" in err and "Traceback" not in err


def test_csv_file_at_another_rate(tmp_path):
    x = recordings(2)
    path = tmp_path / "imu.csv"
    path.write_bytes(b"ax,ay,az,gx,gy,gz\n" + b"".join(lines(x)))
    p = subprocess.run([*CLI, "imu", "gesture", "--csv", str(path), "--json", "--rate", "20"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    dets, summary = parse(p.stdout)
    assert [(d["time"], d["label"]) for d in dets] == expected(x, 20.0)
    assert summary["frames"] == len(x) and summary["seconds"] == len(x) / 20


def test_udp_datagrams_and_sigint():
    x = recordings(1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    p = subprocess.Popen([*CLI, "imu", "--udp", str(port), "--host", "127.0.0.1", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        end = time.monotonic() + 120
        while not any(f"{port:04X}" in line.split()[1] for line in
                      open("/proc/net/udp").read().splitlines()[1:]):
            assert time.monotonic() < end and p.poll() is None, p.stderr.read()
            time.sleep(0.05)
        for line in lines(x):
            s.sendto(line, ("127.0.0.1", port))
            time.sleep(0.001)
    time.sleep(1.0)
    p.send_signal(2)  # Ctrl-C
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    dets, summary = parse(out)
    assert [(d["time"], d["label"]) for d in dets] == expected(x[:summary["frames"]], 10.0)
    assert summary["frames"] == len(x)


def test_wrong_model_for_imu_is_a_clear_error(tmp_path):
    p = subprocess.run([*CLI, "imu", "kws", "--csv", str(tmp_path / "none.csv")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "edgernn listen" in p.stderr and "Traceback" not in p.stderr
