"""Quantize the bundled gesture model in every scheme: test accuracy, file size, agreement.

The model (GRU on real IMU data, see train.py) is evaluated on the 40 BasicMotions test
recordings bundled with the package; int8-full is calibrated on the 40 *training*
recordings (read from the aeon wheel by basicmotions.py), so the test set stays unseen.

    python demos/gesture/quantize.py            # prints the table
    python demos/gesture/quantize.py --write    # also writes runtime/models/gesture-int8.ern

The README's quantization table is this script's output.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

import edgernn
from edgernn.converters.quantize import SCHEMES, QuantizationError, quantize
from edgernn.converters.quantize.report import assess
from edgernn.demo import bundled_model, load_samples

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "runtime" / "models" / "gesture-int8.ern"


def calibration() -> list[np.ndarray] | None:
    """The training recordings as calibration sequences, or None when unavailable."""
    sys.path.insert(0, str(HERE))
    from basicmotions import load_split

    try:
        x, _ = load_split("train")
    except RuntimeError as e:
        print(f"note: int8-full skipped: {e}", file=sys.stderr)
        return None
    return list(x)


def rows(graph: edgernn.Graph, calib) -> list[tuple]:
    samples = load_samples()
    name = graph.inputs[0].name
    seqs = [{name: rec} for rec in samples["x"]]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        edgernn.save(graph, Path(tmp) / "none.ern")
        base = (Path(tmp) / "none.ern").stat().st_size
        for scheme in SCHEMES:
            try:
                q = quantize(graph, scheme, calibration=calib)
            except (QuantizationError, ImportError) as e:
                print(f"note: {scheme} skipped: {e}", file=sys.stderr)
                continue
            edgernn.save(q, Path(tmp) / f"{scheme}.ern")
            size = (Path(tmp) / f"{scheme}.ern").stat().st_size
            a = assess(graph, q, seqs, samples["y"])
            out.append((scheme, a, size, size / base))
    return out


def table(results: list[tuple]) -> str:
    lines = ["| scheme | test accuracy | vs fp32 | argmax agreement per frame | "
             "max abs error | .ern size | ratio |", "|---|---:|---:|---:|---:|---:|---:|"]
    base = next(a.accuracy_quant for s, a, *_ in results if s == "none")
    for scheme, a, size, ratio in results:
        name = "fp32" if scheme == "none" else scheme
        delta = 100 * (a.accuracy_quant - base)
        lines.append(f"| {name} | {100 * a.accuracy_quant:.1f} % | {delta:+.1f} pt | "
                     f"{100 * a.agreement:.1f} % | {a.max_abs:.3g} | {size:,} B | "
                     f"{ratio:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help=f"write {OUT.name}")
    args = ap.parse_args()
    graph = edgernn.load(bundled_model("gesture")).graph
    print(table(rows(graph, calibration())))
    if args.write:
        q = quantize(graph, "int8")
        q.metadata["source"] = graph.metadata.get("source", "") + "; int8 by quantize.py"
        edgernn.save(q, OUT)
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
