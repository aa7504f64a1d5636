"""The ``edgernn`` command: info, run, warmup, demo, convert, quantize.

User mistakes (a missing or corrupt file, frames of the wrong shape, a missing
extra) print one line ``edgernn: error: ...`` and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._version import __version__
from .errors import EdgeRNNError


def cmd_info(args: argparse.Namespace) -> int:
    from .demo import resolve_model
    from .info import summary, text
    from .weightfile import load_graph

    info = summary(load_graph(resolve_model(args.model)))
    print(json.dumps(info, indent=2) if args.json else text(info, args.model))
    return 0


def read_frames(path: str) -> np.ndarray:
    """Frames from .npy (T, ...) or .csv (one frame per row; a header row is skipped)."""
    p = Path(path)
    if not p.exists():
        raise EdgeRNNError(f"{path}: no such file")
    if p.suffix.lower() == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except ValueError as e:
            raise EdgeRNNError(f"{path}: not a readable .npy file ({e})") from None
    if p.suffix.lower() in (".csv", ".txt"):
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

    if args.output:
        _output_format(args.output)  # refuse a wrong extension before any work
    frames = read_frames(args.input)
    path = resolve_model(args.model)  # a file, or a bundled model's name
    if os.environ.get("EDGERNN_AOT", "1") != "0":
        from . import aot

        t0, stream = time.perf_counter(), aot.cached(path)
        if stream is not None:  # `edgernn warmup --aot` built it: numba is not imported
            return _run_aot(args, stream, frames, t0)
    from .model import load

    t0, compiled = time.perf_counter(), _kernels_compiled()
    model = load(path)
    frames = _fit_frames(model.inputs, frames, args.input)
    if len(frames):
        model.stream().run(frames[:1])  # loads (or compiles) the kernels: timed apart
    t1 = time.perf_counter()
    out = model.stream().run(frames)
    dt = time.perf_counter() - t1
    if isinstance(out, dict):
        out = out[model.graph.outputs[0]]
    how = "compiled now" if _kernels_compiled() > compiled else "from the cache"
    _report(args, out, model.labels, len(frames), t1 - t0, ("model and kernels", how),
            dt, "run() over the whole file")
    return 0


def _run_aot(args: argparse.Namespace, stream, frames: np.ndarray, t0: float) -> int:
    """``edgernn run`` on the ahead-of-time build of the model (numpy only)."""
    labels = stream.meta.get("labels")
    frames = _fit_frames({stream.meta["input"]: tuple(stream.meta["frame"])}, frames,
                         args.input)
    t1 = time.perf_counter()
    ys = [y for y in (stream.step(f) for f in frames) if y is not None]
    dt = time.perf_counter() - t1
    out = np.stack(ys) if ys else np.zeros((0, *stream.meta["out_shape"]), np.float32)
    _report(args, out, labels, len(frames), t1 - t0,
            ("model", "ahead-of-time build, no numba"), dt, "step() per frame")
    return 0


def _report(args: argparse.Namespace, out: np.ndarray, labels, n: int, ready: float,
            what: tuple[str, str], dt: float, how: str) -> None:
    """Write or print the outputs, then the timing line on stderr; ``what``: (what was
    made ready, from where)."""
    if args.output:
        _write(args.output, out)
    else:
        _print_frames(out, labels, args.every)
    sys.stdout.flush()  # the table before the timing line on a shared terminal
    print(f"# {what[0]} ready in {ready * 1e3:.0f} ms ({what[1]}); {n} "
          f"frame{'s' if n != 1 else ''} in {dt * 1e3:.2f} ms = {dt / max(n, 1) * 1e6:.1f} "
          f"µs/frame ({how})", file=sys.stderr)


def _fit_frames(inputs: dict, frames: np.ndarray, path: str) -> np.ndarray:
    """Rows of a CSV reshaped to the model's frame shape (one-input models only)."""
    (name, shape), = inputs.items() if len(inputs) == 1 else ((None, None),)
    if name is None:
        raise EdgeRNNError("`edgernn run` feeds models with one input; use the Python API")
    size = int(np.prod(shape))
    if frames.ndim == 2 and len(shape) != 1:
        if frames.shape[1] != size:
            raise EdgeRNNError(f"{path}: {frames.shape[1]} values per row, the model's "
                               f"input {name!r} takes frames of shape {shape} ({size} values)")
        frames = frames.reshape(len(frames), *shape)
    return frames


def _kernels_compiled() -> int:
    from ._cache import COLD_NOTICE

    return COLD_NOTICE.compiles


def _rows(out: np.ndarray) -> np.ndarray:
    return out.reshape(out.shape[0], int(np.prod(out.shape[1:])))


OUTPUT_FORMATS = (".npy", ".csv", ".txt")  # NumPy binary; comma-separated text (both)


def _output_format(path: str) -> str:
    """The suffix of an ``-o`` path, refused unless it names a format ``run`` writes."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise EdgeRNNError(f"-o {path}: unknown output format {suffix or '(no extension)'!r}; "
                           f"name the file .npy (NumPy binary) or .csv/.txt (text)")
    return suffix


def _write(path: str, out: np.ndarray) -> None:
    """.csv/.txt as comma-separated text, .npy as NumPy binary, to exactly that path."""
    try:
        if _output_format(path) == ".npy":
            with open(path, "wb") as f:
                np.save(f, out)
        else:
            np.savetxt(path, _rows(out), delimiter=",", fmt="%.7g")
    except OSError as e:
        raise EdgeRNNError(f"cannot write {path}: {e.strerror or e}") from None


def _print_frames(out: np.ndarray, labels: list[str] | None, every: int) -> None:
    flat = _rows(out)
    named = bool(labels) and len(labels) == flat.shape[1]
    if named:
        print(f"{'frame':>6}  {'label':<16} score")
    else:
        more = f" (first 16 of {flat.shape[1]})" if flat.shape[1] > 16 else ""
        print(f"{'frame':>6}  outputs{more}")
    for t in range(0, len(flat), max(every, 1)):
        row = flat[t]
        if named:
            k = int(np.argmax(row))
            print(f"{t:6d}  {labels[k]:<16} {row[k]:.4f}")
        else:
            print(f"{t:6d}  " + " ".join(f"{v:.5g}" for v in row[:16])
                  + (" ..." if row.size > 16 else ""))


def cmd_warmup(args: argparse.Namespace) -> int:
    from .warmup import Progress, warmup

    if args.aot and not args.models:
        raise EdgeRNNError("--aot builds the models named after it: edgernn warmup --aot "
                           "MODEL.ern ...")
    from .demo import resolve_model

    models = [str(resolve_model(m)) for m in args.models]  # files or bundled names
    t0 = time.perf_counter()
    progress = Progress(sys.stderr)
    try:
        compiled = warmup(models, progress)
    finally:
        progress.close()
    from .kernels import CACHE_DIR

    print(f"{compiled} kernel signatures ready in {time.perf_counter() - t0:.1f} s "
          f"(cache: {CACHE_DIR})")
    for name, model in zip(args.models, models, strict=True) if args.aot else ():
        _build_aot(name, model)
    return 0


def _build_aot(model: str, path: str) -> None:
    """Build ``model``'s step (the file ``path``) ahead of time into the cache, for this
    CPU."""
    from . import aot
    from .aotbuild import build

    t0, folder = time.perf_counter(), aot.cache_dir(path)
    try:
        build(path, folder, cpu="host")
    except ValueError as e:
        raise EdgeRNNError(f"{model}: cannot be built ahead of time: {e}") from None
    except Exception as e:  # numba.pycc: no C compiler, no setuptools ...
        raise EdgeRNNError(f"{model}: the ahead-of-time build failed ({type(e).__name__}: "
                           f"{e}); it needs a C compiler (apt install gcc) and setuptools"
                           ) from None
    if aot.cached(path) is None:
        raise EdgeRNNError(f"{model}: the ahead-of-time build in {folder} does not load")
    print(f"{model}: ahead-of-time build ready in {time.perf_counter() - t0:.1f} s "
          f"({folder}); `edgernn run` uses it without numba")


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run

    return run(args.model, args.limit)


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import measure, report
    from .demo import resolve_model

    res = measure(str(resolve_model(args.model)), args.vs, calls=args.calls,
                  repeats=args.repeats, rate=args.rate, tol=args.tol, cold=not args.no_cold)
    print(json.dumps(res, indent=2) if args.json else report(res))
    return 0


def cmd_toolchain(args: argparse.Namespace) -> int:
    return args.toolchain_run(args)


#: commands whose options live in the converters: name -> (help, module, function that adds
#: the arguments).  They are imported only when the command is used (the others start fast).
TOOLCHAIN = {
    "convert": ("convert an ONNX or TFLite model to .ern (needs: pip install "
                "'edgernn[convert]')", "cli", "add_arguments"),
    "quantize": ("quantize a .ern model: fp16, int8, int8-full or int4, with accuracy "
                 "reports (needs: pip install 'edgernn[convert]')", "quantize.cli",
                 "add_command"),
}


def _add_toolchain(sub, name: str, full: bool) -> None:
    """A converters command; its options load only when it is the command (``full``)."""
    text, module, adder = TOOLCHAIN[name]
    p = sub.add_parser(name, help=text, description=text)
    if not full:
        p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        return
    try:
        mod = importlib.import_module(f".converters.{module}", __package__)
    except ImportError as e:
        missing = getattr(e, "name", None) or str(e)

        def unavailable(args: argparse.Namespace) -> int:
            raise EdgeRNNError(f"the converters need extra packages ({missing} is missing): "
                               f"pip install 'edgernn[convert]'")

        p.add_argument("rest", nargs=argparse.REMAINDER, help="the converter's arguments")
        p.set_defaults(func=cmd_toolchain, toolchain_run=unavailable)
        return
    getattr(mod, adder)(p)
    p.set_defaults(func=cmd_toolchain, toolchain_run=mod.run)


MODEL_HELP = "a .ern file, or a bundled model's name (gesture)"


def build_parser(with_convert: bool | str = True) -> argparse.ArgumentParser:
    """The whole command line; ``with_convert`` (True, or one toolchain command's name)
    loads the converters' own options."""
    parser = argparse.ArgumentParser(prog="edgernn", description="Streaming RNN inference "
                                     "on small CPUs. `edgernn COMMAND --help` for more.")
    parser.add_argument("--version", action="version", version=f"edgernn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("info", help="describe a .ern model: inputs, outputs, layers, sizes")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("run", help="stream frames from a file through a model")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--input", "-i", required=True, help="frames: .npy (T, ...) or .csv")
    p.add_argument("--output", "-o", help="write outputs to .npy (NumPy binary) or .csv "
                                          "(text) instead of printing them")
    p.add_argument("--every", type=int, default=1, help="print every N-th frame")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("warmup", help="compile and cache every kernel (run once at install)")
    p.add_argument("models", nargs="*", help="also run these .ern models once")
    p.add_argument("--aot", action="store_true",
                   help="also build these models' step ahead of time for this CPU (needs a "
                        "C compiler): `edgernn run` then starts without numba")
    p.set_defaults(func=cmd_warmup)
    p = sub.add_parser("demo", help="stream bundled IMU recordings through the bundled "
                                    "gesture model and report accuracy and latency")
    p.add_argument("--model", help="another .ern taking 6-channel IMU frames")
    p.add_argument("--limit", type=int, help="only the first N recordings")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("bench", help="time a model here: per-frame latency (median, p99), "
                                     "chunks, many streams, cold start, memory; vs peers")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--vs", default="", help="peers, comma-separated: onnxruntime, tflite, "
                                            "torch, each name[:FILE] (default FILE: the "
                                            "model's with .onnx/.tflite/.pt)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--rate", type=float, help="frames per second the model is fed at "
                                              "(default: its front end's, else 100)")
    p.add_argument("--calls", type=int, default=2000, help="timed frames per round")
    p.add_argument("--repeats", type=int, default=5, help="rounds (peers interleaved)")
    p.add_argument("--tol", type=float, default=1e-4,
                   help="max |error| a peer may differ from edgernn (checked first)")
    p.add_argument("--no-cold", action="store_true", help="skip the start-up and memory "
                                                          "measurements (child processes)")
    p.set_defaults(func=cmd_bench)
    from . import imu_cli, listen

    listen.add_parser(sub)
    imu_cli.add_parser(sub)
    for name in TOOLCHAIN:
        _add_toolchain(sub, name, with_convert is True or with_convert == name)
    return parser


def _command(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    parser = build_parser(with_convert=command if command in TOOLCHAIN else False)
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return rc
    except BrokenPipeError:  # `edgernn demo | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (EdgeRNNError, OSError) as e:
        print(f"edgernn: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
