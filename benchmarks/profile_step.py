"""Where the time of one ``Stream.step(frame)`` goes: kernels vs numba dispatch vs Python.

    NUMBA_NUM_THREADS=1 python benchmarks/profile_step.py [--models lstm,crnn] [--no-write]
    python benchmarks/profile_step.py --quick     # seconds, writes nothing (CI runs this)

Per op of the step program, three timings (µs per call, best of interleaved loops):

* ``bound``: the call its binder made (what ``Program.execute`` calls); binders call
  the compiled overload's entry point directly, skipping numba's type dispatch;
* ``dispatcher``: the same kernel calls through numba's dispatcher (type dispatch +
  unboxing), i.e. what the binders avoid;
* ``compute``: the same kernel calls made N times from inside a jitted loop (no
  unboxing at all).

The kernel calls an op makes, and their arguments, are recorded while its binder
is made (:func:`recording_binders`).  Summary: ``Σ bound - Σ compute`` is the cost
of calling compiled code from Python (unboxing every argument, the binding's
Python); ``execute - Σ bound`` is the Program loop; ``step - execute`` is the
Stream wrapper (input name resolution, checked copy, output copy).  Differences
of whole calls are used because the layers of ``step`` timed on their own do not
add up (they overlap).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import common  # first: pins threads
import numba
import numpy as np
from numba.core.registry import CPUDispatcher

FASTMATH = {"reassoc", "contract"}


def best_us(fns: list, iters: int, repeats: int = 9) -> list[float]:
    """µs per call of each fn: the fastest of ``repeats`` loops of ``iters`` calls.

    The loops of all fns are interleaved, so a burst of interference from other
    processes cannot inflate one of them only; the minimum is the least disturbed.
    """
    clock = time.perf_counter_ns
    best = [float("inf")] * len(fns)
    for fn in fns:
        for _ in range(200):
            fn()
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = clock()
            for _ in range(iters):
                fn()
            best[i] = min(best[i], (clock() - t0) / iters / 1e3)
    return best


def compute_us(kern, args: tuple, n: int = 20000, repeats: int = 5) -> float:
    """µs per call of ``kern(*args)`` called from a jitted loop: the kernel without dispatch."""

    @numba.njit(fastmath=FASTMATH)
    def loop(count, *a):
        for _ in range(count):
            kern(*a)

    loop(10, *args)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        loop(n, *args)
        best = min(best, (time.perf_counter_ns() - t0) / n / 1e3)
    return best


@contextlib.contextmanager
def recording_binders():
    """While active, binders made record every kernel call as (kernel, args) in the list
    this yields.  Every binder reaches its kernel through ``edgernn.bindings.direct``
    (``each_n`` too), wherever a module imported it from; the names of closure
    variables inside the binders do not matter."""
    from edgernn import bindings

    original, calls = bindings.direct, []

    def recording(kernel):
        fn = original(kernel)

        def call(*args):
            calls.append((kernel, args))
            return fn(*args)

        return call

    patched = [m for m in list(sys.modules.values())
               if getattr(m, "direct", None) is original and m.__name__.startswith("edgernn")]
    for m in patched:
        m.direct = recording
    try:
        yield calls
    finally:
        for m in patched:
            m.direct = original


def kernel_calls(model) -> list[list[tuple]]:
    """Per op of the step program: the (jitted kernel, argument tuple) calls it makes."""
    with recording_binders() as calls:
        prog = model.stream()._step_program
    per_op = []
    for call, _, _ in prog.calls:
        calls.clear()
        call(1)
        per_op.append([(k, a) for k, a in calls if isinstance(k, CPUDispatcher)])
    return per_op


def profile(spec: common.Spec, iters: int, repeats: int = 9) -> tuple[dict, list]:
    """(summary {part: µs}, per-op rows [(op, args, bound, direct, compute)])."""
    import edgernn

    model = edgernn.Model(common.edgernn_graph(common.make_net(spec)))
    frame = np.random.default_rng(0).standard_normal(spec.inputs).astype(np.float32)
    found = kernel_calls(model)
    s = model.stream()
    s.step(frame)
    prog = s._step_program
    fns = [lambda: s.step(frame), lambda: prog.execute(1)]
    ops = []
    for op, (call, _, _), kcalls in zip(model.graph.ops, prog.calls, found, strict=True):
        fns.append(lambda c=call: c(1))
        if kcalls:
            fns.append(lambda kc=tuple(kcalls): [k(*a) for k, a in kc])
            comp = sum(compute_us(k, a, n=max(iters * 10, 100)) for k, a in kcalls)
            ops.append((f"{op.kind} {op.name}", sum(len(a) for _, a in kcalls), comp))
        else:
            ops.append((f"{op.kind} {op.name}", 0, None))
    times = best_us(fns, iters, repeats)
    step, execute, rest = times[0], times[1], iter(times[2:])
    rows = []
    for name, n_args, comp in ops:
        bound = next(rest)
        disp = next(rest) if comp is not None else bound
        rows.append((name, n_args, bound, disp, comp if comp is not None else 0.0))
    compute, bound = sum(r[4] for r in rows), sum(r[2] for r in rows)
    summary = {"Stream.step": step, "kernel compute": compute,
               "calls into compiled code": bound - compute,
               "Program loop (Python)": execute - bound,
               "Stream wrapper (Python)": step - execute, "overhead": step - compute}
    return summary, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(common.SPECS))
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--no-write", action="store_true", help="do not touch results.md")
    common.add_quick(ap)
    args = ap.parse_args(argv)
    if args.quick:  # every code path once, in seconds: the model with the most op kinds
        args.models, args.iters, repeats = "crnn", 20, 2
    else:
        repeats = 9
    results = {name: profile(common.SPECS[name], args.iters, repeats)
               for name in args.models.split(",")}
    cols = list(next(iter(results.values()))[0])
    summary = ["| model | " + " | ".join(cols) + " | overhead share |",
               "|---|" + "---:|" * (len(cols) + 1)]
    detail = ["| model | op | args | bound call | through the dispatcher | compute (in-jit loop) |",
              "|---|---|---:|---:|---:|---:|"]
    for name, (summ, rows) in results.items():
        title = common.SPECS[name].title
        summary.append(f"| {title} | " + " | ".join(f"{summ[c]:.2f}" for c in cols)
                       + f" | {summ['overhead'] / summ['Stream.step']:.0%} |")
        for i, (op, n_args, bound, disp, comp) in enumerate(rows):
            detail.append(f"| {title if i == 0 else ''} | {op} | {n_args or ''} | {bound:.2f} | "
                          f"{disp:.2f} | {comp:.2f} |")
    md = "\n\n".join([
        f"## Where one `Stream.step` goes (µs per frame, best of {repeats} interleaved loops)",
        "\n".join(summary),
        "compute = kernels called from a jitted loop; calls into compiled code = Σ bound calls "
        "− compute (unboxing the arguments, the binding's Python); Program loop = execute − "
        "Σ bound calls; Stream wrapper = step − execute; overhead = step − compute. Per op, "
        "'through the dispatcher' is the same kernel calls with numba's type dispatch, which "
        "the bindings skip.",
        "\n".join(detail)])
    print(md)
    if not (args.no_write or args.quick):
        common.write_section("profile", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
