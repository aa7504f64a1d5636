"""``edgernn bench``: how fast a model streams here, and against which peers.

Measured, in this order (``measure``): every peer's outputs against edgernn's on
the same frames (aborts on a mismatch: a benchmark of a wrong computation is
worthless); ``step()`` per frame (median, p99; one clock pair per call, peers
interleaved in rounds so drift from other processes hits all alike); ``run(chunk)``
per frame for chunks 1/4/10/32; N streams advanced together (frames per second of
all of them); the CPU share at the model's frame rate (the real-time factor for
audio); cold start of ``edgernn run`` on one frame with an empty and with a warm
kernel cache, and the peak RSS of a process that streams the model (child
processes, their own rusage).  Peers come from :mod:`edgernn.benchpeers`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import EdgeRNNError

CHUNKS = (1, 4, 10, 32)
STREAMS = (1, 8, 64)
CHECK_FRAMES = 100


def frames_for(model, count: int, seed: int = 8) -> np.ndarray:
    """(count, *frame) float32 standard-normal frames for the model's one input."""
    (shape,) = model.inputs.values()
    return np.random.default_rng(seed).standard_normal((count, *shape)).astype(np.float32)


def time_calls(fn: Callable, args: list, calls: int) -> np.ndarray:
    """µs of each of ``calls`` calls ``fn(args[i % len(args)])`` (one clock pair each)."""
    clock, out = time.perf_counter_ns, np.empty(calls, np.int64)
    for i in range(calls):
        a = args[i % len(args)]
        t0 = clock()
        fn(a)
        out[i] = clock() - t0
    return out / 1e3


def rounds(contenders: dict[str, tuple[Callable, list, int]], calls: int, repeats: int
           ) -> dict[str, np.ndarray]:
    """Per-frame µs of every contender ``name -> (fn, args, frames per call)``, interleaved
    in ``repeats`` rounds after a warm-up."""
    samples: dict[str, list] = {k: [] for k in contenders}
    for fn, args, _ in contenders.values():
        time_calls(fn, args, max(20, calls // 10))
    for _ in range(repeats):
        for name, (fn, args, per) in contenders.items():
            samples[name].append(time_calls(fn, args, max(calls // per, 5)) / per)
    return {k: np.concatenate(v) for k, v in samples.items()}


def stats(us: np.ndarray) -> dict[str, float]:
    return {"median_us": float(np.median(us)), "p99_us": float(np.percentile(us, 99)),
            "mean_us": float(np.mean(us))}


def check_peers(model, peers: list, tol: float) -> dict[str, float]:
    """Max |error| of every peer vs edgernn ``step`` over CHECK_FRAMES frames from the
    initial state; EdgeRNNError if one exceeds ``tol``."""
    x = frames_for(model, CHECK_FRAMES, seed=7)
    s = model.stream()
    ref = np.stack([np.asarray(s.step(f)).reshape(-1) for f in x])
    errors, bad = {}, []
    for p in peers:
        got = p.outputs(x)
        err = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
        errors[p.name] = err
        if not err <= tol:
            bad.append(f"{p.name}: max |err| {err:.3g} (shape {got.shape} vs {ref.shape})")
        p.reset()
    if bad:
        raise EdgeRNNError("peers disagree with edgernn on the same frames, not timing them: "
                           + "; ".join(bad) + f" (tolerance {tol:g}, --tol)")
    return errors


def streams_fps(model, n: int, frames: np.ndarray, seconds: float) -> float:
    """Stream-frames per second of ``n`` streams stepped together."""
    s = model.streams(n)
    batch = [np.ascontiguousarray(np.broadcast_to(f, (n, *f.shape))) for f in frames[:8]]
    s.step(batch[0])
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for b in batch:
            s.step(b)
        done += len(batch)
    return done * n / (time.perf_counter() - t0)


#: runs argv[1:] as its child, prints "<wall s> <peak RSS KiB> <exit code>" on fd 3: a small
#: process in between, because a child's peak RSS starts at its parent's (fork, and exec
#: records the old image's high-water mark), which here would be this benchmark's
_WRAP = ("import os, sys, time; t = time.perf_counter(); pid = os.fork()\n"
         "if pid == 0: os.execv(sys.argv[1], sys.argv[1:])\n"
         "_, st, ru = os.wait4(pid, 0)\n"
         "os.write(3, f'{time.perf_counter() - t} {ru.ru_maxrss} "
         "{os.waitstatus_to_exitcode(st)}'.encode())")


def child(argv: list[str], env: dict | None = None) -> dict[str, float]:
    """Run a process; its wall time (s) and peak RSS (MiB, from its own rusage)."""
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as res:
        pid = os.posix_spawn(sys.executable, [sys.executable, "-c", _WRAP, *argv],
                             env if env is not None else os.environ, file_actions=[
                                 (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                 (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
                                 (os.POSIX_SPAWN_DUP2, res.fileno(), 3)])
        os.waitpid(pid, 0)
        res.seek(0)
        wall, rss, code = res.read().decode().split()
        if int(code) != 0:
            err.seek(0)
            raise EdgeRNNError(f"{' '.join(argv[:4])} ... failed: "
                               f"{err.read().decode(errors='replace').strip()[-300:]}")
    return {"wall_s": float(wall), "peak_rss_mib": int(rss) / 1024}


def cold_start(model_path: str, one_frame: Path) -> dict[str, dict]:
    """``edgernn run MODEL`` on one frame: with an empty cache, then warm (best of 3)."""
    argv = [sys.executable, "-m", "edgernn.cli", "run", model_path, "-i", str(one_frame)]
    with tempfile.TemporaryDirectory() as cache:
        empty = child(argv, {**os.environ, "EDGERNN_CACHE_DIR": cache})
    child(argv)  # fills the default cache if it was empty
    warm = min((child(argv) for _ in range(3)), key=lambda r: r["wall_s"])
    return {"empty_cache": empty, "warm_cache": warm}


STREAMER = ("import sys, numpy as np, edgernn; m = edgernn.load(sys.argv[1]); s = m.stream(); "
            "x = np.load(sys.argv[2]); [s.step(f) for _ in range(int(sys.argv[3])) for f in x]")


def streaming_rss(model_path: str, frames_file: Path, rounds_: int = 50) -> dict[str, float]:
    """Peak RSS of a process that loads the model and streams frames (warm cache)."""
    return child([sys.executable, "-c", STREAMER, model_path, str(frames_file), str(rounds_)])


def frame_rate(model, rate: float | None) -> tuple[float, str]:
    """Frames per second the model is fed at, and where that number came from."""
    if rate:
        return rate, "--rate"
    try:
        from . import features

        fe = features.for_model(model)
        if fe is not None:
            return fe.frame_rate, "the model's front end"
    except Exception:  # noqa: BLE001 - a front end that does not load: fall back
        pass
    hz = model.metadata.get("sample_rate_hz")
    return (float(hz), "metadata sample_rate_hz") if hz else (100.0, "assumed (--rate)")


def machine() -> dict[str, str]:
    import platform
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key.lower() in ("model name", "hardware", "model") and value \
                    and not value.isdigit():
                cpu = value
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("edgernn", "numpy", "numba"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "?"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "machine": platform.machine(),
            "python": platform.python_version(), **versions}


def measure(model_path: str, vs: str = "", *, calls: int = 2000, repeats: int = 5,
            rate: float | None = None, tol: float = 1e-4, cold: bool = True,
            stream_seconds: float = 1.0) -> dict:
    """Everything ``edgernn bench`` reports, as a dict (see the module docstring)."""
    from . import benchpeers
    from .model import load

    model = load(model_path)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise EdgeRNNError("edgernn bench takes models with one input and one output")
    (frame,) = model.inputs.values()
    peers = benchpeers.make(vs, model_path, frame)
    out: dict = {"model": model_path, "machine": machine(), "check_max_abs_err":
                 check_peers(model, peers, tol) if peers else {}}
    frames = frames_for(model, 320)
    s = model.stream()
    s.step(frames[0])  # the first frame builds the step (and its C entry, edgernn.cstep)
    s.reset()
    contenders = {"edgernn step": (s.step, list(frames), 1)}
    for c in CHUNKS:
        r = model.stream()
        contenders[f"edgernn run({c})"] = (r.run, [frames[i:i + c] for i in range(0, 320, c)], c)
    for p in peers:
        args = list(frames) if p.per == 1 else [frames[:p.per]]
        contenders[p.name] = (p.fn, args, p.per)
    out["latency"] = {k: stats(v) for k, v in rounds(contenders, calls, repeats).items()}
    out["streams_fps"] = {str(n): streams_fps(model, n, frames, stream_seconds) for n in STREAMS}
    for p in peers:  # N sequential calls of a one-stream peer: its one-stream rate
        if p.per == 1:
            out["streams_fps"][p.name] = 1e6 / out["latency"][p.name]["median_us"]
    hz, source = frame_rate(model, rate)
    step = out["latency"]["edgernn step"]["median_us"]
    out["frame_rate"] = {"hz": hz, "from": source, "cpu_share": step * hz / 1e6}
    if cold:
        with tempfile.TemporaryDirectory() as tmp:
            one, many = Path(tmp) / "one.npy", Path(tmp) / "frames.npy"
            np.save(one, frames[:1])
            np.save(many, frames[:100])
            out["cold_start"] = cold_start(model_path, one)
            out["streaming_process"] = streaming_rss(model_path, many)
    return out


def report(res: dict) -> str:
    """The text ``edgernn bench`` prints."""
    m = res["machine"]
    lines = [f"model    {res['model']}",
             f"machine  {m['cpu']} ({m['cores']} cores, {m['machine']}), Python {m['python']},"
             f" edgernn {m['edgernn']}, numpy {m['numpy']}, numba {m['numba']}"]
    if res["check_max_abs_err"]:
        lines.append("checked  " + ", ".join(f"{k} max |err| {v:.1e}"
                                             for k, v in res["check_max_abs_err"].items()))
    base = res["latency"]["edgernn step"]["median_us"]
    lines += ["", f"{'per frame':<22}{'median µs':>10}{'p99 µs':>10}{'× step':>8}"]
    for k, v in res["latency"].items():
        lines.append(f"{k:<22}{v['median_us']:>10.2f}{v['p99_us']:>10.2f}"
                     f"{v['median_us'] / base:>8.2f}")
    lines += ["", "streams stepped together: frames/s " + ", ".join(
        f"{k}: {v:,.0f}" for k, v in res["streams_fps"].items())]
    fr = res["frame_rate"]
    lines.append(f"at {fr['hz']:g} frames/s ({fr['from']}): {fr['cpu_share']:.3%} of one core "
                 f"(real-time factor {fr['cpu_share']:.4f})")
    if "cold_start" in res:
        for k, v in res["cold_start"].items():
            lines.append(f"cold start, {k.replace('_', ' ')}: {v['wall_s']:.2f} s, "
                         f"peak RSS {v['peak_rss_mib']:.0f} MiB (edgernn run on one frame)")
        sp = res["streaming_process"]
        lines.append(f"streaming process (load + 5000 frames): peak RSS "
                     f"{sp['peak_rss_mib']:.0f} MiB, {sp['wall_s']:.2f} s")
    return "\n".join(lines)
