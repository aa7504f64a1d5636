"""Silero VAD around edgernn: the wheel's ONNX files, chunking with context, the source
model run by onnxruntime chunk by chunk, speech segments, and test speech.

Used by ``demos/vad/vad.py``, ``tests/test_silero.py`` and
``benchmarks/bench_silero.py``.  Nothing is downloaded at import: :func:`fetch`
runs ``pip download --no-deps silero-vad==VERSION`` into a cache directory when
asked, and raises :class:`Unavailable` (with the reason) when it cannot.

Silero's streaming contract at 16 kHz: each call takes 512 new samples with the
64 samples before them (576; zeros before the start) and the ``(2, 1, 128)``
state the previous call returned.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import wave
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VERSION = "6.2.3"
SR = 16000
HOP, CONTEXT = 512, 64
#: ONNX file in the wheel -> the configuration inputs it needs fixed (--const)
VARIANTS = {
    "silero_vad.onnx": {"sr": SR},
    "silero_vad_16k_op15.onnx": {"sr": SR},
    "silero_vad_op18_ifless.onnx": {"sr": SR},
    "silero_vad_openvino_16k.onnx": {},
    "silero_vad_half.onnx": {},
    "silero_vad_16k_sequence.onnx": {},
}


class Unavailable(RuntimeError):
    """The model files cannot be had here (no network, no pip, a changed wheel)."""


def cache_dir() -> Path:
    """Where wheels are kept: $EDGERNN_MODEL_CACHE, else .cache/models in the repo."""
    env = os.environ.get("EDGERNN_MODEL_CACHE")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".cache" / "models"


def fetch(cache: Path | None = None) -> Path:
    """The directory holding the wheel's ``*.onnx`` files (downloaded once into ``cache``)."""
    cache = Path(cache or cache_dir())
    out = cache / f"silero_vad-{VERSION}"
    if all((out / name).exists() for name in VARIANTS):
        return out
    with tempfile.TemporaryDirectory(dir=cache if cache.exists() else None) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
               f"silero-vad=={VERSION}", "-d", tmp]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Unavailable(f"pip download silero-vad failed: {e}") from None
        wheels = list(Path(tmp).glob("silero_vad-*.whl"))
        if r.returncode or not wheels:
            raise Unavailable(f"pip download silero-vad=={VERSION} failed: "
                              f"{(r.stderr or r.stdout).strip().splitlines()[-1:]}")
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as z:
            for info in z.infolist():
                if Path(info.filename).name in VARIANTS:
                    (out / Path(info.filename).name).write_bytes(z.read(info))
    missing = [n for n in VARIANTS if not (out / n).exists()]
    if missing:
        raise Unavailable(f"silero-vad {VERSION} wheel lacks {missing}")
    return out


def chunks(audio: np.ndarray, hop: int = HOP, context: int = CONTEXT) -> np.ndarray:
    """``(N, context + hop)`` float32: each hop of new samples with the ``context`` before it
    (zeros before the start); a last partial hop is zero-padded, as Silero's wrapper does."""
    x = np.asarray(audio, np.float32).reshape(-1)
    n = -(-len(x) // hop)
    padded = np.zeros(context + n * hop, np.float32)
    padded[context:context + len(x)] = x
    idx = np.arange(n)[:, None] * hop + np.arange(context + hop)[None, :]
    return padded[idx]


class OrtSilero:
    """The source model in onnxruntime, one chunk per call with its state fed back."""

    def __init__(self, path: Path, consts: dict | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = threads
        so.log_severity_level = 3
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.sess.get_inputs()]
        self.sequence = "h" in self.names
        self.consts = {k: np.array(v, np.int64) for k, v in (consts or {}).items()}
        self.reset()

    def reset(self) -> None:
        if self.sequence:
            self.h = np.zeros((1, 1, 128), np.float32)
            self.c = np.zeros((1, 1, 128), np.float32)
        else:
            self.state = np.zeros((2, 1, 128), np.float32)

    def step(self, chunk: np.ndarray) -> float:
        """Speech probability of one ``(576,)`` chunk; the state advances."""
        if self.sequence:
            p, self.h, self.c = self.sess.run(None, {"input": chunk[None], "h": self.h,
                                                     "c": self.c})
        else:
            p, self.state = self.sess.run(None, {"input": chunk[None], "state": self.state,
                                                 **self.consts})
        return float(np.asarray(p).reshape(-1)[0])

    def run(self, frames: np.ndarray) -> np.ndarray:
        """Probabilities of ``(N, 576)`` chunks, one call each (state carried)."""
        return np.array([self.step(f) for f in frames], np.float32)


@dataclass(frozen=True)
class Segment:
    start: float  # seconds
    end: float


def segments(probs: np.ndarray, threshold: float = 0.5, hop: int = HOP, sr: int = SR,
             min_speech: float = 0.25, min_silence: float = 0.1) -> list[Segment]:
    """Speech segments from per-chunk probabilities, with Silero's hysteresis: speech starts
    at ``threshold`` and ends after ``min_silence`` below ``threshold - 0.15``."""
    low, dt = threshold - 0.15, hop / sr
    out, start, quiet = [], None, 0
    for i, p in enumerate(np.asarray(probs)):
        if start is None:
            if p >= threshold:
                start, quiet = i, 0
            continue
        quiet = quiet + 1 if p < low else 0
        if quiet * dt >= min_silence:
            end = i - quiet + 1
            if (end - start) * dt >= min_speech:
                out.append(Segment(start * dt, end * dt))
            start = None
    if start is not None and (len(probs) - start) * dt >= min_speech:
        out.append(Segment(start * dt, len(probs) * dt))
    return out


SENTENCES = ("edge inference runs recurrent networks one frame at a time",
             "the voice activity detector keeps its state between chunks",
             "seven, zero, stop", "turn on the lights in the kitchen please",
             "a raspberry pi listens to the microphone all day")


def espeak(text: str, voice: str = "en", speed: int = 160) -> np.ndarray:
    """float32 speech at 16 kHz from espeak-ng (which writes 22.05 kHz)."""
    if shutil.which("espeak-ng") is None:
        raise Unavailable("espeak-ng is not installed (apt-get install espeak-ng)")
    from scipy.signal import resample_poly

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
                       check=True, capture_output=True)
        with wave.open(str(path)) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16) / 32768.0
            rate = w.getframerate()
    return resample_poly(x, SR, rate).astype(np.float32)


def speech_with_silences(seconds: float = 24.0, seed: int = 0,
                         noise: float = 0.004) -> tuple[np.ndarray, list[Segment]]:
    """espeak-ng sentences (several voices) between silences of 0.8-2.5 s, white noise
    of rms ``noise`` throughout; returns (audio, where the speech was put)."""
    rng = np.random.default_rng(seed)
    voices = ("en", "en-us", "en+f3", "en+m3", "en-gb")
    parts, truth, t = [np.zeros(int(SR * 1.0), np.float32)], [], 1.0
    k = 0
    while t < seconds:
        s = espeak(SENTENCES[k % len(SENTENCES)], voices[k % len(voices)],
                   int(rng.integers(140, 190))) * float(rng.uniform(0.5, 1.0))
        truth.append(Segment(t, t + len(s) / SR))
        gap = np.zeros(int(SR * rng.uniform(0.8, 2.5)), np.float32)
        parts += [s, gap]
        t += (len(s) + len(gap)) / SR
        k += 1
    audio = np.concatenate(parts)
    audio += noise * rng.standard_normal(len(audio)).astype(np.float32)
    return np.clip(audio, -1.0, 1.0), truth


def write_wav(path: Path, audio: np.ndarray, sr: int = SR) -> None:
    pcm = np.clip(np.rint(np.asarray(audio) * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
