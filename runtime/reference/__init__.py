"""The float64 reference: the executable spec every kernel is tested against.

* :mod:`.cells`: the recurrent cells (ONNX LSTM/GRU/RNN, Gemm) in ONNX layouts;
* :mod:`.ops`: the other ops (Conv, activations, Softmax, Reduce, LayerNorm);
* :mod:`.backend`: :class:`ReferenceStream`, whole graphs with the stream API
  (``model.stream(backend="reference")``), and :func:`evaluate`.

Only numpy; written from the operator specs, sharing no code with the kernels.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # the backend imports the op records: load it lazily
    if name in ("ReferenceStream", "evaluate"):
        from . import backend

        return getattr(backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ReferenceStream", "evaluate"]
