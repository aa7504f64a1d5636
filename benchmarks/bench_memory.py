"""Memory: process RSS per runtime, model file sizes, bytes of state per stream.

    python benchmarks/bench_memory.py [--model lstm]
    python benchmarks/bench_memory.py --quick     # one model, writes nothing (CI runs this)

* RSS: each runtime in a fresh Python process, read from /proc/self/status at
  each stage: bare interpreter, + numpy, + the runtime's import, ready (model
  loaded + one stream/session + one frame run), and the peak (VmHWM).
* File sizes of every benchmark model: ``.ern`` vs ``.onnx`` (step and whole
  sequence) vs ``.tflite`` vs TorchScript vs the PyTorch parameters as raw
  float32 (both RNN biases; edgernn and Keras store their sum).
* Per-stream memory of edgernn: state arrays, and everything a new stream
  allocates (state + bound buffers + Python objects, via tracemalloc).

Prints a markdown table and puts it in ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
from pathlib import Path

import common  # first: pins threads
import numpy as np

# Runs in a fresh interpreter; only the standard library until the first reading.
CHILD = textwrap.dedent("""
    import json, sys
    def rss():
        f = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
        return {k: int(f[k].split()[0]) for k in ("VmRSS", "VmHWM")}
    peer, path, n_in, n_state = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    out = {"bare": rss()}
    import numpy as np
    out["numpy"] = rss()
    x = np.zeros(n_in, np.float32)
    if peer == "edgernn":
        import edgernn
        out["import"] = rss()
        import numba
        out["edgernn: + import numba"] = rss()
        m = edgernn.load(path); s = m.stream()
        out["edgernn: + load model, 1 stream"] = rss()
        s.step(x)
    elif peer == "onnxruntime":
        import onnxruntime as ort
        out["import"] = rss()
        so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feeds = {k: np.zeros(v, np.float32) for k, v in json.loads(n_state).items()}
        sess.run(None, {"x": x[None], **feeds})
    elif peer == "torch":
        import torch
        out["import"] = rss()
        torch.set_num_threads(1)
        mod = torch.jit.load(path)
        with torch.no_grad():
            mod(torch.from_numpy(x)[None], *[torch.zeros(v) for v in json.loads(n_state).values()])
    elif peer == "tflite":
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            from tflite_runtime.interpreter import Interpreter
        out["import"] = rss()
        it = Interpreter(model_path=path, num_threads=1); it.allocate_tensors()
        run = it.get_signature_runner()
        run(x=x[None], **{k: np.zeros(v, np.float32) for k, v in json.loads(n_state).items()})
    out["ready"] = rss()
    print(json.dumps(out))
""")


def export_all(spec: common.Spec, tmp: Path) -> dict[str, Path]:
    """Write the model in every format; return {format: path}."""
    import torch

    import edgernn

    net = common.make_net(spec)
    files = {"ern": tmp / f"{spec.name}.ern", "onnx step": tmp / f"{spec.name}_step.onnx",
             "onnx whole": tmp / f"{spec.name}_seq.onnx",
             "torchscript step": tmp / f"{spec.name}.pt"}
    edgernn.save(edgernn.Model(common.edgernn_graph(net)), files["ern"])
    files["onnx step"].write_bytes(common.onnx_step(net))
    files["onnx whole"].write_bytes(common.onnx_sequence(net))
    state = [torch.zeros(s) for s in spec.state_shapes().values()]
    with torch.no_grad():
        traced = torch.jit.trace(common.step_module(net), (torch.zeros(1, spec.inputs), *state))
    traced.save(str(files["torchscript step"]))
    if common.tflite_path(spec).exists():
        files["tflite step"] = common.tflite_path(spec)
    files["f32 params (torch)"] = sum(p.numel() for p in net.parameters()) * 4
    return files


def child_rss(peer: str, path: Path, spec: common.Spec) -> dict | str:
    state = json.dumps(spec.state_shapes())
    proc = subprocess.run([sys.executable, "-c", CHILD, peer, str(path), str(spec.inputs), state],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        return f"failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else '?'}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rss_table(spec: common.Spec, files: dict) -> str:
    rows = [f"RSS of one process, MiB ({spec.title}; each runtime in a fresh interpreter):", "",
            "| runtime | python | + numpy | + import | ready (model + 1 stream + 1 frame) "
            "| peak | ready − numpy |", "|---|---:|---:|---:|---:|---:|---:|"]
    notes: list[str] = []
    for peer, fmt in (("edgernn", "ern"), ("onnxruntime", "onnx step"),
                      ("torch", "torchscript step"), ("tflite", "tflite step")):
        if fmt not in files:
            rows.append(f"| {peer} | skipped (run make_tflite.py) | | | | | |")
            continue
        r = child_rss(peer, files[fmt], spec)
        if isinstance(r, str):
            rows.append(f"| {peer} | {r} | | | | | |")
            continue
        mib = {k: v["VmRSS"] / 1024 for k, v in r.items()}
        rows.append(f"| {peer} | {mib['bare']:.1f} | {mib['numpy']:.1f} | {mib['import']:.1f} | "
                    f"{mib['ready']:.1f} | {r['ready']['VmHWM'] / 1024:.1f} | "
                    f"{mib['ready'] - mib['numpy']:.1f} |")
        extra = [f"{k.split(': ')[1]} {v:.1f}" for k, v in mib.items() if ": " in k]
        if extra:
            notes.append(f"{peer} stages, MiB: import {mib['import']:.1f}, " + ", ".join(extra)
                         + f", + first step (cached kernels loaded) {mib['ready']:.1f}.")
    return "\n".join(rows + [""] + notes)


def size_table(all_files: dict) -> str:
    fmts = ["f32 params (torch)", "ern", "onnx step", "onnx whole", "tflite step",
            "torchscript step"]
    rows = ["Model file sizes, KiB:", "", "| model | " + " | ".join(fmts) + " |",
            "|---|" + "---:|" * len(fmts)]
    for name, files in all_files.items():
        cells = []
        for f in fmts:
            v = files.get(f)
            size = v if isinstance(v, int) else (v.stat().st_size if v else None)
            cells.append(f"{size / 1024:.1f}" if size is not None else "—")
        rows.append(f"| {common.SPECS[name].title} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def state_table(all_files: dict) -> str:
    import edgernn

    rows = ["Per-stream memory, bytes (edgernn; a peer holds at least the state arrays):", "",
            "| model | state arrays | whole new stream (state + buffers + objects) |",
            "|---|---:|---:|"]
    x = None
    for name, files in all_files.items():
        spec = common.SPECS[name]
        model = edgernn.load(files["ern"])
        x = np.zeros(spec.inputs, np.float32)
        model.stream().step(x)  # compile/load kernels outside the measurement
        tracemalloc.start()
        s = model.stream()
        s.step(x)
        used = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        state = sum(a.nbytes for a in s.get_state().values() if a.ndim) or 0
        rows.append(f"| {spec.title} | {state} | {used} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="lstm", help="model for the RSS table")
    ap.add_argument("--no-write", action="store_true", help="do not touch results.md")
    common.add_quick(ap)
    args = ap.parse_args(argv)
    names = [args.model] if args.quick else list(common.SPECS)  # quick: every peer, one model
    with tempfile.TemporaryDirectory() as d:
        files = {n: export_all(common.SPECS[n], Path(d)) for n in names}
        md = "\n\n".join(["## Memory", rss_table(common.SPECS[args.model], files[args.model]),
                          size_table(files), state_table(files)])
    print(md)
    if not (args.no_write or args.quick):
        common.write_section("memory", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
