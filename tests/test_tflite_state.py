"""State that persists across ``invoke()``: a stream carries it exactly like the interpreter.

* the fused LSTM's h/c *variable tensors* (``k2_lstm_step_*``: one frame per invoke;
  ``k2_lstm_f32``: eight) persist across invokes, and ``reset_all_variables()`` clears
  them: a stream's ``reset()`` equals that;
* *resource variables* (``stream_ringbuf_*``: ring buffers; ``k2_lstm_stateful_f32``:
  a stateful Keras LSTM) persist too, initialized by CALL_ONCE; only a new interpreter
  starts again: ``reset()`` equals a fresh interpreter.

Each stream runs 500 steps and is compared invoke by invoke with the interpreter
carrying its state (builtin kernels, no delegate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgernn
from edgernn.converters import load_tflite

FIXTURES = Path(__file__).parent / "fixtures" / "tflite"
TOL = {"f32": 1e-5, "dyn": 1e-3}

try:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
except ImportError:  # pragma: no cover - the [dev] extra installs ai-edge-litert
    pytest.skip("needs the TFLite interpreter (ai-edge-litert)", allow_module_level=True)


class Carried:
    """One interpreter invoked again and again (its state carried)."""

    def __init__(self, name: str) -> None:
        self.it = Interpreter(model_path=str(FIXTURES / f"{name}.tflite"),
                              experimental_op_resolver_type=(
                                  OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]["index"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.it.set_tensor(self.inp["index"], x.reshape(self.inp["shape"]).astype(np.float32))
        self.it.invoke()
        return self.it.get_tensor(self.out)[0].copy()


def frames(graph, n: int, seed: int) -> np.ndarray:
    shape = graph.inputs[0].shape
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def tol(name: str) -> float:
    return TOL[name.rsplit("_", 1)[1]]


@pytest.mark.parametrize("name", ["k2_lstm_step_f32", "k2_lstm_step_dyn",
                                  "stream_ringbuf_f32", "stream_ringbuf_dyn"])
def test_500_steps_equal_500_carried_invokes(name):
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    xs = frames(graph, 500, seed=3)
    ref = Carried(name)
    want = np.stack([ref(x) for x in xs])
    s = edgernn.Model(graph).stream()
    got = np.stack([s.step(x) for x in xs])
    err = np.abs(got - want).max(axis=tuple(range(1, got.ndim)))
    assert err.max() <= tol(name), f"first frame above tolerance: {np.argmax(err > tol(name))}"


def test_stateful_keras_lstm_carries_its_variables():
    """tf_keras LSTM(stateful=True): 63 invokes of 8 frames = one stream of 504 frames; the
    interpreter's output after invoke k is the stream's at frame 8k + 7."""
    name = "k2_lstm_stateful_f32"
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    xs = frames(graph, 504, seed=4)
    ref = Carried(name)
    want = np.stack([ref(xs[k:k + 8]) for k in range(0, 504, 8)])
    got = edgernn.Model(graph).stream().run(xs)[7::8]
    assert np.abs(got - want).max() <= 1e-5


def test_fused_lstm_variables_persist_and_reset_all_variables_is_reset():
    """k2_lstm_f32 (not stateful in Keras): its variable tensors still persist across
    invokes; 10 invokes of 8 frames = 80 streamed frames; reset_all_variables() = reset()."""
    name = "k2_lstm_f32"
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    xs = frames(graph, 80, seed=5)
    ref = Carried(name)
    want = np.stack([ref(xs[k:k + 8]) for k in range(0, 80, 8)])
    s = edgernn.Model(graph).stream()
    got = s.run(xs)[7::8]
    assert np.abs(got - want).max() <= 1e-5
    ref.it.reset_all_variables()
    s.reset()
    assert np.abs(s.run(xs[:8])[-1] - ref(xs[:8])).max() <= 1e-5


@pytest.mark.parametrize("name", ["stream_ringbuf_f32", "k2_lstm_stateful_f32"])
def test_reset_equals_a_fresh_interpreter(name):
    """Resource variables survive reset_all_variables(); reset() starts from the CALL_ONCE
    values again, like a new interpreter."""
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    per_invoke = 8 if "lstm" in name else 1
    xs = frames(graph, 40 * per_invoke, seed=6)
    s = edgernn.Model(graph).stream()
    s.run(xs)
    old = Carried(name)
    for k in range(0, len(xs), per_invoke):
        old(xs[k:k + per_invoke])
    old.it.reset_all_variables()
    s.reset()
    fresh = Carried(name)
    y_fresh = fresh(xs[:per_invoke])
    y_old = old(xs[:per_invoke])
    y = s.run(xs[:per_invoke])[-1]
    assert np.abs(y - y_fresh).max() <= 1e-5
    assert np.abs(y_old - y_fresh).max() > 1e-3  # the old interpreter kept its variables


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(1, 30), min_size=1, max_size=8))
def test_any_chunking_of_a_ring_buffer_model(cuts):
    graph = load_tflite(FIXTURES / "stream_ringbuf_f32.tflite")
    model = edgernn.Model(graph)
    xs = frames(graph, sum(cuts), seed=7)
    s = model.stream()
    whole = np.stack([s.step(x) for x in xs])
    s, parts, t = model.stream(), [], 0
    for n in cuts:
        parts.append(s.run(xs[t:t + n]))
        t += n
    assert np.array_equal(np.concatenate(parts), whole)


def test_ring_buffers_are_graph_state_with_their_init_values():
    graph = load_tflite(FIXTURES / "stream_ringbuf_f32.tflite")
    assert len(graph.states) == 2
    sizes = sorted(int(np.prod(s.shape)) for s in graph.states)
    assert sizes == [3 * 16, 4 * 16]
    assert all(s.init in graph.consts for s in graph.states)
    assert graph.inputs[0].shape == (3, 16)  # one invoke = one frame of 3 feature rows
