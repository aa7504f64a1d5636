"""Front-end specs: defaults, JSON round trip, for_model, and the errors bad specs get."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import edgernn
from edgernn import features
from edgernn.errors import EdgeRNNError
from edgernn.features import FrontEndError

MINIMAL = [
    {"type": "logmel"},
    {"type": "mfcc"},
    {"type": "micro"},
    {"type": "imu", "mean": [0.0, 1.0, 2.0], "std": [1.0, 2.0, 3.0]},
]
CUSTOM = [
    {"type": "logmel", "sample_rate": 8000, "n_fft": 256, "win_length": 200, "hop_length": 80,
     "window": "hamming", "n_mels": 24, "fmin": 50, "fmax": 3800, "mel_scale": "htk",
     "mel_norm": None, "power": 1, "log": "db", "amin": 1e-4},
    {"type": "mfcc", "n_mfcc": 20, "lifter": 22, "log": "log", "log_offset": 1e-3},
    {"type": "micro", "window_ms": 25, "num_channels": 32, "pcan": False, "log": True},
    {"type": "imu", "sample_rate": 50, "mean": [0.5], "std": [2]},
]


@pytest.mark.parametrize("spec", MINIMAL + CUSTOM, ids=lambda s: s["type"])
def test_spec_round_trips_through_json(spec):
    fe = features.from_spec(spec)
    filled = features.spec_of(fe)
    assert filled["type"] == spec["type"]
    for k, v in spec.items():  # given values survive (ints given for floats become floats)
        assert filled[k] == v
    again = features.from_spec(json.loads(json.dumps(filled)))
    assert features.spec_of(again) == filled
    assert type(again) is type(fe)
    assert (again.hop, again.delay, again.n_features, again.sample_rate) == (
        fe.hop, fe.delay, fe.n_features, fe.sample_rate)


def test_defaults_are_the_documented_ones():
    lm = features.spec_of(features.from_spec({"type": "logmel"}))
    assert lm == {"type": "logmel", "sample_rate": 16000, "win_length": 400, "hop_length": 160,
                  "n_fft": 512, "window": "hann", "n_mels": 40, "fmin": 0.0, "fmax": 8000.0,
                  "mel_scale": "slaney", "mel_norm": "slaney", "power": 2, "log": "log",
                  "log_offset": 1e-6, "amin": 1e-10, "top_db": None}
    mf = features.spec_of(features.from_spec({"type": "mfcc"}))
    assert (mf["n_mfcc"], mf["lifter"], mf["log"]) == (13, 0.0, "db")
    mic = features.from_spec({"type": "micro"})  # pymicro-features' configuration
    assert (mic.hop, mic.delay, mic.n_features, mic.frame_rate) == (160, 320, 40, 100.0)
    assert features.spec_of(mic)["output_scale"] == 0.0390625
    # derived defaults follow the sample rate: 25 ms / 10 ms, next power of two
    s8 = features.spec_of(features.from_spec({"type": "logmel", "sample_rate": 8000}))
    assert (s8["win_length"], s8["hop_length"], s8["n_fft"], s8["fmax"]) == (200, 80, 256, 4000.0)


def test_properties():
    fe = features.from_spec({"type": "logmel", "n_fft": 512, "win_length": 400,
                             "hop_length": 160})
    assert (fe.sample_rate, fe.hop, fe.frame_rate, fe.n_features) == (16000, 160, 100.0, 40)
    assert fe.delay == 56 + 400 - 160  # librosa's centring skip + window - hop
    imu = features.from_spec({"type": "imu", "sample_rate": 50.0, "mean": [0, 0], "std": [1, 1]})
    assert (imu.hop, imu.delay, imu.frame_rate, imu.n_features) == (1, 0, 50.0, 2)


def _model_with(meta):
    b = edgernn.GraphBuilder()
    x = b.input("x", (3,))
    b.output(b.dense(x, np.eye(3, dtype=np.float32), np.zeros(3, np.float32)), "y")
    return edgernn.Model(b.build(**meta))


def test_for_model_reads_the_metadata(tmp_path):
    spec = features.spec_of(features.from_spec({"type": "mfcc", "n_mfcc": 10}))
    path = tmp_path / "m.ern"
    edgernn.save(_model_with({"frontend": spec}).graph, path)
    model = edgernn.load(path)
    fe = features.for_model(model)
    assert isinstance(fe, features.Mfcc) and features.spec_of(fe) == spec
    assert features.spec_of(features.for_model(model.metadata)) == spec
    assert features.for_model(_model_with({})) is None
    assert features.for_model({"labels": ["a"]}) is None
    with pytest.raises(TypeError):
        features.for_model(42)


BAD = [
    ({"type": "mel"}, "'type' must be one of"),
    ({"n_mels": 40}, "'type' must be one of"),
    ("logmel", "must be a dict"),
    ({"type": "logmel", "n_mel": 40}, "unknown key 'n_mel'; allowed keys:"),
    ({"type": "logmel", "n_mels": 0}, "'n_mels' must be an integer >= 1"),
    ({"type": "logmel", "n_mels": 40.0}, "'n_mels' must be an integer"),
    ({"type": "logmel", "n_mels": True}, "'n_mels' must be an integer"),
    ({"type": "logmel", "window": "hanning"}, "'window' must be one of 'hann', 'hamming'"),
    ({"type": "logmel", "mel_scale": "HTK"}, "'mel_scale' must be one of 'slaney', 'htk'"),
    ({"type": "logmel", "mel_norm": "l2"}, "'mel_norm' must be one of 'slaney', null"),
    ({"type": "logmel", "power": 3}, "'power' must be one of 2, 1"),
    ({"type": "logmel", "power": 2.0}, "'power' must be one of 2, 1"),
    ({"type": "logmel", "log": "ln"}, "'log' must be one of 'log', 'db', null"),
    ({"type": "logmel", "log_offset": 0}, "'log_offset' must be a finite number > 0.0"),
    ({"type": "logmel", "log": "db", "top_db": 80.0}, "'top_db' must be null (clipping"),
    ({"type": "logmel", "fmax": float("nan")}, "'fmax' must be a finite number"),
    ({"type": "logmel", "fmax": 9000}, "'fmax' (9000.0) must be <= sample_rate / 2"),
    ({"type": "logmel", "fmin": 4000, "fmax": 3000}, "'fmin' (4000.0) must be < 'fmax'"),
    ({"type": "logmel", "win_length": 600, "n_fft": 512}, "'win_length' (600) must be <="),
    ({"type": "mfcc", "n_mfcc": 50}, "'n_mfcc' (50) must be <= 'n_mels' (40)"),
    ({"type": "mfcc", "log": None}, "'log' must be one of 'log', 'db'"),
    ({"type": "micro", "pcan": 1}, "'pcan' must be true or false"),
    ({"type": "micro", "even_smoothing": 1.5}, "'even_smoothing' must be a finite number"),
    ({"type": "micro", "upper_band_limit": 9000}, "'upper_band_limit' <= sample_rate / 2"),
    ({"type": "imu", "std": [1.0]}, "missing required key 'mean'"),
    ({"type": "imu", "mean": [0.0, 0.0], "std": [1.0]}, "'std' must have one value per channel"),
    ({"type": "imu", "mean": [0.0], "std": [0.0]}, "every 'std' must be > 0"),
    ({"type": "imu", "mean": "0", "std": [1.0]}, "'mean' must be a list of finite numbers"),
    ({"type": "imu", "mean": [], "std": []}, "'mean' must list one value per channel"),
]


@pytest.mark.parametrize("spec, needle", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_specs_name_the_key_and_the_allowed_values(spec, needle):
    with pytest.raises(FrontEndError, match=re.escape(needle)) as e:
        features.from_spec(spec)
    assert isinstance(e.value, EdgeRNNError) and isinstance(e.value, ValueError)


def test_bad_spec_in_model_metadata_is_a_frontend_error():
    with pytest.raises(FrontEndError, match="unknown key 'colour'"):
        features.for_model({"frontend": {"type": "logmel", "colour": "red"}})


def test_classes_take_keys_and_numpy_scalars_but_not_another_type():
    fe = features.LogMel(n_mels=np.int64(24), fmax=np.float32(4000.0))
    assert (fe.n_features, fe.spec["fmax"]) == (24, 4000.0)
    assert type(fe.spec["n_mels"]) is int  # JSON-able
    json.dumps(fe.spec)
    with pytest.raises(FrontEndError, match="'logmel' front end cannot be made from a spec "
                                            "of type 'mfcc'"):
        features.LogMel({"type": "mfcc"})


def test_spec_of_is_a_copy():
    fe = features.from_spec({"type": "imu", "mean": [1.0], "std": [2.0]})
    s = features.spec_of(fe)
    s["mean"].append(5.0)
    assert features.spec_of(fe)["mean"] == [1.0]
    with pytest.raises(TypeError):
        features.spec_of({"type": "logmel"})
