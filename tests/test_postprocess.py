"""Keyword and gesture detection: hand-derived sequences, a plain reference, long runs.

``tflm_reference`` is TFLM's RecognizeCommands::ProcessLatestResults written
out again over a Python list in integer milliseconds, with the two documented
differences (a threshold per label; ignored labels never fire nor reset the
suppression).  ``gesture_reference`` is the gesture rule as a plain loop.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from edgernn.errors import InputError
from edgernn.postprocess import Event, GestureDetector, KeywordDetector

LABELS = ["_silence_", "_unknown_", "yes", "no"]


def onehot(label: str, p: float = 1.0) -> np.ndarray:
    s = np.full(len(LABELS), (1 - p) / (len(LABELS) - 1))
    s[LABELS.index(label)] = p
    return s


def run(det, frames) -> list[Event]:
    return [e for t, s in frames for e in det.update(s, t)]


def test_constant_keyword_fires_then_is_suppressed():
    # window 1 s: reliable once 3 results span >= 0.25 s, i.e. at t = 0.3;
    # suppression 1.5 s: the same label again only when t - 0.3 > 1.5, i.e. at 1.9
    det = KeywordDetector(LABELS, threshold=0.8)
    events = run(det, [(k / 10, onehot("yes", 0.9)) for k in range(21)])
    assert [(e.time, e.label) for e in events] == [(0.3, "yes"), (1.9, "yes")]
    assert events[0].score == pytest.approx(0.9)


def test_another_label_fires_within_the_suppression():
    # window 0.2 s at 0.1 s frames: 3 entries; reliable once 2 span >= 0.05 s
    det = KeywordDetector(LABELS, threshold=0.6, window=0.2, min_count=1)
    frames = [(k / 10, onehot("yes" if k < 5 else "no")) for k in range(8)]
    events = run(det, frames)
    # t=0.5: yes 2/3 still on top (suppressed); t=0.6: no at 2/3 > 0.6 fires
    assert [(e.time, e.label) for e in events] == [(0.1, "yes"), (0.6, "no")]
    assert events[1].score == pytest.approx(2 / 3)


def test_ignored_labels_never_fire_nor_reset_the_suppression():
    det = KeywordDetector(LABELS, threshold=0.6, window=0.2, min_count=1)
    frames = [(k / 10, onehot("yes" if k < 5 or k >= 10 else "_silence_")) for k in range(25)]
    events = run(det, frames)
    # yes at 0.1; silence wins 0.6..1.0 but never fires; yes is back on top from 1.1
    # and fires again only when t - 0.1 > 1.5
    assert [(e.time, e.label) for e in events] == [(0.1, "yes"), (1.7, "yes")]
    assert run(KeywordDetector(LABELS, threshold=0.5),
               [(k / 10, onehot("_unknown_")) for k in range(30)]) == []


def test_per_label_thresholds():
    frames = [(k / 10, onehot("yes", 0.9)) for k in range(5)]
    assert run(KeywordDetector(LABELS, threshold=0.5, thresholds={"yes": 0.95}), frames) == []
    assert len(run(KeywordDetector(LABELS, threshold=0.95, thresholds={"yes": 0.85}),
                   frames)) == 1
    with pytest.raises(ValueError, match="unknown label 'maybe'"):
        KeywordDetector(LABELS, thresholds={"maybe": 0.5})


def tflm_reference(labels, frames, thr, window_ms, min_count, suppression_ms, ignored):
    results, events = [], []
    last_label, last_time = None, None
    for t_s, scores in frames:
        t = round(t_s * 1000)
        results.append((t, scores))
        results = [(rt, rs) for rt, rs in results if rt >= t - window_ms]
        if len(results) < min_count or t - results[0][0] < window_ms / 4:
            continue
        avg = [sum(rs[i] for _, rs in results) / len(results) for i in range(len(labels))]
        top = max(range(len(labels)), key=lambda i: (avg[i], -i))
        if labels[top] in ignored or not avg[top] > thr[top]:
            continue
        if last_label == top and t - last_time <= suppression_ms:
            continue
        last_label, last_time = top, t
        events.append((t_s, labels[top], avg[top]))
    return events


def random_posteriors(n: int, labels: int, seed: int, hop: float) -> list:
    rng = np.random.default_rng(seed)
    logits = np.cumsum(rng.normal(scale=0.6, size=(n, labels)), axis=0)
    logits -= logits.mean(axis=1, keepdims=True)
    p = np.exp(np.clip(logits, -30, 30))
    p /= p.sum(axis=1, keepdims=True)
    return [(round(k * hop, 3), p[k]) for k in range(n)]


@pytest.mark.parametrize("seed", range(6))
def test_keyword_detector_matches_reference_on_random_streams(seed):
    hop = [0.02, 0.032, 0.05][seed % 3]
    frames = random_posteriors(3000, len(LABELS), seed, hop)
    thr = {"yes": 0.6, "no": 0.7}
    det = KeywordDetector(LABELS, threshold=0.5, thresholds=thr, window=0.5, min_count=3,
                          suppression=0.8)
    got = [(e.time, e.label, e.score) for e in run(det, frames)]
    want = tflm_reference(LABELS, frames, [0.5, 0.5, 0.6, 0.7], 500, 3, 800,
                          {"_silence_", "_unknown_"})
    assert len(want) > 3, "the random stream should contain detections"
    assert [g[:2] for g in got] == [w[:2] for w in want]
    np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], rtol=1e-12)


def test_long_run_no_growth_no_drift():
    """50k frames at 0.1 s (~1.4 h): memory flat, a late burst = an early burst exactly."""
    det = KeywordDetector(LABELS, threshold=0.8, capacity=64)
    times, scores = det._times, det._scores
    quiet, burst = onehot("_silence_", 0.97), onehot("no", 0.93)

    def frames(start: int, count: int):
        for k in range(start, start + count):
            yield k / 10, burst if 100 <= k % 25000 < 115 else quiet

    early = run(det, frames(0, 1000))
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    run(det, frames(1000, 23000))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    late = run(det, frames(24000, 2000))
    assert growth < 64 * 1024
    assert det._times is times and det._scores is scores and det._size <= 64
    assert len(early) == len(late) == 1
    assert late[0].time == pytest.approx(early[0].time + 2500.0, abs=1e-9)
    assert late[0].score == early[0].score          # recomputed, not a drifting running sum


def test_bad_input_is_an_input_error():
    det = KeywordDetector(LABELS)
    with pytest.raises(InputError, match="expected 4 scores"):
        det.update(np.zeros(3), 0.0)
    with pytest.raises(InputError, match="NaN"):
        det.update(np.array([np.nan, 0, 0, 1]), 0.0)
    det.update(onehot("yes"), 1.0)
    with pytest.raises(InputError, match="backwards"):
        det.update(onehot("yes"), 0.5)


# ------------------------------------------------------------------ gestures
GESTURES = ["idle", "wave", "circle"]


def g(wave: float, circle: float = 0.0) -> np.ndarray:
    return np.array([max(0.0, 1 - wave - circle), wave, circle])


def test_gesture_fires_after_n_frames_then_waits_for_a_drop():
    det = GestureDetector(GESTURES, threshold=0.7, frames=3, ignore=["idle"])
    waves = [0.8, 0.9, 0.75, 0.8, 0.9, 0.6, 0.8, 0.8, 0.8, 0.8]
    events = run(det, [(k * 0.1, g(w)) for k, w in enumerate(waves)])
    assert [(round(e.time, 6), e.label) for e in events] == [(0.2, "wave"), (0.8, "wave")]
    assert events[0].score == pytest.approx((0.8 + 0.9 + 0.75) / 3)
    # an interrupted run never fires; idle is ignored even when certain
    det = GestureDetector(GESTURES, threshold=0.7, frames=3, ignore=["idle"])
    assert run(det, [(k * 0.1, g(w)) for k, w in enumerate([0.8, 0.9, 0.1, 0.8, 0.9, 0.0])]) == []


def test_gesture_release_hysteresis():
    det = GestureDetector(GESTURES, threshold=0.7, frames=2, release=0.3, ignore=["idle"])
    waves = [0.9, 0.9, 0.5, 0.9, 0.9, 0.2, 0.9, 0.9]
    events = run(det, [(k * 0.1, g(w)) for k, w in enumerate(waves)])
    # 0.5 is below the threshold but above the release: still latched
    assert [round(e.time, 6) for e in events] == [0.1, 0.7]


def gesture_reference(labels, frames, thr, n, release, ignored):
    run_, total, latched, events = [0] * len(labels), [0.0] * len(labels), \
        [False] * len(labels), []
    for t, s in frames:
        for c in range(len(labels)):
            if latched[c] and s[c] <= release:
                latched[c] = False
            if labels[c] in ignored or latched[c] or not s[c] > thr:
                run_[c], total[c] = 0, 0.0
                continue
            run_[c] += 1
            total[c] += s[c]
            if run_[c] == n:
                events.append((t, labels[c], total[c] / n))
                run_[c], total[c], latched[c] = 0, 0.0, True
    return events


@pytest.mark.parametrize("seed", range(4))
def test_gesture_detector_matches_reference_on_random_streams(seed):
    frames = random_posteriors(3000, 3, seed + 10, 0.02)
    det = GestureDetector(GESTURES, threshold=0.6, frames=4, release=0.4, ignore=["idle"])
    got = [(e.time, e.label, e.score) for e in run(det, frames)]
    want = gesture_reference(GESTURES, frames, 0.6, 4, 0.4, {"idle"})
    assert len(want) > 3
    assert [x[:2] for x in got] == [x[:2] for x in want]
    np.testing.assert_allclose([x[2] for x in got], [x[2] for x in want], rtol=1e-12)
