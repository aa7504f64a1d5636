"""The .ern format: round trip, every corruption gives ModelFormatError, fuzzing."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edgernn
from edgernn.builder import GraphBuilder
from edgernn.ir import Tensor
from edgernn.weightfile import ALIGN, MAGIC, load_graph, save


def small_graph():
    rng = np.random.default_rng(1)
    b = GraphBuilder()
    x = b.input("x", (5,))
    h = b.gru(x, rng.standard_normal((12, 5)), rng.standard_normal((12, 4)),
              rng.standard_normal(12), rng.standard_normal(12))
    b.output(b.dense(h, rng.standard_normal((3, 4)), rng.standard_normal(3)), "y")
    return b.build(labels=["a", "b", "c"])


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("ern") / "m.ern"
    save(small_graph(), path)
    return path.read_bytes()


def write(tmp_path, data: bytes):
    p = tmp_path / "x.ern"
    p.write_bytes(data)
    return p


def test_round_trip_is_exact_and_aligned(tmp_path):
    g = small_graph()
    path = save(g, tmp_path / "m.ern")
    g2 = load_graph(path)
    assert [o.kind for o in g2.ops] == [o.kind for o in g.ops]
    assert g2.metadata["labels"] == ["a", "b", "c"]
    doff = struct.unpack_from("<Q", path.read_bytes(), 16)[0]
    base = next(iter(g2.consts.values())).data.ctypes.data
    for name, t in g.consts.items():
        t2 = g2.consts[name]
        np.testing.assert_array_equal(t2.data, t.data)
        assert t2.data.dtype == np.float32
        assert (t2.data.ctypes.data - base) % ALIGN == 0
    assert doff % ALIGN == 0


def test_quantized_tensor_round_trip(tmp_path):
    b = GraphBuilder()
    x = b.input("x", (4,))
    b.output(b.dense(x, np.ones((2, 4))), "y")
    g = b.build()
    q = Tensor("q", np.array([[-3, 7], [1, 0]], np.int8), "q8", scale=np.array([0.5, 0.25]),
               zero_point=np.array([0.0, 1.0]), axis=0)
    g = type(g)(g.inputs, g.outputs, g.ops, g.values, {**g.consts, "q": q}, g.states, g.metadata)
    t = load_graph(save(g, tmp_path / "q.ern")).consts["q"]
    assert t.dtype == "q8" and t.axis == 0
    np.testing.assert_allclose(t.to_float(), [[-1.5, 3.5], [0.0, -0.25]])


@pytest.mark.parametrize("mutate,needle", [
    (lambda b: b"NOTMODEL" + b[8:], "not an edgernn model"),
    (lambda b: b[:8] + struct.pack("<H", 9) + b[10:], "newer than this edgernn"),
    (lambda b: b[:-1], "truncated"),
    (lambda b: b[:40], "truncated"),
    (lambda b: b + b"\0" * 64, "does not match"),
    (lambda b: b[:-5] + bytes([b[-5] ^ 0xFF]) + b[-4:], "checksum"),
    (lambda b: b[:70] + bytes([b[70] ^ 0x20]) + b[71:], "checksum"),
    (lambda b: b"", "truncated"),
])
def test_corruptions_raise_model_format_error(tmp_path, model_bytes, mutate, needle):
    with pytest.raises(edgernn.ModelFormatError, match=needle):
        edgernn.load(write(tmp_path, mutate(model_bytes)))


def repack(data: bytes, edit) -> bytes:
    """Apply edit() to the JSON header and rewrite a *valid* preamble and checksum:
    a file from a buggy writer, which only the structural checks can catch."""
    hlen, doff, dlen = struct.unpack_from("<IQQ", data, 12)
    header = json.loads(data[ALIGN:ALIGN + hlen])
    edit(header)
    raw = json.dumps(header).encode()
    new_doff = (ALIGN + len(raw) + ALIGN - 1) // ALIGN * ALIGN
    body = raw + b"\0" * (new_doff - ALIGN - len(raw)) + data[doff:]
    pre = struct.pack("<8sHHIQQI28x", MAGIC, 1, 0, len(raw), new_doff, dlen, zlib.crc32(body))
    return pre + body


def _set(path, value):
    def edit(h):
        obj = h
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
    return edit


@pytest.mark.parametrize("edit,needle", [
    (_set(["tensors", 0, "shape"], [999, 5]), "do not fit"),
    (_set(["tensors", 0, "offset"], 3), "do not fit"),
    (_set(["tensors", 0, "dtype"], "f64"), "unknown dtype"),
    (_set(["graph", "values", 0, "shape"], [7]), "inconsistent"),
    (_set(["graph", "ops", 0, "inputs", 1], "nope"), "inconsistent"),
    (_set(["graph", "ops", 0, "kind"], "Attention"), "op kind Attention.*pip install -U"),
    (lambda h: h.pop("graph"), "inconsistent"),
])
def test_lying_header_is_caught_before_any_kernel(tmp_path, model_bytes, edit, needle):
    with pytest.raises(edgernn.ModelFormatError, match=needle):
        edgernn.load(write(tmp_path, repack(model_bytes, edit)))


def test_a_file_requiring_an_unknown_feature_is_refused(tmp_path, model_bytes):
    """A newer writer lists what a reader must implement; an older reader says so, rather
    than running the model wrongly."""
    data = repack(model_bytes, _set(["requires"], ["int8-activations", "warp-drive"]))
    with pytest.raises(edgernn.ModelFormatError, match="requires warp-drive.*pip install -U"):
        edgernn.load(write(tmp_path, data))
    # known features pass
    ok = repack(model_bytes, _set(["requires"], ["int8-activations"]))
    assert edgernn.load(write(tmp_path, ok)).inputs == {"x": (5,)}


def test_values_keep_their_dtype_and_requires_is_written(tmp_path):
    from edgernn.ir import Value
    from edgernn.weightfile import requirements

    g = small_graph()
    assert requirements(g) == []
    values = dict(g.values)
    name = g.outputs[0]
    values[name] = Value(name, values[name].shape, "i8", 0.05, -3)
    g8 = edgernn.Graph(g.inputs, g.outputs, g.ops, values, g.consts, g.states, g.metadata)
    assert requirements(g8) == ["int8-activations"]
    save(g8, tmp_path / "q.ern")
    header = json.loads((tmp_path / "q.ern").read_bytes()[ALIGN:].split(b"\0")[0])
    assert header["requires"] == ["int8-activations"]
    back = load_graph(tmp_path / "q.ern").values[name]
    assert (back.dtype, back.scale, back.zero_point) == ("i8", 0.05, -3)


def test_q8_weight_without_a_q8_kernel_is_a_graph_error_at_load(tmp_path):
    """Constants stay in their stored dtype; an op with no binder for it refuses at load
    (naming op and dtype) instead of compiling a new specialization that returns
    unscaled numbers."""
    g = small_graph()
    consts = dict(g.consts)
    gru = next(op for op in g.ops if op.kind == "GRU")
    bias = gru.input("WB")  # GRU kernels take float biases only
    w = consts[bias].to_float()
    scale = np.abs(w).max() / 127
    consts[bias] = Tensor(bias, np.round(w / scale).astype(np.int8), "q8", w.shape,
                          np.float32(scale), np.float32(0))
    g8 = edgernn.Graph(g.inputs, g.outputs, g.ops, g.values, consts, g.states, g.metadata)
    save(g8, tmp_path / "q.ern")
    with pytest.raises(edgernn.GraphError, match=rf"{gru.name}.*WB q8"):
        edgernn.load(tmp_path / "q.ern")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(edgernn.ModelFormatError, match="no such file"):
        edgernn.load(tmp_path / "absent.ern")
    with pytest.raises(edgernn.ModelFormatError, match="directory"):
        edgernn.load(tmp_path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_truncations_and_flips_only_raise_the_one_error(tmp_path, model_bytes, data):
    raw = bytearray(model_bytes)
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    for _ in range(data.draw(st.integers(0, 4))):
        if raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= data.draw(st.integers(1, 255))
    path = write(tmp_path, bytes(raw))
    try:
        m = edgernn.load(path)
    except edgernn.ModelFormatError:
        return
    # only a flip in the preamble's reserved bytes can leave a loadable model
    y = m.stream().run(np.ones((3, 5), np.float32))
    assert y.shape == (3, 3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_header_mutations_with_valid_checksum(tmp_path, model_bytes, data):
    hlen = struct.unpack_from("<I", model_bytes, 12)[0]
    text = bytearray(model_bytes[ALIGN:ALIGN + hlen])
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text) - 1))
        text[i] = data.draw(st.sampled_from(b"0123456789[]{},\":-x"))

    def edit(h):
        h.clear()
        try:
            h.update(json.loads(bytes(text)))
        except ValueError:
            h["broken"] = True

    try:
        m = edgernn.load(write(tmp_path, repack(model_bytes, edit)))
    except edgernn.ModelFormatError:
        return
    m.stream().run(np.ones((2, *m.inputs[next(iter(m.inputs))]), np.float32))
