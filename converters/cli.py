"""``edgernn convert``: arguments and entry point (wired into the ``edgernn`` CLI).

    edgernn convert model.onnx -o model.ern [--verify] [--tolerance 1e-4]
                   [--state h_in=h_out ...] [--axes x=BTF ...] [--frames 200]
                   [--const sr=16000 ...] [--frame input=576 ...]

Exit codes: 0 converted; 1 converted but verification failed (nothing written);
2 the model cannot be converted (the message lists every unsupported node).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"{flag} {item!r}: expected NAME=VALUE")
        out[key] = value
    return out


def _metadata(args: argparse.Namespace) -> dict:
    meta: dict = dict(_pairs(args.meta, "--meta"))
    if args.labels:
        text = args.labels
        if text.startswith("@"):
            try:
                text = Path(text[1:]).read_text()
            except OSError as e:
                raise ValueError(f"--labels {args.labels}: cannot read ({e.strerror})") from None
            labels = [line.strip() for line in text.splitlines() if line.strip()]
        else:
            labels = [t.strip() for t in text.split(",")]
        meta["labels"] = labels
    return meta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="source model (.onnx; the format is found by suffix "
                                      "or by the file's first bytes)")
    parser.add_argument("-o", "--output", help="the .ern file to write (default: the model's "
                                               "name with .ern)")
    parser.add_argument("--verify", action="store_true",
                        help="run the source model and edgernn side by side and compare")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="max abs error allowed by --verify (default 1e-4)")
    parser.add_argument("--frames", type=int, default=200,
                        help="frames of random input for --verify (default 200)")
    parser.add_argument("--state", action="append", default=[], metavar="IN=OUT",
                        help="state input IN is fed from output OUT of the previous frame "
                             "(when names do not make it clear); repeatable")
    parser.add_argument("--axes", action="append", default=[], metavar="INPUT=LAYOUT",
                        help="axes of an input, one letter each: T time, B batch, other "
                             "letters features, e.g. x=BTF; repeatable")
    parser.add_argument("--const", action="append", default=[], metavar="INPUT=VALUE",
                        help="fix a configuration input (e.g. a sample rate) to VALUE at "
                             "conversion: folded, never streamed, If nodes on it resolved; "
                             "e.g. sr=16000; repeatable")
    parser.add_argument("--frame", action="append", default=[], metavar="INPUT=N[xM]",
                        help="length of an input's free frame axes (a chunk of samples of a "
                             "step model), e.g. input=576; default: chosen from the model's "
                             "strided convs and stated in the report; repeatable")
    parser.add_argument("--labels", help="class labels of the output, comma-separated, or "
                                         "@FILE with one per line; stored in the .ern")
    parser.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                        help="extra metadata stored in the .ern; repeatable")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    from .quantize.cli import add_arguments as add_quantize_arguments

    add_quantize_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from edgernn.errors import EdgeRNNError

    from .convert import convert
    from .errors import VerificationError

    dst = args.output or str(Path(args.model).with_suffix(".ern"))
    try:
        report = convert(args.model, dst, verify=args.verify, tolerance=args.tolerance,
                         frames=args.frames, state_pairs=_pairs(args.state, "--state"),
                         axes=_pairs(args.axes, "--axes"), consts=_pairs(args.const, "--const"),
                         frame=_pairs(args.frame, "--frame"), metadata=_metadata(args),
                         quantization=args)
    except VerificationError as e:
        print(f"edgernn: error: {e}", file=sys.stderr)
        return 1
    except (EdgeRNNError, ValueError, OSError) as e:
        print(f"edgernn: error: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(report)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry: ``python -m edgernn.converters.cli model.onnx -o model.ern``."""
    parser = argparse.ArgumentParser(prog="edgernn convert")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
