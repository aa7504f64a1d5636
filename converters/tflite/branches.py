"""IF on data -> both branches computed every frame, and a ``Where`` per output.

A model converted from ONNX by onnx-tf can branch on a per-frame value: openWakeWord's
``hey_jarvis`` runs a second, verifying network only when the first score passes a
threshold (``IF(score >= t, then: verify(x), else: score)``).  Streaming cannot skip
work per frame in a batch of streams, but a branch without side effects can always
run: both branches are converted inline (their inputs are the IF's operands) and each
output selects the taken branch's value, ``Where(cond, then, else)``.  That equals the
IF for every frame; the cost is that of both branches.

Refused: a branch that keeps state (variables, recurrences), because running the
untaken branch would advance it; and branch outputs that differ in time axes or
frame rate.
"""

from __future__ import annotations

from .context import Context
from .elementwise import where
from .meta import Meta, Refuse
from .reader import Operator
from .table import converts

#: operators that touch state a branch must not have
STATEFUL = {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE", "WHILE",
            "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN"}


@converts("IF")
def if_(ctx: Context, op: Operator) -> None:
    cond = ctx.meta(op.inputs[0])
    if cond.is_const:
        raise Refuse("internal error: an IF on a constant was not folded")
    then = _branch(ctx, op, "then_subgraph_index", "then")
    other = _branch(ctx, op, "else_subgraph_index", "else")
    for k in range(len(op.outputs)):
        where(ctx, op, cond, then[k], other[k], k)


def _branch(ctx: Context, op: Operator, key: str, label: str) -> list[Meta]:
    """Convert one branch inline; its outputs' metas."""
    from .importer import convert_ops

    index = int(op.options[key])
    sg = ctx.model.subgraphs[index]
    stateful = sorted({o.opcode for o in sg.operators} & STATEFUL)
    if stateful:
        raise Refuse(f"the {label} branch (subgraph {index}) keeps state "
                     f"({', '.join(stateful)}); running it on every frame would change it")
    if len(sg.inputs) != len(op.inputs) - 1 or len(sg.outputs) != len(op.outputs):
        raise Refuse(f"the {label} branch's inputs or outputs do not match the IF's")
    bctx = Context(ctx.model, index, ctx.em, prefix=f"{ctx.prefix}if{op.index}/{label}/")
    for b_in, outer in zip(sg.inputs, op.inputs[1:], strict=True):
        bctx.put(b_in, ctx.meta(outer))
    states = len(ctx.em.states)
    problems = convert_ops(bctx)
    if problems:
        raise Refuse(f"the {label} branch: {problems[0]}")
    if len(ctx.em.states) != states:
        raise Refuse(f"the {label} branch keeps state; running it on every frame would "
                     "change it")
    return [bctx.meta(o) for o in sg.outputs]
