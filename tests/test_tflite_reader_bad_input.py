"""edgernn's TFLite reader on bad input and edge cases of the schema.

Truncated, corrupted and foreign files must raise ConversionError only (one line);
a truncation may only succeed if it cut bytes nothing refers to.  A hand-built CUSTOM
op model puts a string at the very end of the file.  Every options table of the schema
decodes by reflection.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_tflite_reader import _fixture, _schema

from edgernn.converters.errors import ConversionError
from edgernn.converters.tflite.reader import read_tflite


def test_not_a_tflite_file(tmp_path):
    onnx_file = next((Path(__file__).parent / "fixtures" / "onnx").glob("*.onnx"))
    with pytest.raises(ConversionError, match="TFL3"):
        read_tflite(onnx_file)
    with pytest.raises(ConversionError, match="too short"):
        read_tflite(b"TFL3")
    with pytest.raises(ConversionError, match="cannot read"):
        read_tflite(tmp_path / "missing.tflite")


def test_wrong_identifier_and_truncation():
    data = bytearray(_fixture("k2_lstm_f32").read_bytes())
    bad = bytes(data[:4]) + b"TFL2" + bytes(data[8:])
    with pytest.raises(ConversionError, match="expected b'TFL3'"):
        read_tflite(bad)
    with pytest.raises(ConversionError):
        read_tflite(bytes(data[: len(data) // 2]))
    with pytest.raises(ConversionError) as e:
        read_tflite(bytes(data[:200]))
    assert "\n" not in str(e.value)


def _summary(model) -> list:
    return [(t.name, t.shape, t.type_name, None if t.data is None else t.data.tobytes())
            for sg in model.subgraphs for t in sg.tensors] + [
        (op.opcode, op.inputs, op.outputs, repr(op.options))
        for sg in model.subgraphs for op in sg.operators]


@pytest.mark.parametrize("name", ["seq_rnn_f32", "lstm_cifg_f32"])
def test_every_truncation_raises_or_reads_the_same(name):
    raw = _fixture(name).read_bytes()
    full = _summary(read_tflite(raw))
    for cut in range(len(raw)):
        try:
            got = _summary(read_tflite(raw[:cut]))
        except ConversionError:
            continue
        assert got == full, f"cut at {cut} read a different model"


def _custom_op_model() -> bytes:
    """One CUSTOM op; OperatorCodeT.Pack writes its custom_code string first, so the
    string sits at the very end of the file, where a truncation cuts it."""
    import flatbuffers

    sch = _schema()
    code = sch.OperatorCodeT()
    code.deprecatedBuiltinCode = code.builtinCode = sch.BuiltinOperator.CUSTOM
    code.customCode = "EdgeRnnTestCustomOperatorWithALongName"
    tensors = []
    for name in ("x", "y"):
        t = sch.TensorT()
        t.name, t.shape, t.type = name, [1, 4], sch.TensorType.FLOAT32
        tensors.append(t)
    op = sch.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs, op.customOptions = 0, [0], [1], [1, 2, 3]
    sg = sch.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = tensors, [0], [1], [op], "main"
    model = sch.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, [code], [sg]
    model.buffers = [sch.BufferT()]
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_custom_op_and_truncated_strings():
    raw = _custom_op_model()
    op = read_tflite(raw).subgraphs[0].operators[0]
    assert (op.opcode, op.custom_code, op.custom_options) == (
        "CUSTOM", "EdgeRnnTestCustomOperatorWithALongName", bytes([1, 2, 3]))
    assert b"ALongName" in raw[-48:]
    for cut in range(len(raw) - 48, len(raw)):
        try:
            got = read_tflite(raw[:cut]).subgraphs[0].operators[0].custom_code
        except ConversionError:
            continue
        assert got == op.custom_code, f"cut at {cut} read custom_code {got!r}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_truncations_and_flips_raise_only_conversion_error(data):
    name = data.draw(st.sampled_from(["seq_rnn_f32", "lstm_cifg_f32", "k2_lstm_int8"]))
    raw = bytearray(_fixture(name).read_bytes())
    full = _summary(read_tflite(bytes(raw)))
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(raw) - 1))
        try:
            assert _summary(read_tflite(bytes(raw[:cut]))) == full   # only unused tail cut
        except ConversionError:
            pass
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            pos = data.draw(st.integers(0, len(raw) - 1))
            raw[pos] ^= data.draw(st.integers(1, 255))
        try:
            read_tflite(bytes(raw))
        except ConversionError as e:
            assert "\n" not in str(e)


def test_missing_tflite_package_is_a_conversion_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tflite", None)
    with pytest.raises(ConversionError, match=r"pip install 'edgernn\[convert\]'"):
        read_tflite(_fixture("seq_rnn_f32"))


def test_every_options_table_of_the_schema_decodes_by_reflection():
    """An empty table of each options type gives every field's default; enum fields by name."""
    import flatbuffers
    import tflite

    from edgernn.converters.tflite.options import ENUM_FIELDS, enum_names, table_to_dict

    b = flatbuffers.Builder(16)
    b.StartObject(0)
    b.Finish(b.EndObject())
    empty = bytes(b.Output())
    names = {*enum_names("BuiltinOptions").values(), *enum_names("BuiltinOptions2").values()}
    decoded = 0
    for name in sorted(names - {"NONE"}):
        d = table_to_dict(getattr(tflite, name).GetRootAs(empty, 0))
        for field, value in d.items():
            if field in ENUM_FIELDS and not isinstance(value, list):
                assert isinstance(value, str), (name, field, value)
        decoded += 1
    assert decoded >= 140
    lstm = table_to_dict(tflite.UnidirectionalSequenceLSTMOptions.GetRootAs(empty, 0))
    assert lstm == {"fused_activation_function": "NONE", "cell_clip": 0.0, "proj_clip": 0.0,
                    "time_major": False, "asymmetric_quantize_inputs": False,
                    "diagonal_recurrent_tensors": False}
