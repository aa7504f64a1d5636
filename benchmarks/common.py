"""The benchmark models, their shared weights, and the same model for every peer.

One PyTorch definition (:func:`net_module`) per model; its weights live in
``benchmarks/weights/<name>.npz`` (written once from a fixed seed, then reused,
so the committed TFLite fixtures stay in step).  From it come:

* the edgernn graph (:func:`edgernn_graph`, via the GraphBuilder);
* a step module with explicit state inputs/outputs (:func:`step_module`) for PyTorch
  per-step inference and the ONNX seq_len-1 export;
* the whole-sequence module (the net itself) for the ONNX whole-sequence export.

``make_tflite.py`` reads the same ``.npz`` files (it runs in a TensorFlow venv
and does not import this module).
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
for _var in THREAD_VARS:  # one thread everywhere; must precede numpy / numba / torch
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "weights"
FIXTURES = HERE / "fixtures"
SEED = 20240611
SEQ = 100  # frames of the whole-sequence peers and of the correctness check


@dataclass(frozen=True)
class Spec:
    """One benchmark model: [causal Conv1d k + ReLU] -> `layers` x cell(H) -> Dense(out)."""

    name: str
    title: str
    cell: str  # "lstm" | "gru"
    inputs: int = 40
    hidden: int = 128
    layers: int = 1
    out: int = 12
    conv: int = 0  # Conv1d output channels; 0 = no conv front end
    kernel: int = 3

    @property
    def rnn_in(self) -> int:
        return self.conv or self.inputs

    @property
    def state_names(self) -> tuple[str, ...]:
        names = ("h", "c") if self.cell == "lstm" else ("h",)
        return (("hist",) if self.conv else ()) + names

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {"h": (self.layers, 1, self.hidden), "c": (self.layers, 1, self.hidden)}
        shapes["hist"] = (1, self.kernel - 1, self.inputs)
        return {k: shapes[k] for k in self.state_names}


SPECS = {
    s.name: s
    for s in (
        Spec("lstm", "LSTM 40→128 + Dense 12", "lstm"),
        Spec("gru", "GRU 40→128 + Dense 12", "gru"),
        Spec("lstm2", "LSTM 40→64→64 (2 layers) + Dense 12", "lstm", hidden=64, layers=2),
        Spec("crnn", "CRNN: causal Conv1d 40→64 k3 + ReLU + GRU 64 + Dense 12", "gru",
             hidden=64, conv=64),
    )
}


# --- PyTorch ---------------------------------------------------------------------------

def _torch():
    import torch

    return torch


def make_net(spec: Spec):
    """The PyTorch model with the shared weights (created from the seed on first use)."""
    torch = _torch()
    net = net_module(spec)
    path = WEIGHTS / f"{spec.name}.npz"
    if path.exists():
        with np.load(path) as z:
            net.load_state_dict({k: torch.from_numpy(z[k]) for k in z.files})
    else:
        WEIGHTS.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{k: v.detach().numpy() for k, v in net.state_dict().items()})
    return net.eval()


def net_module(spec: Spec):
    """A fresh (randomly initialised) PyTorch model; torch is imported lazily."""
    torch = _torch()
    nn = torch.nn

    class _Net(nn.Module):
        """Whole-sequence model: x (1, T, I) -> y (1, T, out), from zero state."""

        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(SEED + sum(map(ord, spec.name)))
            self.spec = spec
            if spec.conv:
                self.conv = nn.Conv1d(spec.inputs, spec.conv, spec.kernel)
            rnn = nn.LSTM if spec.cell == "lstm" else nn.GRU
            self.rnn = rnn(spec.rnn_in, spec.hidden, num_layers=spec.layers, batch_first=True)
            self.fc = nn.Linear(spec.hidden, spec.out)

        def front(self, x):  # x (1, T + k - 1, I) already left-padded -> (1, T, rnn_in)
            return torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)

        def forward(self, x):
            if spec.conv:
                x = self.front(torch.nn.functional.pad(x, (0, 0, spec.kernel - 1, 0)))
            return self.fc(self.rnn(x)[0])

    return _Net()


def step_module(net):
    """One frame with explicit state: (x (1, I), *state) -> (y (1, out), *new_state)."""
    torch = _torch()
    spec = net.spec

    class _Step(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x, *state):
            state = list(state)
            hist = None
            if spec.conv:
                window = torch.cat([state.pop(0), x.unsqueeze(1)], dim=1)  # (1, k, I)
                hist = window[:, 1:]
                x = self.net.front(window)[:, 0]
            rnn_state = tuple(state) if spec.cell == "lstm" else state[0]
            y, new = self.net.rnn(x.unsqueeze(1), rnn_state)
            new = list(new) if spec.cell == "lstm" else [new]
            return (self.net.fc(y[:, 0]), *([hist] if spec.conv else []), *new)

    return _Step().eval()


# --- edgernn --------------------------------------------------------------------------

def _np(t) -> np.ndarray:
    return np.ascontiguousarray(t.detach().numpy(), dtype=np.float32)


def edgernn_graph(net):
    """The same model built with edgernn's GraphBuilder from the PyTorch weights."""
    from edgernn.builder import GraphBuilder

    spec, b = net.spec, GraphBuilder()
    h = b.input("x", (spec.inputs,))
    if spec.conv:
        h = b.relu(b.conv(h, _np(net.conv.weight), _np(net.conv.bias)))
    rnn = net.rnn
    for k in range(spec.layers):
        g = lambda n, k=k: _np(getattr(rnn, f"{n}_l{k}"))  # noqa: E731
        if spec.cell == "lstm":
            h = b.lstm(h, g("weight_ih"), g("weight_hh"), g("bias_ih") + g("bias_hh"),
                       gate_order="ifgo")
        else:
            h = b.gru(h, g("weight_ih"), g("weight_hh"), g("bias_ih"), g("bias_hh"),
                      gate_order="rzn", linear_before_reset=True)
    b.output(b.dense(h, _np(net.fc.weight), _np(net.fc.bias)), "y")
    return b.build(source=f"benchmarks/{spec.name}")


# --- ONNX -----------------------------------------------------------------------------

def _export(module, args, inputs, outputs) -> bytes:
    torch = _torch()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buf, dynamo=False, opset_version=17,
                          input_names=list(inputs), output_names=list(outputs))
    return buf.getvalue()


def onnx_step(net) -> bytes:
    """seq_len-1 model: inputs x (1, I) + state, outputs y + state_out (same shapes)."""
    torch = _torch()
    spec = net.spec
    zeros = [torch.zeros(s) for s in spec.state_shapes().values()]
    return _export(step_module(net), (torch.zeros(1, spec.inputs), *zeros),
                   ("x", *spec.state_names), ("y", *(f"{n}_out" for n in spec.state_names)))


def onnx_sequence(net, frames: int = SEQ) -> bytes:
    """Whole-sequence model: x (1, frames, I) -> y (1, frames, out), zero initial state."""
    torch = _torch()
    return _export(net, (torch.zeros(1, frames, net.spec.inputs),), ("x",), ("y",))


def ort_session(model: bytes):
    """An onnxruntime session pinned to one thread, sequential execution."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


# --- TFLite ---------------------------------------------------------------------------

def tflite_path(spec: Spec) -> Path:
    return FIXTURES / f"{spec.name}_step.tflite"


def tflite_interpreter(path: Path):
    """(interpreter, {name: input index}, {name: output index}) or raise ImportError."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    runner = interp.get_signature_runner()
    ins = {k: d["index"] for k, d in runner.get_input_details().items()}
    outs = {k: d["index"] for k, d in runner.get_output_details().items()}
    return interp, ins, outs


# --- reporting ------------------------------------------------------------------------

RESULTS = HERE / "results.md"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key = line.split(":")[0].strip().lower()
            if key in ("model name", "hardware", "model") and ":" in line:
                value = line.split(":", 1)[1].strip()
                if value and not value.isdigit():
                    return value
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def machine_info() -> str:
    """A markdown bullet list: CPU, cores, Python and the versions of every peer."""
    import platform
    from importlib import metadata

    lines = [f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores, "
             f"{platform.machine()}), Linux {platform.release()}",
             f"- Python {platform.python_version()}"]
    versions = []
    for pkg in ("edgernn", "numpy", "numba", "onnxruntime", "torch", "ai-edge-litert"):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{pkg} (not installed)")
    lines.append("- " + ", ".join(versions))
    lines.append(f"- threads: {', '.join(f'{v}={os.environ.get(v)}' for v in THREAD_VARS[:2])}; "
                 "ORT intra/inter-op 1, torch 1, TFLite num_threads=1")
    return "\n".join(lines)


def add_quick(parser) -> None:
    """``--quick``: every code path of the script once, in seconds, writing nothing.
    CI runs each script this way (tests/test_benchmarks_quick.py) so none rots."""
    parser.add_argument("--quick", action="store_true",
                        help="a few iterations only, to check the script runs (implies "
                             "--no-write)")


def write_section(key: str, text: str, path: Path = RESULTS) -> None:
    """Replace (or append) the block between ``<!-- key -->`` markers in results.md."""
    begin, end = f"<!-- begin {key} -->", f"<!-- end {key} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    old = path.read_text() if path.exists() else "# edgernn benchmark results\n\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)
