"""edgernn's TFLite flatbuffer reader against the TFLite interpreter, on every fixture.

The interpreter (ai-edge-litert, else tflite_runtime) is the reference: tensor names,
shapes, dtypes, quantization parameters and constant data of every subgraph, and the
operator list of the main subgraph (delegates off, so nodes are the file's operators).
Bad files must raise ConversionError only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgernn.converters.tflite.reader import read_tflite

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "tflite"
FIXTURES = sorted(FIXTURE_DIR.glob("*.tflite"))


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter, OpResolverType
        except ImportError:
            return None
    return lambda path: Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


INTERPRETER = _interpreter_class()
needs_interpreter = pytest.mark.skipif(
    INTERPRETER is None, reason="no TFLite interpreter: pip install ai-edge-litert")


@pytest.fixture(scope="module", params=FIXTURES, ids=lambda p: p.stem)
def pair(request):
    it = INTERPRETER(request.param)
    it.allocate_tensors()
    return read_tflite(request.param), it


def _details(it, j: int) -> list[dict]:
    try:
        return it.get_tensor_details(subgraph_index=j)
    except TypeError:                     # tflite_runtime 2.14: main subgraph only
        return it.get_tensor_details() if j == 0 else []


def _get(it, i: int, j: int) -> np.ndarray:
    return it.get_tensor(i, j) if j else it.get_tensor(i)


def test_fixtures_exist_and_manifest_lists_them():
    manifest = json.loads((FIXTURE_DIR / "fixtures.json").read_text())
    made = {e["file"] for e in manifest.values() if e.get("file")}
    assert len(FIXTURES) >= 30
    assert made == {p.name for p in FIXTURES}


def check_io(model, it) -> None:
    if hasattr(it, "num_subgraphs"):
        assert len(model.subgraphs) == it.num_subgraphs()
    main = model.subgraphs[0]
    assert list(main.inputs) == [d["index"] for d in it.get_input_details()]
    assert list(main.outputs) == [d["index"] for d in it.get_output_details()]


def _check_tensor(t, d) -> None:
    assert t.name == d["name"]
    assert t.dtype == np.dtype(d["dtype"]), (t.name, t.type_name)
    assert list(t.shape_signature) == d["shape_signature"].tolist(), t.name
    qp = d["quantization_parameters"]
    if t.quantization is None:
        assert qp["scales"].size == 0, t.name
    else:
        np.testing.assert_array_equal(t.quantization.scale, qp["scales"])
        np.testing.assert_array_equal(t.quantization.zero_point, qp["zero_points"])
        assert t.quantization.quantized_dimension == qp["quantized_dimension"]


def check_tensors(model, it) -> None:
    for j, sg in enumerate(model.subgraphs):
        details = {d["index"]: d for d in _details(it, j)}
        if j and not details:
            continue
        # the interpreter appends its own scratch tensors after the file's
        assert set(range(len(sg.tensors))) - set(details) <= {
            t.index for t in sg.tensors if t.type_name in ("RESOURCE", "VARIANT")}
        for t in sg.tensors:
            if t.index in details:
                _check_tensor(t, details[t.index])
                if t.data is None and not t.is_variable and -1 not in t.shape_signature:
                    assert t.shape == tuple(details[t.index]["shape"]), t.name


def check_constants(model, it) -> int:
    n_const = 0
    for j, sg in enumerate(model.subgraphs):
        for t in sg.tensors:
            if t.data is None or t.sparse or t.type_name in ("STRING", "RESOURCE", "VARIANT"):
                continue
            ref = _get(it, t.index, j)
            assert t.data.shape == ref.shape and t.data.dtype == ref.dtype, t.name
            np.testing.assert_array_equal(t.data, ref, err_msg=t.name)
            n_const += 1
    return n_const


def check_operators(model, it) -> None:
    ops = it._get_ops_details()
    main = model.subgraphs[0]
    assert [o["op_name"] for o in ops] == [op.opcode for op in main.operators]
    for o, op in zip(ops, main.operators, strict=True):
        assert list(o["inputs"]) == list(op.inputs), op.opcode
        droppable = _droppable_outputs(model, op)
        assert len(o["outputs"]) == len(op.outputs), op.opcode
        for k, (got, t) in enumerate(zip(o["outputs"], op.outputs, strict=True)):
            assert got == t or (got == -1 and k in droppable), (op.opcode, k, got, t)


def _droppable_outputs(model, op) -> set[int]:
    """The interpreter may show -1 for a WHILE output whose body passes its input through
    unchanged (a loop invariant) and that nothing reads (seen for a loop fed by a
    RESHAPE, not for one fed by another WHILE: k3_stacked_seq); the file keeps the
    tensor."""
    if op.opcode != "WHILE":
        return set()
    main = model.subgraphs[0]
    body = model.subgraphs[op.options["body_subgraph_index"]]
    read = {i for o in main.operators for i in o.inputs} | set(main.outputs)
    return {k for k, t in enumerate(op.outputs)
            if body.outputs[k] == body.inputs[k] and t not in read}


@needs_interpreter
def test_subgraph_count_and_io_match(pair):
    check_io(*pair)


@needs_interpreter
def test_tensors_match_interpreter(pair):
    check_tensors(*pair)


@needs_interpreter
def test_constant_data_matches_interpreter(pair):
    assert check_constants(*pair) > 0


@needs_interpreter
def test_operators_match_interpreter(pair):
    check_operators(*pair)


@needs_interpreter
def test_variable_tensors_are_the_ones_reset_all_variables_clears(pair):
    """is_variable tensors: no data; reset_all_variables() sets them to (quantized) zero."""
    model, it = pair
    main = model.subgraphs[0]
    for t in (t for t in main.tensors if t.is_variable):
        assert t.data is None
        it.reset_all_variables()
        zero = 0 if t.quantization is None else t.quantization.zero_point[0]
        assert np.all(it.get_tensor(t.index) == zero), t.name


def _fixture(name: str) -> Path:
    path = FIXTURE_DIR / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"fixture {path.name} was not made (see fixtures.json)")
    return path


def _schema():
    """The interpreter's own schema module (object API), independent of the reader."""
    return pytest.importorskip("ai_edge_litert.schema_py_generated",
                               reason="needs ai-edge-litert's schema module")


def test_old_style_opcode_uses_deprecated_builtin_code():
    """seq_rnn_* set only the int8 deprecated_builtin_code (35), builtin_code stays 0 (ADD)."""
    data = _fixture("seq_rnn_f32").read_bytes()
    raw = _schema().ModelT.InitFromPackedBuf(data).operatorCodes[0]
    assert (raw.builtinCode, raw.deprecatedBuiltinCode) == (0, 35)
    assert read_tflite(data).subgraphs[0].operators[0].opcode == "UNIDIRECTIONAL_SEQUENCE_RNN"


def test_new_style_opcode_above_127_uses_builtin_code():
    """VAR_HANDLE (142): deprecated_builtin_code holds the placeholder 127."""
    data = _fixture("stream_ringbuf_f32").read_bytes()
    codes = {(c.builtinCode, c.deprecatedBuiltinCode)
             for c in _schema().ModelT.InitFromPackedBuf(data).operatorCodes}
    assert (142, 127) in codes
    ops = {op.opcode for sg in read_tflite(data).subgraphs for op in sg.operators}
    assert {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"} <= ops


def test_buffers_outside_the_flatbuffer_are_read():
    data = _fixture("k2_lstm_bufoffset_f32").read_bytes()
    offsets = [b.offset for b in _schema().ModelT.InitFromPackedBuf(data).buffers]
    assert sum(o > 1 for o in offsets) >= 3
    ref = read_tflite(_fixture("k2_lstm_f32"))
    got = read_tflite(data)
    for a, b in zip(ref.subgraphs[0].tensors, got.subgraphs[0].tensors, strict=True):
        assert a.name == b.name
        assert (a.data is None) == (b.data is None)
        if a.data is not None:
            np.testing.assert_array_equal(a.data, b.data)


def test_while_body_and_call_once_init_subgraphs():
    model = read_tflite(_fixture("k3_lstm_f32"))
    whiles = [op for op in model.subgraphs[0].operators if op.opcode == "WHILE"]
    assert len(whiles) == 1
    w = whiles[0]
    for key in ("cond_subgraph_index", "body_subgraph_index"):
        sg = model.subgraphs[w.options[key]]
        assert len(sg.inputs) == len(w.inputs)
    body = model.subgraphs[w.options["body_subgraph_index"]]
    assert {"FULLY_CONNECTED", "LOGISTIC", "TANH", "MUL"} <= {op.opcode for op in body.operators}
    stream = read_tflite(_fixture("stream_ringbuf_f32"))
    once = [op for op in stream.subgraphs[0].operators if op.opcode == "CALL_ONCE"]
    init = stream.subgraphs[once[0].options["init_subgraph_index"]]
    assert "ASSIGN_VARIABLE" in {op.opcode for op in init.operators}


def test_options_are_named_and_carry_what_the_fixture_script_wrote():
    def lstm_options(name):
        return read_tflite(_fixture(name)).subgraphs[0].operators[0].options

    assert lstm_options("lstm_peephole_f32")["cell_clip"] == 3.0
    assert lstm_options("lstm_projection_f32")["proj_clip"] == pytest.approx(0.5)
    assert lstm_options("lstm_cifg_f32")["fused_activation_function"] == "TANH"
    assert lstm_options("lstm_full_dyn")["asymmetric_quantize_inputs"] is True
    assert lstm_options("seq_rnn_relu_f32") == {
        "time_major": False, "fused_activation_function": "RELU",
        "asymmetric_quantize_inputs": False}
    lstm = read_tflite(_fixture("lstm_full_f32")).subgraphs[0].operators[0]
    absent = [i for i, t in enumerate(lstm.inputs) if t == -1]
    assert absent == [1, 5, 9, 12, 20]        # CIFG: no input gate (weights, peephole, bias, LN)


# ---- real third-party models (pip download of their wheels, cached; skipped offline) ----

REAL_WHEELS = ("pymicro-wakeword==2.5.0", "pyopen-wakeword==1.1.0")


def _real_models() -> list[tuple[str, bytes]]:
    import os
    import subprocess
    import sys
    import zipfile

    cache = Path(os.environ.get("EDGERNN_WHEEL_CACHE",
                                Path(__file__).parents[1] / ".cache" / "model_wheels"))
    cache.mkdir(parents=True, exist_ok=True)
    if len(list(cache.glob("*.whl"))) < len(REAL_WHEELS):
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--dest", str(cache), *REAL_WHEELS],
                           capture_output=True, text=True, timeout=300)
        if r.returncode:
            pytest.skip(f"could not pip download {REAL_WHEELS}: {r.stderr.strip()[-200:]}")
    out = []
    for whl in sorted(cache.glob("*.whl")):
        with zipfile.ZipFile(whl) as z:
            out += [(f"{whl.name.split('-')[0]}/{Path(n).name}", z.read(n))
                    for n in z.namelist() if n.endswith(".tflite")]
    return out


@needs_interpreter
def test_real_wakeword_models_match_interpreter(tmp_path):
    models = _real_models()
    assert len(models) >= 11
    for name, data in models:
        path = tmp_path / name.replace("/", "_")
        path.write_bytes(data)
        it = INTERPRETER(path)
        if name.endswith("melspectrogram.tflite"):   # input [-1, -1]: pyopen-wakeword's size
            it.resize_tensor_input(0, [1, 1760])
        it.allocate_tensors()
        model = read_tflite(data)
        check_io(model, it)
        check_tensors(model, it)
        assert check_constants(model, it) > 0, name
        check_operators(model, it)
