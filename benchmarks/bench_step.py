"""Per-frame latency of streaming inference, batch 1, one thread: edgernn vs its peers.

    NUMBA_NUM_THREADS=1 python benchmarks/bench_step.py [--models lstm,gru] [--iters 2000]
    python benchmarks/bench_step.py --quick      # seconds, writes nothing (CI runs this)

For every model of :data:`common.SPECS` (same weights for every peer) it first
checks that each peer computes what edgernn computes on a 100-frame sequence
(max |err| <= 1e-4; it aborts otherwise), then times each peer over ``--iters``
frames after a warm-up, ``--repeats`` times, peers interleaved, one
``perf_counter_ns`` pair per call.  Reported: median and p90 of µs per frame
over all calls, and the ratio of medians vs edgernn ``step``.  Writes the table
to stdout and to ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

import common  # first: pins every library to one thread before numpy is imported
import numpy as np

TOL = 1e-4
NOTES = {
    "edgernn step": "`Stream.step(frame)`, warm",
    "edgernn int8 step": "the model after `quantize(graph, \"int8\")` (dynamic-range int8 "
                         "weights), `Stream.step`; checked within 0.05 (quantization error)",
    "edgernn run(100)": "`Stream.run(100 frames)` / 100, state carried",
    "ORT step": "seq_len 1, state fed back (`sess.run`)",
    "ORT whole 100": "one 100-frame sequence / 100 (offline bound)",
    "PyTorch step": "step module, `nn.LSTM/GRU(x, state)`, no_grad",
    "TFLite step": "Keras cell step model, state fed back (XNNPACK)",
}


class Peer:
    """A runtime under test: ``fn(chunk) -> outputs`` over ``chunk`` frames, ``reset()``;
    ``tol``: how far its outputs may be from edgernn's fp32 step."""

    def __init__(self, name: str, fn: Callable, chunk: int = 1,
                 reset: Callable[[], None] | None = None, tol: float = 1e-4) -> None:
        self.name, self.fn, self.chunk, self.tol = name, fn, chunk, tol
        self.reset = reset or (lambda: None)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """(T, out) for T frames x (T, I), from the initial state."""
        self.reset()
        if self.chunk == 1:
            return np.stack([np.asarray(self.fn(f)).reshape(-1) for f in x])
        parts = [self.fn(x[i:i + self.chunk]) for i in range(0, len(x), self.chunk)]
        return np.concatenate([np.asarray(p).reshape(self.chunk, -1) for p in parts])


# --- peers ------------------------------------------------------------------------------

def edgernn_peers(net) -> list[Peer]:
    import edgernn
    from edgernn.converters.quantize import quantize

    graph = common.edgernn_graph(net)
    model = edgernn.Model(graph)
    s, r = model.stream(), model.stream()
    q = edgernn.Model(quantize(graph, "int8")).stream()
    for st in (s, q):  # the first frame builds the step (and its C entry, edgernn.cstep)
        st.step(np.zeros(model.inputs[next(iter(model.inputs))], np.float32))
        st.reset()
    return [Peer("edgernn step", s.step, reset=s.reset),
            Peer("edgernn run(100)", r.run, common.SEQ, reset=r.reset),
            Peer("edgernn int8 step", q.step, reset=q.reset, tol=0.05)]


def streams_fps(net, n: int, seconds: float) -> float:
    """Stream-frames per second of edgernn stepping ``n`` streams together."""
    import edgernn
    from edgernn.bench import streams_fps as fps

    model = edgernn.Model(common.edgernn_graph(net))
    frames = np.random.default_rng(9).standard_normal((8, net.spec.inputs)).astype(np.float32)
    return fps(model, n, frames, seconds)


def _state0(spec: common.Spec) -> dict[str, np.ndarray]:
    return {k: np.zeros(s, np.float32) for k, s in spec.state_shapes().items()}


def ort_peers(net) -> list[Peer]:
    spec = net.spec
    sess = common.ort_session(common.onnx_step(net))
    names = ["y", *(f"{n}_out" for n in spec.state_names)]
    feeds = {"x": None, **_state0(spec)}

    def step(f):
        feeds["x"] = f.reshape(1, -1)
        out = sess.run(names, feeds)
        for n, v in zip(spec.state_names, out[1:], strict=True):
            feeds[n] = v
        return out[0]

    whole = common.ort_session(common.onnx_sequence(net))

    def sequence(x):
        return whole.run(None, {"x": x[None]})[0]

    return [Peer("ORT step", step, reset=lambda: feeds.update(_state0(spec))),
            Peer("ORT whole 100", sequence, common.SEQ)]


def torch_peer(net) -> Peer:
    import torch

    spec, mod = net.spec, common.step_module(net)
    state = [torch.zeros(s) for s in spec.state_shapes().values()]
    holder = {"state": state}

    def step(f):
        y, *holder["state"] = mod(torch.from_numpy(f).view(1, -1), *holder["state"])
        return y.numpy()

    def reset():
        holder["state"] = [torch.zeros(s) for s in spec.state_shapes().values()]

    return Peer("PyTorch step", step, reset=reset)


def tflite_peer(spec: common.Spec) -> Peer | str:
    path = common.tflite_path(spec)
    if not path.exists():
        return "TFLite: skipped (run make_tflite.py)"
    try:
        it, ins, outs = common.tflite_interpreter(path)
    except ImportError:
        return "TFLite: skipped (neither ai_edge_litert nor tflite_runtime imports)"
    state = _state0(spec)
    ix, iy = ins["x"], outs["y"]
    state_io = [(n, ins[n], outs[f"{n}_out"]) for n in spec.state_names]

    def step(f):
        it.set_tensor(ix, f.reshape(1, -1))
        for n, i, _ in state_io:
            it.set_tensor(i, state[n])
        it.invoke()
        for n, _, o in state_io:
            state[n] = it.get_tensor(o)
        return it.get_tensor(iy)

    return Peer("TFLite step", step, reset=lambda: state.update(_state0(spec)))


# --- check and time ---------------------------------------------------------------------

def check(spec: common.Spec, net, peers: list[Peer]) -> list[str]:
    """Every peer vs edgernn step on one 100-frame sequence; abort on a mismatch."""
    import torch

    x = np.random.default_rng(7).standard_normal((common.SEQ, spec.inputs)).astype(np.float32)
    ref = peers[0].outputs(x)
    source = net(torch.from_numpy(x[None]))[0].numpy()
    lines, bad = [], []
    for name, got in [("PyTorch whole sequence", source)] + [(p.name, p.outputs(x))
                                                              for p in peers[1:]]:
        err = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
        lines.append(f"{name} {err:.1e}")
        tol = next((p.tol for p in peers if p.name == name), TOL)
        if not err <= tol:
            bad.append(f"{name}: max |err| {err:.3g} vs edgernn step (shape {got.shape})")
    if bad:
        hint = ("\n  (TFLite fixtures must be regenerated after the weights change: "
                "make_tflite.py)" if any(b.startswith("TFLite") for b in bad) else "")
        sys.exit(f"ABORT {spec.name}: peers disagree with edgernn on a "
                 f"{common.SEQ}-frame sequence:\n  " + "\n  ".join(bad) + hint)
    for p in peers:
        p.reset()
    return lines


def time_calls(peer: Peer, frames: np.ndarray, calls: int, warm: int) -> np.ndarray:
    """ns per frame of ``calls`` timed calls after ``warm`` untimed ones."""
    clock, fn, c = time.perf_counter_ns, peer.fn, peer.chunk
    nf = len(frames) // c
    args = [frames[i * c:(i + 1) * c] if c > 1 else frames[i] for i in range(nf)]
    for i in range(warm):
        fn(args[i % nf])
    out = np.empty(calls, np.int64)
    for i in range(calls):
        a = args[i % nf]
        t0 = clock()
        fn(a)
        out[i] = clock() - t0
    return out / c


def bench(peers: list[Peer], spec: common.Spec, iters: int, warm: int, repeats: int) -> dict:
    frames = np.random.default_rng(8).standard_normal((2000, spec.inputs)).astype(np.float32)
    samples: dict[str, list] = {p.name: [] for p in peers}
    for _ in range(repeats):  # interleaved, so drift hits every peer alike
        for p in peers:
            calls = max(iters // p.chunk, 10)
            samples[p.name].append(time_calls(p, frames, calls, max(warm // p.chunk, 2)))
    res = {}
    for name, runs in samples.items():
        us = np.concatenate(runs) / 1e3
        means = [float(np.mean(r)) / 1e3 for r in runs]
        res[name] = (float(np.median(us)), float(np.percentile(us, 99)), float(np.median(means)))
    return res


def table(results: dict, skipped: dict) -> str:
    rows = ["| model | peer | median µs/frame | p99 µs/frame | mean µs/frame | × edgernn step |",
            "|---|---|---:|---:|---:|---:|"]
    for mname, res in results.items():
        base = res["edgernn step"][0]
        for i, (peer, (med, p99, mean)) in enumerate(res.items()):
            label = common.SPECS[mname].title if i == 0 else ""
            rows.append(f"| {label} | {peer} | {med:.1f} | {p99:.1f} | {mean:.1f} | "
                        f"{med / base:.2f} |")
        if mname in skipped:
            rows.append(f"| | {skipped[mname]} | | | | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(common.SPECS))
    ap.add_argument("--iters", type=int, default=2000, help="timed frames per repeat")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--weights-only", action="store_true",
                    help="write benchmarks/weights/*.npz (for make_tflite.py) and stop")
    ap.add_argument("--no-write", action="store_true", help="do not touch results.md")
    common.add_quick(ap)
    args = ap.parse_args(argv)
    if args.quick:  # every peer checked and timed briefly, on every model
        args.iters, args.warmup, args.repeats, args.no_write = 20, 5, 1, True
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.set_grad_enabled(False)  # = torch.no_grad() around every call
    specs = [common.SPECS[m] for m in args.models.split(",")]
    if args.weights_only:
        for spec in specs:
            common.make_net(spec)
        print(f"weights in {common.WEIGHTS}")
        return 0
    t_start = time.perf_counter()
    results, skipped, many = {}, {}, {}
    for spec in specs:
        net = common.make_net(spec)
        peers = [*edgernn_peers(net), *ort_peers(net), torch_peer(net)]
        tfl = tflite_peer(spec)
        if isinstance(tfl, str):
            skipped[spec.name] = tfl
            print(tfl, file=sys.stderr)
        else:
            peers.append(tfl)
        print(f"{spec.name}: outputs agree with edgernn step: "
              + ", ".join(check(spec, net, peers)), file=sys.stderr)
        results[spec.name] = bench(peers, spec, args.iters, args.warmup, args.repeats)
        many[spec.name] = streams_fps(net, 64, 0.2 if args.quick else 2.0)
    md = "\n\n".join([
        "## Per-frame latency (batch 1, one thread)",
        common.machine_info(),
        table(results, skipped),
        "Peers: " + "; ".join(f"**{k}** {v}" for k, v in NOTES.items()) + ".",
        f"{args.repeats} repeats × {args.iters} frames after {args.warmup} warm-up frames, "
        f"peers interleaved; median/p99 over every call (whole-sequence peers: per call / "
        f"{common.SEQ}); mean = median over repeats of the mean. Every peer was first checked "
        f"against edgernn on a {common.SEQ}-frame sequence (max |err| ≤ {TOL:g}). "
        f"Timer overhead ≈ {timer_overhead():.2f} µs per call is included.",
        streams_table(results, many),
        readme_table(results),
    ])
    print(md)
    if not args.no_write:
        common.write_section("step", md)
        common.RESULTS.with_suffix(".json").write_text(json.dumps(
            {"machine": common.machine_info(), "results": results, "streams64": many},
            indent=1))
        print(f"\nwritten to {common.RESULTS} ({time.perf_counter() - t_start:.0f} s)",
              file=sys.stderr)
    return 0


def streams_table(results: dict, many: dict) -> str:
    rows = ["64 streams stepped together (`model.streams(64).step`) vs 64 onnxruntime "
            "seq_len-1 calls (one per stream), frames per second of all streams:", "",
            "| model | edgernn 64 streams | ORT 64 × step | × ORT |", "|---|---:|---:|---:|"]
    for name, fps in many.items():
        ort = 1e6 / results[name]["ORT step"][0]
        rows.append(f"| {common.SPECS[name].title} | {fps:,.0f} | {ort:,.0f} | "
                    f"{fps / ort:.1f} |")
    return "\n".join(rows)


def readme_table(results: dict) -> str:
    """The README's table: µs per frame, the ratios of the acceptance criteria."""
    rows = ["| model | edgernn `step` | int8 `step` | `run(100)` | TFLite | ORT step | "
            "ORT whole 100 | PyTorch | step / TFLite | step / ORT step | int8 / TFLite | "
            "run(100) / ORT whole |", "|---|" + "---:|" * 11]
    for name, res in results.items():
        g = lambda k, res=res: res[k][0] if k in res else float("nan")  # noqa: E731
        step, tfl = g("edgernn step"), g("TFLite step")
        rows.append(f"| {common.SPECS[name].title} | {step:.1f} | {g('edgernn int8 step'):.1f} "
                    f"| {g('edgernn run(100)'):.1f} | {tfl:.1f} | {g('ORT step'):.1f} | "
                    f"{g('ORT whole 100'):.1f} | {g('PyTorch step'):.1f} | {step / tfl:.2f} | "
                    f"{step / g('ORT step'):.2f} | {g('edgernn int8 step') / tfl:.2f} | "
                    f"{g('edgernn run(100)') / g('ORT whole 100'):.2f} |")
    return "\n".join(rows)


def timer_overhead() -> float:
    clock = time.perf_counter_ns
    d = np.empty(10000, np.int64)
    for i in range(len(d)):
        t0 = clock()
        d[i] = clock() - t0
    return float(np.median(d)) / 1e3


if __name__ == "__main__":
    sys.exit(main())
