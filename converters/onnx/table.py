"""The ONNX op table: op type -> converter function and the op's properties.

Each op module registers its ops explicitly in ``register(table)``, declaring
there what the rest of the importer needs to know about an op:

* ``pass_through``: the op keeps its input's axes in place, so finding an
  input's time/batch axes may trace through it (:mod:`.io`); a callable
  decides from the node's attributes (``ReduceMean`` only with ``keepdims``);
* ``check``: a refusal visible without running the model (``direction`` of a
  recurrent op), used when the model cannot be probed.

:func:`register_all` fills a table with every op of this package.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import onnx

from . import conv, frame_ops, index_ops, ops, reductions, rnn, shape_ops
from .graph import attrs_of

Converter = Callable[..., None]  # (ctx: Context, node: onnx.NodeProto) -> None


@dataclass(frozen=True)
class OpSpec:
    """One ONNX op type: its converter and properties."""

    name: str
    convert: Converter
    pass_through: bool | Callable[[dict], bool] = False
    check: Callable[[onnx.NodeProto], str | None] | None = None


class OpTable:
    """ONNX op types of the default domain -> :class:`OpSpec`."""

    def __init__(self) -> None:
        self._specs: dict[str, OpSpec] = {}

    def add(self, convert: Converter, name: str = "", **properties) -> None:
        """Register ``convert`` for op type ``name`` (default: the function's name)."""
        name = name or convert.__name__
        if name in self._specs:
            raise ValueError(f"ONNX op {name!r} is registered twice")
        self._specs[name] = OpSpec(name, convert, **properties)

    def get(self, op_type: str) -> OpSpec | None:
        return self._specs.get(op_type)

    def __contains__(self, op_type: str) -> bool:
        return op_type in self._specs

    def __iter__(self):
        return iter(self._specs.values())

    def passes_through(self, node: onnx.NodeProto) -> bool:
        """Does ``node`` keep its first input's axes in place (see the module docstring)?"""
        spec = self._specs.get(node.op_type)
        if spec is None or not spec.pass_through:
            return False
        return spec.pass_through is True or bool(spec.pass_through(attrs_of(node)))


def register_all(table: OpTable) -> OpTable:
    """Add every ONNX op this package converts to ``table``; returns it."""
    for module in (ops, reductions, rnn, conv, frame_ops, shape_ops, index_ops):
        module.register(table)
    return table


@functools.cache
def default_table() -> OpTable:
    """The table the importer uses unless given another."""
    return register_all(OpTable())
