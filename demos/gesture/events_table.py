"""Gesture events on the 40 held-out BasicMotions recordings, float vs int8, as `edgernn imu`
computes them (the live pipeline: identity front end, model, GestureDetector).

Each recording is its own stream (10 s at 10 Hz, the pipeline reset between them).
A recording counts as *recognized* when its first event names its activity, *wrong*
when an event names another activity; latency is the stream time of the first
correct event.  The int8 model is ``edgernn.converters.quantize`` of the bundled one
(int8 weights per row).

    python demos/gesture/events_table.py        # prints a markdown table
"""

from __future__ import annotations

import numpy as np

from edgernn.converters.quantize import quantize
from edgernn.demo import bundled_model, load_samples
from edgernn.model import Model
from edgernn.pipeline import Pipeline
from edgernn.weightfile import load_graph


def events(model: Model, x: np.ndarray) -> list[list]:
    pipe = Pipeline([model])
    out = []
    for rec in x:
        pipe.reset()
        out.append(pipe.push(rec.astype(np.float32)))
    return out


def row(name: str, model: Model, x: np.ndarray, truth: list[str]) -> str:
    ev = events(model, x)
    first_ok = [bool(e) and e[0].label == t for e, t in zip(ev, truth, strict=True)]
    wrong = [any(d.label != t for d in e) for e, t in zip(ev, truth, strict=True)]
    lat = [next(d.time for d in e if d.label == t) for e, t in zip(ev, truth, strict=True)
           if any(d.label == t for d in e)]
    n = len(truth)
    n_wrong = sum(d.label != t for e, t in zip(ev, truth, strict=True) for d in e)
    per_hour = n_wrong / (n * x.shape[1] / 10 / 3600)
    return (f"| {name} | {sum(first_ok)}/{n} = {np.mean(first_ok):.3f} | "
            f"{sum(wrong)}/{n} | {np.median(lat):.1f} s (p90 {np.percentile(lat, 90):.1f} s) | "
            f"{per_hour:.0f} |")


def main() -> None:
    data = load_samples()
    x = data["x"]
    truth = [str(data["labels"][k]) for k in data["y"]]
    graph = load_graph(bundled_model("gesture"))
    print("| model | first event correct | recordings with a wrong event | first correct "
          "event after (median) | wrong events per hour |")
    print("|---|---:|---:|---:|---:|")
    print(row("gesture (float32)", Model(graph), x, truth))
    print(row("gesture int8 weights", Model(quantize(graph, "int8")), x, truth))


if __name__ == "__main__":
    main()
