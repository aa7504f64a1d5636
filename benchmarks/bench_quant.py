"""Per-step latency of every quantization scheme, one run, one thread, same weights.

    NUMBA_NUM_THREADS=1 python benchmarks/bench_quant.py [--iters 2000] [--quick]

For LSTM 40->128 and GRU 40->128 (+ Dense 12, the shared benchmark weights) it builds
the fp32 graph and its fp16 / int8 / int8-full / int4 quantizations (int8-full
calibrated on 400 random frames), checks each against the fp32 model first (max abs
error and argmax agreement over 100 frames), then times ``Stream.step`` for all of
them interleaved.  Reports the median µs per step and the ratio to fp32; writes the
"quant" section of results.md.
"""

from __future__ import annotations

import argparse
import time

import common  # first: pins every library to one thread before numpy is imported
import numpy as np

from edgernn.converters.quantize import SCHEMES, QuantizationError, quantize

MODELS = ("lstm", "gru")


def _models(name: str) -> dict:
    import edgernn

    graph = common.edgernn_graph(common.make_net(common.SPECS[name]))
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((400, 40)).astype(np.float32)
    out = {}
    for scheme in SCHEMES:
        try:
            out[scheme] = edgernn.Model(quantize(graph, scheme, calibration=calib))
        except (QuantizationError, ImportError) as e:
            print(f"note: {name} {scheme} skipped ({e})")
    return out


def _check(models: dict) -> dict[str, tuple[float, float]]:
    x = np.random.default_rng(1).standard_normal((100, 40)).astype(np.float32)
    ref = models["none"].stream().run(x)
    res = {}
    for scheme, m in models.items():
        y = m.stream().run(x)
        res[scheme] = (float(np.abs(y - ref).max()), float(np.mean(y.argmax(1) ==
                                                                   ref.argmax(1))))
    return res


def _time(models: dict, iters: int, repeats: int) -> dict[str, float]:
    x = np.random.default_rng(2).standard_normal((iters, 40)).astype(np.float32)
    streams = {k: m.stream() for k, m in models.items()}
    for s in streams.values():
        for f in x[:50]:
            s.step(f)
    times: dict[str, list[float]] = {k: [] for k in streams}
    clock = time.perf_counter_ns
    for _ in range(repeats):
        for k, s in streams.items():  # interleaved: drift hits every scheme alike
            step = s.step
            for f in x:
                t0 = clock()
                step(f)
                times[k].append(clock() - t0)
    return {k: float(np.median(v)) / 1e3 for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    common.add_quick(ap)
    args = ap.parse_args()
    if args.quick:
        args.iters, args.repeats, args.no_write = 20, 1, True
    lines = ["| model | scheme | step µs (median) | vs fp32 | max abs err vs fp32 | "
             "argmax agreement |", "|---|---|---:|---:|---:|---:|"]
    for name in MODELS:
        models = _models(name)
        checks = _check(models)
        us = _time(models, args.iters, args.repeats)
        for scheme in models:
            err, agree = checks[scheme]
            label = "fp32" if scheme == "none" else scheme
            lines.append(f"| {common.SPECS[name].title} | {label} | {us[scheme]:.2f} | "
                         f"{us[scheme] / us['none']:.2f} | {err:.3g} | {100 * agree:.0f} % |")
    text = "\n".join(lines) + "\n\n" + common.machine_info()
    print(text)
    if not args.no_write:
        common.write_section("quant", "## Quantization schemes, per-step latency\n\n" + text)


if __name__ == "__main__":
    main()
