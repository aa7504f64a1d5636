"""Where the time of one ``Stream.step(frame)`` goes: kernels, the fused driver, Python.

    NUMBA_NUM_THREADS=1 python benchmarks/profile_step.py [--models lstm,crnn] [--no-write]
    python benchmarks/profile_step.py --quick     # seconds, writes nothing (CI runs this)

A step is one compiled call (:mod:`edgernn.fusedstep`): its driver ``run_ops`` calls
every op's kernel through its native entry.  Timings (µs per frame, best of
interleaved loops, thread CPU time so that other processes' time slices do not count):

* ``Stream.step``: the public call (fast path: checks, output allocation, one
  compiled call that loads the frame, runs the ops and copies the output);
* ``per-op step``: the same stream with one compiled call per op (``EDGERNN_FUSED=0``),
  what every step cost before the fused step;
* ``driver``: ``run_ops`` called from a jitted loop (the ops, no Python at all);
* ``kernel compute``: every op's kernels called from jitted loops on the binder's
  arrays (``call.parts(1)``), summed.

``driver - compute`` is what the driver adds (rebuilding array views from its tables,
the indirect calls); ``step - driver`` is Python and the one dispatch.

``weights KB`` is what one step reads of the model's constants, and ``read floor`` the
time a jitted loop takes just to sum that many bytes (a buffer of that size, warm in
the caches, as the weights are): a streamed step of one stream uses every weight
once, so it cannot take less than that.
"""

from __future__ import annotations

import argparse
import sys
import time

import common  # first: pins threads
import numba
import numpy as np

FASTMATH = {"reassoc", "contract"}


def best_us(fns: list, iters: int, repeats: int = 9) -> list[float]:
    """µs per call of each fn: the fastest of ``repeats`` loops of ``iters`` calls, in
    thread CPU time.  The loops of all fns are interleaved; the minimum is the least
    disturbed by other processes (whose cache traffic still shows)."""
    clock = time.thread_time_ns
    best = [float("inf")] * len(fns)
    for fn in fns:
        for _ in range(50):
            fn()
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = clock()
            for _ in range(iters):
                fn()
            best[i] = min(best[i], (clock() - t0) / iters / 1e3)
    return best


def compute_us(kern, args: tuple, n: int = 300, repeats: int = 60) -> float:
    """µs per call of ``kern(*args)`` called from a jitted loop: no dispatch, no Python."""

    @numba.njit(fastmath=FASTMATH)
    def loop(count, *a):
        for _ in range(count):
            kern(*a)

    loop(10, *args)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.thread_time_ns()
        loop(n, *args)
        best = min(best, (time.thread_time_ns() - t0) / n / 1e3)
    return best


@numba.njit(fastmath=True)
def _read(count, a):
    total = np.float32(0.0)
    for _ in range(count):
        s = np.float32(0.0)
        for i in range(a.shape[0]):
            s += a[i]
        total += s
    return total


def read_floor_us(nbytes: int, n: int = 300, repeats: int = 30) -> float:
    """µs to read ``nbytes`` (float32, warm in the caches) once: the memory floor."""
    a = np.ones(max(1, nbytes // 4), np.float32)
    _read(2, a)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.thread_time_ns()
        _read(n, a)
        best = min(best, (time.thread_time_ns() - t0) / n / 1e3)
    return best


def profile(spec: common.Spec, iters: int, repeats: int = 9,
            scheme: str | None = None) -> tuple[dict, list]:
    """(summary {part: µs}, per-op rows [(op, number of kernel calls, compute µs)]) of
    the float model, or of it quantized with ``scheme``."""
    import edgernn
    from edgernn.converters.quantize import quantize

    graph = common.edgernn_graph(common.make_net(spec))
    model = edgernn.Model(graph if scheme is None else quantize(graph, scheme))
    frame = np.random.default_rng(0).standard_normal(spec.inputs).astype(np.float32)
    s, per_op = model.stream(), model.stream()
    per_op._fused_ready = True  # never fused: one compiled call per op
    s.step(frame)
    per_op.step(frame)
    fs = s._fused
    rows = []
    for op, (call, _, _) in zip(model.graph.ops, s._step_program.calls, strict=True):
        parts = call.parts(1)
        rows.append((f"{op.kind} {op.name}", len(parts),
                     sum(compute_us(k, a) for k, a in parts)))
    driver = compute_us(fs.dispatchers[0], (fs.p,))
    step, old = best_us([lambda: s.step(frame), lambda: per_op.step(frame)], iters, repeats)
    compute = sum(r[2] for r in rows)
    nbytes = sum(np.asarray(t.data).nbytes for t in model.graph.consts.values())
    summary = {"Stream.step": step, "per-op step": old, "driver": driver,
               "kernel compute": compute, "driver overhead": driver - compute,
               "Python + dispatch": step - driver, "overhead": step - compute,
               "weights KB": nbytes / 1024, "read floor": read_floor_us(nbytes)}
    return summary, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(common.SPECS))
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--quantize", metavar="SCHEME", help="profile the model quantized "
                    "with SCHEME (int8, fp16, int8-full, int4) instead of fp32")
    ap.add_argument("--no-write", action="store_true", help="do not touch results.md")
    common.add_quick(ap)
    args = ap.parse_args(argv)
    if args.quick:  # every code path once, in seconds: the model with the most op kinds
        args.models, args.iters, repeats = "crnn", 20, 2
    else:
        repeats = 9
    results = {name: profile(common.SPECS[name], args.iters, repeats, args.quantize)
               for name in args.models.split(",")}
    cols = list(next(iter(results.values()))[0])
    summary = ["| model | " + " | ".join(cols) + " | overhead share |",
               "|---|" + "---:|" * (len(cols) + 1)]
    detail = ["| model | op | kernel calls | compute (in-jit loop) |", "|---|---|---:|---:|"]
    for name, (summ, rows) in results.items():
        title = common.SPECS[name].title
        summary.append(f"| {title} | " + " | ".join(
            f"{summ[c]:.0f}" if c == "weights KB" else f"{summ[c]:.2f}" for c in cols)
                       + f" | {summ['overhead'] / summ['Stream.step']:.0%} |")
        for i, (op, n_calls, comp) in enumerate(rows):
            detail.append(f"| {title if i == 0 else ''} | {op} | {n_calls} | {comp:.2f} |")
    md = "\n\n".join([
        f"## Where one `Stream.step` goes (µs per frame, best of {repeats} interleaved loops"
        + (f", {args.quantize} weights)" if args.quantize else ")"),
        "\n".join(summary),
        "Stream.step = the fused step; per-op step = one compiled call per op "
        "(EDGERNN_FUSED=0); driver = the fused run_ops from a jitted loop; kernel compute = "
        "every op's kernels from jitted loops; overhead = step − compute; read floor = "
        "summing the weights' bytes once from a jitted loop (a step of one stream reads "
        "every weight once). Thread CPU time, best of interleaved loops.",
        "\n".join(detail)])
    print(md)
    if not (args.no_write or args.quick or args.quantize):
        common.write_section("profile", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
