"""ONNX -> edgernn IR.

* :mod:`.importer` - ``load_onnx``: the driver (probe, convert every node, clean up);
* :mod:`.graph` - reading the model: opset, dataflow, If inlining, probe runs;
* :mod:`.io` - each input's time/batch axes, state inputs paired with outputs;
* :mod:`.context` - what each ONNX tensor is per frame (``Dyn``), IR emission;
* :mod:`.table` - the op table: op type -> converter and properties; ``register_all``;
* :mod:`.ops`, :mod:`.reductions`, :mod:`.rnn`, :mod:`.conv`, :mod:`.frame_ops`,
  :mod:`.shape_ops`, :mod:`.index_ops` - the ops; :mod:`.cells` - LSTM cells spelled
  out in elementwise ops; :mod:`.consts`, :mod:`.chunks` - configuration inputs, chunk axes;
* :mod:`.states` - step models' explicit state -> streaming state;
* :mod:`.runner` - the source model as the reference of ``verify``.

:func:`register_format` adds ONNX to a :class:`~..formats.FormatRegistry`.
"""

from __future__ import annotations

import onnx

from ..formats import FormatRegistry, SourceFormat
from .importer import load_onnx
from .runner import OnnxRunner, open_runner
from .table import OpSpec, OpTable, default_table, register_all


def _is_model(src) -> bool:
    return isinstance(src, onnx.ModelProto)


def _magic(head: bytes) -> bool:
    """A serialized ModelProto starts with field 1 (ir_version, a small varint): 08 xx."""
    return len(head) > 1 and head[0] == 0x08 and 0 < head[1] < 0x80


FORMAT = SourceFormat("onnx", (".onnx",), magic=_magic, load=load_onnx, runner=open_runner,
                      accepts=_is_model)


def register_format(formats: FormatRegistry) -> None:
    """Register ONNX as a source format."""
    formats.register(FORMAT)


__all__ = ["FORMAT", "OnnxRunner", "OpSpec", "OpTable", "default_table", "load_onnx",
           "open_runner", "register_all", "register_format"]
