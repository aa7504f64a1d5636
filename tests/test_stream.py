"""Stream API end to end: models built from PyTorch weights, streamed, vs PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edgernn
from edgernn.builder import GraphBuilder

torch.manual_seed(0)
TOL = 1e-5
slow_ok = settings(max_examples=25, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.function_scoped_fixture])


def np_(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().astype(np.float32)


def add_torch_lstm(b: GraphBuilder, x: str, lstm: torch.nn.LSTM) -> str:
    for k in range(lstm.num_layers):
        p = {n: np_(getattr(lstm, f"{n}_l{k}")) for n in ("weight_ih", "weight_hh")}
        bias = np_(getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}"))
        proj = np_(getattr(lstm, f"weight_hr_l{k}")) if lstm.proj_size else None
        x = b.lstm(x, p["weight_ih"], p["weight_hh"], bias, gate_order="ifgo", proj=proj)
    return x


def add_torch_gru(b: GraphBuilder, x: str, gru: torch.nn.GRU) -> str:
    for k in range(gru.num_layers):
        g = lambda n, k=k: np_(getattr(gru, f"{n}_l{k}"))  # noqa: E731
        x = b.gru(x, g("weight_ih"), g("weight_hh"), g("bias_ih"), g("bias_hh"),
                  gate_order="rzn", linear_before_reset=True)
    return x


class CRNN(torch.nn.Module):
    """Causal Conv1d front end + GRU + Linear + softmax: a keyword-spotter shape."""

    def __init__(self, feats=8, ch=6, hidden=10, classes=4, k=3, dilation=2, stride=1):
        super().__init__()
        self.pad = (k - 1) * dilation
        self.conv = torch.nn.Conv1d(feats, ch, k, dilation=dilation, stride=stride)
        self.gru = torch.nn.GRU(ch, hidden, batch_first=True)
        self.fc = torch.nn.Linear(hidden, classes)

    def forward(self, x):  # x (B, T, F)
        h = torch.nn.functional.pad(x.transpose(1, 2), (self.pad, 0))
        h = torch.relu(self.conv(h)).transpose(1, 2)
        return torch.softmax(self.fc(self.gru(h)[0]), dim=-1)


def crnn_graph(m: CRNN):
    b = GraphBuilder()
    x = b.input("x", (m.conv.in_channels,))
    h = b.conv(x, np_(m.conv.weight), np_(m.conv.bias), dilation=m.conv.dilation[0],
               stride=m.conv.stride[0])
    h = add_torch_gru(b, b.relu(h), m.gru)
    b.output(b.softmax(b.dense(h, np_(m.fc.weight), np_(m.fc.bias))), "probs")
    return b.build()


def lstm_model(I=12, H=16, layers=2, proj=0, out=5):
    lstm = torch.nn.LSTM(I, H, num_layers=layers, proj_size=proj)
    fc = torch.nn.Linear(proj or H, out)
    b = GraphBuilder()
    h = add_torch_lstm(b, b.input("x", (I,)), lstm)
    b.output(b.dense(h, np_(fc.weight), np_(fc.bias)), "y")
    return edgernn.Model(b.build()), (lambda x: np_(fc(lstm(torch.from_numpy(x))[0])))


@pytest.fixture(scope="module")
def lstm2():
    return lstm_model()


@pytest.mark.parametrize("proj", [0, 6])
def test_stacked_lstm_matches_torch_step_and_run(proj):
    model, ref = lstm_model(proj=proj)
    x = np.random.default_rng(1).standard_normal((60, 1, 12)).astype(np.float32)
    want = ref(x)[:, 0]
    got_run = model.stream().run(x[:, 0])
    s = model.stream()
    got_step = np.stack([s.step(f) for f in x[:, 0]])
    assert np.abs(got_run - want).max() <= TOL
    assert np.abs(got_step - want).max() <= TOL


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_matches_torch(nonlinearity):
    rnn = torch.nn.RNN(7, 9, num_layers=2, nonlinearity=nonlinearity)
    b = GraphBuilder()
    h = b.input("x", (7,))
    for k in range(2):
        g = lambda n, k=k: np_(getattr(rnn, f"{n}_l{k}"))  # noqa: E731
        h = b.rnn(h, g("weight_ih"), g("weight_hh"), g("bias_ih") + g("bias_hh"),
                  activation=nonlinearity.capitalize())
    b.output(h, "y")
    x = np.random.default_rng(2).standard_normal((80, 1, 7)).astype(np.float32)
    got = edgernn.Model(b.build()).stream().run(x[:, 0])
    assert np.abs(got - np_(rnn(torch.from_numpy(x))[0])[:, 0]).max() <= TOL


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_crnn_with_causal_conv_matches_torch(stride):
    m = CRNN(stride=stride)
    x = np.random.default_rng(3).standard_normal((1, 50, 8)).astype(np.float32)
    want = np_(m(torch.from_numpy(x)))[0]
    model = edgernn.Model(crnn_graph(m))
    s = model.stream()
    stepped = [s.step(f) for f in x[0]]
    emitted = [y for y in stepped if y is not None]
    assert [y is not None for y in stepped] == [t % stride == 0 for t in range(50)]
    assert np.abs(np.stack(emitted) - want).max() <= TOL
    got = model.stream().run(x[0])
    assert got.shape == want.shape and np.abs(got - want).max() <= TOL


@slow_ok
@given(cuts=st.lists(st.integers(1, 79), max_size=6, unique=True))
def test_any_chunking_equals_whole_sequence(lstm2, cuts):
    model, _ = lstm2
    x = np.random.default_rng(4).standard_normal((80, 12)).astype(np.float32)
    whole = model.stream().run(x)
    s = model.stream()
    parts = [s.run(c) for c in np.split(x, sorted(cuts))]
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6, rtol=0)


@slow_ok
@given(cuts=st.lists(st.integers(1, 39), max_size=5, unique=True), stride=st.integers(1, 3))
def test_strided_conv_chunking_equals_whole(cuts, stride):
    torch.manual_seed(stride)
    model = edgernn.Model(crnn_graph(CRNN(stride=stride)))
    x = np.random.default_rng(5).standard_normal((40, 8)).astype(np.float32)
    whole = model.stream().run(x)
    s = model.stream()
    parts = [s.run(c) for c in np.split(x, sorted(cuts))]
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6, rtol=0)


def test_batch_of_streams_equals_independent_streams(lstm2):
    model, _ = lstm2
    x = np.random.default_rng(6).standard_normal((30, 4, 12)).astype(np.float32)
    batch = model.streams(4)
    got = np.stack([batch.step(f) for f in x])
    for k in range(4):
        np.testing.assert_allclose(got[:, k], model.stream().run(x[:, k]), atol=1e-6, rtol=0)
    np.testing.assert_allclose(model.streams(4).run(x), got, atol=1e-6, rtol=0)


def test_save_load_gives_identical_outputs(tmp_path, lstm2):
    model, _ = lstm2
    x = np.random.default_rng(7).standard_normal((25, 12)).astype(np.float32)
    loaded = edgernn.load(edgernn.save(model.graph, tmp_path / "m.ern"))
    np.testing.assert_array_equal(loaded.stream().run(x), model.stream().run(x))


def test_state_snapshot_reset_and_isolation(lstm2):
    model, _ = lstm2
    x = np.random.default_rng(8).standard_normal((20, 12)).astype(np.float32)
    s, other = model.stream(), model.stream()
    s.run(x[:10])
    snap = s.get_state()
    y1 = s.run(x[10:])
    s.set_state(snap)
    np.testing.assert_array_equal(s.run(x[10:]), y1)
    s.reset()
    np.testing.assert_array_equal(s.run(x), other.run(x))  # other was never disturbed
    with pytest.raises(edgernn.InputError, match="lacks"):
        s.set_state({"frames": 0})


@pytest.mark.parametrize("frame,needle", [
    (np.zeros(11, np.float32), "expected shape"),
    (np.zeros((1, 12), np.float32), "expected shape"),
    (np.zeros(12, np.int16), "not floating point"),
    (np.full(12, np.nan, np.float32), "NaN or Inf"),
    (np.array([np.inf] + [0.0] * 11), "NaN or Inf"),
])
def test_bad_frames_raise_input_error_and_lose_nothing(lstm2, frame, needle):
    model, _ = lstm2
    s = model.stream()
    s.run(np.ones((3, 12), np.float32))
    before = s.get_state()
    with pytest.raises(edgernn.InputError, match=needle):
        s.step(frame)
    chunk = np.ones((4, 12), np.float32)
    chunk[3] = frame[0] if frame.size == 12 and frame.dtype.kind == "f" else chunk[3]
    if not np.isfinite(chunk).all():
        with pytest.raises(edgernn.InputError):
            s.run(chunk)
    after = s.get_state()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_float64_frames_are_accepted(lstm2):
    model, _ = lstm2
    x = np.random.default_rng(9).standard_normal((5, 12))
    np.testing.assert_array_equal(model.stream().run(x), model.stream().run(x.astype(np.float32)))


def test_graph_level_state_loop_matches_numpy():
    rng = np.random.default_rng(10)
    W = rng.standard_normal((4, 3)).astype(np.float32)
    b = GraphBuilder()
    x = b.input("x", (3,))
    h = b.state("h", (4,))
    new = b.tanh(b.binary("Add", b.dense(x, W), b.binary("Mul", h, np.float32(0.5))))
    b.loop(h, new, init=np.full(4, 0.25, np.float32))
    b.output(new, "y")
    model = edgernn.Model(b.build())
    xs = rng.standard_normal((15, 3)).astype(np.float32)
    hv, want = np.full(4, 0.25), []
    for f in xs:
        hv = np.tanh(W @ f + 0.5 * hv)
        want.append(hv)
    np.testing.assert_allclose(model.stream().run(xs), np.array(want), atol=1e-6)
    np.testing.assert_allclose(model.streams(2).run(np.stack([xs, xs], 1))[:, 1], want, atol=1e-6)


def test_step_out_parameter_writes_in_place(lstm2):
    model, _ = lstm2
    s, out = model.stream(), np.empty(5, np.float32)
    r = s.step(np.ones(12, np.float32), out=out)
    assert r is out
    np.testing.assert_array_equal(out, model.stream().step(np.ones(12, np.float32)))


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_float_steps_chunks_and_batches_agree_bit_for_bit(kind):
    """The plain float32 cells with every weight in panels (40 units: 80+ gate rows) take
    three paths: a step (projection and recurrence in one accumulator), a chunk (the
    chunk's projection first) and a batch of streams (many rows per tile).  They must
    agree exactly, and with the float64 reference backend."""
    rng = np.random.default_rng(11)
    r = lambda *s: (rng.standard_normal(s) * 0.3).astype(np.float32)  # noqa: E731
    b = GraphBuilder()
    x = b.input("x", (12,))
    if kind == "gru":
        h = b.gru(x, r(120, 12), r(120, 40), r(120), r(120), linear_before_reset=True)
    else:
        h = b.lstm(x, r(160, 12), r(160, 40), r(160))
    b.output(b.dense(h, r(5, 40), r(5)), "y")
    model = edgernn.Model(b.build())
    x = rng.standard_normal((30, 3, 12)).astype(np.float32)
    whole = model.stream().run(x[:, 0])
    s = model.stream()
    np.testing.assert_array_equal(np.stack([s.step(f) for f in x[:, 0]]), whole)
    s = model.stream()
    np.testing.assert_array_equal(np.concatenate([s.run(c) for c in np.split(x[:, 0], [7, 20])]),
                                  whole)
    batch = model.streams(3).run(x)
    for i in range(3):
        np.testing.assert_array_equal(batch[:, i], model.stream().run(x[:, i]))
    ref = model.stream(backend="reference").run(x[:, 0])
    assert np.abs(whole - ref).max() <= 1e-5
