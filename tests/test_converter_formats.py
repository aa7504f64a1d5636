"""The converters' format registry, the ONNX op table and the format-neutral report."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgernn.converters import (
    FORMATS,
    ConversionError,
    FormatRegistry,
    SourceFormat,
    UnsupportedModelError,
    convert,
    load_onnx,
    verify,
)
from edgernn.converters.onnx import OpTable, default_table, register_all
from edgernn.converters.onnx.ops import unary

FIXTURES = Path(__file__).parent / "fixtures" / "onnx"
LSTM1 = FIXTURES / "torch_lstm1_op13.onnx"


def test_registry_knows_onnx_and_tflite():
    assert [f.name for f in FORMATS] == ["onnx", "tflite"]
    assert FORMATS.find(LSTM1).name == "onnx"
    assert FORMATS.find(onnx.load(LSTM1)).name == "onnx"
    assert FORMATS.identify("m.tflite").load is not None


def test_onnx_file_with_another_suffix_is_found_by_its_first_bytes(tmp_path):
    src = tmp_path / "model.bin"
    shutil.copy(LSTM1, src)
    report = convert(src, tmp_path / "m.ern")
    assert report.source_format == "onnx"
    assert report.graph.ops == load_onnx(LSTM1).ops


def test_tflite_bytes_under_another_name_are_read_as_tflite(tmp_path):
    src = tmp_path / "model.bin"
    src.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(56))
    with pytest.raises(ConversionError, match="TFLite"):  # found by its identifier; corrupt
        convert(src)


def test_a_planned_format_gets_its_message(tmp_path):
    from edgernn.converters.formats import TFLITE_PLANNED

    reg = FormatRegistry()
    reg.register(TFLITE_PLANNED)
    with pytest.raises(ConversionError, match="TFLite import is not supported yet"):
        reg.find(tmp_path / "m.tflite")


def test_unknown_format_lists_the_known_ones(tmp_path):
    src = tmp_path / "model.xyz"
    src.write_bytes(b"not a model at all")
    with pytest.raises(ConversionError, match=r"unknown model format.*onnx \(\.onnx\)"):
        convert(src)
    with pytest.raises(ConversionError, match="no such file"):
        convert(tmp_path / "missing.xyz")
    with pytest.raises(ConversionError, match="cannot convert a list"):
        convert([1, 2])


def test_a_registered_format_is_dispatched_to(tmp_path):
    """A new format is one SourceFormat: its loader and runner are what convert() calls."""
    reg = FormatRegistry()
    onnx_fmt = FORMATS["onnx"]
    reg.register(SourceFormat("onnx-copy", (".onnxcopy",), load=onnx_fmt.load,
                              runner=onnx_fmt.runner))
    src = tmp_path / "m.onnxcopy"
    shutil.copy(LSTM1, src)
    assert reg.find(src).load is onnx_fmt.load
    with pytest.raises(ConversionError, match="unknown model format"):
        reg.find(LSTM1)


def test_report_reads_format_neutral_metadata():
    report = convert(FIXTURES / "torch_step_lstm_op13.onnx", verify=True, frames=30)
    meta = report.graph.metadata
    assert not [k for k in meta if k.startswith("onnx")]
    assert meta["source_format"] == "onnx" and meta["source_version"] == "opset 13"
    text = str(report)
    assert "source: onnx (opset 13, pytorch" in text
    assert "input  x: frame (8,)" in text and "state  h <- h_out: inside" in text
    assert "verified against onnxruntime" in text


def test_op_table_properties_are_declared_at_registration():
    table = default_table()
    assert {"LSTM", "GRU", "RNN", "Conv", "Softsign", "ReduceMean", "Flatten"} <= {
        s.name for s in table}
    relu = helper.make_node("Relu", ["x"], ["y"])
    keep = helper.make_node("ReduceMean", ["x"], ["y"], keepdims=1)
    drop = helper.make_node("ReduceMean", ["x"], ["y"], keepdims=0)
    assert table.passes_through(relu) and table.passes_through(keep)
    assert not table.passes_through(drop)
    bi = helper.make_node("GRU", ["x", "W", "R"], ["Y"], direction="bidirectional")
    assert "forward" in table.get("GRU").check(bi)
    with pytest.raises(ValueError, match="twice"):
        register_all(table)


def _softsign_model() -> onnx.ModelProto:
    g = helper.make_graph([helper.make_node("Softsign", ["x"], ["y"], name="ss")], "t",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                         ["time", "batch", 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_an_elementwise_op_is_one_registration():
    """The importer knows exactly the ops of its table: an empty table refuses Softsign by
    name; one registration with the shared unary converter makes it convert and match
    onnxruntime."""
    m = _softsign_model()
    with pytest.raises(UnsupportedModelError, match="Softsign node 'ss': no converter"):
        load_onnx(m, table=OpTable())
    table = OpTable()
    table.add(unary, "Softsign", pass_through=True)
    g = load_onnx(m, table=table)
    assert [(op.kind, op.attr("fn")) for op in g.ops] == [("Unary", "Softsign")]
    res = verify(m, g, frames=40, tolerance=1e-6)
    assert res.passed and res.reference == "onnxruntime", str(res)
    x = np.linspace(-3, 3, 8, dtype=np.float32)
    import edgernn

    np.testing.assert_allclose(edgernn.Model(g).stream().step(x), x / (1 + np.abs(x)),
                               rtol=1e-6)
