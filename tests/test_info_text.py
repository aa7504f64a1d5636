"""``edgernn info`` as text: one aligned column of values, no converter internals, no
Identity renames among the layers; ``--json`` keeps everything."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgernn
from edgernn.builder import GraphBuilder

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "onnx"


def info(*args) -> str:
    r = subprocess.run([sys.executable, "-m", "edgernn.cli", "info", *map(str, args)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def value_columns(text: str) -> set[int]:
    """Where the value starts on every top-level `key value` line."""
    cols = set()
    for line in text.splitlines():
        if line.startswith(" ") or line == "layers":
            continue
        m = re.match(r"^(\S+)(\s+)\S", line)
        assert m, f"not a `key value` line: {line!r}"
        cols.add(len(m[1]) + len(m[2]))
    return cols


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    pytest.importorskip("onnx")
    from edgernn.converters import convert

    dst = tmp_path_factory.mktemp("info") / "crnn.ern"
    convert(str(FIXTURES / "torch_crnn_op17.onnx"), str(dst))
    return dst


def test_converted_model_text_is_aligned_and_hides_probe_data(converted):
    text = info(converted)
    assert len(value_columns(text)) == 1, text
    assert "source_format" in text and re.search(r"^source_version\s+opset 17$", text, re.M)
    assert "{" not in text and "'shape'" not in text, text
    also = re.search(r"^also\s+(.*) \(see --json\)$", text, re.M)
    assert also and "source_outputs" in also[1]
    meta = json.loads(info(converted, "--json"))["metadata"]
    assert "shape" in meta["source_outputs"]["y"]  # the JSON keeps the details


def test_builder_and_bundled_models_list_no_identity_layer(tmp_path):
    b = GraphBuilder()
    x = b.input("x", (4,))
    b.output(b.softmax(b.dense(x, np.ones((3, 4), np.float32))), "probs")
    edgernn.save(b.build(labels=["a", "b", "c"]), tmp_path / "m.ern")
    for model in (tmp_path / "m.ern", "gesture"):  # gesture.ern holds an Identity op
        text = info(model)
        layers = [ln.split()[1] for ln in text.splitlines() if ln.startswith("  ")]
        assert "Identity" not in layers and layers[-1] == "Softmax", text
        assert len(value_columns(text)) == 1, text
    assert re.search(r"^labels\s+a, b, c$", info(tmp_path / "m.ern"), re.M)
