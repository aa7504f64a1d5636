"""What the TFLite importer refuses, and how it says so.

Small models are written here with the interpreter's own schema object API
(``ai_edge_litert.schema_py_generated``, independent of edgernn's reader).  Every
refusal is an ``UnsupportedModelError`` that lists *every* offending operator with its
index and a reason; unsupported, custom and Flex (SELECT_TF_OPS) operators are listed
before anything is converted.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest

from edgernn.converters import ConversionError, UnsupportedModelError, convert, load_tflite

s = pytest.importorskip("ai_edge_litert.schema_py_generated",
                        reason="needs ai-edge-litert's schema module")
F32 = s.TensorType.FLOAT32


class Builder:
    """One subgraph: tensors (constants with data), operators, then ``bytes``."""

    def __init__(self) -> None:
        self.buffers, self.tensors, self.ops, self.codes = [s.BufferT()], [], [], []

    def tensor(self, name: str, shape, data=None, variable=False) -> int:
        t = s.TensorT()
        t.name, t.shape, t.type, t.isVariable, t.buffer = name, list(shape), F32, variable, 0
        if data is not None:
            buf = s.BufferT()
            buf.data = np.frombuffer(np.asarray(data, np.float32).tobytes(), np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def int_tensor(self, name: str, values) -> int:
        i = self.tensor(name, [len(values)], np.asarray(values, np.int32).view(np.float32))
        self.tensors[i].type = s.TensorType.INT32
        return i

    def op(self, code: int, inputs, outputs, custom: str | None = None, opts=None) -> None:
        c = s.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode = code, min(code, 127)
        c.customCode, c.version = custom, 1
        self.codes.append(c)
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = len(self.codes) - 1, list(inputs), list(outputs)
        if opts is not None:
            o.builtinOptionsType, o.builtinOptions = opts
        self.ops.append(o)

    def bytes(self, inputs, outputs) -> bytes:
        sub = s.SubGraphT()
        sub.name, sub.tensors, sub.inputs, sub.outputs, sub.operators = (
            "main", self.tensors, list(inputs), list(outputs), self.ops)
        model = s.ModelT()
        model.version, model.operatorCodes, model.subgraphs = 3, self.codes, [sub]
        model.buffers = self.buffers
        b = flatbuffers.Builder(4096)
        b.Finish(model.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _rnn(b: Builder, x: int, t: int) -> int:
    """UNIDIRECTIONAL_SEQUENCE_RNN 5 -> 8 on x [1, t, 5]."""
    rng = np.random.default_rng(0)
    w = b.tensor("w", [8, 5], rng.normal(0, 0.3, (8, 5)))
    r = b.tensor("r", [8, 8], rng.normal(0, 0.3, (8, 8)))
    bias = b.tensor("b", [8], np.zeros(8))
    h = b.tensor("h", [1, 8], variable=True)
    y = b.tensor("y", [1, t, 8])
    opts = s.SequenceRNNOptionsT()
    opts.fusedActivationFunction = s.ActivationFunctionType.TANH
    b.op(s.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_RNN, [x, w, r, bias, h], [y],
         opts=(s.BuiltinOptions.SequenceRNNOptions, opts))
    return y


def test_custom_flex_and_unknown_ops_are_all_named_with_their_index():
    b = Builder()
    x = b.tensor("x", [1, 4])
    a, c, d = (b.tensor(n, [1, 4]) for n in "acd")
    b.op(s.BuiltinOperator.CUSTOM, [x], [a], custom="MyFancyOp")
    b.op(s.BuiltinOperator.CUSTOM, [a], [c], custom="FlexAddV2")
    b.op(s.BuiltinOperator.CUMSUM, [c], [d])
    with pytest.raises(UnsupportedModelError) as e:
        load_tflite(b.bytes([x], [d]))
    msg = str(e.value)
    assert len(e.value.problems) == 3
    assert "operator 0" in msg and "'MyFancyOp'" in msg and "custom operator" in msg
    assert "operator 1" in msg and "Flex" in msg and "SELECT_TF_OPS" in msg
    assert "CUMSUM" in msg and "operator 2" in msg


def test_a_reduction_over_time_is_refused_by_name():
    """MEAN over the time axis of a recurrence's output mixes frames."""
    b = Builder()
    x = b.tensor("x", [1, 6, 5])
    y = _rnn(b, x, 6)
    axes = b.int_tensor("axes", [1])
    m = b.tensor("m", [1, 8])
    b.op(s.BuiltinOperator.MEAN, [y, axes], [m])
    with pytest.raises(UnsupportedModelError, match=r"MEAN node 'operator 1'.*time axis"):
        load_tflite(b.bytes([x], [m]))


def test_a_slice_of_the_middle_of_the_sequence_is_refused():
    b = Builder()
    x = b.tensor("x", [1, 6, 5])
    y = _rnn(b, x, 6)
    begin, size = b.int_tensor("begin", [0, 2, 0]), b.int_tensor("size", [1, 2, 8])
    out = b.tensor("out", [1, 2, 8])
    b.op(s.BuiltinOperator.SLICE, [y, begin, size], [out])
    with pytest.raises(UnsupportedModelError, match="only the whole sequence or its last"):
        load_tflite(b.bytes([x], [out]))


def test_everything_after_a_refused_op_is_not_blamed():
    """Ops fed by a refused op are skipped, not listed (their cause is)."""
    b = Builder()
    x = b.tensor("x", [1, 4])
    a, c = b.tensor("a", [1, 4]), b.tensor("c", [1, 4])
    b.op(s.BuiltinOperator.CUSTOM, [x], [a], custom="Mystery")
    b.op(s.BuiltinOperator.TANH, [a], [c])
    with pytest.raises(UnsupportedModelError) as e:
        load_tflite(b.bytes([x], [c]))
    assert [p.op_type for p in e.value.problems] == ["CUSTOM"]


def test_convert_of_a_refused_model_writes_nothing(tmp_path):
    b = Builder()
    x = b.tensor("x", [1, 4])
    y = b.tensor("y", [1, 4])
    b.op(s.BuiltinOperator.CUSTOM, [x], [y], custom="Mystery")
    src = tmp_path / "m.tflite"
    src.write_bytes(b.bytes([x], [y]))
    with pytest.raises(UnsupportedModelError):
        convert(src, tmp_path / "m.ern")
    assert not (tmp_path / "m.ern").exists()


def test_state_pairs_do_not_apply_and_bad_axes_are_named():
    b = Builder()
    x = b.tensor("x", [1, 6, 5])
    y = _rnn(b, x, 6)
    data = b.bytes([x], [y])
    with pytest.raises(ConversionError, match="variables"):
        load_tflite(data, state_pairs={"h": "y"})
    with pytest.raises(ConversionError, match="no input 'nope'"):
        load_tflite(data, axes={"nope": "BTF"})
    graph = load_tflite(data)  # and the same model converts fine without them
    assert [op.kind for op in graph.ops] == ["RNN"]
