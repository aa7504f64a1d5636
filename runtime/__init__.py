"""edgernn: streaming edge inference for recurrent networks.

>>> import edgernn
>>> model = edgernn.load("model.ern")      # immutable, shareable
>>> s = model.stream()                      # zero state
>>> y = s.step(frame)                       # one frame -> that frame's outputs
>>> Y = s.run(frames)                       # (T, ...) -> (T, ...), == T step() calls

Heavy parts (numba, kernels) load on first use, so ``import edgernn`` is cheap.
"""

from importlib import import_module
from typing import Any

from ._version import __version__
from .errors import EdgeRNNError, InputError, ModelFormatError, SourceError

_LAZY = {
    "Model": "model", "load": "model", "save": "model", "Stream": "stream",
    "Graph": "ir", "GraphError": "ir", "GraphBuilder": "builder",
}

__all__ = [
    "EdgeRNNError", "Graph", "GraphBuilder", "GraphError", "InputError", "Model",
    "ModelFormatError", "SourceError", "Stream", "__version__", "load", "save",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'edgernn' has no attribute {name!r}")
