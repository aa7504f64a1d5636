"""The ONNX source model as the reference of ``verify`` (a :class:`~..verify.Runner`).

onnxruntime runs the model.  It refuses recurrent ops with ``layout=1``, and the
ONNX reference evaluator ignores their ``clip``, so such a model runs as its
layout-0 twin: each layout-1 LSTM/GRU/RNN set to layout 0 between Transposes of
X, initial_h/c and Y, Y_h/Y_c - the same function.  Where onnxruntime still
refuses a model, the reference evaluator stands in.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper

from .graph import RECURRENT, attrs_of, data_inputs, declared_dims, load_model

#: layout 1 -> 0 for inputs (X [B,T,I] -> [T,B,I]; initial_h/c [B,D,H] -> [D,B,H]), and
#: layout 0 -> 1 for outputs (Y [T,D,B,H] -> [B,T,D,H]; Y_h/Y_c [D,B,H] -> [B,D,H])
TO_LAYOUT0 = {0: (1, 0, 2), 5: (1, 0, 2), 6: (1, 0, 2)}
FROM_LAYOUT0 = {0: (2, 0, 1, 3), 1: (1, 0, 2), 2: (1, 0, 2)}


class OnnxRunner:
    """The source model: onnxruntime, or the reference evaluator where onnxruntime refuses."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model, self.reference, self._ort = model, "onnxruntime", None
        twin = layout0_twin(model)
        if twin is not None:
            self.reference = ("onnxruntime (layout=1 recurrent ops run as layout 0 between "
                              "Transposes)")
        try:
            import onnxruntime as ort

            ort.set_default_logger_severity(4)
            so = ort.SessionOptions()
            so.log_severity_level = 4
            self._ort = ort.InferenceSession((twin or model).SerializeToString(), so,
                                             providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - anything onnxruntime rejects
            self._use_reference()

    def _use_reference(self) -> None:
        from onnx.reference import ReferenceEvaluator

        self._ort, self.reference = None, "the ONNX reference evaluator (onnxruntime refused)"
        self._ref = ReferenceEvaluator(self.model)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in self.model.graph.output]
        if self._ort is not None:
            try:
                return dict(zip(names, self._ort.run(None, feeds), strict=True))
            except Exception:  # noqa: BLE001
                self._use_reference()
        with np.errstate(all="ignore"):
            return dict(zip(names, self._ref.run(None, feeds), strict=True))

    def free_time(self, time_axes: dict[str, int], frames: int) -> OnnxRunner | None:
        """The model with its fixed sequence length made symbolic, if it then runs on
        ``frames`` frames."""
        free = onnx.ModelProto()
        free.CopyFrom(self.model)
        for vi in free.graph.input:
            if vi.name in time_axes:
                vi.type.tensor_type.shape.dim[time_axes[vi.name]].dim_param = "time"
        for vi in free.graph.output:
            vi.type.tensor_type.ClearField("shape")
        del free.graph.value_info[:]
        try:
            rng = np.random.default_rng(0)
            feeds = {}
            for vi in data_inputs(free):
                dims = [frames if d == "time" else (d if isinstance(d, int) and d > 0 else 1)
                        for d in declared_dims(vi)]
                feeds[vi.name] = rng.standard_normal(dims).astype(np.float32)
            runner = OnnxRunner(free)
            runner.run(feeds)
        except Exception:  # noqa: BLE001 - the fixed length is baked into the graph
            return None
        return runner


def layout0_twin(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """``model`` with every layout-1 recurrent op (main graph) at layout 0 between
    Transposes, or None if it has none."""
    nodes, changed = [], False
    for k, node in enumerate(model.graph.node):
        if node.op_type not in RECURRENT or not attrs_of(node).get("layout", 0):
            nodes.append(node)
            continue
        changed = True
        rec = onnx.NodeProto()
        rec.CopyFrom(node)
        next(a for a in rec.attribute if a.name == "layout").i = 0
        prefix = f"{node.name or node.op_type}_{k}/layout0"
        pre = [_transpose(rec.input, i, perm, f"{prefix}/in{i}", into=True)
               for i, perm in TO_LAYOUT0.items()]
        post = [_transpose(rec.output, i, perm, f"{prefix}/out{i}", into=False)
                for i, perm in FROM_LAYOUT0.items()]
        nodes += [n for n in pre if n] + [rec] + [n for n in post if n]
    if not changed:
        return None
    twin = onnx.ModelProto()
    twin.CopyFrom(model)
    del twin.graph.node[:]
    twin.graph.node.extend(nodes)
    return twin


def _transpose(names, i: int, perm: tuple[int, ...], temp: str,
               into: bool) -> onnx.NodeProto | None:
    """A Transpose feeding (``into``) or reading tensor ``names[i]`` through ``temp``."""
    if i >= len(names) or not names[i]:
        return None
    outer, names[i] = names[i], temp
    ins, outs = ([outer], [temp]) if into else ([temp], [outer])
    return helper.make_node("Transpose", ins, outs, name=temp, perm=list(perm))


def open_runner(src: str | os.PathLike | onnx.ModelProto) -> OnnxRunner:
    """The runner of an ONNX source (a path or a ModelProto)."""
    return OnnxRunner(src if isinstance(src, onnx.ModelProto) else load_model(src))
