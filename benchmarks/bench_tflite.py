"""Per-step latency of converted TFLite models: edgernn ``step`` vs the TFLite interpreter.

Models: microWakeWord ``okay_nabu`` and ``alexa`` (int8 streaming, six resource
variables; from the pymicro-wakeword wheel, fetched with ``pip download --no-deps``
into ``.cache/model_wheels``), and from tests/fixtures/tflite the int8 ring-buffer model
and the fused LSTM stepped one frame per invoke (float and int8).  Before timing, every
model's outputs are checked against the interpreter over 300 steps (equal for int8 on
TFLite's reference kernels, <= 1e-5 for float).  Then, in one process, one thread,
interleaved passes: edgernn ``step(x, out=buf)`` vs the interpreter's
``set_tensor + invoke + get_tensor`` with its state carried, for the default interpreter
(XNNPACK) and the builtin kernels without a delegate.  Reported: median / p90 µs per
step and the interpreter's time over edgernn's.

    NUMBA_NUM_THREADS=1 python benchmarks/bench_tflite.py      # --steps N --repeats N
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import common  # noqa: F401 - pins every library to one thread before numpy
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "tflite"
WHEEL = "pymicro-wakeword==2.5.0"


def wheel_model(name: str) -> bytes | None:
    cache = Path(os.environ.get("EDGERNN_WHEEL_CACHE", ROOT / ".cache" / "model_wheels"))
    cache.mkdir(parents=True, exist_ok=True)
    if not list(cache.glob("pymicro_wakeword-*.whl")):
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--dest", str(cache), WHEEL], capture_output=True, timeout=300)
        if r.returncode:
            return None
    whl = next(cache.glob("pymicro_wakeword-*.whl"))
    with zipfile.ZipFile(whl) as z:
        return z.read(f"pymicro_wakeword/models/{name}.tflite")


def models() -> dict[str, bytes | None]:
    out = {f"microWakeWord {n} (int8)": wheel_model(n) for n in ("okay_nabu", "alexa")}
    for name, title in (("stream_ringbuf_qvars_int8", "ring-buffer conv (int8)"),
                        ("k2_lstm_step_int8", "LSTM 16->32 + Dense 4 (int8)"),
                        ("k2_lstm_step_f32", "LSTM 16->32 + Dense 4 (float)")):
        out[title] = (FIXTURES / f"{name}.tflite").read_bytes()
    return out


class Interp:
    """The interpreter on one model, invoked step by step (state carried)."""

    def __init__(self, data: bytes, resolver: str) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kind = {"default": OpResolverType.AUTO, "builtin":
                OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                "ref": OpResolverType.BUILTIN_REF}[resolver]
        self.it = Interpreter(model_content=data, num_threads=1,
                              experimental_op_resolver_type=kind)
        self.it.allocate_tensors()
        d = self.it.get_input_details()[0]
        self.i, self.shape = d["index"], d["shape"]
        self.o = self.it.get_output_details()[0]["index"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.it.set_tensor(self.i, x.reshape(self.shape))
        self.it.invoke()
        return self.it.get_tensor(self.o)


def frames(graph, n: int) -> np.ndarray:
    v = graph.inputs[0]
    rng = np.random.default_rng(11)
    if v.dtype == "i8":
        return rng.integers(-128, 128, (n, *v.shape)).astype(np.int8)
    return rng.standard_normal((n, *v.shape)).astype(np.float32)


def check(data: bytes, graph, xs: np.ndarray) -> str:
    """edgernn vs the interpreter over len(xs) steps; raises if they disagree."""
    import edgernn

    integer = graph.inputs[0].dtype != "f32"
    ref = Interp(data, "ref" if integer else "builtin")
    want = np.stack([ref(x)[0] for x in xs])
    s = edgernn.Model(graph).stream()
    got = np.stack([s.step(x) for x in xs])
    err = np.abs(got.astype(np.float64) - want.astype(np.float64)).max()
    if err > (0 if integer else 1e-5):
        sys.exit(f"ABORT: edgernn and the interpreter disagree (max abs error {err})")
    return "equal" if err == 0 else f"max abs error {err:.1g}"


def time_steps(fn, xs: np.ndarray, warm: int) -> np.ndarray:
    clock = time.perf_counter_ns
    for x in xs[:warm]:
        fn(x)
    out = np.empty(len(xs), np.int64)
    for k, x in enumerate(xs):
        t0 = clock()
        fn(x)
        out[k] = clock() - t0
    return out / 1e3


def bench(data: bytes, steps: int, repeats: int) -> tuple[dict, str]:
    import edgernn
    from edgernn.converters import load_tflite

    graph = load_tflite(data)
    agreement = check(data, graph, frames(graph, 300))
    xs = frames(graph, steps)
    s = edgernn.Model(graph).stream()
    y = s.step(xs[0])
    out = np.empty_like(y)  # out= takes float arrays only: integer outputs are returned
    step = (lambda x: s.step(x, out=out)) if y.dtype.kind == "f" else s.step
    peers = {"edgernn step": step,
             "TFLite (XNNPACK, default)": Interp(data, "default"),
             "TFLite builtin (no delegate)": Interp(data, "builtin")}
    samples: dict[str, list] = {k: [] for k in peers}
    for _ in range(repeats):  # interleaved, so drift hits every peer alike
        for k, fn in peers.items():
            samples[k].append(time_steps(fn, xs, min(50, steps)))
    res = {k: (float(np.median(np.concatenate(v))),
               float(np.percentile(np.concatenate(v), 90))) for k, v in samples.items()}
    return res, agreement


def table(results: dict) -> str:
    rows = ["| model | runtime | median µs/step | p90 µs/step | × edgernn |",
            "|---|---|---:|---:|---:|"]
    for title, (res, agreement) in results.items():
        base = res["edgernn step"][0]
        for i, (peer, (med, p90)) in enumerate(res.items()):
            label = f"{title}; outputs {agreement}" if i == 0 else ""
            rows.append(f"| {label} | {peer} | {med:.1f} | {p90:.1f} | {med / base:.2f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=2000, help="timed steps per pass")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="do not touch results.md")
    common.add_quick(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.repeats, args.no_write = 30, 1, True
    results, skipped = {}, []
    for title, data in models().items():
        if data is None:
            skipped.append(f"{title}: skipped (pip download of {WHEEL} failed: offline?)")
            continue
        results[title] = bench(data, args.steps, args.repeats)
    text = table(results) + "".join(f"\n\n{s}" for s in skipped)
    text += (f"\n\n{args.steps} steps x {args.repeats} interleaved passes, one thread "
             "(NUMBA_NUM_THREADS=1, TFLite num_threads=1); edgernn steps with `out=` "
             "(float outputs; integer ones are returned).")
    print(text)
    if not args.no_write:
        common.write_section("tflite", "## TFLite models: per-step latency\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
