"""Long-run guard: 10^6 frames (28 hours of 10 Hz IMU) through one pipeline, never reset.

Two models share the (identity) IMU front end: the bundled gesture GRU, whose state
must stay finite and inside [-1, 1] with no guard action, and a hand-built LSTM whose
cell state grows by ``sigmoid(10) * tanh(10)`` every frame without bound (input and
forget gates held open).  The guard must catch that one: its state is put back every
time it passes ``state_bound``, so it stays bounded too.  The expected cell value is
computed here from the LSTM equations, frame count by frame count.
"""

from __future__ import annotations

import numpy as np

from edgernn.builder import GraphBuilder
from edgernn.demo import bundled_model, load_samples
from edgernn.model import Model, load
from edgernn.pipeline import Pipeline

FRAMES = 1_000_000
BLOCK = 5000
BOUND = 1e4
HIDDEN = 2


def runaway_lstm() -> Model:
    """x (6,) -> LSTM(2) with all gates saturated open: c grows ~1 per frame."""
    b = GraphBuilder()
    x = b.input("imu", (6,))
    W = np.zeros((4 * HIDDEN, 6), np.float32)
    R = np.zeros((4 * HIDDEN, HIDDEN), np.float32)
    h = b.lstm(x, W, R, np.full(4 * HIDDEN, 10.0, np.float32), gate_order="ifgo")
    b.output(b.softmax(h), "probs")
    return Model(b.build(labels=["a", "b"], sample_rate_hz=10.0,
                         detector={"type": "gesture", "threshold": 0.99, "frames": 3}))


def cell_after(frames: int) -> float:
    """c_t = f*c_{t-1} + i*g from zero, with i = f = sigmoid(10), g = tanh(10) (float64)."""
    s, g = 1 / (1 + np.exp(-10.0)), np.tanh(10.0)
    return i_g_sum(s, s * g, frames)


def i_g_sum(f: float, step: float, n: int) -> float:
    return step * (1 - f ** n) / (1 - f)


def test_a_million_frames_stay_finite_and_bounded():
    data = load_samples()["x"].reshape(-1, 6).astype(np.float32)  # 4000 real frames
    gesture = load(bundled_model("gesture"))
    pipe = Pipeline([gesture, runaway_lstm()], names=["gesture", "runaway"],
                    guard_every=1000, state_bound=BOUND)
    rng = np.random.default_rng(0)
    since_reset = 0
    resets_expected = 0
    for start in range(0, FRAMES, BLOCK):
        block = data[np.arange(start, start + BLOCK) % len(data)]
        pipe.push(block + rng.normal(0, 0.05, block.shape).astype(np.float32))
        since_reset += BLOCK
        if cell_after(since_reset) > BOUND:  # checked once per block (>= guard_every)
            resets_expected += 1
            since_reset = 0
    s = pipe.summary()
    assert s["frames"] == FRAMES
    g = pipe.runners[0].stream.get_state()
    for k, v in g.items():
        if k != "frames":
            assert np.isfinite(v).all() and np.abs(v).max() <= 1.0
    assert s["models"]["gesture"]["guard_resets"] == 0
    assert s["models"]["gesture"]["steps"] == FRAMES
    assert s["models"]["runaway"]["guard_resets"] == resets_expected > 0
    r = pipe.runners[1].stream.get_state()
    cells = [np.abs(v).max() for k, v in r.items() if k != "frames"]
    assert abs(max(cells) - cell_after(since_reset)) <= 1e-3 * cell_after(since_reset)
