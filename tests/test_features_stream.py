"""Every front end: streamed in any blocks == offline, exactly; bad input leaves the state alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgernn import features
from edgernn.errors import InputError

SPECS = {
    "logmel": {"type": "logmel"},
    "logmel-dft": {"type": "logmel", "n_fft": 400, "win_length": 300, "hop_length": 100,
                   "log": "db"},
    "logmel-gap": {"type": "logmel", "n_fft": 128, "win_length": 100, "hop_length": 150,
                   "n_mels": 16},
    "mfcc": {"type": "mfcc", "lifter": 22.0},
    "micro": {"type": "micro"},
    "imu": {"type": "imu", "mean": [0.1, -0.2, 0.3], "std": [0.5, 1.5, 2.0]},
}
RNG = np.random.default_rng(11)
AUDIO = (0.3 * np.sin(np.arange(6000) * 0.05) * RNG.standard_normal(6000)).astype(np.float32)
IMU = RNG.standard_normal((500, 3)).astype(np.float32)


def _signal(fe, int16=False):
    x = IMU if fe.channels else AUDIO
    return np.clip(np.rint(x * 32768), -32768, 32767).astype(np.int16) if int16 else x


def _stream(fe, x, sizes):
    fe.reset()
    out, i = [], 0
    for n in sizes:
        out.append(fe.process(x[i:i + n]))
        i += n
    out.append(fe.process(x[i:]))
    return np.concatenate(out)


@pytest.mark.parametrize("name", SPECS)
@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(0, 700), max_size=30), int16=st.booleans())
def test_streamed_in_any_blocks_equals_offline(name, sizes, int16):
    fe = features.from_spec(SPECS[name])
    x = _signal(fe, int16)
    whole = fe.offline(x)
    streamed = _stream(fe, x, sizes)
    assert streamed.dtype == np.float32 and streamed.shape == whole.shape
    assert np.array_equal(streamed, whole)


@pytest.mark.parametrize("name", SPECS)
def test_frame_count_follows_hop_and_delay(name):
    fe = features.from_spec(SPECS[name])
    x = _signal(fe)
    seen = 0
    for n in range(1, min(len(x), 1200), 37):
        fe.reset()
        got = len(fe.process(x[:n]))
        assert got == max(0, (n - fe.delay) // fe.hop), n
        seen += got
    assert seen > 0
    assert fe.offline(x[:0]).shape == (0, fe.n_features)


@pytest.mark.parametrize("name", SPECS)
def test_offline_does_not_touch_the_stream(name):
    fe = features.from_spec(SPECS[name])
    x = _signal(fe)
    a = fe.process(x[:777])
    fe.offline(x[::-1].copy())
    b = fe.process(x[777:])
    assert np.array_equal(np.concatenate([a, b]), fe.offline(x))


def _bad_inputs(fe):
    x = _signal(fe)
    nan, inf, huge = x.copy(), x.copy(), x.astype(np.float64)
    nan[5] = np.nan
    inf[-1] = -np.inf
    huge[3] = 1e300  # finite in float64, Inf in float32
    wrong_shape = np.zeros((10, 2), np.float32) if not fe.channels else x[:, 0].copy()
    return [
        (nan, "NaN or Inf"), (inf, "NaN or Inf"), (huge, "NaN or Inf"),
        (x.astype(np.int32), "dtype int32"), (x.astype(np.complex64), "dtype complex64"),
        (x > 0, "dtype bool"), (wrong_shape, "got shape"), (np.float32(0.5), "got shape"),
    ]


@pytest.mark.parametrize("name", SPECS)
def test_bad_input_raises_input_error_and_leaves_state_unchanged(name):
    fe = features.from_spec(SPECS[name])
    x = _signal(fe)
    first = fe.process(x[:1000])
    for bad, needle in _bad_inputs(fe):
        with pytest.raises(InputError, match=needle):
            fe.process(bad)
    rest = fe.process(x[1000:])
    assert np.array_equal(np.concatenate([first, rest]), fe.offline(x))


def test_imu_channel_mismatch_message_says_the_shape():
    fe = features.from_spec(SPECS["imu"])
    with pytest.raises(InputError, match=r"\(n, 3\) IMU samples; got shape \(4, 2\)"):
        fe.process(np.zeros((4, 2), np.float32))


def test_lists_are_accepted_as_float64():
    fe = features.from_spec(SPECS["imu"])
    assert np.array_equal(fe.process([[1.0, 2.0, 3.0]]), fe.process(np.array([[1.0, 2, 3]])))


def test_imu_normalization_equals_numpy_float32():
    spec = SPECS["imu"]
    fe = features.from_spec(spec)
    mean, std = np.float32(spec["mean"]), np.float32(spec["std"])
    assert np.array_equal(fe.offline(IMU), (IMU - mean) / std)
    raw = (IMU * 3000).astype(np.int16)
    assert np.array_equal(fe.offline(raw), (raw.astype(np.float32) / 32768 - mean) / std)
    ref64 = (IMU.astype(np.float64) - spec["mean"]) / spec["std"]
    assert np.abs(fe.offline(IMU) - ref64).max() < 1e-6


def test_warmup_compiles_every_front_end():
    features.warmup()  # would raise on a kernel that does not compile
    for kind, fe_type in features.TYPES.items():
        assert fe_type.kind == kind


@pytest.mark.parametrize("name", SPECS)
def test_read_only_and_strided_input(name):
    fe = features.from_spec(SPECS[name])
    for x in (_signal(fe, int16=True), _signal(fe)):
        ro = np.frombuffer(x.tobytes(), x.dtype).reshape(x.shape)  # read-only, like wave data
        assert not ro.flags.writeable
        assert np.array_equal(fe.offline(ro), fe.offline(x))
        strided = np.repeat(x, 2, axis=0)[::2]
        assert np.array_equal(fe.offline(strided), fe.offline(x))
