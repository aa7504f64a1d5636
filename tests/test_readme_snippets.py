"""Every fenced ``python`` and ``sh`` block of README.md runs as written.

Each block runs in a fresh process (``python -`` / ``bash -euo pipefail``) in its own
empty directory, which holds only :data:`SAMPLES`: the files the README's examples
name, made from the bundled model and the ONNX test fixtures.  A block that cannot run
in a test (it builds a venv, installs packages) is preceded by
``<!-- snippet: skip (the reason) -->``; the reason is required.  When a README section
adds an example, it must run here too: make it self-contained, or name a sample file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgernn.demo import bundled_model

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ONNX = ROOT / "tests" / "fixtures" / "onnx"
TFLITE = ROOT / "tests" / "fixtures" / "tflite"
RUNNABLE = {"python": "python", "py": "python", "sh": "sh", "bash": "sh", "shell": "sh",
            "console": "sh"}
SKIP = re.compile(r"<!--\s*snippet:\s*skip\b\s*(?:\((?P<reason>[^)]*)\))?\s*-->")


def _samples() -> dict[str, Path]:
    """File name the README uses -> the file the test puts there."""
    return {
        "model.ern": bundled_model("gesture"),           # the model of the intro
        "model.onnx": ONNX / "torch_crnn_op17.onnx",      # a sequence model
        "step.onnx": ONNX / "torch_step_lstm_op17.onnx",  # (x, h, c) -> (y, h_out, c_out)
        "spec.onnx": ONNX / "torch_crnn2d_op17.onnx",     # x (batch, 1, time, 10)
        "kws.onnx": ONNX / "torch_classifier_last_op17.onnx",  # 4 classes at the last step
        "kws.tflite": TFLITE / "k3_gru_ra1_f32.tflite",    # a Keras 3 GRU (WHILE loop)
        "stream.tflite": TFLITE / "stream_ringbuf_qvars_int8.tflite",  # int8, variables
    }


SAMPLES = _samples()


@dataclass
class Block:
    lang: str  # "python" | "sh" | anything else (not run)
    code: str
    line: int  # 1-based line of the opening fence
    skip: str | None  # the reason, "" for a marker without one, None when not skipped

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.lang}"


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a markdown text, with the skip marker just before each."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^(`{3,})\s*([\w+-]*)", lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m[1], m[2].lower(), i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith(fence):
            body.append(lines[i])
            i += 1
        i += 1
        prev = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        marker = SKIP.search(prev)
        skip = None if marker is None else (marker["reason"] or "").strip()
        out.append(Block(RUNNABLE.get(lang, lang), "\n".join(body) + "\n", start + 1, skip))
    return out


ALL = blocks(README.read_text())
RUN = [b for b in ALL if b.lang in ("python", "sh") and b.skip is None]
SKIPPED = [b for b in ALL if b.skip is not None]


def test_the_readme_has_runnable_examples():
    assert {b.lang for b in RUN} == {"python", "sh"}, [b.id for b in ALL]
    assert all(path.is_file() for path in SAMPLES.values()), SAMPLES


def test_every_skip_says_why():
    for b in SKIPPED:
        assert len(b.skip) >= 10, f"{b.id}: `<!-- snippet: skip (reason) -->` needs a reason"


def test_skipped_blocks_name_scripts_that_exist():
    """The quick-start one-command scripts stay true: they exist and parse."""
    scripts = [m[1] for b in SKIPPED for m in re.finditer(r"^\s*bash\s+(\S+)", b.code, re.M)]
    assert scripts, "the quick start names its scripts in a skipped block"
    for script in scripts:
        path = ROOT / script
        assert path.is_file(), f"README names {script}, which does not exist"
        r = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, f"{script}: {r.stderr}"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("EDGERNN_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_snippet_runs(block: Block, tmp_path):
    for name, src in SAMPLES.items():
        shutil.copy(src, tmp_path / name)
    cmd = ([sys.executable, "-"] if block.lang == "python"
           else ["bash", "-euo", "pipefail", "-s"])
    r = subprocess.run(cmd, input=block.code, cwd=tmp_path, env=_env(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, (f"{block.id} failed (exit {r.returncode}):\n{block.code}\n"
                               f"--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}")
    assert "Traceback" not in r.stderr and "edgernn: error" not in r.stderr, r.stderr


def test_the_parser_finds_fences_and_markers():
    text = ("a\n\n<!-- snippet: skip (needs a venv) -->\n```sh\nbash x.sh\n```\n"
            "```python\nprint(1)\n```\n<!-- snippet: skip -->\n\n```bash\nls\n```\n"
            "```text\nnot run\n```\n")
    got = [(b.lang, b.code, b.skip) for b in blocks(text)]
    assert got == [("sh", "bash x.sh\n", "needs a venv"), ("python", "print(1)\n", None),
                   ("sh", "ls\n", ""), ("text", "not run\n", None)]
