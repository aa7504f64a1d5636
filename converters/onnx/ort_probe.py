"""Probing with onnxruntime, where the ONNX reference evaluator cannot run a model.

The reference evaluator keeps every intermediate tensor but lacks some op variants
(measured with onnx 1.23: a 1-D MaxPool with pads, a grouped ConvTranspose).
onnxruntime runs those; this exposes every top-level tensor whose type shape
inference knows as a graph output and returns them all, like the evaluator's
``intermediate=True``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def probe_ort(model: onnx.ModelProto, feeds: list[dict[str, np.ndarray]]) -> list[dict]:
    """Every top-level tensor's value for each of ``feeds`` (see the module docstring)."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    inferred = onnx.shape_inference.infer_shapes(m)
    types = {v.name: v for v in inferred.graph.value_info}
    have = {o.name for o in m.graph.output}
    for node in m.graph.node:
        for name in node.output:
            if name and name not in have and name in types:
                vi = onnx.ValueInfoProto()
                vi.CopyFrom(types[name])
                vi.type.tensor_type.ClearField("shape")
                m.graph.output.append(vi)
                have.add(name)
    so = ort.SessionOptions()
    so.log_severity_level = 4
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = []
    for f in feeds:
        values = dict(init)
        values.update(f)
        values.update(zip(names, (np.asarray(v) for v in sess.run(None, f)), strict=True))
        out.append(values)
    return out
