"""The streaming resampler against scipy.signal.resample_poly and a float64 definition.

References: ``scipy.signal.firwin`` designs the same Kaiser-windowed sinc
independently; ``resample_poly`` applies it; ``reference`` below evaluates
``y[k] = sum_n x[n] h[k*down + half - n*up]`` term by term in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgernn.resample import BETA, ROLLOFF, ZERO_CROSSINGS, Resampler, design_filter, resample

signal = pytest.importorskip("scipy.signal")

RATES = [(44100, 16000), (48000, 16000), (8000, 16000), (22050, 16000), (16000, 16000),
         (16000, 8000)]


def firwin_filter(up: int, down: int) -> np.ndarray:
    m = max(up, down)
    taps = 2 * ZERO_CROSSINGS * m + 1
    return signal.firwin(taps, ROLLOFF / m, window=("kaiser", BETA)) * up


def reference(x: np.ndarray, up: int, down: int, h: np.ndarray) -> np.ndarray:
    """The definition in float64, one output at a time."""
    half = (len(h) - 1) // 2
    n_out = -(-len(x) * up // down)
    y = np.zeros(n_out)
    n = np.arange(len(x))
    for k in range(n_out):
        j = k * down + half - n * up
        ok = (j >= 0) & (j < len(h))
        y[k] = np.dot(x[ok].astype(np.float64), h[j[ok]])
    return y


def ratio(a: int, b: int) -> tuple[int, int]:
    from math import gcd
    g = gcd(a, b)
    return b // g, a // g


@pytest.mark.parametrize("in_rate,out_rate", RATES[:5])
def test_filter_equals_firwin(in_rate, out_rate):
    up, down = ratio(in_rate, out_rate)
    if up == down:
        return
    np.testing.assert_allclose(design_filter(up, down), firwin_filter(up, down), atol=1e-12)


@pytest.mark.parametrize("in_rate,out_rate", RATES)
def test_whole_signal_equals_resample_poly(in_rate, out_rate):
    rng = np.random.default_rng(in_rate + out_rate)
    x = rng.uniform(-1, 1, size=(in_rate // 10, 2)).astype(np.float32)
    up, down = ratio(in_rate, out_rate)
    y = resample(x, in_rate, out_rate)
    if up == down:
        np.testing.assert_array_equal(y, x)
        return
    want = signal.resample_poly(x.astype(np.float64), up, down, axis=0,
                                window=firwin_filter(up, down) / up)
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, atol=2e-6)


@pytest.mark.parametrize("in_rate,out_rate", [(44100, 16000), (8000, 16000), (48000, 16000)])
def test_equals_definition_float64(in_rate, out_rate):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=700).astype(np.float32)
    up, down = ratio(in_rate, out_rate)
    want = reference(x, up, down, firwin_filter(up, down))
    np.testing.assert_allclose(resample(x, in_rate, out_rate), want, atol=2e-6)


@settings(max_examples=40, deadline=None)
@given(rates=st.sampled_from(RATES), sizes=st.lists(st.integers(0, 700), min_size=1, max_size=12),
       seed=st.integers(0, 2**31))
def test_any_blocking_equals_whole_exactly(rates, sizes, seed):
    in_rate, out_rate = rates
    x = np.random.default_rng(seed).uniform(-1, 1, size=(sum(sizes), 1)).astype(np.float32)
    r = Resampler(in_rate, out_rate)
    parts, pos = [], 0
    for n in sizes:
        parts.append(r.process(x[pos: pos + n]))
        pos += n
    parts.append(r.flush())
    np.testing.assert_array_equal(np.concatenate(parts), resample(x, in_rate, out_rate))


def test_streaming_latency_is_half_filter():
    r = Resampler(48000, 16000)
    # output 0 (at the time of input 0) needs inputs 0 .. half/up = delay
    assert len(r.process(np.zeros((r.delay, 1), np.float32))) == 0
    assert len(r.process(np.zeros((1, 1), np.float32))) == 1


def test_skip_counts_outputs_and_keeps_totals():
    r = Resampler(44100, 16000)
    got = len(r.process(np.zeros((1000, 1), np.float32)))
    got += r.skip(4410)
    got += len(r.process(np.zeros((777, 1), np.float32)))
    got += len(r.flush())
    assert got == -(-(1000 + 4410 + 777) * 160 // 441)


def _response_db(h: np.ndarray, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    mag = np.abs(np.fft.rfft(h / h.sum(), n_fft))
    return np.linspace(0, 1, len(mag)), 20 * np.log10(np.maximum(mag, 1e-300))


@pytest.mark.parametrize("in_rate,out_rate", [(44100, 16000), (48000, 16000), (8000, 16000)])
def test_stopband_and_passband(in_rate, out_rate):
    """>= 80 dB from 0.98 of the lower Nyquist up; within 0.001 dB up to 0.8 of it."""
    up, down = ratio(in_rate, out_rate)
    m = max(up, down)
    f, db = _response_db(design_filter(up, down), 1 << 22)   # f: fraction of up-rate Nyquist
    lower_nyquist = 1.0 / m
    assert db[f >= 0.98 * lower_nyquist].max() <= -80.0
    assert np.abs(db[f <= 0.8 * lower_nyquist]).max() <= 1e-3


def test_aliasing_of_a_tone_above_nyquist():
    """A 9 kHz tone at 48 kHz -> 16 kHz would alias to 7 kHz: it must be 80 dB down."""
    t = np.arange(48000) / 48000
    tone = np.sin(2 * np.pi * 9000 * t).astype(np.float32)
    ok = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    y_bad = resample(tone, 48000, 16000)[2000:-2000]
    y_ok = resample(ok, 48000, 16000)[2000:-2000]
    assert 20 * np.log10(np.abs(y_bad).max() / np.abs(y_ok).max()) < -80


def test_bad_rates_and_shapes():
    with pytest.raises(ValueError, match="positive integers"):
        Resampler(44100.5, 16000)
    r = Resampler(48000, 16000, channels=2)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        r.process(np.zeros((10, 3), np.float32))
    r.flush()
    with pytest.raises(ValueError, match="reset"):
        r.process(np.zeros((10, 2), np.float32))
