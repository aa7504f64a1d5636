"""The ONNX source model as the reference of ``verify`` (a :class:`~..verify.Runner`).

onnxruntime runs the model; where it refuses a valid model (recurrent ops with
``layout=1``) the ONNX reference evaluator stands in.
"""

from __future__ import annotations

import os

import numpy as np
import onnx

from .graph import RECURRENT, data_inputs, declared_dims, load_model


class OnnxRunner:
    """The source model: onnxruntime, or the reference evaluator where onnxruntime refuses."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model, self.reference, self._ort = model, "onnxruntime", None
        if any(n.op_type in RECURRENT and any(
                a.name == "layout" and a.i == 1 for a in n.attribute) for n in model.graph.node):
            self._use_reference()  # onnxruntime: "layout == 1 ... not supported"
            return
        try:
            import onnxruntime as ort

            ort.set_default_logger_severity(4)
            so = ort.SessionOptions()
            so.log_severity_level = 4
            self._ort = ort.InferenceSession(model.SerializeToString(), so,
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


def open_runner(src: str | os.PathLike | onnx.ModelProto) -> OnnxRunner:
    """The runner of an ONNX source (a path or a ModelProto)."""
    return OnnxRunner(src if isinstance(src, onnx.ModelProto) else load_model(src))
