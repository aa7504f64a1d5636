"""Probing: running the ONNX model on sample inputs to learn every tensor's shape and every
static value, inlining the If nodes whose condition turns out constant.

The probes run at two sequence lengths (batch 1) when some input has a free time
axis, else at one; a chunk axis (:mod:`.chunks`) takes its fixed size.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..errors import ConversionError, Problem, UnsupportedModelError
from .graph import dynamic_names, inline_static_ifs, probe
from .io import InputSpec
from .table import OpTable

PROBE_T = (6, 9)
HINTS = {
    "If": "its condition depends on input data",
    "Loop": "loops are not supported; export the recurrence as an LSTM/GRU/RNN op",
    "Scan": "scans are not supported; export the recurrence as an LSTM/GRU/RNN op",
}


def feeds(specs: list[InputSpec], t: int, rng) -> dict[str, np.ndarray]:
    """Random inputs (batch 1) with ``t`` frames on every free time axis."""
    out = {}
    for s in specs:
        sized = dict(s.sizes)
        dims = []
        for i, d in enumerate(s.dims):
            if isinstance(d, int) and d > 0:
                dims.append(d)
            elif i == s.time:
                dims.append(t)
            elif i == s.batch:
                dims.append(1)
            elif i in sized:
                dims.append(sized[i])
            else:
                raise ConversionError(
                    f"input {s.name!r}: axis {i} ({d!r}) has no fixed size and is neither time "
                    f"nor batch; give the layout, e.g. axes={{{s.name!r}: 'BTF'}} "
                    f"(--axes {s.name}=BTF), or its size (--frame {s.name}=N)")
        out[s.name] = rng.standard_normal(dims).astype(np.float32)
    return out


def probe_model(model: onnx.ModelProto, specs: list[InputSpec], label: str, table: OpTable):
    """Run the model at the probe lengths; inline constant Ifs until none is left."""
    dynamic_t = any(s.time is not None and not (isinstance(s.dims[s.time], int)
                                                and s.dims[s.time] > 0) for s in specs)
    ts = list(PROBE_T) if dynamic_t else [PROBE_T[0]]
    names = [s.name for s in specs]
    for _ in range(8):
        try:
            probes = probe(model, [feeds(specs, t, np.random.default_rng(k))
                                   for k, t in enumerate(ts)])
        except ConversionError:
            raise
        except Exception as e:  # noqa: BLE001 - the evaluator raises anything
            unknown = unknown_ops(model, names, table)
            if any(p.reason.startswith("no converter") for p in unknown):
                raise UnsupportedModelError(unknown, label) from None
            raise ConversionError(f"{label}: running the model on sample inputs failed "
                                  f"({type(e).__name__}: {e})") from None
        dynamic = dynamic_names(model.graph, names)
        if not inline_static_ifs(model, probes, dynamic):
            return probes
    raise ConversionError(f"{label}: too many nested If nodes")


def unknown_ops(model: onnx.ModelProto, names: list[str], table: OpTable) -> list[Problem]:
    """Refusals visible without running the model (when it cannot be run)."""
    dynamic = dynamic_names(model.graph, names)
    out = []
    for n in model.graph.node:
        if not any(o in dynamic for o in n.output):
            continue
        spec = table.get(n.op_type) if n.domain in ("", "ai.onnx") else None
        if spec is None:
            domain = f" (domain {n.domain!r})" if n.domain else ""
            why = HINTS.get(n.op_type, f"no converter for this op{domain}")
        else:
            why = spec.check(n) if spec.check else None
        if why:
            out.append(Problem(n.op_type, n.name, why))
    return out


