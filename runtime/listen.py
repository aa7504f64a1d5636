"""``edgernn listen``: live keyword spotting from a microphone, a WAV file or stdin.

    edgernn listen [MODEL ...] [--device D | --wav FILE | --stdin] [--json]
                   [--threshold X] [--realtime] [--gate DB] [--duration S]

No MODEL: the bundled keyword model ``kws``.  Several models share one front end
(they must have been trained on the same one) and each reports its own detections.
No source given: the default microphone; without one, the bundled keyword
recording (``kws_sample.wav``), with a one-line note on stderr.  A WAV is
processed as fast as possible unless ``--realtime``.  Output and exits: see
:mod:`edgernn.live_run`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .errors import EdgeRNNError, SourceError

SAMPLE = "kws_sample.wav"


def add_parser(sub: Any) -> None:
    from .live_run import description

    p = sub.add_parser("listen", help="live keyword spotting from a microphone, WAV or stdin",
                       description=description(__doc__))
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="a .ern file or a bundled model's name (default: kws)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--device", "-d", help="input device: an index or a name substring")
    src.add_argument("--wav", help="a WAV file (any rate and channels; resampled, mixed to mono)")
    src.add_argument("--stdin", action="store_true",
                     help="raw s16le mono PCM on stdin (e.g. from arecord -t raw)")
    p.add_argument("--rate", type=int, default=16000, help="sample rate of --stdin PCM")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--threshold", type=float, help="detection threshold for every label")
    p.add_argument("--realtime", action="store_true", help="pace a WAV at its real rate")
    p.add_argument("--gate", type=float, metavar="DB",
                   help="skip the models while the level is below DB dBFS (e.g. -50)")
    p.add_argument("--duration", type=float, help="stop after this many seconds of audio")
    p.set_defaults(func=cmd_listen)


def bundled_sample() -> str:
    from .demo import _resource

    path = _resource(SAMPLE)
    if path is None:
        raise EdgeRNNError(f"the bundled recording {SAMPLE} is missing from the package")
    return str(path)


def open_source(args: argparse.Namespace, rate: float) -> Any:
    """The audio source the arguments ask for (a microphone, falling back to the sample)."""
    from .sources import Microphone, RawPCM, WavFile

    block = int(rate) // 50  # 20 ms blocks, as a microphone delivers them
    if args.wav:
        return WavFile(args.wav, rate=int(rate), mono=True, block=block)
    if args.stdin:
        return RawPCM(args.rate, 1, stream=sys.stdin.buffer, rate=int(rate), block=block)
    if args.device is not None:
        dev = int(args.device) if args.device.isdigit() else args.device
        return Microphone(dev, rate=int(rate), mono=True, duration=args.duration)
    try:
        return Microphone(None, rate=int(rate), mono=True, duration=args.duration)
    except SourceError as e:
        reason = str(e).split(";")[0].split(":")[0]
        print(f"edgernn: no microphone ({reason}); listening to the bundled recording "
              f"{SAMPLE} instead", file=sys.stderr, flush=True)
        return WavFile(bundled_sample(), rate=int(rate), mono=True, block=block)


class _Limited:
    """A source cut after ``seconds`` of stream time (for files and stdin)."""

    def __init__(self, source: Any, seconds: float) -> None:
        self.source, self.seconds = source, seconds

    def __enter__(self) -> _Limited:
        self.source.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.source.__exit__(*exc)

    def __iter__(self):
        for block in self.source:
            if block.time >= self.seconds:
                return
            yield block

    def summary(self) -> dict[str, Any]:
        return self.source.summary()


def cmd_listen(args: argparse.Namespace) -> int:
    from .gates import EnergyGate
    from .live_run import Reporter, run_live
    from .pipeline import Pipeline

    models = args.models or ["kws"]
    gate = EnergyGate(args.gate) if args.gate is not None else None
    pipe = Pipeline(models, threshold=args.threshold, gate=gate)
    if pipe.frontend.channels:
        raise EdgeRNNError(f"{models[0]} takes IMU frames, not audio; use `edgernn imu`")
    source = open_source(args, pipe.rate)
    if args.duration is not None and not hasattr(source, "device_name"):
        source = _Limited(source, args.duration)
    reporter = Reporter(args.json, multi=len(models) > 1)
    return run_live(pipe, source, reporter, realtime=args.realtime)
