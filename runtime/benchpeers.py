"""The runtimes ``edgernn bench --vs`` compares against, behind one small interface.

A peer runs the same model from its own file: ``name[:path]`` with the path
defaulting to the model's with the peer's suffix (``.onnx``, ``.tflite``, ``.pt``).
Conventions (those of ``benchmarks/``): a *step* model takes the frame first
(shape ``(1, *frame)``) then its state tensors, and returns the output first then the
new state (matched by the name ``<state>_out``, else by position); the state starts
at zeros and is fed back.  An ONNX/TFLite model with a single input is a
*whole-sequence* model: ``(1, T, *frame)`` in, ``(1, T, ...)`` out, timed per frame
over T.  A TorchScript step module gets its state shapes from ``<path>.json``
(``{"state": {"h": [1, 1, 128]}}``) or the ONNX step model beside it.  The runtimes
are imported here, lazily: edgernn itself never needs them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import EdgeRNNError

SUFFIX = {"onnxruntime": ".onnx", "tflite": ".tflite", "torch": ".pt"}


class Peer:
    """``step(frame) -> y`` with state fed back, or ``whole(frames) -> (T, ...)``."""

    def __init__(self, name: str, fn: Callable, per: int = 1,
                 reset: Callable[[], None] | None = None) -> None:
        self.name, self.fn, self.per = name, fn, per
        self.reset = reset or (lambda: None)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """(T, out) for frames x from the initial state."""
        self.reset()
        if self.per == 1:
            return np.stack([np.asarray(self.fn(f)).reshape(-1) for f in x])
        got = [np.asarray(self.fn(x[i:i + self.per])) for i in range(0, len(x), self.per)]
        return np.concatenate([g.reshape(self.per, -1) for g in got])


def _state_loop(name: str, run: Callable, frame_shape: tuple, states: dict, outputs: list,
                first: str) -> Peer:
    """A step peer: ``run(feeds) -> {output: array}``; ``states``: name -> shape."""
    zeros = {k: np.zeros(s, np.float32) for k, s in states.items()}
    feeds = dict(zeros)
    back = {k: (f"{k}_out" if f"{k}_out" in outputs else outputs[1 + i])
            for i, k in enumerate(states)}

    def step(frame):
        feeds[first] = frame.reshape(frame_shape)
        out = run(feeds)
        for k, o in back.items():
            feeds[k] = out[o]
        return out[outputs[0]]

    return Peer(name, step, reset=lambda: feeds.update(zeros))


def _shape(dims, frame: tuple) -> tuple:
    return tuple(d if isinstance(d, int) and d > 0 else 1 for d in dims) or frame


def onnxruntime(path: Path, frame: tuple) -> Peer:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    ins, outs = sess.get_inputs(), [o.name for o in sess.get_outputs()]
    if len(ins) == 1:
        return Peer("onnxruntime whole", lambda x: sess.run(None, {ins[0].name: x[None]})[0],
                    per=100)
    states = {i.name: _shape(i.shape, frame) for i in ins[1:]}

    def run(feeds):
        return dict(zip(outs, sess.run(outs, feeds), strict=True))

    return _state_loop("onnxruntime step", run, (1, *frame), states, outs, ins[0].name)


def tflite(path: Path, frame: tuple) -> Peer:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    runner = it.get_signature_runner()
    ins, outs = runner.get_input_details(), list(runner.get_output_details())
    idx = {k: d["index"] for k, d in ins.items()}
    out_idx = {k: d["index"] for k, d in runner.get_output_details().items()}
    names = list(ins)
    first = "x" if "x" in ins else names[0]
    if len(ins) == 1:
        def whole(x):
            it.set_tensor(idx[first], x[None])
            it.invoke()
            return it.get_tensor(out_idx[outs[0]])
        return Peer("tflite whole", whole, per=100)
    states = {k: tuple(d["shape"]) for k, d in ins.items() if k != first}
    y = "y" if "y" in outs else outs[0]
    outs = [y] + [o for o in outs if o != y]

    def run(feeds):
        for k, v in feeds.items():
            it.set_tensor(idx[k], v)
        it.invoke()
        return {k: it.get_tensor(out_idx[k]) for k in outs}

    return _state_loop("tflite step", run, tuple(ins[first]["shape"]), states, outs, first)


def torch(path: Path, frame: tuple) -> Peer:
    import torch as tt

    side = path.with_suffix(path.suffix + ".json")
    if side.exists():
        states = {k: tuple(v) for k, v in json.loads(side.read_text())["state"].items()}
    elif path.with_suffix(".onnx").exists():
        import onnx

        m = onnx.load(str(path.with_suffix(".onnx")))
        states = {i.name: tuple(d.dim_value or 1 for d in i.type.tensor_type.shape.dim)
                  for i in m.graph.input[1:]}
    else:
        raise EdgeRNNError(f"torch peer {path}: give its state shapes in {side}")
    tt.set_num_threads(1)
    mod = tt.jit.load(str(path)).eval()
    names = list(states)

    def run(feeds):
        with tt.no_grad():
            out = mod(tt.from_numpy(feeds["x"]), *[tt.from_numpy(feeds[k]) for k in names])
        return {"y": out[0].numpy(), **{f"{k}_out": o.numpy()
                                        for k, o in zip(names, out[1:], strict=True)}}

    return _state_loop("torch step", run, (1, *frame), states,
                       ["y", *(f"{k}_out" for k in names)], "x")


def make(spec: str, model_path: str, frame: tuple) -> list[Peer]:
    """Peers from ``--vs`` (comma-separated ``name[:path]``)."""
    peers = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, path = item.partition(":")
        if name not in SUFFIX:
            raise EdgeRNNError(f"unknown peer {name!r}; choose from {', '.join(SUFFIX)}")
        p = Path(path) if path else Path(model_path).with_suffix(SUFFIX[name])
        if not p.exists():
            raise EdgeRNNError(f"peer {name}: no file {p} (give it as {name}:PATH)")
        try:
            peers.append(globals()[name](p, frame))
        except ImportError as e:
            raise EdgeRNNError(f"peer {name} needs {e.name or e}: pip install it") from None
    return peers
