"""Gesture events from a replayed serial port: `edgernn imu` reads a pseudo-terminal.

A pty pair stands in for the USB serial cable of an Arduino/ESP32 that prints one CSV
line per IMU sample (accel x y z, gyro x y z).  This script plays the sensor: it writes
the bundled BasicMotions test recordings (held out of training) into the master side
at 10 Hz times ``--speed``, while ``edgernn imu --port <slave>`` streams every line
through the bundled gesture model and prints events.  At the end the cable is
"unplugged" (the master closed): the command prints its summary and exits 0.

    python demos/gesture/replay_serial.py              # 4 recordings at 10x speed
    python demos/gesture/replay_serial.py --speed 1 --limit 8 --json

Event times are stream times (sample count / 10 Hz), so they do not depend on
``--speed``: the lines carry no clock, each one is the next sample.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import tty

from edgernn.demo import load_samples


def wait_open(pid: int, path: str, deadline: float = 300.0) -> None:
    """pyserial flushes input when it opens the port: write only after that."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == path
                   for fd in os.listdir(f"/proc/{pid}/fd")):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"edgernn imu never opened {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--speed", type=float, default=10.0, help="replay speed (1 = real time)")
    ap.add_argument("--limit", type=int, default=4, help="recordings to play (one per class)")
    ap.add_argument("--json", action="store_true", help="JSON lines from edgernn imu")
    args = ap.parse_args()
    data = load_samples()
    x, y = data["x"][:args.limit], data["y"][:args.limit]
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    cmd = [sys.executable, "-m", "edgernn.cli", "imu", "--port", port]
    proc = subprocess.Popen(cmd + (["--json"] if args.json else []))
    wait_open(proc.pid, port)
    print(f"# replaying {len(x)} recordings into {port} at {args.speed:g}x: "
          + ", ".join(f"{10 * k:.0f}-{10 * (k + 1):.0f} s {data['labels'][c]}"
                      for k, c in enumerate(y)), file=sys.stderr, flush=True)
    period = 0.1 / args.speed
    start = time.monotonic()
    for n, row in enumerate(x.reshape(-1, 6)):
        os.write(master, (",".join(f"{v:.6g}" for v in row) + "\r\n").encode())
        time.sleep(max(0.0, start + (n + 1) * period - time.monotonic()))
    time.sleep(1.0)  # let the reader take the last lines
    os.close(master)  # unplugged
    code = proc.wait(timeout=60)
    os.close(slave)
    return code


if __name__ == "__main__":
    sys.exit(main())
