"""Full-integer TFLite fixtures: integer in, integer out, never dequantized, and equal to
the interpreter.

Every ``*_int8`` fixture is converted and streamed with int8 frames (every code, seeded)
and compared invoke by invoke with

* TFLite's reference kernels (``BUILTIN_REF``): outputs must be **equal**;
* the default interpreter (XNNPACK delegate), whose optimized kernels round some
  products differently from TFLite's own reference: one step off on at most 1 % of the
  values for the single-pass models; through the 8 unrolled recurrent steps those
  differences compound (measured 14-17 % of the values, at most 2 steps), so there only
  the bound of 2 steps is asserted (the measured share is printed with ``-s``).

Sequence fixtures are compared on their own length (fresh interpreter per sequence) and,
for the fused LSTM (its h/c persist across invokes), over 60 carried invokes.  The
streaming int8 ring-buffer fixtures run 500 steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgernn
from edgernn.converters import load_tflite

FIXTURES = Path(__file__).parent / "fixtures" / "tflite"
MADE = {k for k, v in json.loads((FIXTURES / "fixtures.json").read_text()).items()
        if v.get("file") and k.endswith("_int8")}
WINDOWS = sorted(k for k in MADE if "unroll" in k)           # unrolled: one call = 8 frames
SEQUENCES = sorted(k for k in MADE if k.startswith("k2_lstm"))
STEPS = sorted(k for k in MADE if k.startswith("stream_ringbuf"))

try:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
except ImportError:  # pragma: no cover - the [dev] extra installs ai-edge-litert
    pytest.skip("needs the TFLite interpreter (ai-edge-litert)", allow_module_level=True)

RESOLVERS = {"ref": OpResolverType.BUILTIN_REF, "default": OpResolverType.AUTO}


class Carried:
    def __init__(self, name: str, resolver: str) -> None:
        self.it = Interpreter(model_path=str(FIXTURES / f"{name}.tflite"),
                              experimental_op_resolver_type=RESOLVERS[resolver])
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]["index"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.it.set_tensor(self.inp["index"], x.reshape(self.inp["shape"]))
        self.it.invoke()
        return self.it.get_tensor(self.out)[0].copy()


def codes(shape, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (n, *shape)).astype(np.int8)


def agree(got: np.ndarray, want: np.ndarray, resolver: str, what: str,
          steps: int = 1) -> float:
    """Equal to ``ref``; against the default interpreter at most ``steps`` steps off (and,
    for one step, on at most 1 % of the values)."""
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    d = np.abs(got.astype(np.int64) - want.astype(np.int64))
    share = float(np.mean(d != 0))
    print(f"{what} vs {resolver}: {share:.2%} of {d.size} values differ, max {d.max()} steps")
    if resolver == "ref":
        assert share == 0, f"{what}: {share:.2%} differ from TFLite's reference kernels"
    else:
        assert d.max() <= steps and (steps > 1 or share <= 0.01), \
            f"{what}: {share:.2%} differ, max {d.max()}"
    return share


def test_integer_models_stay_integer():
    """int8 in, int8 out; a float island only where the source has one (DEQUANTIZE ...
    QUANTIZE) or where edgernn lacks an integer kernel (int8 SOFTMAX: noted)."""
    from edgernn.converters.tflite.reader import read_tflite

    for name in sorted(MADE):
        graph = load_tflite(FIXTURES / f"{name}.tflite")
        x, y = graph.inputs[0], graph.values[graph.outputs[0]]
        assert x.dtype == "i8" and x.scale > 0, name
        assert y.dtype in ("i8", "u8"), name
        ops = [op.opcode for sg in read_tflite(FIXTURES / f"{name}.tflite").subgraphs
               for op in sg.operators]
        islands = sum("no integer kernel" in n for n in graph.metadata["notes"])
        assert islands == ops.count("SOFTMAX"), name
        deq = sum(op.kind == "Dequantize" for op in graph.ops)
        assert deq <= ops.count("DEQUANTIZE") + islands, f"{name}: dequantized {deq} times"
        assert all(t.dtype in ("q8", "i32") for n, t in graph.consts.items()
                   if any(n in op.inputs[1:2] for op in graph.ops
                          if op.kind in ("Dense", "Conv", "LSTM"))), name


@pytest.mark.parametrize("resolver", RESOLVERS)
@pytest.mark.parametrize("name", WINDOWS)
def test_unrolled_windows(name, resolver):
    """Keras unroll=True: 8 steps with per-step quantization; one call = one 8-frame window."""
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    xs = codes(graph.inputs[0].shape, 40, seed=1)
    ref = Carried(name, resolver)
    want = np.stack([ref(x) for x in xs])
    got = edgernn.Model(graph).stream().run(xs)
    agree(got, want, resolver, name, steps=2)


@pytest.mark.parametrize("resolver", RESOLVERS)
@pytest.mark.parametrize("name", SEQUENCES)
def test_fused_lstm_sequences_carried(name, resolver):
    """The 8x8_16 LSTM keeps h/c across invokes: 60 invokes = one stream; each invoke's
    output is the stream's at its last frame (or every frame for a per-step output)."""
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    T = graph.metadata["source_inputs"][graph.inputs[0].name]["dims"][1]
    xs = codes(graph.inputs[0].shape, 60 * T, seed=2)
    ref = Carried(name, resolver)
    want = np.stack([ref(xs[k:k + T]) for k in range(0, len(xs), T)])
    got = edgernn.Model(graph).stream().run(xs)[T - 1::T]
    agree(got, want, resolver, name)


def test_crnn_int8_fresh_sequences():
    """crnn1d_lstm_int8 on fresh sequences (a new interpreter each: its padded conv starts
    every invoke from zeros, while its LSTM would carry over): equal to ref."""
    name = "crnn1d_lstm_int8"
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    model = edgernn.Model(graph)
    got, want = [], []
    for seed in range(20):
        xs = codes(graph.inputs[0].shape, 16, seed=10 + seed)
        got.append(model.stream().run(xs)[-1])
        want.append(Carried(name, "ref")(xs))
    agree(np.stack(got), np.stack(want), "ref", name)


@pytest.mark.parametrize("resolver", RESOLVERS)
@pytest.mark.parametrize("name", STEPS)
def test_int8_ring_buffers_500_steps(name, resolver):
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    xs = codes(graph.inputs[0].shape, 500, seed=3)
    ref = Carried(name, resolver)
    want = np.stack([ref(x) for x in xs])
    s = edgernn.Model(graph).stream()
    got = np.stack([s.step(x) for x in xs])
    agree(got, want, resolver, name)


def test_quantized_variables_are_int8_state():
    """_experimental_variable_quantization: the ring buffers are int8 graph state, with
    the zero point as initial value (TFLite's init constants)."""
    graph = load_tflite(FIXTURES / "stream_ringbuf_qvars_int8.tflite")
    for st in graph.states:
        v = graph.values[st.input]
        assert v.dtype == "i8"
        init = graph.consts[st.init].data
        assert np.all(init == v.zero_point)


def test_int8_frames_are_required():
    graph = load_tflite(FIXTURES / "k2_lstm_step_int8.tflite")
    with pytest.raises(edgernn.InputError, match="int8"):
        edgernn.Model(graph).stream().step(np.zeros(graph.inputs[0].shape, np.float32))
