"""The micro front end equals pymicro-features (TFLM's C code) bit for bit.

pymicro-features consumes exactly 160 samples (10 ms) per ``process_samples`` call
and returns 40 features once 480 samples have arrived; the front end here gets the
whole signal, or random blocks, and must return the very same float32 values.
Signals: speech (loud, clipped, quiet), silence, full-scale noise, square waves,
-32768 runs, DC, a sweep and impulses, to reach the wrap-around paths of the C code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_features_audio import speech, to_int16

from edgernn import features
from edgernn.features.kissfft16 import KissTables, kiss_fftr

pmf = pytest.importorskip("pymicro_features")
N = 16000


def pymicro(x16: np.ndarray) -> np.ndarray:
    fe = pmf.MicroFrontend()
    rows = []
    for i in range(0, len(x16) - 159, 160):
        out = fe.process_samples(x16[i:i + 160].tobytes())
        assert out.samples_read == 160
        if out.features:
            rows.append(out.features)
    return np.array(rows, np.float32).reshape(-1, 40)


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    t = np.arange(N)
    return {
        "silence": np.zeros(N, np.int16),
        "lsb-noise": rng.integers(-2, 3, N).astype(np.int16),
        "full-noise": rng.integers(-32768, 32768, N).astype(np.int16),
        "square": np.where((t // 20) % 2, -32768, 32767).astype(np.int16),
        "min-run": np.full(N, -32768, np.int16),
        "dc": np.full(N, 1000, np.int16),
        "sweep": np.rint(32000 * np.sin(2 * np.pi * np.cumsum(np.linspace(50, 8000, N))
                                        / N)).astype(np.int16),
        "impulses": np.where(t % 333 == 0, -32768, 0).astype(np.int16),
    }


SIGNALS = _signals()
SPEECH = {"speech": dict(), "clipped": dict(gain=8.0), "quiet": dict(gain=0.01, noise=1e-4)}


@pytest.mark.parametrize("name", SIGNALS)
def test_equals_pymicro_features_on_test_signals(name):
    x = SIGNALS[name]
    ours = features.from_spec({"type": "micro"}).offline(x)
    ref = pymicro(x)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    assert np.array_equal(ours, ref)


@pytest.mark.parametrize("name", SPEECH)
def test_equals_pymicro_features_on_speech(name):
    x = to_int16(speech(**SPEECH[name]))
    fe = features.from_spec({"type": "micro"})
    ref = pymicro(x)
    assert np.array_equal(fe.offline(x), ref)
    assert ref.std() > 1.0  # not a trivial (constant) feature map
    rng = np.random.default_rng(3)  # streamed in blocks of any size, one front end
    cuts = np.cumsum(rng.integers(1, 900, size=len(x)))
    parts = [fe.process(b) for b in np.split(x, cuts[cuts < len(x)])]
    assert np.array_equal(np.concatenate(parts), ref)


def test_state_carries_across_calls_and_reset_restores_it():
    x = to_int16(speech())
    fe = features.from_spec({"type": "micro"})
    first = fe.process(x)
    second = fe.process(x)  # noise estimate carried over: pymicro-features without reset
    ref = pymicro(np.concatenate([x, x]))
    assert np.array_equal(np.concatenate([first, second]), ref[:len(first) + len(second)])
    fe.reset()
    assert np.array_equal(fe.process(x), first)


def test_float_input_is_rounded_to_int16():
    x = speech()
    fe = features.from_spec({"type": "micro"})
    assert np.array_equal(fe.offline(x), pymicro(to_int16(x)))
    x32 = x.astype(np.float32)
    assert np.array_equal(fe.offline(x32), pymicro(to_int16(x32.astype(np.float64))))


@pytest.mark.parametrize("nfft", [4, 8, 16, 64, 128, 256, 512, 1024])
def test_kiss_fftr_is_the_scaled_dft(nfft):
    """Radix-4 and radix-2 stages: kiss_fftr(x) = rfft(x) / nfft up to a few LSB of rounding."""
    rng = np.random.default_rng(nfft)
    k = KissTables(nfft)
    tmp, freq = k.scratch()
    for _ in range(5):
        x = rng.integers(-20000, 20000, nfft).astype(np.int16)
        kiss_fftr(x, k.perm, k.stages, k.tw, k.super_tw, tmp, freq)
        ref = np.fft.rfft(x.astype(np.float64)) / nfft
        err = np.abs(freq[:, 0] + 1j * freq[:, 1] - ref).max()
        assert err <= 1 + np.log2(nfft)


def test_other_configurations_run_and_stream():
    """No reference exists for other settings: check shape, sanity, streaming == offline."""
    x = to_int16(speech())
    for spec in ({"type": "micro", "sample_rate": 8000, "window_ms": 25, "num_channels": 24,
                  "upper_band_limit": 3800.0},
                 {"type": "micro", "pcan": False, "num_channels": 32},
                 {"type": "micro", "log": False, "output_scale": 1.0}):
        fe = features.from_spec(spec)
        whole = fe.offline(x)
        assert whole.shape == (max(0, (len(x) - fe.delay) // fe.hop), fe.n_features)
        assert np.isfinite(whole).all() and whole.max() > 0 and whole.min() >= 0
        parts = [fe.process(b) for b in np.array_split(x, 37)]
        assert np.array_equal(np.concatenate(parts), whole)


def _c_sqrt(n: int, guard: int) -> int:
    """TFLM's Sqrt32/Sqrt64: the floor root, rounded up when the remainder exceeds it."""
    r = math.isqrt(n)
    return r + 1 if n - r * r > r and r != guard else r


@pytest.mark.parametrize("kind", ["sqrt32", "sqrt64"])
def test_integer_square_roots_follow_tflm(kind):
    from edgernn.features import micro_ops

    top = 32 if kind == "sqrt32" else 64
    values = {0, 1, 2, 3, (1 << top) - 1, (1 << 52) - 1, 1 << 52, (1 << 52) + 1, 1 << 32}
    for k in (2, 3, 255, 65535, 65536, (1 << 26) - 1, 1 << 26, (1 << 32) - 1):
        values |= {k * k - 1, k * k, k * k + k, k * k + k + 1}
    rng = np.random.default_rng(5)
    for bits in range(1, top + 1):
        values |= {int(v) for v in rng.integers(0, 1 << min(bits, 62), 40, dtype=np.uint64)}
        values |= {(1 << (bits - 1)) + int(rng.integers(0, 1 << min(bits - 1, 62)))}
    fn = getattr(micro_ops, kind)
    for n in sorted(v for v in values if v < (1 << top)):
        if kind == "sqrt32":
            want = _c_sqrt(n, 0xFFFF)
        else:
            want = _c_sqrt(n, 0xFFFF) if n < (1 << 32) else _c_sqrt(n, 0xFFFFFFFF) & 0xFFFFFFFF
        got = fn(n if n < (1 << 63) else n - (1 << 64))  # sqrt64 takes the bits as int64
        assert got == want, n
