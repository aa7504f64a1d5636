"""Where the time of one ``Stream.step(frame)`` goes: kernels vs numba dispatch vs Python.

    NUMBA_NUM_THREADS=1 python benchmarks/profile_step.py [--models lstm,crnn] [--no-write]

Per op of the step program, three timings (µs per call, best of interleaved loops):

* ``bound``: the closure made by ``edgernn.bindings.bind`` (what ``Program.execute`` calls);
* ``direct``: the jitted kernel called from Python on the bound argument tuple;
* ``compute``: the same kernel called N times from inside a jitted loop (no dispatch).

``direct - compute`` is numba's per-call dispatch (typing and unboxing every
argument); ``bound - direct`` plus ``execute - Σ bound`` is the Python of
bindings/Program; ``step - execute`` is the Stream wrapper (input name
resolution, checked copy, output copy).  Differences of whole calls are used
because the layers of ``step`` timed on their own do not add up (they overlap).
"""

from __future__ import annotations

import argparse
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


def closure_vars(fn) -> dict:
    code = fn.__code__
    return dict(zip(code.co_freevars, (c.cell_contents for c in fn.__closure__ or ()),
                    strict=True))


def kernel_args(call) -> tuple | None:
    """(jitted kernel, argument tuple) behind a bound call, from its closure, if found."""
    env = closure_vars(call)
    if isinstance(env.get("kernel"), CPUDispatcher) and "full" in env:
        return env["kernel"], env["full"]
    if "full" in env:  # a lambda around the kernel (Unary): its closure holds the constants
        inner = closure_vars(env["kernel"])
        if {"code", "alpha", "beta"} <= set(inner):
            from edgernn.kernels import elementwise

            return elementwise.unary, (*env["full"], inner["code"], inner["alpha"],
                                       inner["beta"])
    if "w4" in env:  # Conv: a custom closure
        from edgernn.kernels import conv

        return conv.conv_time, (env["x4"][:1], env["w4"], env["b"], env["hist"], env["count"],
                                env["y4"], *env["ints"], env["fpad0"])
    return None


def profile(spec: common.Spec, iters: int) -> tuple[dict, list]:
    """(summary {part: µs}, per-op rows [(op, args, bound, direct, compute)])."""
    import edgernn

    s = edgernn.Model(common.edgernn_graph(common.make_net(spec))).stream()
    frame = np.random.default_rng(0).standard_normal(spec.inputs).astype(np.float32)
    s.step(frame)
    prog = s._step_program
    fns = [lambda: s.step(frame), lambda: prog.execute(1)]
    ops = []
    for op, (call, _, _) in zip(s._plan.graph.ops, prog.calls, strict=True):
        found = kernel_args(call)
        fns.append(lambda c=call: c(1))
        if found:
            k, a = found
            fns.append(lambda k=k, a=a: k(*a))
            ops.append((f"{op.kind} {op.name}", len(a), compute_us(k, a)))
        else:
            ops.append((f"{op.kind} {op.name}", 0, None))
    times = best_us(fns, iters)
    step, execute, rest = times[0], times[1], iter(times[2:])
    rows = []
    for name, n_args, comp in ops:
        bound = next(rest)
        direct = next(rest) if comp is not None else bound
        rows.append((name, n_args, bound, direct, comp if comp is not None else 0.0))
    compute = sum(r[4] for r in rows)
    dispatch = sum(r[3] - r[4] for r in rows)
    summary = {"Stream.step": step, "kernel compute": compute, "numba dispatch": dispatch,
               "bindings + Program (Python)": execute - sum(r[3] for r in rows),
               "Stream wrapper (Python)": step - execute, "overhead": step - compute}
    return summary, rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(common.SPECS))
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--no-write", action="store_true", help="do not touch results.md")
    args = ap.parse_args()
    results = {name: profile(common.SPECS[name], args.iters) for name in args.models.split(",")}
    cols = list(next(iter(results.values()))[0])
    summary = ["| model | " + " | ".join(cols) + " | overhead share |",
               "|---|" + "---:|" * (len(cols) + 1)]
    detail = ["| model | op | args | bound call | direct kernel call | compute (in-jit loop) |",
              "|---|---|---:|---:|---:|---:|"]
    for name, (summ, rows) in results.items():
        title = common.SPECS[name].title
        summary.append(f"| {title} | " + " | ".join(f"{summ[c]:.2f}" for c in cols)
                       + f" | {summ['overhead'] / summ['Stream.step']:.0%} |")
        for i, (op, n_args, bound, direct, comp) in enumerate(rows):
            detail.append(f"| {title if i == 0 else ''} | {op} | {n_args or ''} | {bound:.2f} | "
                          f"{direct:.2f} | {comp:.2f} |")
    md = "\n\n".join([
        "## Where one `Stream.step` goes (µs per frame, best of 9 interleaved loops)",
        "\n".join(summary),
        "compute = kernels called from a jitted loop; numba dispatch = Σ(direct call − "
        "compute); bindings + Program = execute − Σ direct calls; Stream wrapper = step − "
        "execute; overhead = step − compute.",
        "\n".join(detail)])
    print(md)
    if not args.no_write:
        common.write_section("profile", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
