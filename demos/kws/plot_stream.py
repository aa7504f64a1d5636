"""Plot one streamed utterance: waveform, log-mel features, posteriors, threshold, events.

Everything comes from the live pipeline (``edgernn.pipeline.Pipeline``), fed one hop
(10 ms) at a time as a microphone would: the features are the front end's frames, the
posteriors the model's outputs, the smoothed line the keyword detector's window average
(what the threshold is compared with), and the markers the detections at their times.

    python demos/kws/plot_stream.py                    # the bundled kws_sample.wav
    python demos/kws/plot_stream.py --wav my.wav --out my.png --model kws_int8

Needs matplotlib (in the [dev] extra).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgernn.listen import bundled_sample
from edgernn.pipeline import Pipeline
from edgernn.sources import WavFile

HERE = Path(__file__).resolve().parent


def stream(model: str, wav: str) -> dict:
    """Per-frame times, features, posteriors, smoothed keyword score; the detections."""
    pipe = Pipeline([model])
    runner = pipe.runners[0]
    rec: dict = {"t": [], "feats": [], "probs": [], "avg": [], "events": [], "audio": []}
    with WavFile(wav, rate=int(pipe.rate), mono=True, block=pipe.hop) as src:
        for block in src:
            rec["audio"].append(block.data[:, 0])
            rec["events"] += pipe.push_block(block)
            for t, f, p in zip(pipe.last_times, pipe.last_feats, runner.last_scores,
                               strict=True):
                avg = runner.detector.average
                rec["t"].append(t)
                rec["feats"].append(f)
                rec["probs"].append(p)
                rec["avg"].append(np.full(len(p), np.nan) if avg is None else avg)
    out = {k: np.asarray(v) for k, v in rec.items() if k not in ("events", "audio")}
    out.update(events=rec["events"], audio=np.concatenate(rec["audio"]), rate=pipe.rate,
               labels=runner.labels, threshold=float(runner.detector.thresholds.max()),
               ignored=runner.detector.ignored)
    return out


def plot(r: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(3, 1, figsize=(10, 7.5), sharex=True,
                           gridspec_kw={"height_ratios": [1, 1.4, 1.6]})
    ta = np.arange(len(r["audio"])) / r["rate"]
    ax[0].plot(ta, r["audio"], lw=0.5, color="0.2")
    ax[0].set_ylabel("waveform")
    ax[1].imshow(r["feats"].T, origin="lower", aspect="auto", cmap="magma",
                 extent=(r["t"][0], r["t"][-1], 0, r["feats"].shape[1]))
    ax[1].set_ylabel("log-mel band")
    colors = plt.cm.tab10(np.arange(len(r["labels"])))
    for k, lab in enumerate(r["labels"]):
        if r["ignored"][k]:
            continue
        ax[2].plot(r["t"], r["probs"][:, k], lw=0.8, alpha=0.45, color=colors[k])
        ax[2].plot(r["t"], r["avg"][:, k], lw=1.8, color=colors[k], label=lab)
    ax[2].axhline(r["threshold"], ls="--", color="k", lw=1, label="threshold")
    for e in r["events"]:
        for a in ax:
            a.axvline(e.time, color="tab:red", lw=1.2)
        ax[2].annotate(f"{e.label} {e.score:.2f}", (e.time, 1.02), color="tab:red",
                       ha="center", va="bottom", annotation_clip=False)
    ax[2].set_ylim(0, 1)
    ax[2].set_ylabel("posterior (thin)\nwindow average (thick)")
    ax[2].set_xlabel("stream time (s)")
    ax[2].legend(loc="center left", ncol=4, fontsize=8)
    fig.suptitle(title, y=0.995)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wav", help="a WAV file (default: the bundled kws_sample.wav)")
    ap.add_argument("--model", default="kws")
    ap.add_argument("--out", type=Path, default=HERE / "stream.png")
    args = ap.parse_args()
    r = stream(args.model, args.wav or bundled_sample())
    events = ", ".join(f"{e.label} at {e.time:.2f} s" for e in r["events"]) or "none"
    plot(r, args.out, f"edgernn listen, model {args.model}: detections {events}")
    print(f"{args.out}: {len(r['t'])} frames; detections: {events}")


if __name__ == "__main__":
    main()
