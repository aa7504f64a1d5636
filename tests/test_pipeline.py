"""Pipeline: front end -> models -> detectors, against a plain composition of the parts.

The reference is written out here: the front end's ``offline()`` over the whole signal
(tested against librosa elsewhere), the float64 reference backend
(``model.stream(backend="reference")``), and a fresh detector fed frame ``f`` at the
stream time ``(delay + (f+1)*hop) / rate``.  Properties: any split into blocks gives
the same detections; several models on one front end equal each model alone; the gate
skips exactly the frames whose level (numpy, here) is below it, and a reopened model
continues from its silence state ("reset") or from where it stopped ("carry").
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgernn import features
from edgernn.builder import GraphBuilder
from edgernn.errors import EdgeRNNError
from edgernn.gates import EnergyGate
from edgernn.model import Model
from edgernn.pipeline import Pipeline
from edgernn.postprocess import KeywordDetector

RATE = 16000
FRONTEND = {"type": "logmel", "n_mels": 16, "n_fft": 256, "win_length": 256}
LABELS = ["x", "a", "b"]
DETECTOR = {"type": "keyword", "threshold": 0.5, "window": 0.1, "min_count": 2,
            "suppression": 0.2}


def audio_model(seed: int, hidden: int = 8) -> Model:
    rng = np.random.default_rng(seed)
    r = lambda *s: (rng.standard_normal(s) * 0.4).astype(np.float32)  # noqa: E731
    b = GraphBuilder()
    x = b.input("feats", (16,))
    h = b.binary("Mul", b.binary("Add", x, np.full(16, 8.0, np.float32)),
                 np.full(16, 0.25, np.float32))
    h = b.gru(h, r(3 * hidden, 16), r(3 * hidden, hidden), r(3 * hidden), r(3 * hidden))
    b.output(b.softmax(b.dense(h, r(3, hidden) * 4, r(3))), "probs")
    spec = features.from_spec(FRONTEND).spec
    return Model(b.build(labels=LABELS, frontend=spec, detector=DETECTOR))


def signal(seed: int, seconds: float = 1.5) -> np.ndarray:
    """Noise bursts at changing levels with quiet gaps (so the gate has work to do)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    env = np.repeat(10 ** (rng.uniform(-80, -10, n // 1600 + 1) / 20), 1600)[:n]
    return (rng.standard_normal(n) * env).astype(np.float32)


def reference(model: Model, x: np.ndarray, threshold: float | None = None):
    """Detections and per-frame scores by the plain composition."""
    fe = features.from_spec(model.metadata["frontend"])
    feats = fe.offline(x)
    probs = model.stream(backend="reference").run(feats)
    det = KeywordDetector(LABELS, **{k: v for k, v in DETECTOR.items() if k != "type"}
                          | ({} if threshold is None else {"threshold": threshold}))
    times = (fe.delay + (np.arange(len(feats)) + 1) * fe.hop) / fe.sample_rate
    events = [(round(e.time, 6), e.label) for t, p in zip(times, probs, strict=True)
              for e in det.update(p, t)]
    return events, probs, times


def feed(pipe: Pipeline, x: np.ndarray, cuts: list[int]) -> list:
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(x)], strict=True):
        out += pipe.push(x[a:b])
    return out


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 50), cuts=st.lists(st.integers(0, 24000), max_size=6))
def test_detections_equal_the_plain_composition_for_any_blocks(seed, cuts):
    model = audio_model(seed)
    x = signal(seed)
    want, _, _ = reference(model, x)
    got = feed(Pipeline([model]), x, sorted(c for c in cuts if c < len(x)))
    assert [(round(d.time, 6), d.label) for d in got] == want
    assert want, "the test model should fire at least once"


def test_several_models_share_the_front_end_and_match_each_alone():
    models = [audio_model(1), audio_model(2, hidden=5)]
    x = signal(3)
    pipe = Pipeline(models, names=["one", "two"])
    got = feed(pipe, x, [5000, 5001, 17000])
    for name, m in zip(["one", "two"], models, strict=True):
        want, _, _ = reference(m, x)
        assert [(round(d.time, 6), d.label) for d in got if d.model == name] == want
    assert [d.time for d in got] == sorted(d.time for d in got)
    s = pipe.summary()
    assert s["frames"] == len(features.from_spec(FRONTEND).offline(x))
    assert s["detections"] == len(got)


def gate_mask(x: np.ndarray, open_db: float, hangover: int) -> np.ndarray:
    """Level of the last hop of each frame, with hangover, by a plain loop."""
    fe = features.from_spec(FRONTEND)
    n = (len(x) - fe.delay) // fe.hop
    ends = fe.delay + (np.arange(n) + 1) * fe.hop
    level = [10 * np.log10(np.mean(x[e - fe.hop:e].astype(np.float64) ** 2) + 1e-12)
             for e in ends]
    mask, left = [], 0
    for v in level:
        left = hangover + 1 if v > open_db else max(left - 1, 0)
        mask.append(left > 0)
    return np.array(mask)


@pytest.mark.parametrize("gated", ["reset", "carry"])
def test_gate_skips_quiet_frames_and_keeps_state_coherent(gated):
    model = audio_model(7)
    x = signal(8, 2.0)
    mask = gate_mask(x, -40.0, 3)
    assert 0.2 < mask.mean() < 0.8
    pipe = Pipeline([model], gate=EnergyGate(-40.0, hangover=3), gated=gated)
    scores = []
    for a in range(0, len(x), 999):
        pipe.push(x[a:a + 999])
        scores.append(pipe.runners[0].last_scores)
    got = np.concatenate(scores)
    assert pipe.runners[0].steps == mask.sum()
    assert pipe.summary()["gated_frames"] == (~mask).sum()
    feats = features.from_spec(FRONTEND).offline(x)
    ref = model.stream(backend="reference")
    want = np.empty_like(got)
    for f in range(len(feats)):
        if mask[f]:
            want[f] = ref.step(feats[f])
        else:
            want[f] = pipe.runners[0].idle
            if gated == "reset" and (f == 0 or mask[f - 1]):
                ref.set_state(pipe.runners[0].silence)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_gap_restarts_the_front_end_at_the_blocks_time():
    """After lost samples the front end starts over at the block's stream time; the
    model carries its state; detections are timed from the new anchor."""
    model = audio_model(11)
    x1, x2 = signal(12, 0.8), signal(13, 0.9)
    fe = features.from_spec(FRONTEND)
    ref = model.stream(backend="reference")
    p1 = ref.run(fe.offline(x1))
    f2 = fe.offline(x2)
    p2 = ref.run(f2)
    t1 = (fe.delay + (np.arange(len(p1)) + 1) * fe.hop) / RATE
    gap = 1234
    t_start = (len(x1) + gap) / RATE
    t2 = t_start + (fe.delay + (np.arange(len(p2)) + 1) * fe.hop) / RATE
    det = KeywordDetector(LABELS, **{k: v for k, v in DETECTOR.items() if k != "type"})
    want = [(round(e.time, 6), e.label) for t, p in zip(np.r_[t1, t2], np.r_[p1, p2],
                                                        strict=True)
            for e in det.update(p, t)]
    pipe = Pipeline([model])
    got = pipe.push(x1) + pipe.push(x2, time=t_start, dropped=gap)
    assert [(round(d.time, 6), d.label) for d in got] == want
    s = pipe.summary()
    assert s["gaps"] == 1 and s["dropped"] == gap and s["samples"] == len(x1) + len(x2)


def test_vad_gate_opens_where_the_vad_model_says():
    """A VAD model (sigmoid of the mean log-mel band) gates the keyword model."""
    from edgernn.gates import VadGate

    b = GraphBuilder()
    x = b.input("feats", (16,))
    h = b.dense(x, np.full((1, 16), 1 / 16, np.float32), np.array([9.0], np.float32))
    b.output(b.unary("Sigmoid", h), "p")
    vad = Model(b.build(frontend=features.from_spec(FRONTEND).spec))
    sig = signal(21, 2.0)
    feats = features.from_spec(FRONTEND).offline(sig)
    p = 1 / (1 + np.exp(-(feats.astype(np.float64).mean(axis=1) + 9.0)))
    active = p > 0.5
    assert 0.2 < active.mean() < 0.8
    pipe = Pipeline([audio_model(4)], gate=VadGate(vad, 0.5, hangover=0))
    pipe.push(sig)
    assert pipe.runners[0].steps == active.sum()
    np.testing.assert_array_equal(pipe.last_open, active)


def test_models_on_different_front_ends_are_refused():
    other = audio_model(5)
    spec = dict(other.metadata["frontend"], n_mels=16, log="db")
    b = GraphBuilder()
    x = b.input("feats", (16,))
    b.output(b.softmax(b.dense(x, np.ones((3, 16), np.float32))), "p")
    with pytest.raises(EdgeRNNError, match="different front ends"):
        Pipeline([other, Model(b.build(labels=LABELS, frontend=spec))])


def test_warmup_loads_every_front_end_kernel_and_the_resampler():
    """In a fresh process, `edgernn warmup`'s live-input stage alone makes every front-end
    kernel and the resampler's kernel ready (compiled, or loaded from the cache)."""
    import subprocess
    import sys

    code = """
from edgernn import features
from edgernn.resample import polyphase
from edgernn.warmup import live_input
kinds = [features.from_spec(s) for s in ({"type": "logmel"}, {"type": "mfcc"},
         {"type": "micro"}, {"type": "imu", "mean": [0.0], "std": [1.0]})]
kernels = {type(fe).__name__: fe._kernel for fe in kinds} | {"polyphase": polyphase}
assert not any(k.signatures for k in kernels.values()), "loaded before warmup"
live_input()
print(sorted(name for name, k in kernels.items() if not k.signatures))
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"
