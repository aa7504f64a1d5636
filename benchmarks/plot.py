"""The README's plot: µs per frame per model and runtime, from ``results.json``.

    python benchmarks/plot.py            # after bench_step.py; writes benchmarks/step.png

Needs matplotlib (in the dev extra).  Bars: edgernn fp32 and int8 ``step``, the
TFLite interpreter, onnxruntime fed one frame at a time, PyTorch; the machine the
numbers came from is in the title.
"""

from __future__ import annotations

import json
import sys

import common

PEERS = ("edgernn step", "edgernn int8 step", "TFLite step", "ORT step", "PyTorch step")


def main(argv: list[str] | None = None) -> int:
    import argparse
    import io

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_quick(ap)
    args = ap.parse_args(argv)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot.py needs matplotlib: pip install matplotlib")
    source = common.RESULTS.with_suffix(".json")
    if not source.exists():
        print(f"no {source}: run bench_step.py first")
        return 0 if args.quick else 1
    data = json.loads(source.read_text())
    res = data["results"]
    models = list(res)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(PEERS)
    for i, peer in enumerate(PEERS):
        vals = [res[m][peer][0] if peer in res[m] else 0 for m in models]
        bars = ax.bar([j + i * width for j in range(len(models))], vals, width, label=peer)
        ax.bar_label(bars, fmt="%.1f", fontsize=6)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(models))])
    ax.set_xticklabels([common.SPECS[m].title.split(" + ")[0] for m in models], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("µs per frame (median, log scale)")
    cpu = data["machine"].splitlines()[0].removeprefix("- CPU: ")
    ax.set_title(f"Streaming one frame per call, 1 thread — {cpu}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if args.quick:  # draw, write nothing
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=60)
        print(f"{len(buf.getvalue())} bytes of PNG (not written: --quick)")
        return 0
    out = common.HERE / "step.png"
    fig.savefig(out, dpi=120)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
