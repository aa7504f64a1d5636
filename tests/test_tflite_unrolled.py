"""Keras ``unroll=True`` recurrences (float32) stream as one LSTM/GRU/RNN op, vs the TFLite
interpreter.

The unrolled fixtures (``*_unroll_f32``: tf_keras and Keras 3 GRU of both resets, LSTM,
SimpleRNN; T = 8) hold one window of T frames per invoke, with only the last step's
output (``*_unroll_seq_f32``: an output per step, ``return_sequences``).  edgernn folds
them into one recurrent op with a time axis, so:

* after ``reset()`` (or fresh), the stream's output at frame T (every frame's, for the
  per-step models) equals a fresh interpreter on those T frames - for several windows
  of one long stream, streamed whole, frame by frame and in random chunks;
* at frame t < T the stream gives the output for frames 1..t.  The interpreter has no
  such output for the last-step models, but these untrained models have zero biases
  (Keras' initializers; the converter drops the zero adds), so a zero frame keeps a
  zero state: the interpreter on T - t zero frames followed by frames 1..t gives it.
  The stream on that padded window is compared too, so a premise that did not hold
  would fail the test.

The int8 unrolled fixtures keep their per-step quantization and stay a window of T
frames per call (tests/test_tflite_int8.py); a model whose steps do not all repeat the
same cell is converted that way too (checked here on edited copies of a fixture).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgernn
from edgernn.converters import load_tflite
from edgernn.converters.tflite.reader import read_tflite
from edgernn.converters.tflite.unrolled import find

FIXTURES = Path(__file__).parent / "fixtures" / "tflite"
MADE = {k for k, v in json.loads((FIXTURES / "fixtures.json").read_text()).items()
        if v.get("file")}
KIND = {"gru": "GRU", "lstm": "LSTM", "rnn": "RNN"}
UNROLLED = sorted(k for k in MADE if "_unroll" in k and k.endswith("_f32"))
SEQ = "_seq_"  # return_sequences: an output per step (else the last step's)
TOL = 1e-5

try:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
except ImportError:  # pragma: no cover - the [dev] extra installs ai-edge-litert
    pytest.skip("needs the TFLite interpreter (ai-edge-litert)", allow_module_level=True)


def window(name: str, xs: np.ndarray) -> np.ndarray:
    """A fresh interpreter (builtin kernels) on one window of frames: its output."""
    it = Interpreter(model_path=str(FIXTURES / f"{name}.tflite"),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], xs.astype(np.float32).reshape(d["shape"]))
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])[0].copy()


@functools.cache
def load(name: str):
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    T = graph.metadata["source_inputs"][graph.inputs[0].name]["dims"][1]
    return graph, edgernn.Model(graph), T


def frames(graph, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(
        (n, *graph.inputs[0].shape)).astype(np.float32)


def err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def compared(name: str, got) -> np.ndarray:
    """What of a window's stream outputs the interpreter gives: all, or the last."""
    got = np.asarray(got)
    return got if SEQ in name else got[-1]


def test_the_fixtures_are_there():
    assert {"k3_gru_ra1_unroll_f32", "k2_gru_ra0_unroll_f32", "k3_lstm_unroll_f32",
            "k3_rnn_unroll_f32"} <= set(UNROLLED)


@pytest.mark.parametrize("name", UNROLLED)
def test_folds_into_one_streaming_recurrent_op(name):
    graph, _, T = load(name)
    kind = KIND[name.split("_")[1]]
    kinds = {op.kind for op in graph.ops}
    assert kind in kinds and not {"Slice", "Binary", "Unary"} & kinds, kinds
    assert not graph.states  # the state lives inside the folded op
    info = graph.metadata["source_inputs"][graph.inputs[0].name]
    assert (info["time"], info["dims"][1], T) == (1, 8, 8) and "unrolled" in info["how"]
    assert graph.inputs[0].shape == (16,)  # one frame per step, not a window
    out = graph.metadata["source_outputs"][graph.outputs[0]]
    if SEQ in name:  # an output per frame
        assert not out["reduced"] and out["time"] == 1
    else:  # the last step's value
        assert out["reduced"] and out["time"] is None
    if kind == "GRU":
        gru = next(op for op in graph.ops if op.kind == "GRU")
        assert bool(gru.attr("linear_before_reset")) is ("ra1" in name)


@pytest.mark.parametrize("name", UNROLLED)
def test_windows_of_a_long_stream_with_reset(name):
    """Four windows: reset(), then the window whole / frame by frame / in chunks; the last
    frame's output == a fresh interpreter on the window."""
    graph, model, T = load(name)
    xs = frames(graph, 4 * T, seed=3)
    s, rng = model.stream(), np.random.default_rng(4)
    for w in range(4):
        x = xs[w * T:(w + 1) * T]
        want = window(name, x)
        s.reset()
        assert err(compared(name, s.run(x)), want) <= TOL, (name, w, "run")
        s.reset()
        assert err(compared(name, [s.step(f) for f in x]), want) <= TOL, (name, w, "step")
        s.reset()
        cut = np.sort(rng.choice(np.arange(1, T), 2, replace=False))
        parts = [s.run(p) for p in np.split(x, cut)]
        assert err(compared(name, np.concatenate(parts)), want) <= TOL, (name, w, "chunks")
    s.reset()
    s.run(xs[:T])  # without reset() the state carries on: not the second window alone
    assert err(compared(name, s.run(xs[T:2 * T])), window(name, xs[T:2 * T])) > 1e-3


@pytest.mark.parametrize("name", UNROLLED)
def test_every_frame_of_the_window(name):
    """Frame t of the stream == the interpreter on T - t zero frames, then frames 1..t."""
    graph, model, T = load(name)
    xs = frames(graph, T, seed=5)
    got = model.stream().run(xs)
    if SEQ in name:  # the interpreter gives every frame's output itself
        assert err(got, window(name, xs)) <= TOL
        return
    worst = 0.0
    for t in range(1, T + 1):
        padded = np.concatenate([np.zeros((T - t, *xs.shape[1:]), np.float32), xs[:t]])
        want = window(name, padded)
        assert err(model.stream().run(padded)[-1], want) <= TOL, (name, t, "padded")
        worst = max(worst, err(got[t - 1], want))
    assert worst <= TOL, (name, worst)


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(1, 7), max_size=6), seed=st.integers(0, 2**16))
def test_any_chunking_equals_the_interpreter(cuts, seed):
    name = "k3_gru_ra1_unroll_f32"
    graph, model, T = load(name)
    x = frames(graph, T, seed)
    s = model.stream()
    parts = [s.run(p) for p in np.split(x, sorted(set(cuts)))]
    assert err(np.concatenate(parts)[-1], window(name, x)) <= TOL


def test_no_time_axis_given_keeps_the_window():
    """axes='BFF': the user says one call is one window: the steps convert as they are."""
    name = "k3_lstm_unroll_f32"
    path = FIXTURES / f"{name}.tflite"
    graph = load_tflite(path, axes={load_tflite(path).inputs[0].name: "BFF"})
    assert graph.inputs[0].shape == (8, 16) and "LSTM" not in {op.kind for op in graph.ops}
    x = frames(graph, 2, seed=6)
    got = edgernn.Model(graph).stream().run(x)
    assert max(err(got[k], window(name, x[k])) for k in range(2)) <= TOL


@pytest.mark.parametrize("name", ["k3_gru_ra1_unroll_int8", "k3_lstm_unroll_int8"])
def test_int8_steps_stay_a_window(name):
    """Each int8 step has its own quantization: no single op reproduces them."""
    assert find(read_tflite(FIXTURES / f"{name}.tflite"), 0) is None
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    assert graph.inputs[0].shape == (8, 16)


def _edited(name: str, edit) -> object:
    model = read_tflite(FIXTURES / f"{name}.tflite")
    sg = model.subgraphs[0]
    ops = [edit(op) for op in sg.operators]
    return dataclasses.replace(model, subgraphs=[dataclasses.replace(sg, operators=ops)])


def test_a_step_that_differs_is_not_folded():
    """One later step with another activation, or step 0 computing something else than
    the cell from a zero state: find() gives up, so the model converts as a window."""
    assert find(read_tflite(FIXTURES / "k3_rnn_unroll_f32.tflite"), 0) is not None
    tanhs = [op.index for op in read_tflite(FIXTURES / "k3_rnn_unroll_f32.tflite")
             .subgraphs[0].operators if op.opcode == "TANH"]
    for k in (tanhs[0], tanhs[4]):  # step 0 (the numeric check), step 4 (the matching)
        m = _edited("k3_rnn_unroll_f32", lambda op, k=k: dataclasses.replace(
            op, opcode="LOGISTIC") if op.index == k else op)
        assert find(m, 0) is None, k
