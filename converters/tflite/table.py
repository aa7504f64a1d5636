"""The TFLite op table: builtin operator name -> converter function.

Each op module registers its converters with :func:`converts`; one function per
builtin operator, named after it (``fully_connected`` for FULLY_CONNECTED), or one
per family whose members differ only in the IR function they name (``binary`` for
ADD, SUB, MUL ...).  A converter takes ``(ctx, op)``: it reads its inputs' metas
from the :class:`~.context.Context`, emits IR and records a meta for every output,
or raises :class:`~.meta.Refuse` saying why the operator cannot stream.

``FOLDABLE`` ops are evaluated at conversion time when all their inputs are
constant (:mod:`.fold`); ``STRUCTURAL`` ops are handled by the driver itself
(variables and their initialisation).
"""

from __future__ import annotations

from collections.abc import Callable

Converter = Callable[..., None]  # (ctx: Context, op: Operator) -> None

TABLE: dict[str, Converter] = {}


def converts(*names: str) -> Callable[[Converter], Converter]:
    """Register the decorated function for the builtin operators ``names`` (default: the
    function's own name in upper case)."""

    def deco(fn: Converter) -> Converter:
        for name in names or (fn.__name__.upper(),):
            if name in TABLE:
                raise ValueError(f"TFLite op {name} is registered twice")
            TABLE[name] = fn
        return fn

    return deco


def table() -> dict[str, Converter]:
    """Every converter (importing the op modules registers them)."""
    from . import (  # noqa: F401 - registration
        branches,
        conv,
        elementwise,
        layout,
        linear,
        loops,
        recurrent,
        reduce,
        slicing,
        variables,
    )

    return TABLE


#: why some well-known operators are refused, by name
HINTS = {
    "BIDIRECTIONAL_SEQUENCE_LSTM": "the backward direction needs the whole sequence before "
                                   "its first output; export a forward model",
    "BIDIRECTIONAL_SEQUENCE_RNN": "the backward direction needs the whole sequence before "
                                  "its first output; export a forward model",
    "CUSTOM": "a custom operator (not a TFLite builtin)",
    "DELEGATE": "a delegate node; convert the model without delegates",
    "CALL": "a call of another subgraph",
    "WHERE": "the positions of true values: a shape that depends on the data",
}
