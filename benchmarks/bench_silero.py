"""Silero VAD per 32 ms chunk, one thread, same process: edgernn ``step`` vs onnxruntime.

    NUMBA_NUM_THREADS=1 python benchmarks/bench_silero.py [--quick] [--no-write]

For every ONNX variant of the silero-vad wheel (fetched by ``pip download``, see
demos/vad/silero.py) it converts the model, checks that edgernn and onnxruntime give
the same speech probabilities chunk by chunk on real speech (espeak-ng with silences;
random chunks when espeak-ng is missing), max |err| <= 1e-4, then times both on the
same chunks: edgernn ``Stream.step(chunk, out=...)`` and onnxruntime ``sess.run``
with the state fed back (the Silero wrapper's own loop), interleaved, ``--repeats``
times.  Reports the median and p90 µs per chunk and the ratio edgernn / onnxruntime.
Writes the table to stdout and to ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import common  # first: pins every library to one thread before numpy is imported
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demos" / "vad"))
import silero  # noqa: E402

TOL = 1e-4


def chunks() -> tuple[np.ndarray, str]:
    try:
        audio, _ = silero.speech_with_silences(24.0)
        return silero.chunks(audio), "24 s of espeak-ng speech with silences"
    except silero.Unavailable as e:
        rng = np.random.default_rng(0)
        return (rng.standard_normal((750, 576)) * 0.1).astype(np.float32), f"random ({e})"


def peers(path: Path, consts: dict, work: Path):
    """(edgernn step, onnxruntime step, edgernn reset) for one variant."""
    import edgernn
    from edgernn.converters import convert

    convert(path, work / "m.ern", consts=consts)
    stream = edgernn.load(work / "m.ern").stream()
    out = np.zeros(stream.step(np.zeros(576, np.float32)).shape, np.float32)
    stream.reset()
    ort = silero.OrtSilero(path, consts, threads=1)

    def ours(x):
        stream.step(x, out=out)
        return float(out.reshape(-1)[0])

    return ours, ort.step, (stream.reset, ort.reset)


def time_calls(fn, frames: np.ndarray) -> np.ndarray:
    clock = time.perf_counter_ns
    d = np.empty(len(frames), np.int64)
    for i, f in enumerate(frames):
        t0 = clock()
        fn(f)
        d[i] = clock() - t0
    return d / 1000.0


def bench(name: str, path: Path, consts: dict, frames: np.ndarray, repeats: int) -> tuple:
    with tempfile.TemporaryDirectory() as tmp:
        ours, ort, resets = peers(path, consts, Path(tmp))
        a = np.array([ours(f) for f in frames])
        b = np.array([ort(f) for f in frames])
        err = float(np.abs(a - b).max())
        if err > TOL:
            raise SystemExit(f"{name}: edgernn and onnxruntime differ by {err:.3g} > {TOL}")
        times = {"edgernn": [], "ort": []}
        for _ in range(repeats):  # interleaved, so drift hits both alike
            for key, fn in (("edgernn", ours), ("ort", ort)):
                for r in resets:
                    r()
                times[key].append(time_calls(fn, frames))
    e, o = (np.concatenate(times[k]) for k in ("edgernn", "ort"))
    return (float(np.median(e)), float(np.percentile(e, 90)), float(np.median(o)),
            float(np.percentile(o, 90)), err)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="two variants, 100 chunks, 2 repeats")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="do not touch results.md")
    args = ap.parse_args(argv)
    try:
        wheel = silero.fetch()
    except silero.Unavailable as e:
        print(f"skipped: {e}", file=sys.stderr)
        return 0
    frames, what = chunks()
    names = list(silero.VARIANTS)
    repeats = args.repeats
    if args.quick:
        names, frames, repeats = names[3:5], frames[:100], 2
    rows = ["| variant | edgernn step µs (p90) | ORT run, state fed back µs (p90) | "
            "edgernn / ORT | max abs err |", "|---|---:|---:|---:|---:|"]
    for name in names:
        em, ep, om, op, err = bench(name, wheel / name, silero.VARIANTS[name], frames, repeats)
        rows.append(f"| {name} | **{em:.1f}** ({ep:.1f}) | {om:.1f} ({op:.1f}) | "
                    f"{em / om:.2f} | {err:.1g} |")
        print(rows[-1], file=sys.stderr)
    md = "\n\n".join([
        "## Silero VAD per 32 ms chunk (batch 1, one thread)", common.machine_info(),
        "\n".join(rows),
        f"silero-vad {silero.VERSION}; {len(frames)} chunks of 576 samples ({what}), "
        f"{repeats} repeats, peers interleaved; median and p90 over every call. Both peers "
        f"were first checked chunk by chunk on the same chunks (max |err| ≤ {TOL:g}).",
    ])
    print(md)
    if not args.no_write and not args.quick:
        common.write_section("silero", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
