"""``edgernn quantize`` and the quantization options of ``edgernn convert``.

    edgernn quantize IN.ern -o OUT.ern --quantize int8 [--calibrate frames.npy]
                    [--method minmax|percentile] [--percentile 99.99]
                    [--keep-float NAME[,NAME]] [--group-size 32]
                    [--verify] [--eval data.npz] [--report]

Exit codes: 0 written; 2 a mistake (the message says which).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edgernn.ir import Graph

from . import SCHEMES, quantize
from .calibrate import sequences
from .errors import QuantizationError
from .report import QuantReport, assess, load_eval, sensitivity, weight_bytes


def add_arguments(parser: argparse.ArgumentParser, default: str = "none") -> None:
    """The quantization options (shared by ``convert`` and ``quantize``)."""
    parser.add_argument("--quantize", default=default, choices=SCHEMES,
                        help="weight (and activation) precision: fp16, int8 (dynamic range, "
                             "the usual choice), int8-full (integer activations; needs "
                             f"--calibrate), int4 (default {default})")
    parser.add_argument("--calibrate", metavar="DATA",
                        help="representative input: .npy frames (T, *frame) or .npz with one "
                             "sequence per key; streamed through the float model")
    parser.add_argument("--method", default="minmax", choices=("minmax", "percentile"),
                        help="how calibration ranges are taken (default minmax)")
    parser.add_argument("--percentile", type=float, default=99.99,
                        help="with --method percentile: clip ranges at this percentile")
    parser.add_argument("--keep-float", default="", metavar="NAME[,NAME]",
                        help="ops whose weights stay float (see the --report table)")
    parser.add_argument("--group-size", type=int, default=32,
                        help="int4: weights per scale along the input axis (default 32)")
    parser.add_argument("--eval", metavar="DATA",
                        help="labelled data, .npz with x (N, T, *frame) and y (N,) or (N, T): "
                             "report float and quantized accuracy")
    parser.add_argument("--report", action="store_true",
                        help="also print the per-layer sensitivity table")


def apply(graph: Graph, args: argparse.Namespace) -> tuple[Graph, QuantReport | None]:
    """Quantize ``graph`` as the options say; the report when asked for."""
    if args.quantize == "none":
        if args.calibrate or args.keep_float or args.report:
            raise QuantizationError("--calibrate, --keep-float and --report need --quantize")
        return graph, None
    options = dict(calibration=args.calibrate, keep_float=_names(args.keep_float),
                   group_size=args.group_size, method=args.method, percentile=args.percentile)
    q = quantize(graph, args.quantize, **options)
    report = QuantReport(args.quantize, weight_bytes(graph), weight_bytes(q))
    if getattr(args, "verify", False) or args.report or args.eval:
        seqs, labels, report.data = _data(graph, args)
        report.assessment = assess(graph, q, seqs, labels)
        if args.report:
            options.pop("keep_float")
            report.sensitivity = sensitivity(graph, args.quantize, seqs, labels, **options)
    return q, report


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _data(graph: Graph, args: argparse.Namespace):
    if args.eval:
        seqs, labels = load_eval(args.eval, graph)
        return seqs, labels, f"{len(seqs)} labelled sequences of {args.eval}"
    if args.calibrate:
        return sequences(args.calibrate, graph), None, f"calibration data {args.calibrate}"
    rng = np.random.default_rng(0)
    seqs = [{v.name: rng.standard_normal((200, *v.shape)).astype(np.float32)
             for v in graph.inputs}]
    return seqs, None, "200 random frames; pass --calibrate or --eval for real data"


def add_command(parser: argparse.ArgumentParser) -> None:
    """``edgernn quantize``'s own arguments."""
    parser.add_argument("model", help="a float .ern model, or a bundled model's name (gesture)")
    parser.add_argument("-o", "--output", required=True, help="the quantized .ern to write")
    parser.add_argument("--verify", action="store_true",
                        help="compare with the float model (error, agreement, accuracy)")
    add_arguments(parser, default="int8")


def run(args: argparse.Namespace) -> int:
    import edgernn
    from edgernn.errors import EdgeRNNError

    try:
        if Path(args.output).suffix != ".ern":
            raise QuantizationError(f"-o {args.output}: the output is an edgernn model; "
                                    f"name it with .ern")
        from edgernn.demo import resolve_model

        graph = edgernn.load(resolve_model(args.model)).graph
        q, report = apply(graph, args)
        edgernn.save(q, args.output)
    except (EdgeRNNError, OSError) as e:
        print(f"edgernn: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    if report is not None:
        print(report)
    return 0
