"""``edgernn bench``: peers are checked against edgernn before anything is timed, the
report has every measurement, and a child's peak RSS is its own."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch

import edgernn
from edgernn import bench
from edgernn.builder import GraphBuilder
from edgernn.cli import main

f32 = np.float32


class Step(torch.nn.Module):
    """(x (1, 4), h (1, 1, 8)) -> (y (1, 3), h_out): a GRU step and a Dense."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.gru, self.fc = torch.nn.GRU(4, 8), torch.nn.Linear(8, 3)

    def forward(self, x, h):
        y, h = self.gru(x[None], h)
        return self.fc(y[0]), h


def export(tmp_path, perturb: float = 0.0):
    """The step model as .onnx and the same weights as .ern (perturbed: a wrong peer)."""
    m = Step().eval()
    torch.onnx.export(m, (torch.zeros(1, 4), torch.zeros(1, 1, 8)), tmp_path / "m.onnx",
                      dynamo=False, opset_version=17, input_names=["x", "h"],
                      output_names=["y", "h_out"])
    g = lambda n: getattr(m.gru, n).detach().numpy() + perturb  # noqa: E731
    b = GraphBuilder()
    h = b.gru(b.input("x", (4,)), g("weight_ih_l0"), g("weight_hh_l0"), g("bias_ih_l0"),
              g("bias_hh_l0"), gate_order="rzn", linear_before_reset=True)
    b.output(b.dense(h, m.fc.weight.detach().numpy(), m.fc.bias.detach().numpy()), "y")
    return str(edgernn.save(b.build(), tmp_path / "m.ern"))


def run_cli(*argv) -> str:
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(list(argv)) == 0
    return buf.getvalue()


def test_bench_checks_the_peer_then_reports_everything(tmp_path):
    pytest.importorskip("onnxruntime")
    path = export(tmp_path)
    res = json.loads(run_cli("bench", path, "--vs", "onnxruntime", "--json", "--no-cold",
                             "--calls", "40", "--repeats", "1"))
    assert res["check_max_abs_err"]["onnxruntime step"] <= 1e-5
    lat = res["latency"]
    assert {"edgernn step", "onnxruntime step", *(f"edgernn run({c})" for c in bench.CHUNKS)
            } <= set(lat)
    assert all(0 < v["median_us"] <= v["p99_us"] for v in lat.values())
    assert {"1", "8", "64", "onnxruntime step"} <= set(res["streams_fps"])
    assert res["frame_rate"]["hz"] == 100.0 and res["frame_rate"]["cpu_share"] > 0
    text = run_cli("bench", path, "--no-cold", "--calls", "20", "--repeats", "1")
    assert "edgernn step" in text and "frames/s" in text


def test_a_peer_that_computes_something_else_stops_the_benchmark(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    path = export(tmp_path, perturb=0.05)
    assert main(["bench", path, "--vs", f"onnxruntime:{tmp_path / 'm.onnx'}", "--no-cold"]) == 2
    assert "disagree" in capsys.readouterr().err


def test_child_rss_is_the_childs_own():
    big = np.ones(60 * 2**20, np.uint8)  # this process: at least 60 MiB more
    small = bench.child([sys.executable, "-c", "pass"])
    large = bench.child([sys.executable, "-c", "import numpy as np; a = np.ones(80 * 2**20, "
                                               "np.uint8)"])
    assert small["peak_rss_mib"] < 40 < 80 < large["peak_rss_mib"] and big.sum()
    assert small["wall_s"] > 0
