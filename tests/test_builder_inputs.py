"""What the GraphBuilder accepts as weights, and the graphs it names.

Weights come straight from a PyTorch model (Parameters that require grad, tensors on
the graph of an expression, bfloat16), from lists, or from numpy; the built model is
compared with PyTorch itself.  A thing that is not an array is a GraphError that says
what to pass, never a torch traceback.  ``output(x, name)`` renames the value in place:
no Identity op appears in the graph.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edgernn
from edgernn import GraphBuilder, GraphError


def torch_kws(seed: int = 0) -> tuple[torch.nn.LSTM, torch.nn.Linear]:
    torch.manual_seed(seed)
    return torch.nn.LSTM(10, 16), torch.nn.Linear(16, 3)


def build_from_parameters(lstm: torch.nn.LSTM, fc: torch.nn.Linear) -> edgernn.Graph:
    """The README's snippet, Parameters passed as they are."""
    b = GraphBuilder()
    x = b.input("features", (10,))
    h = b.lstm(x, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0,
               gate_order="ifgo")
    y = b.softmax(b.dense(h, fc.weight, fc.bias))
    b.output(y, "probs")
    return b.build(labels=["yes", "no", "up"])


def test_parameters_that_require_grad_build_the_same_model_as_torch(tmp_path):
    lstm, fc = torch_kws()
    assert lstm.weight_ih_l0.requires_grad
    path = tmp_path / "kws.ern"
    edgernn.save(build_from_parameters(lstm, fc), path)
    x = np.random.default_rng(0).standard_normal((20, 10)).astype(np.float32)
    with torch.no_grad():
        want = torch.softmax(fc(lstm(torch.from_numpy(x))[0]), -1).numpy()
    got = edgernn.load(path).stream().run(x)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_bfloat16_and_list_weights_are_accepted():
    w = torch.randn(3, 4, dtype=torch.bfloat16, requires_grad=True)
    b = GraphBuilder()
    x = b.input("x", (4,))
    b.output(b.dense(x, w, [0.5, -1.0, 2.0]), "y")
    frame = np.arange(4, dtype=np.float32)
    want = w.detach().float().numpy() @ frame + np.array([0.5, -1.0, 2.0], np.float32)
    got = edgernn.Model(b.build()).stream().step(frame)
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("bad", [{"w": 1}, object(), [[1.0, 2.0], [3.0]]])
def test_non_arrays_are_a_graph_error_that_says_what_to_pass(bad):
    b = GraphBuilder()
    x = b.input("x", (2,))
    with pytest.raises(GraphError, match="numpy array, a nested list or a torch tensor"):
        b.dense(x, bad)


@pytest.mark.parametrize("method", ["lstm", "gru", "rnn"])
def test_recurrent_layers_take_parameters(method):
    torch.manual_seed(1)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[method]
    layer = cls(5, 6)
    b = GraphBuilder()
    x = b.input("x", (5,))
    args = (layer.weight_ih_l0, layer.weight_hh_l0)
    if method == "lstm":
        h = b.lstm(x, *args, layer.bias_ih_l0 + layer.bias_hh_l0, gate_order="ifgo")
    elif method == "gru":
        h = b.gru(x, *args, layer.bias_ih_l0, layer.bias_hh_l0, gate_order="rzn",
                  linear_before_reset=True)
    else:
        h = b.rnn(x, *args, layer.bias_ih_l0 + layer.bias_hh_l0)
    b.output(h, "h")
    xs = np.random.default_rng(3).standard_normal((7, 5)).astype(np.float32)
    with torch.no_grad():
        want = layer(torch.from_numpy(xs))[0].numpy()
    np.testing.assert_allclose(edgernn.Model(b.build()).stream().run(xs), want, atol=1e-5)


def test_output_renames_in_place_without_an_identity_op():
    lstm, fc = torch_kws()
    graph = build_from_parameters(lstm, fc)
    assert [op.kind for op in graph.ops] == ["LSTM", "Dense", "Softmax"]
    assert graph.outputs == ("probs",) and graph.ops[-1].outputs == ("probs",)


def test_a_renamed_value_stays_usable_by_its_old_name():
    b = GraphBuilder()
    x = b.input("x", (3,))
    h = b.relu(x)
    b.output(h, "first")
    b.output(b.binary("Mul", h, np.float32(2.0) * np.ones(3, np.float32)), "second")
    b.output(h, "again")  # already an output: this one needs an Identity
    graph = b.build()
    assert [op.kind for op in graph.ops] == ["Unary", "Binary", "Identity"]
    got = edgernn.Model(graph).stream().step(np.array([-1.0, 0.5, 2.0], np.float32))
    np.testing.assert_allclose(got["first"], [0.0, 0.5, 2.0])
    np.testing.assert_allclose(got["second"], [0.0, 1.0, 4.0])
    np.testing.assert_allclose(got["again"], [0.0, 0.5, 2.0])


def test_an_input_or_state_output_gets_an_identity():
    b = GraphBuilder()
    x = b.input("x", (2,))
    s = b.state("s", (2,))
    b.loop(s, b.binary("Add", x, s))
    b.output(x, "echo")
    b.output(s, "before")
    graph = b.build()
    assert [op.kind for op in graph.ops] == ["Binary", "Identity", "Identity"]
    st = edgernn.Model(graph).stream()
    st.step(np.ones(2, np.float32))
    got = st.step(np.full(2, 3.0, np.float32))
    np.testing.assert_allclose(got["echo"], [3.0, 3.0])
    np.testing.assert_allclose(got["before"], [1.0, 1.0])
