"""TFLite's dynamic-range ("hybrid") products, reproduced: ``HybridDense`` and
``DynamicQuantize`` (runtime/ops/hybrid.py).

* A one-op FULLY_CONNECTED with int8 weights (per tensor or per channel) and float
  activations, written with the interpreter's schema API, run by the interpreter with
  ``asymmetric_quantize_inputs`` on and off, against the converted model: the only
  difference left is float rounding (<= 1e-6 relative), not quantization noise.
* The kernel against its numpy specification on random rows (zeros, constants, one
  sign, huge ranges) - hypothesis.
* Converted hybrid and float fixtures: the compiled backend == the float64 reference
  backend (``model.stream(backend="reference")``).
"""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgernn
from edgernn.converters import load_tflite
from edgernn.kernels import hybrid
from edgernn.ops.hybrid import quantize_rows

s = pytest.importorskip("ai_edge_litert.schema_py_generated",
                        reason="needs ai-edge-litert's schema module")
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "tflite"


def hybrid_fc(w: np.ndarray, b: np.ndarray, per_channel: bool, asymmetric: bool) -> bytes:
    """x f32[1, K] -> FULLY_CONNECTED(int8 W [N, K], f32 bias) -> f32[1, N]."""
    scale = (np.abs(w).max(axis=1) if per_channel else np.abs(w).max().reshape(1)) / 127
    wq = np.clip(np.round(w / (scale[:, None] if per_channel else scale[0])), -127, 127)
    buffers = [s.BufferT()]

    def tensor(name, shape, dtype, data=None, q=None):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), dtype, 0
        if data is not None:
            buf = s.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            buffers.append(buf)
            t.buffer = len(buffers) - 1
        if q is not None:
            qp = s.QuantizationParametersT()
            qp.scale, qp.zeroPoint, qp.quantizedDimension = list(q), [0] * len(q), 0
            t.quantization = qp
        return t

    n, k = w.shape
    tensors = [tensor("x", (1, k), s.TensorType.FLOAT32),
               tensor("w", (n, k), s.TensorType.INT8, wq.astype(np.int8), scale.tolist()),
               tensor("b", (n,), s.TensorType.FLOAT32, b.astype(np.float32)),
               tensor("y", (1, n), s.TensorType.FLOAT32)]
    opts = s.FullyConnectedOptionsT()
    opts.asymmetricQuantizeInputs = asymmetric
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2], [3]
    op.builtinOptionsType, op.builtinOptions = s.BuiltinOptions.FullyConnectedOptions, opts
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.FULLY_CONNECTED
    code.version = 9 if per_channel else 5
    sub = s.SubGraphT()
    sub.name, sub.tensors, sub.inputs, sub.outputs, sub.operators = "main", tensors, [0], [3], [op]
    model = s.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [sub], buffers
    fb = flatbuffers.Builder(4096)
    fb.Finish(model.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("asymmetric", [False, True])
def test_hybrid_fully_connected_matches_the_interpreter(per_channel, asymmetric):
    rng = np.random.default_rng(int(per_channel) * 2 + int(asymmetric))
    w, b = rng.normal(0, 0.3, (24, 40)), rng.normal(0, 0.1, 24)
    data = hybrid_fc(w, b, per_channel, asymmetric)
    graph = load_tflite(data)
    assert [op.kind for op in graph.ops] == ["HybridDense"]
    xs = np.concatenate([rng.normal(0, 1, (200, 40)), rng.normal(3, 0.1, (20, 40)),
                         np.zeros((2, 40)), -np.abs(rng.normal(0, 5, (20, 40)))])
    xs = xs.astype(np.float32)
    got = edgernn.Model(graph).stream().run(xs)
    it = Interpreter(model_content=data,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    want = []
    for x in xs:
        it.set_tensor(0, x[None])
        it.invoke()
        want.append(it.get_tensor(3)[0].copy())
    want = np.stack(want)
    err = np.abs(got - want) / (1 + np.abs(want))
    assert err.max() <= 1e-6, err.max()


# magnitudes below ~1e-36 overflow 127 / range in float32 (TFLite then casts NaN to int:
# undefined behaviour); real activations never get there
rows = st.lists(st.one_of(
    st.floats(-1e4, 1e4, width=32), st.just(0.0),
    st.floats(-0.0009765625, 0.0009765625, width=32)).filter(lambda v: v == 0 or abs(v) > 1e-30),
    min_size=1, max_size=48)


@settings(max_examples=200, deadline=None)
@given(data=st.lists(rows, min_size=1, max_size=4), asymmetric=st.booleans())
def test_row_quantization_kernel_follows_its_specification(data, asymmetric):
    k = max(len(r) for r in data)
    x = np.array([r + [r[0]] * (k - len(r)) for r in data], np.float32)
    want_q, want_s, want_z = quantize_rows(x, asymmetric)
    for n in range(len(x)):
        xq = np.zeros(k, np.int8)
        sx, zp = hybrid.quantize_row(x, n, xq, asymmetric)
        assert np.array_equal(xq.astype(np.int64), want_q[n])
        assert (np.float32(sx), zp) == (want_s[n], want_z[n])


@pytest.mark.parametrize("name", ["k2_lstm_wide_dyn", "lstm_full_dyn", "seq_rnn_dyn",
                                  "stream_ringbuf_dyn", "k3_gru_ra1_dyn", "k3_gru_ra1_f32"])
def test_compiled_equals_the_reference_backend(name):
    graph = load_tflite(FIXTURES / f"{name}.tflite")
    model = edgernn.Model(graph)
    xs = np.random.default_rng(0).standard_normal((30, *graph.inputs[0].shape))
    xs = xs.astype(np.float32)
    a = model.stream().run(xs)
    b = model.stream(backend="reference").run(xs)
    assert np.abs(a - b).max() <= 1e-5
