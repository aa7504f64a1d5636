"""Cross-architecture parity for edgernn (used by arm_check.sh; numpy + numba + edgernn only).

    python arm_parity.py run OUT.npz        # stream fixed inputs through a few models, save outputs
    python arm_parity.py compare REF OTHER  # max |diff| per case; exit 1 past the tolerance
    python arm_parity.py compile OUT.json   # `edgernn warmup` in-process, timing each compile

``run`` is executed once natively (x86) and once under qemu-aarch64; ``compare`` runs
natively.  Inputs and weights come from seeded PCG64 generators, which give the same
bits on every platform (``compare`` checks that too).  Cases:

* ``kitchen_sink``: :func:`edgernn.warmup.kitchen_sink`, every op kind, 48 frames through
  ``step()``, the same through ``run()``, and a batch of 3 streams through ``run()``;
* ``lstm_proj``: a GraphBuilder LSTM 40 -> 128 with peepholes and a projection to 64,
  then Dense(12), 100 frames through ``step()`` and ``run()``;
* ``gesture``: the bundled ``gesture.ern`` (GRU) over the 8 first bundled recordings;
* ``looped``: :func:`edgernn.warmup.looped`, a graph-level state loop.

Each platform also checks itself: ``run()`` must equal the stacked ``step()`` outputs
(``step()`` returns None on frames a strided conv skips; those are left out).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

TOL = 1e-5           # cross-platform: fastmath reassociation differs by a few ulp
SELF_TOL = 1e-6      # same platform, run() vs step()


def _cases():
    from edgernn import GraphBuilder, Model, load
    from edgernn.demo import bundled_model, load_samples
    from edgernn.warmup import kitchen_sink, looped

    rng = np.random.default_rng(2024)
    f32 = lambda *s, k=1.0: (rng.standard_normal(s) * k).astype(np.float32)  # noqa: E731

    yield "kitchen_sink", Model(kitchen_sink()), f32(48, 4), 3

    H, P, I = 128, 64, 40
    b = GraphBuilder()
    x = b.input("x", (I,))
    h = b.lstm(x, f32(4 * H, I, k=0.15), f32(4 * H, P, k=0.12), f32(4 * H, k=0.1),
               P=f32(3 * H, k=0.2), proj=f32(P, H, k=0.1), proj_bias=f32(P, k=0.1))
    b.output(b.dense(h, f32(12, P, k=0.2), f32(12, k=0.1)), "y")
    yield "lstm_proj", Model(b.build()), f32(100, I), 0

    samples = load_samples()["x"][:8].astype(np.float32)
    yield "gesture", load(bundled_model("gesture")), samples, 0

    yield "looped", Model(looped()), f32(30, 3, k=0.5), 0


def _stream_steps(model, frames: np.ndarray) -> tuple[np.ndarray, list[float]]:
    s = model.stream()
    outs, us = [], []
    for f in frames:
        t0 = time.perf_counter_ns()
        y = s.step(f)
        us.append((time.perf_counter_ns() - t0) / 1e3)
        if y is not None:  # None: a strided conv emitted nothing this frame
            outs.append(y)
    return np.stack(outs).astype(np.float32), us


def cmd_run(out_path: str) -> int:
    import numba

    from edgernn.kernels import CACHE_DIR

    arrays: dict[str, np.ndarray] = {}
    meta: dict = {"machine": platform.machine(), "python": platform.python_version(),
                  "numpy": np.__version__, "numba": numba.__version__,
                  "numba_cpu": _cpu_name(), "cache": CACHE_DIR, "cases": {}}
    problems = []
    for name, model, x, batch in _cases():
        t0 = time.perf_counter()
        model.stream().step(x.reshape(-1, *x.shape[-1:])[0])  # first step: load or compile
        first = time.perf_counter() - t0
        recs = x if x.ndim == 3 else x[None]      # (N recordings, T, ...)
        steps, us = [], []
        for rec in recs:
            y, u = _stream_steps(model, rec)
            steps.append(y)
            us += u[1:]
        step_out = np.stack(steps)
        run_out = np.stack([np.asarray(model.stream().run(rec), np.float32) for rec in recs])
        arrays[f"{name}/x"] = x
        arrays[f"{name}/step"] = step_out
        arrays[f"{name}/run"] = run_out
        self_diff = float(np.max(np.abs(step_out - run_out)))
        info = {"first_step_s": round(first, 3), "step_us_median": round(float(np.median(us)), 1),
                "frames": int(step_out.shape[0] * step_out.shape[1]),
                "out_shape": list(step_out.shape), "run_vs_step": self_diff}
        if batch:
            xb = np.stack([x, x[::-1], x * np.float32(0.5)], axis=1)[:, :batch]  # (T, B, ...)
            yb = np.asarray(model.streams(batch).run(np.ascontiguousarray(xb)), np.float32)
            arrays[f"{name}/batch"] = yb
            ref = np.stack([_stream_steps(model, np.ascontiguousarray(xb[:, k]))[0]
                            for k in range(batch)], axis=1)
            info["batch_vs_step"] = float(np.max(np.abs(yb - ref)))
            self_diff = max(self_diff, info["batch_vs_step"])
        if not np.all(np.isfinite(step_out)):
            problems.append(f"{name}: non-finite outputs")
        if self_diff > SELF_TOL:
            problems.append(f"{name}: run()/batch differ from step() by {self_diff:.3g}")
        meta["cases"][name] = info
        print(f"  {name:<13} first step {first:7.2f} s   step() {info['step_us_median']:8.1f} µs"
              f" median   run()/batch vs step() {self_diff:.2g}", flush=True)
    meta["problems"] = problems
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(out_path, **arrays)
    for p in problems:
        print(f"  SELF-CHECK FAIL {p}")
    return 1 if problems else 0


def _cpu_name() -> str:
    import llvmlite.binding as ll
    import numba

    return numba.config.CPU_NAME or f"host ({ll.get_host_cpu_name()})"


def _load(path: str) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("meta").tobytes())
    return arrays, meta


def cmd_compare(ref_path: str, other_path: str, tol: float = TOL) -> int:
    ref, rmeta = _load(ref_path)
    oth, ometa = _load(other_path)
    print(f"  reference {rmeta['machine']} cpu={rmeta['numba_cpu']}   "
          f"other {ometa['machine']} cpu={ometa['numba_cpu']}   tolerance {tol:g}")
    failed = sorted(set(ref) ^ set(oth))
    for key in failed:
        print(f"  FAIL {key}: only in one file")
    worst: dict[str, float] = {}
    for key in sorted(set(ref) & set(oth)):
        a, b = ref[key], oth[key]
        case, what = key.split("/")
        if a.shape != b.shape:
            print(f"  FAIL {key}: shapes {a.shape} vs {b.shape}")
            failed.append(key)
            continue
        if what == "x":
            if not np.array_equal(a, b):
                print(f"  FAIL {key}: the inputs differ (seeded generator not bit-identical)")
                failed.append(key)
            continue
        d = float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0
        worst[case] = max(worst.get(case, 0.0), d)
        if not d <= tol:  # also catches NaN
            failed.append(key)
        extra = ""
        if a.ndim >= 2 and case == "gesture" and what == "step":
            agree = (a.argmax(-1) == b.argmax(-1)).mean()
            extra = f"   argmax agreement {agree:.4f}"
        scale = float(np.max(np.abs(a))) if a.size else 0.0
        same = float(np.mean(a == b)) if a.size else 1.0
        print(f"  {'ok  ' if d <= tol else 'FAIL'} {key:<20} max|diff| {d:.3g}"
              f" (max|y| {scale:.3g}; {same:.0%} bit-identical){extra}")
    for case, d in worst.items():
        print(f"  {case:<13} max|diff| {d:.3g}")
    print(f"parity {'FAIL' if failed else 'PASS'}: worst max|diff| "
          f"{max(worst.values(), default=0.0):.3g} (tolerance {tol:g})")
    return 1 if failed else 0


def cmd_compile(out_json: str) -> int:
    """Run ``edgernn warmup`` in this process and time the compile of each entry kernel."""
    import numba.core.event as ev

    from edgernn.cli import main

    with ev.install_recorder("numba:compile") as rec:
        t0 = time.perf_counter()
        rc = main(["warmup"])
        total = time.perf_counter() - t0
    stack: list[list] = []
    entry: dict[str, list[float]] = {}   # top-level compiles, helpers they pulled in included
    for ts, e in rec.buffer:
        if e.is_start:
            stack.append([e, ts])
            continue
        start_ev, t_start = stack.pop()
        if not stack:
            f = start_ev.data["dispatcher"].py_func
            key = f"{f.__module__.rsplit('.', 1)[-1]}.{f.__name__}"
            entry.setdefault(key, []).append(ts - t_start)
    n = sum(1 for _, e in rec.buffer if e.is_start)
    sigs = sum(len(v) for v in entry.values())
    for k, v in sorted(entry.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {k:<24} {len(v)} signature{'s' if len(v) > 1 else ' '} {sum(v):7.2f} s")
    print(f"  {sigs} entry signatures ({n} functions compiled with their helpers); "
          f"{total:.1f} s in all, {total / max(sigs, 1):.1f} s per entry signature")
    Path(out_json).write_text(json.dumps({
        "total_s": round(total, 2), "entry_signatures": sigs, "compiles": n,
        "entries": {k: [round(t, 2) for t in v] for k, v in entry.items()}}, indent=1))
    return rc


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "run":
        return cmd_run(argv[1])
    if len(argv) >= 3 and argv[0] == "compare":
        return cmd_compare(argv[1], argv[2], float(argv[3]) if len(argv) > 3 else TOL)
    if len(argv) >= 2 and argv[0] == "compile":
        return cmd_compile(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
