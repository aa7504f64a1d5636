"""Train the bundled gesture model: a streaming activity classifier on real IMU data.

Data: BasicMotions, shipped inside the ``aeon`` package (no download): a smart
watch's 3-axis accelerometer + 3-axis gyroscope at 10 Hz, 100 frames (10 s) per
recording, four activities, 40 train / 40 test recordings.

Model (one frame in, one posterior out, state carried across frames)::

    x (6,) -> (x - mean) * inv_std -> GRU(32) -> Linear(4) -> Softmax

Normalization constants come from the training set and are folded into the
graph, so the ``.ern`` file is self-contained.  The loss is on every frame
(weighted toward later frames) so that the output is a usable prediction at any
point of the stream.  Before writing anything, the edgernn model streamed frame
by frame is checked against PyTorch (max abs error <= 1e-5).

    pip install aeon        # training only (it pins numba<0.64: see README.md)
    python demos/gesture/train.py         # writes runtime/models/gesture.ern + samples
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import edgernn
from edgernn.builder import GraphBuilder
from edgernn.demo import settle_frames

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "runtime" / "models"
LABELS = ["Standing", "Running", "Walking", "Badminton"]  # the dataset's @classLabel order
CHANNELS = ["accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z"]
SAMPLE_RATE_HZ = 10.0
SOURCE = "BasicMotions (aeon), trained by demos/gesture/train.py"
TOL = 1e-5


def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, 6) float32 frames and (N,) int64 class indices into LABELS."""
    from aeon.datasets import load_basic_motions  # reads the copy inside the package

    X, y = load_basic_motions(split=split)
    index = {name.lower(): k for k, name in enumerate(LABELS)}
    x = np.ascontiguousarray(np.transpose(X, (0, 2, 1)), dtype=np.float32)
    return x, np.array([index[str(v).lower()] for v in y], dtype=np.int64)


class GestureNet(nn.Module):
    """Per-frame normalization, one recurrent layer, a linear read-out (logits)."""

    def __init__(self, mean: np.ndarray, inv_std: np.ndarray, cell: str, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(mean))
        self.register_buffer("inv_std", torch.from_numpy(inv_std))
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = rnn(len(mean), hidden, batch_first=True)
        self.fc = nn.Linear(hidden, len(LABELS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, 6) -> (B, T, classes)
        return self.fc(self.rnn((x - self.mean) * self.inv_std)[0])


def frame_weights(T: int, ramp: int) -> torch.Tensor:
    """Loss weight per frame: rising linearly over the first ``ramp`` frames, then 1."""
    w = torch.clamp(torch.arange(1, T + 1, dtype=torch.float32) / ramp, max=1.0)
    return w / w.sum()


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random gain per recording and channel, small noise, and a random time shift
    (the stream may start anywhere in the activity)."""
    B, T, C = x.shape
    gain = 1 + 0.1 * torch.randn(B, 1, C, generator=gen)
    x = x * gain + 0.05 * x.std(dim=(0, 1)) * torch.randn(B, T, C, generator=gen)
    shifts = torch.randint(0, T, (B,), generator=gen)
    return torch.stack([torch.roll(x[b], int(shifts[b]), dims=0) for b in range(B)])


def train(model: GestureNet, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    w = frame_weights(x.shape[1], ramp=20)
    for _ in range(epochs):
        model.train()
        logits = model(augment(xt, gen))  # the whole training set is one batch
        ce = nn.functional.cross_entropy(logits.transpose(1, 2), yt[:, None].expand(-1, x.shape[1]),
                                         reduction="none")  # (B, T)
        loss = (ce * w).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()


def probs_of(model: GestureNet, x: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(x)), dim=-1).numpy()


def report(probs: np.ndarray, y: np.ndarray) -> None:
    """Accuracy at the last frame and after t frames; when predictions settle."""
    pred = probs.argmax(axis=-1)
    settle = settle_frames(pred)
    correct = pred[:, -1] == y
    acc_t = (pred == y[:, None]).mean(axis=0)
    print(f"  accuracy at the last frame   {correct.mean():.3f} ({correct.sum()}/{len(y)})")
    print("  accuracy after t frames     " + "  ".join(
        f"{t}:{acc_t[t - 1]:.2f}" for t in (5, 10, 20, 30, 50, 75, 100) if t <= len(acc_t)))
    if correct.any():
        s = settle[correct]
        print(f"  settled after (correct)     median {np.median(s):.0f} frames, "
              f"90% within {np.percentile(s, 90):.0f}, max {s.max()}")


def to_graph(model: GestureNet, cell: str) -> edgernn.Graph:
    """The same network as an edgernn graph (PyTorch gate orders, biases as PyTorch has them)."""
    p = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    b = GraphBuilder()
    x = b.input("imu", (len(CHANNELS),))
    h = b.add("Binary", [x, p["mean"]], {"fn": "Sub"}, name="center")
    h = b.add("Binary", [h, p["inv_std"]], {"fn": "Mul"}, name="scale")
    if cell == "gru":
        h = b.gru(h, p["rnn.weight_ih_l0"], p["rnn.weight_hh_l0"], p["rnn.bias_ih_l0"],
                  p["rnn.bias_hh_l0"], gate_order="rzn", linear_before_reset=True, name="gru")
    else:
        h = b.lstm(h, p["rnn.weight_ih_l0"], p["rnn.weight_hh_l0"],
                   p["rnn.bias_ih_l0"] + p["rnn.bias_hh_l0"], gate_order="ifgo", name="lstm")
    logits = b.dense(h, p["fc.weight"], p["fc.bias"], name="classifier")
    b.output(b.softmax(logits), "probs")
    return b.build(
        labels=LABELS, channels=CHANNELS, sample_rate_hz=SAMPLE_RATE_HZ, source=SOURCE,
        task="activity recognition from a wrist IMU, one posterior per frame",
    )


def check_streamed(graph: edgernn.Graph, x: np.ndarray, want: np.ndarray) -> float:
    """Max abs error of edgernn (step() per frame, and a batch of streams) vs PyTorch."""
    model = edgernn.Model(graph)
    err = 0.0
    for xi, wi in zip(x, want, strict=True):
        s = model.stream()
        got = np.stack([s.step(f) for f in xi])
        err = max(err, float(np.abs(got - wi).max()))
    batch = model.streams(len(x)).run(np.ascontiguousarray(x.transpose(1, 0, 2)))
    return max(err, float(np.abs(batch.transpose(1, 0, 2) - want).max()))


def interleave(y: np.ndarray) -> np.ndarray:
    """Indices taking one recording of each class in turn (so a prefix has every class)."""
    rank = np.zeros(len(y), np.int64)
    for k in np.unique(y):
        rank[y == k] = np.arange((y == k).sum())
    return np.lexsort((y, rank))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cell", choices=["gru", "lstm"], default="gru")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # determinism, and fast enough for this size
    t0 = time.perf_counter()
    x_tr, y_tr = load_split("train")
    x_te, y_te = load_split("test")
    mean = x_tr.mean(axis=(0, 1)).astype(np.float32)
    inv_std = (1.0 / x_tr.std(axis=(0, 1))).astype(np.float32)
    model = GestureNet(mean, inv_std, args.cell, args.hidden)
    train(model, x_tr, y_tr, args.epochs, args.seed)
    print(f"trained {args.cell.upper()}({args.hidden}) for {args.epochs} epochs "
          f"in {time.perf_counter() - t0:.1f} s")
    print("train:")
    report(probs_of(model, x_tr), y_tr)
    print("test:")
    want = probs_of(model, x_te)
    report(want, y_te)
    print("test, stream started mid-recording (frames 50..99 only):")
    report(probs_of(model, np.ascontiguousarray(x_te[:, 50:])), y_te)

    graph = to_graph(model, args.cell)
    err = check_streamed(graph, x_te, want)
    print(f"edgernn streamed vs PyTorch: max abs error {err:.2e} (limit {TOL:g})")
    if not err <= TOL:
        raise SystemExit("edgernn disagrees with PyTorch; nothing written")
    args.out.mkdir(parents=True, exist_ok=True)
    ern = edgernn.save(graph, args.out / "gesture.ern")
    err_file = check_streamed(edgernn.load(ern).graph, x_te, want)
    if not err_file <= TOL:
        raise SystemExit(f"the saved file disagrees with PyTorch ({err_file:.2e})")
    npz = args.out / "gesture_samples.npz"
    order = interleave(y_te)
    np.savez_compressed(npz, x=x_te[order], y=y_te[order], labels=np.array(LABELS),
                        index=order)
    for p in (ern, npz):
        print(f"wrote {p.relative_to(REPO) if p.is_relative_to(REPO) else p} "
              f"({p.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
