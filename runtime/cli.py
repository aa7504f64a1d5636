"""The ``edgernn`` command: info, run, warmup, demo, convert.

User mistakes (a missing or corrupt file, frames of the wrong shape, a missing
extra) print one line ``edgernn: error: ...`` and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._version import __version__
from .errors import EdgeRNNError


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cmd_info(args: argparse.Namespace) -> int:
    from .demo import resolve_model
    from .info import summary
    from .weightfile import load_graph

    info = summary(load_graph(resolve_model(args.model)))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"model        {args.model}")
    for key in ("inputs", "outputs"):
        print(f"{key:<12} " + ", ".join(f"{k} {tuple(v)}" for k, v in info[key].items()))
    print("layers")
    for layer in info["layers"]:
        macs = f"{layer['macs']:>10,} MACs" if layer["macs"] else ""
        print(f"  {layer['name']:<24} {layer['kind']:<10} -> {tuple(layer['output'])!s:<14}{macs}")
    print(f"parameters   {info['parameters']:,}")
    print("weights      " + ", ".join(f"{d} {_fmt_bytes(b)}"
                                      for d, b in info["bytes_by_dtype"].items()))
    print(f"state        {_fmt_bytes(info['state_bytes_per_stream'])} per stream")
    print(f"MACs/frame   {info['macs_per_frame']:,}")
    if info["output_every"] > 1:
        print(f"emits        every {info['output_every']} frames")
    for k, v in info["metadata"].items():
        print(f"{k:<12} {v}")
    return 0


def read_frames(path: str) -> np.ndarray:
    """Frames from .npy (T, ...) or .csv (one frame per row; a header row is skipped)."""
    p = Path(path)
    if not p.exists():
        raise EdgeRNNError(f"{path}: no such file")
    if p.suffix == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except ValueError as e:
            raise EdgeRNNError(f"{path}: not a readable .npy file ({e})") from None
    if p.suffix in (".csv", ".txt"):
        try:
            rows = np.genfromtxt(p, delimiter=",", dtype=np.float32, ndmin=2)
        except ValueError as e:
            raise EdgeRNNError(f"{path}: not a numeric CSV ({e})") from None
        if len(rows) and np.isnan(rows[0]).all():
            rows = rows[1:]  # a header row
        return rows
    raise EdgeRNNError(f"{path}: unknown input format {p.suffix!r}; use .npy or .csv")


def cmd_run(args: argparse.Namespace) -> int:
    from .demo import resolve_model
    from .model import load

    model = load(resolve_model(args.model))  # a file, or a bundled model's name
    frames = read_frames(args.input)
    (name, shape), = model.inputs.items() if len(model.inputs) == 1 else ((None, None),)
    if name is None:
        raise EdgeRNNError("`edgernn run` feeds models with one input; use the Python API")
    size = int(np.prod(shape))
    if frames.ndim == 2 and len(shape) != 1:
        if frames.shape[1] != size:
            raise EdgeRNNError(f"{args.input}: {frames.shape[1]} values per row, the model's "
                               f"input {name!r} takes frames of shape {shape} ({size} values)")
        frames = frames.reshape(len(frames), *shape)
    t0 = time.perf_counter()
    out = model.stream().run(frames)
    dt = time.perf_counter() - t0
    if isinstance(out, dict):
        out = out[model.graph.outputs[0]]
    if args.output:
        _write(args.output, out)
    else:
        _print_frames(out, model.labels, args.every)
    n = len(frames)
    print(f"# {n} frame{'s' if n != 1 else ''} in {dt * 1e3:.1f} ms "
          f"({dt / max(n, 1) * 1e6:.1f} µs/frame, including kernel loading)", file=sys.stderr)
    return 0


def _rows(out: np.ndarray) -> np.ndarray:
    return out.reshape(out.shape[0], int(np.prod(out.shape[1:])))


def _write(path: str, out: np.ndarray) -> None:
    """.csv as text, anything else as .npy written to exactly that path."""
    try:
        if path.endswith(".csv"):
            np.savetxt(path, _rows(out), delimiter=",", fmt="%.7g")
        else:
            with open(path, "wb") as f:
                np.save(f, out)
    except OSError as e:
        raise EdgeRNNError(f"cannot write {path}: {e.strerror or e}") from None


def _print_frames(out: np.ndarray, labels: list[str] | None, every: int) -> None:
    flat = _rows(out)
    for t in range(0, len(flat), max(every, 1)):
        row = flat[t]
        if labels and len(labels) == row.size:
            k = int(np.argmax(row))
            print(f"{t:6d}  {labels[k]:<16} {row[k]:.4f}")
        else:
            print(f"{t:6d}  " + " ".join(f"{v:.5g}" for v in row[:16])
                  + (" ..." if row.size > 16 else ""))


def cmd_warmup(args: argparse.Namespace) -> int:
    from .warmup import warmup

    t0 = time.perf_counter()
    compiled = warmup(args.models)
    from .kernels import CACHE_DIR

    print(f"{compiled} kernel signatures ready in {time.perf_counter() - t0:.1f} s "
          f"(cache: {CACHE_DIR})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run

    return run(args.model, args.limit)


def cmd_convert(args: argparse.Namespace) -> int:
    return args.convert_run(args)


def _add_convert(sub) -> None:
    p = sub.add_parser("convert", help="convert an ONNX/TFLite model to .ern "
                                       "(needs: pip install 'edgernn[convert]')")
    try:
        from .converters import cli as conv_cli
    except ImportError as e:
        missing = getattr(e, "name", None) or str(e)

        def unavailable(args: argparse.Namespace) -> int:
            raise EdgeRNNError(f"the converters need extra packages ({missing} is missing): "
                               f"pip install 'edgernn[convert]'")

        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=cmd_convert, convert_run=unavailable)
        return
    conv_cli.add_arguments(p)
    p.set_defaults(func=cmd_convert, convert_run=conv_cli.run)


def build_parser(with_convert: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgernn", description="Streaming RNN inference.")
    parser.add_argument("--version", action="version", version=f"edgernn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="describe a .ern model")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("run", help="stream frames from a file through a model")
    p.add_argument("model", help="a .ern file, or a bundled model's name (gesture)")
    p.add_argument("--input", "-i", required=True, help="frames: .npy (T, ...) or .csv")
    p.add_argument("--output", "-o", help="write outputs to .npy or .csv instead of printing")
    p.add_argument("--every", type=int, default=1, help="print every N-th frame")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("warmup", help="compile and cache every kernel (run once at install)")
    p.add_argument("models", nargs="*", help="also run these .ern models once")
    p.set_defaults(func=cmd_warmup)
    p = sub.add_parser("demo", help="stream bundled IMU recordings through the bundled "
                                    "gesture model and report accuracy and latency")
    p.add_argument("--model", help="another .ern taking 6-channel IMU frames")
    p.add_argument("--limit", type=int, help="only the first N recordings")
    p.set_defaults(func=cmd_demo)
    if with_convert:
        _add_convert(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(with_convert=bool(argv) and argv[0] == "convert")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (EdgeRNNError, OSError) as e:
        print(f"edgernn: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `edgernn demo | head`: the reader left, nothing is wrong
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
