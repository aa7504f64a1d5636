"""Emit a found unrolled recurrence (:class:`.unrolled.Plan`) as one IR recurrent op.

At the UNPACK over time: the frame is the sequence's frame; each state value of the
template step gets a graph state (zero at the start); ``g`` runs on the states (it
makes what the step reads of the previous one, e.g. ``h R``), then ``f`` on the frame
and those; :func:`.cells.fold_loop` folds the ops into one LSTM / GRU / RNN.  The last
step's state values become the folded op's last-step (reduced) values, a PACK of its
value at every step (:func:`sequence`) its per-frame output.  Anything that does not
convert or fold raises :class:`.unrolled.NotUnrolled`.
"""

from __future__ import annotations

import numpy as np

from edgernn.ir import State

from .meta import Meta, Refuse
from .unrolled import NotUnrolled, Plan


def emit(plan: Plan, ctx, seq: Meta) -> None:
    """Convert the template once on the stream's frame and states, then fold it."""
    a = int(plan.unpack.options.get("axis", 0)) % seq.rank
    if seq.time != a or seq.q is not None or seq.tpad != (0, 0):
        raise NotUnrolled("the UNPACK is not over the time axis of a float sequence")
    em = ctx.em
    sched = {"stride": seq.stride, "delay": seq.delay, "tail": seq.tail}
    batch = None if seq.batch is None else seq.batch - (seq.batch > a)
    frame = Meta(seq.shape[:a] + seq.shape[a + 1:], value=ctx.value(seq), batch=batch,
                 **sched)
    start, states = len(em.ops), {}
    for j, s in enumerate(plan.states):
        shape = ctx.tensor(s).shape
        m = Meta(shape, batch=0 if len(shape) >= 2 and shape[0] == 1 else None, **sched)
        value = em.fresh(f"unrolled{plan.unpack.index}/state{j}")
        em.declare(value, m.frame)
        states[s] = m.with_(value=value)
    hook, ctx.intercept = ctx.intercept, None  # (the template's ops are the cell's)
    try:
        _template(plan, ctx, frame, states)
        new = [State(m.value, ctx.value(ctx.meta(s)), m.frame,
                     ctx.add_const(np.zeros(m.frame, np.float32), "init"))
               for s, m in states.items()]
    except Refuse as r:
        raise NotUnrolled(str(r)) from None
    finally:
        ctx.intercept = hook
    em.states += new
    _fold(plan, ctx, start, new)


def _template(plan: Plan, ctx, frame: Meta, states: dict) -> None:
    from .importer import _convert
    from .table import table

    ops, em = table(), ctx.em
    for s, m in states.items():
        ctx.put(s, m)
    for op in plan.g:
        em.node_name = f"unrolled{plan.unpack.index}/{op.opcode.lower()}{op.index}"
        _convert(ctx, op, ops, None)
    for i, o in zip(plan.ins, plan.outs, strict=True):
        ctx.put(i, states[o] if o in states else ctx.meta(o))
    ctx.put(plan.frames[1], frame)
    for op in plan.f:
        em.node_name = f"unrolled{plan.unpack.index}/{op.opcode.lower()}{op.index}"
        _convert(ctx, op, ops, None)


def _fold(plan: Plan, ctx, start: int, states: list[State]) -> None:
    from .cells import fold_loop

    em = ctx.em
    kind = fold_loop(em, start, list(states))
    if not kind or any(s in em.states for s in states):
        raise NotUnrolled("the unrolled step is not an LSTM, GRU or RNN cell edgernn knows")
    op = next(o for o in em.ops[start:] if o.kind == kind)
    j = next(j for j, s in enumerate(states) if s.output == op.outputs[0])
    m = ctx.meta(plan.states[j])
    ctx.put(plan.last[j], m.with_(value=op.outputs[0], perm=None, reduced=True,
                                  shape=ctx.tensor(plan.last[j]).shape))
    plan.out = (j, op.outputs[0], {"stride": m.stride, "delay": m.delay, "tail": m.tail})
    em.notes.append(f"the {kind} unrolled over {len(plan.frames)} steps (UNPACK, operator "
                    f"{plan.unpack.index}) streams as one {kind} op")


def sequence(plan: Plan, ctx, op) -> None:
    """A PACK over time of the folded op's state at every step: its per-frame output."""
    j, value, sched = plan.out or (None, "", {})
    if plan.packs[op.index] != j:
        raise Refuse("the per-step values of a recurrent state the folded op does not "
                     "output (an LSTM's c)")
    seq = ctx.meta(plan.unpack.inputs[0])
    t = ctx.tensor(op.outputs[0])
    ctx.put(op.outputs[0], Meta(t.shape, value=value, time=seq.time, batch=seq.batch,
                                **sched))
