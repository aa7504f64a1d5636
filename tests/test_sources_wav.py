"""WavFile and RawPCM against files written by sox and decoded by soundfile (libsndfile).

sox writes every encoding (8-bit unsigned, 16/24/32-bit signed — 24/32 bit and
3 channels as WAVE_FORMAT_EXTENSIBLE — 32/64-bit float with a ``fact``
chunk); libsndfile is the independent decoder; resampling is checked against
``scipy.signal.resample_poly`` with the same firwin filter.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgernn.errors import SourceError
from edgernn.sources import RawPCM, WavFile

sf = pytest.importorskip("soundfile")
signal = pytest.importorskip("scipy.signal")
if shutil.which("sox") is None:
    pytest.skip("sox is not installed (tests/run.sh installs it as root: apt-get install sox)",
                allow_module_level=True)

ENCODINGS = {name: ["-b", bits, "-e", kind] for name, bits, kind in [
    ("u8", "8", "unsigned-integer"), ("s16", "16", "signed-integer"),
    ("s24", "24", "signed-integer"), ("s32", "32", "signed-integer"),
    ("f32", "32", "floating-point"), ("f64", "64", "floating-point")]}


def sox_wav(path: Path, rate: int, channels: int, enc: str, seconds: float = 0.25) -> Path:
    """A chirp plus noise (different per channel) in the given encoding."""
    subprocess.run(["sox", "-n", "-r", str(rate), "-c", str(channels), *ENCODINGS[enc], str(path),
                    "synth", str(seconds), "sine", "300-3000", "pinknoise", "sine", "1000",
                    "gain", "-3"], check=True, capture_output=True)
    return path


def read_all(src) -> tuple[np.ndarray, list]:
    with src:
        blocks = list(src)
    return np.concatenate([b.data for b in blocks]), blocks


def firwin_resample(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    from math import gcd
    g = gcd(in_rate, out_rate)
    up, down = out_rate // g, in_rate // g
    m = max(up, down)
    h = signal.firwin(2 * 32 * m + 1, 0.9 / m, window=("kaiser", 8.0))
    return signal.resample_poly(x.astype(np.float64), up, down, axis=0, window=h)


@pytest.mark.parametrize("enc", list(ENCODINGS))
@pytest.mark.parametrize("rate,channels", [(8000, 1), (44100, 2), (48000, 1), (48000, 3)])
def test_decode_equals_libsndfile(tmp_path, enc, rate, channels):
    path = sox_wav(tmp_path / "x.wav", rate, channels, enc)
    want, file_rate = sf.read(path, dtype="float64", always_2d=True)
    src = WavFile(path, block=500)
    assert (src.rate, src.channels, file_rate) == (rate, channels, rate)
    got, blocks = read_all(src)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-7 if enc != "f64" else 3e-8)
    assert [b.time for b in blocks] == [i * 500 / rate for i in range(len(blocks))]


@pytest.mark.parametrize("enc", ["s16", "s24", "f32"])
@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_resampled_to_16k_and_mono(tmp_path, enc, rate):
    path = sox_wav(tmp_path / "x.wav", rate, 2, enc)
    x, _ = sf.read(path, dtype="float64", always_2d=True)
    got, blocks = read_all(WavFile(path, rate=16000, mono=True, block=333))
    want = firwin_resample(x.mean(axis=1, keepdims=True), rate, 16000)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=2e-6)
    starts = np.cumsum([0] + [len(b) for b in blocks[:-1]])
    np.testing.assert_array_equal([b.time for b in blocks], starts / 16000)


def _corrupt(tmp_path: Path, name: str, fix) -> Path:
    good = sox_wav(tmp_path / "good.wav", 16000, 1, "s16").read_bytes()
    bad = tmp_path / name
    bad.write_bytes(fix(good))
    return bad


@pytest.mark.parametrize("name,fix,words", [
    ("truncated.wav", lambda b: b[: len(b) // 2], "truncated"),
    ("odd.wav", lambda b: b[:-1], "truncated"),
    ("header_only.wav", lambda b: b[:36], "no data chunk"),
    ("tiny.wav", lambda b: b[:10], "not a WAV file"),
    ("text.wav", lambda b: b"hello world, this is not audio" * 10, "not a WAV file"),
    ("rifx.wav", lambda b: b"RIFX" + b[4:], "big-endian"),
    ("align.wav", lambda b: b[:32] + b"\x03\x00" + b[34:], "block align"),
    ("bits.wav", lambda b: b[:34] + b"\x0c\x00" + b[36:], "12-bit"),
    ("nofmt.wav", lambda b: b[:12] + b"junk" + b[16:], "no fmt chunk"),
])
def test_corrupt_files_name_the_problem(tmp_path, name, fix, words):
    with pytest.raises(SourceError, match=words):
        WavFile(_corrupt(tmp_path, name, fix))


def test_unsupported_encoding_says_how_to_convert(tmp_path):
    path = tmp_path / "alaw.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-e", "a-law", str(path), "synth", "0.1", "sine",
                    "440"], check=True, capture_output=True)
    with pytest.raises(SourceError, match="sox"):
        WavFile(path)


def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match="cannot open"):
        WavFile(tmp_path / "nope.wav")


RAW_CHILD = """
import json, sys
import numpy as np
from edgernn.sources import RawPCM
src = RawPCM(int(sys.argv[1]), int(sys.argv[2]), rate=16000, block=700)
with src:
    data = np.concatenate([b.data for b in src])
np.save(sys.argv[3], data)
print(json.dumps(src.summary()))
"""


@pytest.mark.parametrize("rate,channels", [(16000, 1), (44100, 2)])
def test_raw_pcm_on_stdin_from_a_pipe(tmp_path, rate, channels):
    wav = sox_wav(tmp_path / "x.wav", rate, channels, "s16")
    want_in = sf.read(wav, dtype="float64", always_2d=True)[0]
    sox = subprocess.Popen(["sox", str(wav), "-t", "raw", "-"], stdout=subprocess.PIPE)
    out = tmp_path / "got.npy"
    child = subprocess.run([sys.executable, "-c", RAW_CHILD, str(rate), str(channels), str(out)],
                           stdin=sox.stdout, capture_output=True, text=True, timeout=120)
    sox.wait()
    assert child.returncode == 0, child.stderr
    got = np.load(out)
    want = want_in if rate == 16000 else firwin_resample(want_in, rate, 16000)
    np.testing.assert_allclose(got, want, atol=2e-6)
    assert '"malformed": 0' in child.stdout


def test_raw_pcm_partial_frame_is_malformed():
    import io
    x = (np.arange(-500, 500) * 30).astype("<i2")
    src = RawPCM(16000, 2, stream=io.BytesIO(x.tobytes() + b"\x01"), block=64)
    got, _ = read_all(src)
    np.testing.assert_array_equal(got, x.reshape(-1, 2) / 32768.0)
    assert src.malformed == 1 and src.frames == 500
