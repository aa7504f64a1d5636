"""Test audio for the front-end tests: espeak-ng speech at 16 kHz plus noise.

Other ``test_features_*`` modules import :func:`speech` from here.  The speech is
synthesized once per process (espeak-ng writes 22.05 kHz; scipy resamples it) and
cached; tests that need it skip with a reason when espeak-ng is missing.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest

SR = 16000
PHRASE = "hey edge, turn on the lights. seven, zero, stop."


@functools.cache
def _espeak(text: str, voice: str) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    from scipy.signal import resample_poly

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True,
                       capture_output=True)
        with wave.open(str(path)) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16) / 32768.0
            rate = w.getframerate()
    return resample_poly(x, SR, rate)


def speech(noise: float = 0.003, gain: float = 1.0, seed: int = 0, voice: str = "en",
           text: str = PHRASE) -> np.ndarray:
    """float64 speech in [-1, 1) at 16 kHz with white noise of rms ``noise``."""
    x = _espeak(text, voice) * gain
    if noise:
        x = x + noise * np.random.default_rng(seed).standard_normal(len(x))
    return np.clip(x, -1.0, 32767 / 32768)


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 32768), -32768, 32767).astype(np.int16)


def test_speech_is_real_audio():
    x = speech(noise=0.0)
    assert len(x) > SR  # over a second
    frames = x[: len(x) // 400 * 400].reshape(-1, 400)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    assert rms.max() > 0.05 and (rms < 1e-3).any()  # loud speech and silent gaps
