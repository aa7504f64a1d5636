"""Silero VAD, the six ONNX variants of the silero-vad wheel (and a float16 one made from
it with onnxconverter-common), converted by edgernn and streamed chunk by chunk on 24 s
of espeak-ng speech with silences and noise, against onnxruntime running the source
model one chunk per call with its state fed back.

The wheel comes from ``pip download --no-deps silero-vad`` into a cache directory
(demos/vad/silero.py); the tests skip, saying why, when that or espeak-ng is missing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import edgernn
from edgernn.converters import ConversionError, convert

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demos" / "vad"))
import silero  # noqa: E402

TOL = 1e-4


@pytest.fixture(scope="module")
def wheel() -> Path:
    try:
        return silero.fetch()
    except silero.Unavailable as e:
        pytest.skip(f"Silero VAD models unavailable: {e}")


@pytest.fixture(scope="module")
def audio():
    try:
        return silero.speech_with_silences(24.0)
    except silero.Unavailable as e:
        pytest.skip(str(e))


def _stream_probs(model: edgernn.Model, frames: np.ndarray) -> np.ndarray:
    s = model.stream()
    return np.array([float(np.asarray(s.step(f)).reshape(-1)[0]) for f in frames])


@pytest.mark.parametrize("name", list(silero.VARIANTS))
def test_variant_matches_onnxruntime_chunk_by_chunk_on_speech(wheel, audio, name, tmp_path):
    x, truth = audio
    consts = silero.VARIANTS[name]
    report = convert(wheel / name, tmp_path / "vad.ern", consts=consts)
    model = edgernn.load(tmp_path / "vad.ern")
    assert model.inputs == {"input": (576,)}
    frames = silero.chunks(x)
    assert len(frames) * silero.HOP >= 20 * silero.SR
    want = silero.OrtSilero(wheel / name, consts).run(frames)
    got = _stream_probs(model, frames)
    assert np.abs(got - want).max() <= TOL, name
    if consts:
        assert "const  sr = 16000" in str(report)
    _speech_is_detected(want, truth)


def _speech_is_detected(probs: np.ndarray, truth) -> None:
    """The test audio is speech to Silero where it was put, silence elsewhere."""
    t = (np.arange(len(probs)) + 0.5) * silero.HOP / silero.SR
    inside = np.zeros(len(t), bool)
    for seg in truth:
        inside |= (t >= seg.start + 0.3) & (t <= seg.end - 0.3)
    outside = np.ones(len(t), bool)
    for seg in truth:
        outside &= (t < seg.start - 0.5) | (t > seg.end + 0.8)
    assert probs[inside].mean() > 0.6 and probs[outside].mean() < 0.15


def test_sequence_variant_whole_sequence_equals_stream(wheel, audio, tmp_path):
    """silero_vad_16k_sequence.onnx takes [sequence_length, 576]: its time axis runs over
    chunks; one source call on all of them equals edgernn's run() and step()."""
    import onnxruntime as ort

    name = "silero_vad_16k_sequence.onnx"
    convert(wheel / name, tmp_path / "seq.ern")
    model = edgernn.load(tmp_path / "seq.ern")
    frames = silero.chunks(audio[0])[:300]
    sess = ort.InferenceSession(str(wheel / name), providers=["CPUExecutionProvider"])
    zeros = np.zeros((1, 1, 128), np.float32)
    want = sess.run(None, {"input": frames, "h": zeros, "c": zeros})[0]
    assert np.abs(model.stream().run(frames) - want).max() <= TOL
    assert np.abs(_stream_probs(model, frames) - want).max() <= TOL


def _fp16(src: Path, dst: Path) -> Path:
    """The model in float16 the way users make one (onnxconverter-common, float I/O kept);
    Casts stay float32 (the converter's output is otherwise not loadable)."""
    f16 = pytest.importorskip("onnxconverter_common.float16")
    m = onnx.load(src)
    for g in (m.graph,):
        del g.value_info[:]
    casts = [n.name for n in m.graph.node if n.op_type == "Cast"]
    onnx.save(f16.convert_float_to_float16(m, keep_io_types=True, node_block_list=casts), dst)
    return dst


def _rounded(src: Path, dst: Path) -> Path:
    """The float32 model with every float weight rounded to float16: what edgernn computes
    for the float16 model (fp16 weights, fp32 arithmetic), run by onnxruntime."""
    m = onnx.load(src)
    for t in m.graph.initializer:
        a = onnx.numpy_helper.to_array(t)
        if a.dtype == np.float32:
            t.CopyFrom(onnx.numpy_helper.from_array(a.astype(np.float16).astype(np.float32),
                                                    t.name))
    onnx.save(m, dst)
    return dst


@pytest.mark.parametrize("name", ["silero_vad_16k_op15.onnx", "silero_vad_16k_sequence.onnx"])
def test_float16_model_keeps_fp16_weights_and_matches(wheel, audio, name, tmp_path):
    """Weights stay fp16 in the .ern; the stream equals onnxruntime on the same weights in
    fp32 arithmetic, and is no further from onnxruntime's fp16 arithmetic than that."""
    src = _fp16(wheel / name, tmp_path / "half.onnx")
    consts = silero.VARIANTS[name]
    convert(src, tmp_path / "half.ern", consts=consts)
    model = edgernn.load(tmp_path / "half.ern")
    big = [t for t in model.graph.consts.values() if t.size > 1000]
    assert {t.dtype for t in big} == {"f16"}  # conv and LSTM weights stored as the model did
    frames = silero.chunks(audio[0])
    got = _stream_probs(model, frames)
    exact = silero.OrtSilero(_rounded(wheel / name, tmp_path / "r.onnx"), consts).run(frames)
    assert np.abs(got - exact).max() <= TOL
    half = silero.OrtSilero(src, consts).run(frames)  # onnxruntime's fp16 arithmetic
    assert np.abs(got - half).max() <= np.abs(exact - half).max() + TOL
    assert np.abs(got - half).max() <= 1e-2


def test_sample_rate_without_a_value_names_the_flag(wheel, tmp_path):
    for name in ("silero_vad.onnx", "silero_vad_op18_ifless.onnx"):
        with pytest.raises(ConversionError, match=r"'sr'.*--const sr=16000"):
            convert(wheel / name, tmp_path / "x.ern")
    r = subprocess.run([sys.executable, "-m", "edgernn.cli", "convert",
                        str(wheel / "silero_vad.onnx"), "-o", str(tmp_path / "x.ern")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--const sr=16000" in r.stderr


def test_8khz_branch_and_explicit_frame(wheel, tmp_path):
    """--const sr=8000 takes the model's 8 kHz branch: 256 + 32 samples per chunk."""
    report = convert(wheel / "silero_vad.onnx", tmp_path / "v8.ern", consts={"sr": 8000})
    assert edgernn.load(tmp_path / "v8.ern").inputs == {"input": (288,)}
    assert "288 samples" in str(report)
    rng = np.random.default_rng(0)
    frames = (rng.standard_normal((40, 288)) * 0.1).astype(np.float32)
    want = silero.OrtSilero(wheel / "silero_vad.onnx", {"sr": 8000}).run(frames)
    got = _stream_probs(edgernn.load(tmp_path / "v8.ern"), frames)
    assert np.abs(got - want).max() <= TOL
    convert(wheel / "silero_vad.onnx", tmp_path / "f.ern", consts={"sr": 16000},
            frame={"input": 448})  # 384 + 64, given explicitly
    frames = (rng.standard_normal((40, 448)) * 0.1).astype(np.float32)
    want = silero.OrtSilero(wheel / "silero_vad.onnx", {"sr": 16000}).run(frames)
    got = _stream_probs(edgernn.load(tmp_path / "f.ern"), frames)
    assert np.abs(got - want).max() <= TOL


def test_demo_finds_the_speech_segments(wheel, audio, tmp_path):
    """demos/vad/vad.py streams a WAV block by block; every synthesized sentence is found."""
    import vad

    x, truth = audio
    silero.write_wav(tmp_path / "a.wav", x)
    convert(wheel / "silero_vad.onnx", tmp_path / "v.ern", consts={"sr": 16000})
    probs, cost = vad.stream_wav(edgernn.load(tmp_path / "v.ern"), tmp_path / "a.wav")
    assert len(probs) == len(x) // silero.HOP and len(cost) == len(probs)  # whole chunks
    found = silero.segments(probs)
    assert len(found) == len(truth)
    for seg, want in zip(found, truth, strict=True):
        overlap = min(seg.end, want.end) - max(seg.start, want.start)
        assert overlap > 0.7 * (want.end - want.start)
