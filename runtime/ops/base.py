"""What one op kind is, in one record: :class:`OpDef`, and the registry :data:`OPS`.

A record holds everything the rest of the runtime needs to know about an op kind:

* its schema: input *roles* by name (``"x"``, ``"W"``, ``"H0?"``: ``?`` optional,
  ``*`` variadic), attribute defaults, a doc string;
* ``infer(op, shapes, consts) -> shape``: shape inference and attribute checks (kernels
  do no bounds checks, so this is what stops a lying file);
* ``states(op, graph) -> [StateDecl]``: the per-stream state it keeps;
* ``schedule((period, offset), op) -> (period, offset)``: its effect on the frame
  schedule (only strided/delayed convs change it);
* ``macs(op, graph) -> int`` per input frame;
* ``binders``: how to bind it to kernels, keyed by the dtypes of its inputs;
* ``kernels``: the jitted entry points those binders call (warmup compiles them);
* ``weights``: the roles holding weight matrices (what quantization compresses);
* ``reference``: the float64 implementation the reference backend runs;
* ``requires(op) -> set[str]``: features a reader must implement to run this op as
  configured (an attribute value older readers do not know), written to the ``.ern``
  file's ``requires`` so they refuse the file instead of misreading it.

The planner, ``info``, ``warmup``, the fusion pass and the reference backend read
these records; nothing else lists op kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..ir import GraphError, Op

Shape = tuple[int, ...]


class NoKernelError(GraphError):
    """No kernel of this edgernn takes the dtypes an op's inputs have (e.g. q8 weights
    where only float kernels exist).  The file is fine; the runtime lacks the kernel."""


@dataclass(frozen=True)
class StateDecl:
    """One state array of an op: ``(B, *shape)`` of ``dtype``; ``init`` names the input
    role holding a constant initial value ('' = zeros)."""

    suffix: str
    shape: Shape
    dtype: type = np.float32
    init: str = ""


@dataclass(frozen=True)
class Binder:
    """A way to bind an op to kernels, for the dtypes listed in ``accepts``.

    ``accepts`` maps an input role to the dtypes this binder takes there; roles it
    does not list take ``"f32"`` values and ``"f32"``/``"f16"`` constants (widened
    once at load).
    """

    bind: Callable
    accepts: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def takes(self, role: str, dtype: str, is_const: bool) -> bool:
        default = {"f32", "f16"} if is_const else {"f32"}
        return dtype in self.accepts.get(role, default)


@dataclass
class RefCall:
    """One call of an op's float64 reference implementation on a chunk of frames.

    ``args`` follow the op's input roles: values are ``(T, B, *frame)`` float64,
    constants float64 in their own shape, absent optionals None.  ``state`` holds the
    op's state arrays by suffix (float64, or int64 counters), updated in place.
    """

    op: Op
    opdef: OpDef
    args: list[np.ndarray | None]
    const: list[bool]
    state: dict[str, np.ndarray]

    def arg(self, role: str) -> np.ndarray | None:
        i = self.opdef.index(role)
        return self.args[i] if i < len(self.args) else None

    def attr(self, key: str) -> Any:
        return self.op.attr(key)


def _no_state(op: Op, graph: Any) -> list[StateDecl]:
    return []


def _same_schedule(sched: tuple[int, int], op: Op) -> tuple[int, int]:
    return sched


def _no_macs(op: Op, graph: Any) -> int:
    return 0


def _no_features(op: Op) -> set[str]:
    return set()


@dataclass(frozen=True)
class OpDef:
    """Everything about one op kind (see the module docstring)."""

    kind: str
    inputs: tuple[str, ...]
    attrs: Mapping[str, Any]
    doc: str
    infer: Callable[..., Shape]
    reference: Callable
    binders: tuple[Binder, ...] = ()
    kernels: tuple = ()
    states: Callable[[Op, Any], list[StateDecl]] = _no_state
    schedule: Callable[[tuple[int, int], Op], tuple[int, int]] = _same_schedule
    macs: Callable[[Op, Any], int] = _no_macs
    weights: tuple[str, ...] = ()  # roles holding weight matrices a quantizer may compress
    fusable: bool = False  # its kernel can apply a following activation (an epilogue)
    alias: bool = False  # its output is a view of its first input, no kernel
    requires: Callable[[Op], set[str]] = _no_features

    def __post_init__(self) -> None:
        object.__setattr__(self, "attrs", MappingProxyType(dict(self.attrs)))

    @property
    def roles(self) -> tuple[str, ...]:
        """Input role names without their ``?``/``*`` markers."""
        return tuple(r.rstrip("?*") for r in self.inputs)

    def index(self, role: str) -> int:
        """Position of the input with this role."""
        try:
            return self.roles.index(role)
        except ValueError:
            raise GraphError(f"{self.kind} has no input role {role!r}; roles: "
                             f"{', '.join(self.roles)}") from None

    def check(self, op: Op) -> None:
        """Input count, required inputs present, no unknown attributes."""
        variadic = any(r.endswith("*") for r in self.inputs)
        required = [r for r in self.inputs if not r.endswith(("?", "*"))]
        if len(op.inputs) < len(required) or (
                not variadic and len(op.inputs) > len(self.inputs)):
            raise GraphError(f"op {op.name!r} ({op.kind}) takes inputs {self.inputs}, "
                             f"got {len(op.inputs)}")
        for i, role in enumerate(required):
            if not op.inputs[i]:
                raise GraphError(f"op {op.name!r} ({op.kind}): required input {role!r} missing")
        unknown = set(op.attrs) - set(self.attrs)
        if unknown:
            raise GraphError(f"op {op.name!r} ({op.kind}): unknown attributes {sorted(unknown)}")

    def binder_for(self, op: Op, dtype_of: Callable[[str], tuple[str, bool]]) -> Binder:
        """The first binder that takes the dtypes of ``op``'s inputs, else GraphError.

        ``dtype_of(name) -> (dtype, is_constant)``.
        """
        roles = self.roles
        seen = []
        for i, name in enumerate(op.inputs):
            if name:
                role = roles[min(i, len(roles) - 1)]
                seen.append((role, *dtype_of(name)))
        for b in self.binders:
            if all(b.takes(role, dt, c) for role, dt, c in seen):
                return b
        got = ", ".join(f"{role} {dt}" for role, dt, _ in seen)
        raise NoKernelError(f"op {op.name!r} ({op.kind}): no kernel takes these input dtypes "
                         f"({got}); this edgernn runs {op.kind} on "
                         f"{_describe(self.binders)}. Re-quantize with a scheme that "
                         f"supports it, or keep this op float (--keep-float {op.name})")


def _describe(binders: Sequence[Binder]) -> str:
    forms = []
    for b in binders:
        forms.append(" / ".join(f"{r} {'|'.join(sorted(d))}" for r, d in b.accepts.items())
                     or "float32")
    return "; ".join(forms) or "nothing (no kernel)"


#: kind -> record.  Filled by the family modules of this package.
OPS: dict[str, OpDef] = {}


def register(*defs: OpDef) -> None:
    """Add op records to :data:`OPS` (each kind once)."""
    for d in defs:
        if d.kind in OPS:
            raise ValueError(f"op kind {d.kind!r} registered twice")
        OPS[d.kind] = d


def get(kind: str) -> OpDef:
    """The record of ``kind``; GraphError naming the known kinds otherwise."""
    try:
        return OPS[kind]
    except KeyError:
        raise GraphError(f"unknown op kind {kind!r}; this edgernn knows "
                         f"{', '.join(sorted(OPS))}. A newer edgernn may support it: "
                         f"pip install -U edgernn") from None


def need(cond: bool, op: Op, what: str) -> None:
    """Raise GraphError about ``op`` unless ``cond``."""
    if not cond:
        raise GraphError(f"op {op.name!r} ({op.kind}): {what}")


def size(shape: Sequence[int]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def opt(shapes: Sequence[Shape | None], i: int) -> Shape | None:
    return shapes[i] if i < len(shapes) else None


def axis_of(op: Op, axis: int, rank: int) -> int:
    need(-rank <= axis < rank, op, f"axis {axis} out of range for rank {rank}")
    return axis % rank


def same_shape(op: Op, shapes: list, consts: Any = None) -> Shape:
    return shapes[0]
