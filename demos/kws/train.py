"""Train the bundled keyword spotter: a small causal CRNN on edgernn's own log-mel frames.

    python demos/kws/make_dataset.py     # once: espeak-ng clips -> ~/.cache/edgernn-data/kws
    python demos/kws/train.py            # ~20 min on a shared core: trains, exports, converts,
                                         # quantizes, evaluates, writes runtime/models/kws*.ern

Features are ``edgernn.features`` log-mel frames (``offline()`` on each training
stream), so the streamed features equal the trained ones.  Model::

    logmel (40,) -> (x - mean) * inv_std -> causal Conv1d(40->64, k3) -> ReLU
                 -> GRU(96) -> Linear(8) -> Softmax

trained frame by frame on 3 s mixed streams (``mix.py``), exported to ONNX, converted
with ``edgernn.converters.convert(verify=True)``, quantized to int8 weights, and
evaluated by ``evaluate.py`` on speakers never heard in training.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from mix import LABELS, Clips, Mixer
from torch import nn
from torch.nn import functional as F

from edgernn import features

HERE = Path(__file__).resolve().parent
MODELS = HERE.parents[1] / "runtime" / "models"
FRONTEND = {"type": "logmel", "n_mels": 40}
CLASS_WEIGHT = [0.5, 1.0] + [1.0] * (len(LABELS) - 2)


class KwsNet(nn.Module):
    """(B, T, 40) log-mel -> (B, T, classes) logits; causal at every layer."""

    def __init__(self, mean: np.ndarray, inv_std: np.ndarray, conv: int = 64,
                 hidden: int = 96) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(mean))
        self.register_buffer("inv_std", torch.from_numpy(inv_std))
        self.conv = nn.Conv1d(len(mean), conv, 3)
        self.gru = nn.GRU(conv, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, len(LABELS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = ((x - self.mean) * self.inv_std).transpose(1, 2)
        h = F.relu(self.conv(F.pad(h, (2, 0)))).transpose(1, 2)
        return self.fc(self.gru(h)[0])


class Posteriors(nn.Module):
    """What ships: softmax over the logits."""

    def __init__(self, net: KwsNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=-1)


def batch(mixer: Mixer, fe, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for _ in range(n):
        x, y = mixer.training_stream(3.0)
        xs.append(fe.offline(x))
        ys.append(y)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def normalization(mixer: Mixer, fe) -> tuple[np.ndarray, np.ndarray]:
    x, _ = batch(mixer, fe, 64)
    flat = x.reshape(-1, x.shape[-1]).numpy()
    return flat.mean(0).astype(np.float32), (1 / (flat.std(0) + 1e-3)).astype(np.float32)


def train(args: argparse.Namespace, clips: Clips) -> KwsNet:
    torch.manual_seed(args.seed)
    fe = features.from_spec(FRONTEND)
    mixer = Mixer(clips, args.seed)
    net = KwsNet(*normalization(mixer, fe), conv=args.conv, hidden=args.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=args.epochs * args.steps)
    weight = torch.tensor(CLASS_WEIGHT)
    t0 = time.time()
    for epoch in range(args.epochs):
        total = 0.0
        for _ in range(args.steps):
            x, y = batch(mixer, fe, args.batch)
            logits = net(x)
            loss = F.cross_entropy(logits.reshape(-1, len(LABELS)), y.reshape(-1),
                                   weight=weight, ignore_index=-1)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            total += float(loss.detach())
        print(f"epoch {epoch + 1:3d}  loss {total / args.steps:.4f}  {time.time() - t0:.0f} s",
              flush=True)
    return net.eval()


def export(net: KwsNet, path: Path) -> None:
    x = torch.zeros(1, 50, 40)
    torch.onnx.export(Posteriors(net), (x,), str(path), dynamo=False, opset_version=17,
                      input_names=["logmel"], output_names=["probs"],
                      dynamic_axes={"logmel": {0: "batch", 1: "time"},
                                    "probs": {0: "batch", 1: "time"}})


def convert_both(onnx_path: Path, metadata: dict) -> tuple:
    """The verified float graph and its int8 twin (weights int8 per row)."""
    from edgernn.converters import convert
    from edgernn.converters.quantize import quantize

    report = convert(str(onnx_path), verify=True, tolerance=1e-4, metadata=metadata)
    print(report)
    graph = report.graph
    return graph, quantize(graph, "int8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=90)
    ap.add_argument("--steps", type=int, default=25, help="batches per epoch")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--conv", type=int, default=64, help="conv channels")
    ap.add_argument("--hidden", type=int, default=96, help="GRU units")
    ap.add_argument("--results", type=Path, default=HERE / "results.json")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=MODELS)
    ap.add_argument("--work", type=Path, default=Path("/tmp/edgernn-kws"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    variants = Clips("train").variants
    args.val_variants = variants[::10]  # validation speakers: held out of training
    clips = Clips("train", voices=set(variants) - set(args.val_variants))
    net = train(args, clips)
    torch.save(net.state_dict(), args.work / "kws.pt")
    export(net, args.work / "kws.onnx")
    import evaluate

    evaluate.finish(args, sum(p.numel() for p in net.parameters()))


if __name__ == "__main__":
    main()
