"""Model: an immutable, verified graph with its plan; the factory of streams."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFormatError
from .ir import Graph, GraphError
from .ops.base import NoKernelError
from .plan import Plan
from .stream import Stream
from .weightfile import load_graph
from .weightfile import save as _save


class Model:
    """A loaded model.  Immutable and shareable: streams hold all mutable state."""

    def __init__(self, graph: Graph, *, source: str | None = None) -> None:
        self.graph = graph
        self.source = source
        self.plan = Plan(graph)
        try:  # bind once: every index map and kernel argument is checked at load time
            Stream(self.plan)
        except GraphError:
            raise
        except (TypeError, ValueError, KeyError, IndexError) as e:
            raise GraphError(f"the graph cannot be bound to kernels: {e}") from None

    @property
    def inputs(self) -> dict[str, tuple[int, ...]]:
        """Input names and their frame shapes."""
        return {v.name: v.shape for v in self.graph.inputs}

    @property
    def outputs(self) -> dict[str, tuple[int, ...]]:
        """Output names and their frame shapes."""
        return {name: self.graph.shape(name) for name in self.graph.outputs}

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.graph.metadata)

    @property
    def labels(self) -> list[str] | None:
        """Class labels stored with the model, if any."""
        labels = self.graph.metadata.get("labels")
        return list(labels) if labels else None

    def stream(self, backend: str = "numba") -> Stream:
        """A new stream with zero (initial) state; frames have no batch axis.

        ``backend="reference"`` runs every op in float64 numpy from its spec (slow; for
        checking results: "is it my model or the kernels?")."""
        return _backend(backend)(self.plan)

    def streams(self, n: int, backend: str = "numba") -> Stream:
        """``n`` independent streams advanced together; frames are ``(n, *frame_shape)``."""
        return _backend(backend)(self.plan, batch=n)

    def run(self, frames: Any = None, /, **inputs: Any) -> np.ndarray | dict:
        """Run a whole sequence through a fresh stream."""
        return self.stream().run(frames, **inputs)

    def save(self, path: str | os.PathLike) -> Path:
        return _save(self.graph, path)

    def __repr__(self) -> str:
        ops = ", ".join(op.kind for op in self.graph.ops)
        return f"<edgernn.Model {self.inputs} -> {self.outputs}: {ops}>"


BACKENDS = ("numba", "reference")


def _backend(name: str) -> type:
    if name == "numba":
        return Stream
    if name == "reference":
        from .reference.backend import ReferenceStream

        return ReferenceStream
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def load(path: str | os.PathLike) -> Model:
    """Load an ``.ern`` file (memory-mapped); raise ModelFormatError if it is unusable."""
    graph = load_graph(path)
    try:
        return Model(graph, source=str(path))
    except NoKernelError:
        raise  # the file is fine; this runtime lacks a kernel (the message says which)
    except GraphError as e:
        raise ModelFormatError(f"{path}: the model is inconsistent ({e}). Re-convert it.") from None


def save(graph: Graph | Model, path: str | os.PathLike) -> Path:
    """Write a graph (or a model's graph) as an ``.ern`` file."""
    return _save(graph.graph if isinstance(graph, Model) else graph, path)
