"""TFLite import of the float and dynamic-range fixtures vs the TFLite interpreter.

Every float32 (``*_f32``) and dynamic-range (``*_dyn``) fixture of
tests/fixtures/tflite/ is converted and streamed (``run`` on the whole sequence,
``step`` frame by frame, ``run`` in random chunks) and compared with a fresh LiteRT
interpreter (builtin kernels, no delegate) invoked on the same frames: max abs error
<= 1e-5 (float) / 1e-3 (dynamic range).  Models whose sequence length the interpreter
can resize (fused LSTM/RNN) are also compared on every prefix of a longer sequence:
at frame t a stream emits what the model outputs for frames 1..t.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgernn
from edgernn.converters import load_tflite

FIXTURES = Path(__file__).parent / "fixtures" / "tflite"
MADE = {k: v for k, v in json.loads((FIXTURES / "fixtures.json").read_text()).items()
        if v.get("file")}
STEP_MODELS = ("stream_ringbuf",)  # no time axis: one invoke = one frame (test_tflite_state)
FLOAT = sorted(k for k in MADE if k.endswith("_f32") and not k.startswith(STEP_MODELS))
DYN = sorted(k for k in MADE if k.endswith("_dyn") and not k.startswith(STEP_MODELS))
TOL = {"f32": 1e-5, "dyn": 1e-3}

try:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
except ImportError:  # pragma: no cover - the [dev] extra installs ai-edge-litert
    pytest.skip("needs the TFLite interpreter (ai-edge-litert)", allow_module_level=True)


def interpreter(name: str, length: int | None = None) -> Interpreter:
    """A fresh interpreter (builtin kernels), the time axis resized to ``length``."""
    it = Interpreter(model_path=str(FIXTURES / f"{name}.tflite"),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    if length is not None:
        d = it.get_input_details()[0]
        shape = list(d["shape"])
        shape[1] = length
        it.resize_tensor_input(d["index"], shape)
    it.allocate_tensors()
    return it


def invoke(it: Interpreter, x: np.ndarray) -> np.ndarray:
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], x.astype(d["dtype"]).reshape(d["shape"]))
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def frames_of(graph, n: int, seed: int = 0) -> np.ndarray:
    x = graph.inputs[0]
    return np.random.default_rng(seed).standard_normal((n, *x.shape)).astype(np.float32)


def streamed(model, xs: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs of run(all), step() per frame and run(random chunks)."""
    out = {"run": model.stream().run(xs)}
    s = model.stream()
    out["step"] = np.stack([y for y in map(s.step, xs) if y is not None])
    s, parts, t = model.stream(), [], 0
    rng = np.random.default_rng(len(xs))
    while t < len(xs):
        n = int(rng.integers(1, 7))
        parts.append(s.run(xs[t:t + n]))
        t += n
    out["chunks"] = np.concatenate(parts)
    return out


def per_step(graph) -> bool:
    return graph.metadata["source_outputs"][graph.outputs[0]]["time"] is not None


@pytest.mark.parametrize("name", FLOAT + DYN)
def test_fixture_matches_interpreter(name):
    """The fixture's own sequence length: every streaming mode vs one invoke."""
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    model = edgernn.Model(graph)
    T = graph.metadata["source_inputs"][graph.inputs[0].name]["dims"][1]
    xs = frames_of(graph, T, seed=1)
    want = invoke(interpreter(name), xs)[0]
    tol = TOL[name.rsplit("_", 1)[1]]
    for mode, got in streamed(model, xs).items():
        got, ref = (got, want[:len(got)]) if per_step(graph) else (got[-1], want)
        err = float(np.max(np.abs(got - ref)))
        assert err <= tol, f"{name} ({mode}): max abs error {err:.3g} > {tol}"


RESIZABLE = [n for n in FLOAT + DYN if n.startswith(("k2_lstm", "seq_rnn", "lstm_"))
             and "stateful" not in n and "unroll" not in n]  # (unrolled: T steps in the file)


@pytest.mark.parametrize("name", RESIZABLE)
def test_every_prefix_of_a_long_sequence(name):
    """40 frames: output t of the stream == the interpreter on frames 1..t (fresh)."""
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    xs = frames_of(graph, 40, seed=2)
    got = edgernn.Model(graph).stream().run(xs)
    tol = TOL[name.rsplit("_", 1)[1]]
    for t in (1, 2, 7, 23, 40):
        want = invoke(interpreter(name, t), xs[:t])[0]
        ref = want[t - 1] if per_step(graph) else want
        assert np.max(np.abs(got[t - 1] - ref)) <= tol, (name, t)


@pytest.mark.parametrize("name,kinds", [
    ("k3_lstm_f32", {"LSTM"}), ("k2_gru_ra0_f32", {"GRU"}), ("k3_gru_ra1_f32", {"GRU"}),
    ("k2_rnn_f32", {"RNN"}), ("crnn2d_gru_f32", {"GRU", "Conv"}),
    ("k2_lstm_f32", {"LSTM"}), ("lstm_cifg_f32", {"LSTM"}), ("seq_rnn_relu_f32", {"RNN"}),
    ("k3_stacked_seq_f32", {"GRU", "LSTM"}),  # return_sequences: per-step output lists
])
def test_recurrences_become_one_recurrent_op(name, kinds):
    """WHILE loops of Keras cells fold into the IR's recurrent op; no graph state left."""
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    assert kinds <= {op.kind for op in graph.ops}
    assert not graph.states
    assert not {"Slice", "Binary"} & {op.kind for op in graph.ops}  # the cell math is gone


def test_gru_reset_after_maps_to_linear_before_reset():
    for name, lbr in (("k2_gru_ra0_f32", False), ("k2_gru_ra1_f32", True),
                      ("k3_gru_ra0_f32", False), ("k3_gru_ra1_f32", True)):
        gru = next(op for op in load_tflite(FIXTURES / f"{name}.tflite").ops
                   if op.kind == "GRU")
        assert bool(gru.attr("linear_before_reset")) is lbr, name


def test_crnn_conv_over_time_reports_its_delay():
    """A VALID 3-tap conv over time: the first output comes at frame 2."""
    graph = load_tflite(FIXTURES / "crnn2d_gru_f32.tflite")
    out = graph.metadata["source_outputs"][graph.outputs[0]]
    assert (out["delay"], out["stride"], out["reduced"]) == (2, 1, True)
    s = edgernn.Model(graph).stream()
    xs = frames_of(graph, 3)
    assert s.step(xs[0]) is None and s.step(xs[1]) is None and s.step(xs[2]) is not None


def test_hybrid_products_keep_int8_weights():
    """Dynamic-range weights stay int8 (HybridDense reproduces TFLite's quantization of the
    activations); the float twin has float weights."""
    dyn = load_tflite(FIXTURES / "k2_lstm_wide_dyn.tflite")
    assert any(op.kind == "HybridDense" for op in dyn.ops)
    assert {t.dtype for t in dyn.consts.values()} >= {"q8"}
    f32 = load_tflite(FIXTURES / "k2_lstm_f32.tflite")
    assert {t.dtype for t in f32.consts.values()} == {"f32"}


def test_metadata_names_and_axes():
    graph = load_tflite(FIXTURES / "k2_lstm_f32.tflite")
    meta = graph.metadata
    assert meta["source_format"] == "tflite"
    (name, info), = meta["source_inputs"].items()
    assert (info["time"], info["batch"], info["dims"]) == (1, 0, [1, 8, 16])
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in info["how"]
    assert graph.inputs[0].shape == (16,) and graph.shape(graph.outputs[0]) == (4,)


def test_axes_option_gives_a_window_model():
    """axes='BFF' (no T): one call takes the whole 8-frame window; the fused LSTM then
    refuses (its sequence is not over time)."""
    from edgernn.converters import UnsupportedModelError

    path = FIXTURES / "k2_lstm_f32.tflite"
    name = load_tflite(path).inputs[0].name
    with pytest.raises(UnsupportedModelError, match="UNIDIRECTIONAL_SEQUENCE_LSTM.*operator 0"):
        load_tflite(path, axes={name: "BFF"})


def test_comparisons_select_cast_and_if_on_data():
    """select_if: where(x > c, ...), x >= c2 and x == c2 cast to float, and an IF on
    mean(x) > 0 (both branches run, Where picks) - invoke by invoke; the input on a grid of
    halves so the comparisons meet ties, and about half the frames take each branch."""
    graph = load_tflite(FIXTURES / "select_if.tflite")
    assert {"Where", "Binary"} <= {op.kind for op in graph.ops}
    rng = np.random.default_rng(0)
    x = (np.round(rng.normal(0, 1, (200, 8)) * 2) / 2).astype(np.float32)
    x[::3] += rng.normal(0, 0.3, (67, 8)).astype(np.float32)
    assert 0.3 < np.mean(x.mean(axis=1) > 0) < 0.7
    it = interpreter("select_if")
    want = np.stack([invoke(it, f)[0] for f in x])
    s = edgernn.Model(graph).stream()
    assert np.max(np.abs(s.run(x) - want)) <= 1e-5
    s.reset()
    assert np.max(np.abs(np.stack([s.step(f) for f in x[:20]]) - want[:20])) <= 1e-5


def test_if_with_a_stateful_branch_is_refused_by_name(monkeypatch):
    """Both branches of an IF run every frame, so a branch that keeps state (here
    select_if's then-branch with its TANH edited into a READ_VARIABLE, in memory) is
    refused, naming the IF, its operator index and the stateful op."""
    import dataclasses

    from edgernn.converters import UnsupportedModelError
    from edgernn.converters.tflite import importer
    from edgernn.converters.tflite.reader import read_tflite

    model = read_tflite(FIXTURES / "select_if.tflite")
    if_op = next(op for op in model.subgraphs[0].operators if op.opcode == "IF")
    k = int(if_op.options["then_subgraph_index"])
    ops = [dataclasses.replace(op, opcode="READ_VARIABLE") if op.opcode == "TANH" else op
           for op in model.subgraphs[k].operators]
    subgraphs = list(model.subgraphs)
    subgraphs[k] = dataclasses.replace(subgraphs[k], operators=ops)
    edited = dataclasses.replace(model, subgraphs=subgraphs)
    monkeypatch.setattr(importer, "read_tflite", lambda src: edited)
    with pytest.raises(UnsupportedModelError,
                       match=rf"IF node 'operator {if_op.index}'.*keeps state \(READ_VARIABLE\)"):
        load_tflite(FIXTURES / "select_if.tflite")
