"""Building the IR, whatever the source format: unique names, constants, values, ops.

An importer reads its source model and calls :class:`Emitter` to append IR ops
(``emit``), constants (``add_const``) and graph inputs (``declare``); names are
made unique here, derived from the source node being converted (``node_name``).
:meth:`Emitter.finish` runs the format-independent clean-up passes
(:mod:`.passes`, :mod:`.fuse`) and names the outputs after the source's.
"""

from __future__ import annotations

import numpy as np

from edgernn.ir import Op, Tensor, Value

from .fuse import fuse_layernorm
from .passes import (
    OpList,
    collapse_views,
    dead_code,
    fold_affine,
    fuse_output_views,
    name_outputs,
    select_from_concat,
)
from .simplify import fold_pad_into_frame_conv, pow_to_square


class Emitter:
    """The IR under construction: ops in order, values, constants, and the names taken."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.values: dict[str, Value] = {}
        self.consts: dict[str, Tensor] = {}
        self.node_name = ""  # the source node being converted: the prefix of new names
        self._taken: set[str] = set()
        self._op_names: set[str] = set()

    def fresh(self, hint: str) -> str:
        """A value/constant name not used yet: ``hint``, or ``hint:2``, ``hint:3`` ..."""
        return _unique(hint, self._taken)

    def declare(self, name: str, shape) -> Value:
        """A value produced outside the op list (a graph input): its name is taken as is."""
        value = Value(name, tuple(int(d) for d in shape))
        self.values[name] = value
        self._taken.add(name)
        return value

    def add_const(self, array, hint: str) -> str:
        """A constant (integers as i64, float16 kept as f16 - the source stored it so - and
        anything else as f32); returns its name."""
        a = np.asarray(array)
        name = self.fresh(f"{self.node_name}:{hint}" if self.node_name else hint)
        if a.dtype.kind in "iub":
            self.consts[name] = Tensor(name, np.ascontiguousarray(a.astype(np.int64)), "i64")
        elif a.dtype == np.float16:
            self.consts[name] = Tensor(name, np.ascontiguousarray(a), "f16")
        else:
            self.consts[name] = Tensor.f32(name, a)
        return name

    def op_name(self, kind: str, main: bool = False) -> str:
        """A fresh op name: the node's name for its main op, ``node/kind`` for helpers."""
        base = self.node_name or kind
        if not main:
            base = f"{base}/{kind.lower()}"
        return _unique(base, self._op_names)

    def emit(self, kind: str, inputs: list[str], shape, attrs: dict | None = None,
             out: str = "", name: str = "") -> str:
        """Append an IR op; return its output value name (``out`` if free)."""
        op_name = name or self.op_name(kind)
        value = out if out and out not in self._taken else self.fresh(f"{op_name}:out")
        self._taken.add(value)
        self.values[value] = Value(value, tuple(int(d) for d in shape))
        self.ops.append(Op(kind, op_name, tuple(inputs), (value,), attrs or {}))
        return value

    def finish(self, outputs: list[tuple[str, str]], fixed: set[str]) -> tuple[OpList, list[str]]:
        """Clean up the op list; name the outputs ``[(source name, value)]`` after the source.

        ``fixed``: values whose names must stay (graph inputs, state inputs and outputs).
        Returns the cleaned op list and the output value names, in order.
        """
        g = OpList(self.ops, dict(self.values), dict(self.consts))
        g.protected = fixed | {v for _, v in outputs}
        collapse_views(g)
        fuse_layernorm(g)
        pow_to_square(g)
        fold_pad_into_frame_conv(g)
        fold_affine(g)
        select_from_concat(g)
        collapse_views(g)
        dead_code(g, g.protected)
        fuse_output_views(g)
        return g, name_outputs(g, dict(outputs), fixed)


def _unique(base: str, taken: set[str]) -> str:
    """``base``, or ``base:2``, ``base:3`` ... whichever is not in ``taken`` (then taken)."""
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}:{k}"
    taken.add(name)
    return name
