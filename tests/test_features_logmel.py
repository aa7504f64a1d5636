"""Log-mel and MFCC front ends against librosa and a float64 numpy reference.

The front end gets float32 samples; the references get the same samples as float64
(librosa then computes in float64 too), so the comparison measures the arithmetic,
not the input rounding.  They must agree within 1e-4 (max abs) on the log / dB /
cepstral outputs, for several parameter sets, loud and quiet speech.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_features_audio import speech

from edgernn import features

librosa = pytest.importorskip("librosa")
TOL = 1e-4

SPECS = {
    "default": {"type": "logmel"},
    "db-dft400": {"type": "logmel", "n_fft": 400, "win_length": 400, "n_mels": 80, "log": "db"},
    "htk-nonorm": {"type": "logmel", "n_fft": 512, "win_length": 512, "hop_length": 128,
                   "n_mels": 64, "mel_scale": "htk", "mel_norm": None, "fmin": 20.0,
                   "fmax": 7600.0},
    "mag-db-hamming": {"type": "logmel", "n_fft": 1024, "win_length": 640, "hop_length": 320,
                       "power": 1, "log": "db", "window": "hamming"},
    "8k-boxcar": {"type": "logmel", "sample_rate": 8000, "n_fft": 256, "win_length": 200,
                  "hop_length": 80, "n_mels": 32, "power": 1, "log_offset": 1e-3,
                  "window": "boxcar", "fmin": 100.0},
    "hop>win": {"type": "logmel", "n_fft": 256, "win_length": 160, "hop_length": 200,
                "n_mels": 20},
}
AUDIO = {"speech": dict(noise=0.003), "quiet-clean": dict(noise=0.0, gain=0.02)}


def librosa_logmel(x: np.ndarray, s: dict) -> np.ndarray:
    """librosa's log-mel of float64 x for the filled spec s, (T, n_mels)."""
    mel = librosa.feature.melspectrogram(
        y=x, sr=s["sample_rate"], n_fft=s["n_fft"], hop_length=s["hop_length"],
        win_length=s["win_length"], window=s["window"], center=False, power=float(s["power"]),
        n_mels=s["n_mels"], fmin=s["fmin"], fmax=s["fmax"], htk=s["mel_scale"] == "htk",
        norm=s["mel_norm"])
    if s["log"] == "log":
        mel = np.log(mel + s["log_offset"])
    elif s["log"] == "db":
        to_db = librosa.power_to_db if s["power"] == 2 else librosa.amplitude_to_db
        mel = to_db(mel, ref=1.0, amin=s["amin"], top_db=None)
    return mel.T


# --- float64 reference from the definitions ------------------------------------------------

def _hz_to_mel(f, scale):
    f = np.asarray(f, float)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    lin = 3.0 * f / 200.0  # Slaney: linear to 1 kHz (15 mels), then log with step ln(6.4)/27
    return np.where(f < 1000.0, lin, 15.0 + 27.0 * np.log(np.maximum(f, 1e-9) / 1000.0)
                    / np.log(6.4))


def _mel_to_hz(m, scale):
    m = np.asarray(m, float)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m < 15.0, 200.0 * m / 3.0, 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27.0))


def reference_logmel(x: np.ndarray, s: dict) -> np.ndarray:
    """Frames of n_fft with the window centred, a DFT by its sum, triangles, log."""
    n_fft, win, hop = s["n_fft"], s["win_length"], s["hop_length"]
    n = np.arange(win)
    a = {"hann": 0.5, "hamming": 0.54, "boxcar": 1.0}[s["window"]]
    w = np.zeros(n_fft)
    left = (n_fft - win) // 2
    w[left:left + win] = a - (1 - a) * np.cos(2 * np.pi * n / win)
    frames = np.stack([x[t:t + n_fft] for t in range(0, len(x) - n_fft + 1, hop)])
    k = np.arange(n_fft // 2 + 1)
    basis = np.exp(-2j * np.pi * np.outer(np.arange(n_fft), k) / n_fft)
    spec = np.abs((frames * w) @ basis) ** s["power"]
    freqs = k * s["sample_rate"] / n_fft
    edges = _mel_to_hz(np.linspace(_hz_to_mel(s["fmin"], s["mel_scale"]),
                                   _hz_to_mel(s["fmax"], s["mel_scale"]), s["n_mels"] + 2),
                       s["mel_scale"])
    fb = np.zeros((s["n_mels"], len(k)))
    for m in range(s["n_mels"]):
        lo, mid, hi = edges[m:m + 3]
        rise, fall = (freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)
        fb[m] = np.clip(np.minimum(rise, fall), 0.0, None)
        if s["mel_norm"] == "slaney":
            fb[m] *= 2.0 / (hi - lo)
    mel = spec @ fb.T
    if s["log"] == "log":
        return np.log(mel + s["log_offset"])
    if s["log"] == "db":
        return (10.0 if s["power"] == 2 else 20.0) * np.log10(np.maximum(mel, s["amin"]))
    return mel


@pytest.mark.parametrize("audio", AUDIO)
@pytest.mark.parametrize("name", SPECS)
def test_logmel_matches_librosa_and_reference(name, audio):
    x32 = speech(**AUDIO[audio]).astype(np.float32)
    x = x32.astype(np.float64)
    fe = features.from_spec(SPECS[name])
    s = features.spec_of(fe)
    ours = fe.offline(x32)
    lib = librosa_logmel(x, s)
    ref = reference_logmel(x, s)
    t = len(lib)
    assert len(ref) == t and len(ours) >= t  # a stream may emit frames past librosa's last
    assert len(ours) == max(0, (len(x) - fe.delay) // fe.hop)
    assert np.abs(ours[:t] - lib).max() < TOL
    assert np.abs(ours[:t] - ref).max() < TOL
    assert np.abs(lib - ref).max() < TOL  # the two references agree with each other


def test_plain_mel_power_relative_error():
    x32 = speech().astype(np.float32)
    fe = features.from_spec({"type": "logmel", "log": None, "n_mels": 64})
    s = features.spec_of(fe)
    ours, ref = fe.offline(x32), reference_logmel(x32.astype(np.float64), s)
    t = len(ref)
    assert np.abs(ours[:t] - ref).max() <= 1e-6 * np.abs(ref).max()


def test_int16_input_is_scaled_by_1_over_32768():
    x = speech()
    x16 = np.clip(np.rint(x * 32768), -32768, 32767).astype(np.int16)
    fe = features.from_spec({"type": "logmel"})
    assert np.array_equal(fe.offline(x16), fe.offline(x16.astype(np.float32) / 32768))
    assert np.array_equal(fe.offline(x16), fe.offline(x16 / 32768.0))  # float64 input


MFCC = {
    "default": {"type": "mfcc"},
    "lifter-log": {"type": "mfcc", "n_mfcc": 20, "n_mels": 40, "lifter": 22.0, "log": "log"},
    "htk-dft": {"type": "mfcc", "n_fft": 400, "win_length": 400, "n_mels": 26, "n_mfcc": 13,
                "mel_scale": "htk", "mel_norm": None, "lifter": 10.0},
}


@pytest.mark.parametrize("name", MFCC)
def test_mfcc_matches_librosa_and_scipy_dct(name):
    from scipy.fft import dct

    x32 = speech().astype(np.float32)
    x = x32.astype(np.float64)
    fe = features.from_spec(MFCC[name])
    s = features.spec_of(fe)
    ours = fe.offline(x32)
    logmel = librosa_logmel(x, s)
    lib = librosa.feature.mfcc(S=logmel.T, n_mfcc=s["n_mfcc"], dct_type=2, norm="ortho",
                               lifter=s["lifter"]).T
    n = np.arange(1, s["n_mfcc"] + 1)
    lift = 1 + s["lifter"] / 2 * np.sin(np.pi * n / s["lifter"]) if s["lifter"] else 1.0
    ref = dct(reference_logmel(x, s), type=2, norm="ortho", axis=1)[:, :s["n_mfcc"]] * lift
    t = len(lib)
    assert ours.shape[1] == s["n_mfcc"]
    assert np.abs(ours[:t] - lib).max() < TOL
    assert np.abs(ours[:t] - ref).max() < TOL
