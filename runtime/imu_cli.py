"""``edgernn imu``: live gesture / activity events from a serial port, UDP or a CSV file.

    edgernn imu [MODEL] (--port DEV [--baud N] | --udp PORT | --csv FILE) [--json]
                [--rate HZ] [--threshold X] [--time-column COL [--time-unit S]]

No MODEL: the bundled ``gesture`` model.  Each line (or binary frame) is one sample
at ``--rate`` (default: the model's rate), however fast the lines arrive: the wall
clock is never used.  With ``--time-column`` the samples are interpolated onto the
rate's grid by that column's times.  Output and exits: see :mod:`edgernn.live_run`.
"""

from __future__ import annotations

import argparse
from typing import Any

from .errors import EdgeRNNError


def add_parser(sub: Any) -> None:
    from .live_run import description

    p = sub.add_parser("imu", help="live gesture events from a serial port, UDP or CSV",
                       description=description(__doc__))
    p.add_argument("model", nargs="?", default="gesture", metavar="MODEL",
                   help="a .ern file or a bundled model's name (default: gesture)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--port", help="serial port, e.g. /dev/ttyACM0")
    src.add_argument("--udp", type=int, metavar="PORT", help="listen for UDP datagrams")
    src.add_argument("--csv", metavar="FILE", help="a CSV file (a header line is allowed)")
    p.add_argument("--baud", type=int, default=115200, help="serial baud rate")
    p.add_argument("--host", default="0.0.0.0", help="UDP address to bind (default: all)")
    p.add_argument("--format", choices=("csv", "binary"), default="csv",
                   help="wire format of serial/UDP samples")
    p.add_argument("--rate", type=float, help="samples per second (default: the model's)")
    p.add_argument("--time-column", help="index or header name of a time column")
    p.add_argument("--time-unit", type=float, default=1.0,
                   help="seconds per unit of the time column (0.001 for millis())")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--threshold", type=float, help="detection threshold for every label")
    p.set_defaults(func=cmd_imu)


def _column(value: str | None) -> int | str | None:
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value


def open_source(args: argparse.Namespace, rate: float, channels: int) -> Any:
    from .sources import CsvIMU, SerialIMU, UdpIMU

    tcol = _column(args.time_column)
    if args.csv:
        return CsvIMU(args.csv, rate, time_column=tcol, time_unit=args.time_unit,
                      channels=channels)
    if isinstance(tcol, str):
        raise EdgeRNNError("--time-column takes a column index for serial and UDP input")
    common = {"format": args.format, "channels": channels, "time_column": tcol,
              "time_unit": args.time_unit}
    if args.port:
        return SerialIMU(args.port, rate, baudrate=args.baud, **common)
    return UdpIMU(args.udp, rate, host=args.host, **common)


def cmd_imu(args: argparse.Namespace) -> int:
    from .live_run import Reporter, run_live
    from .pipeline import Pipeline

    if args.rate is not None and args.rate <= 0:
        raise EdgeRNNError(f"--rate must be positive, got {args.rate}")
    pipe = Pipeline([args.model], rate=args.rate, threshold=args.threshold)
    if not pipe.frontend.channels:
        raise EdgeRNNError(f"{args.model} takes audio; use `edgernn listen`")
    source = open_source(args, pipe.rate, pipe.frontend.channels)
    return run_live(pipe, source, Reporter(args.json, multi=False))
