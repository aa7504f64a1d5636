"""The TFLite source model as the reference of ``verify`` (a :class:`~..verify.Runner`).

The LiteRT interpreter (``ai-edge-litert``, else ``tflite_runtime``) runs the model;
it is the reference here and in the tests, never the parser.  Integer models run on
TFLite's reference kernels (``BUILTIN_REF``), which edgernn's integer kernels follow
bit for bit; float models on the builtin kernels without the XNNPACK delegate.

State: a model with a time axis starts fresh on every ``run()`` (a new interpreter:
``reset_all_variables()`` clears variable tensors but not resource variables).  A
model without one (a step model: one invoke = one frame) carries its variables from
call to call, like a stream; a new runner is a fresh start.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ConversionError


def interpreter_class():
    """(Interpreter, OpResolverType, package name) of the installed TFLite interpreter."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        return Interpreter, OpResolverType, "ai-edge-litert"
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter, OpResolverType

            return Interpreter, OpResolverType, "tflite_runtime"
        except ImportError:
            raise ConversionError("verifying a TFLite model needs the TFLite interpreter: "
                                  "pip install ai-edge-litert") from None


class TFLiteRunner:
    """The interpreter on a model: ``run(feeds)`` by input name -> outputs by name."""

    def __init__(self, data: bytes, *, carry: bool, integer: bool,
                 names: tuple[dict[int, str], dict[int, str]], loops: bool = False) -> None:
        self.data, self.carry, self.integer, self.loops = data, carry, integer, loops
        self.in_names, self.out_names = names
        self._it, self._shapes = None, None
        self.cls, resolvers, pkg = interpreter_class()
        self.resolver = resolvers.BUILTIN_REF if integer else \
            resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        kind = "reference kernels" if integer else "builtin kernels, no delegate"
        self.reference = f"the TFLite interpreter ({pkg}, {kind})"

    def _new(self, shapes: dict[int, tuple[int, ...]]):
        it = self.cls(model_content=self.data, experimental_op_resolver_type=self.resolver)
        for d in it.get_input_details():
            want = shapes.get(d["index"])
            if want is not None and tuple(want) != tuple(d["shape"]):
                it.resize_tensor_input(d["index"], list(want), strict=False)
        it.allocate_tensors()
        return it

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        index = {n: i for i, n in self.in_names.items()}
        shapes = {index[k]: tuple(np.shape(v)) for k, v in feeds.items()}
        if self._it is None or not self.carry or shapes != self._shapes:
            self._it, self._shapes = self._new(shapes), shapes
        dtypes = {d["index"]: d["dtype"] for d in self._it.get_input_details()}
        for k, v in feeds.items():
            self._it.set_tensor(index[k], np.asarray(v).astype(dtypes[index[k]]))
        self._it.invoke()
        return {n: self._it.get_tensor(i).copy() for i, n in self.out_names.items()}

    def free_time(self, time_axes: dict[str, int], frames: int) -> TFLiteRunner | None:
        """The model with its inputs resized to ``frames`` frames, if it then runs (a WHILE
        loop's trip count is baked in: None)."""
        if self.loops:
            return None
        runner = TFLiteRunner(self.data, carry=self.carry, integer=self.integer,
                              names=(self.in_names, self.out_names))
        try:
            it = self.cls(model_content=self.data, experimental_op_resolver_type=self.resolver)
            feeds = {}
            for d in it.get_input_details():
                name = self.in_names[d["index"]]
                shape = list(d["shape"])
                if name in time_axes:
                    shape[time_axes[name]] = frames
                feeds[name] = np.zeros(shape, d["dtype"])
            runner.run(feeds)
        except Exception:  # noqa: BLE001 - the fixed length is baked into the graph
            return None
        return runner


def open_runner(src) -> TFLiteRunner:
    """The runner of a TFLite source (a path or bytes)."""
    from .io import input_specs, main_subgraph
    from .reader import read_tflite

    data = src if isinstance(src, bytes | bytearray) else Path(os.fspath(src)).read_bytes()
    model = read_tflite(data)
    index, ins, outs = main_subgraph(model)
    sg = model.subgraphs[index]
    specs = input_specs(model, index, ins, None)
    carry = all(s.time is None for s in specs)
    integer = any(sg.tensors[i].type_name != "FLOAT32" for i in (*sg.inputs, *sg.outputs))
    loops = any(op.opcode == "WHILE" for op in sg.operators)
    return TFLiteRunner(bytes(data), carry=carry, integer=integer, names=(ins, outs),
                        loops=loops)
