"""WHILE loops over the time axis (Keras 3 LSTM/GRU/SimpleRNN, Keras 2 GRU/SimpleRNN)
-> a graph-state loop: the body subgraph's ops run once per frame.

The TF converter lowers a recurrent layer to ``WHILE(counters..., states..., x)``:

* *counters*: int32 scalars from 0, incremented by 1 (``ADD(c, 1)``) in the body;
  the cond subgraph is ``LESS(counter, N)`` (``LOGICAL_AND`` of several);
* *sequences*: loop invariants with time on axis 0, read in the body only by
  ``GATHER(x, counter, axis=0)`` - one frame per iteration;
* *carried* values (h, c, the last output): the body's outputs become graph
  :class:`~edgernn.ir.State` s (zero or the loop's constant initial value at the
  start); the WHILE's outputs are their values after frame t (last-step values).

A carried value that starts from a READ_VARIABLE and is assigned back to the same
variable (a ``stateful=True`` layer) is one state.  Any other loop is refused by
name: a loop that is not over time, a trip count other than the sequence length,
counters used for anything else.
"""

from __future__ import annotations

import numpy as np

from edgernn.ir import State, Value

from .context import Context, value_q
from .loop_lists import is_list, markers, written_sequence
from .meta import Meta, Refuse
from .reader import Operator, Subgraph
from .table import converts


def _is_counter(body: Subgraph, k: int) -> bool:
    t_in = body.tensors[body.inputs[k]]
    if t_in.type_name != "INT32" or t_in.shape != ():
        return False
    for op in body.operators:
        if op.outputs and op.outputs[0] == body.outputs[k]:
            return op.opcode == "ADD" and op.inputs[0] == body.inputs[k] and \
                body.tensors[op.inputs[1]].data is not None and \
                int(np.asarray(body.tensors[op.inputs[1]].data).reshape(-1)[0]) == 1
    return False


def trip_count(cond: Subgraph, counters: set[int]) -> int:
    """N of a cond subgraph that is LESS(counter, N) [AND LESS(counter2, N2) ...]."""
    limits = []
    for op in cond.operators:
        if op.opcode == "LESS":
            a, b = op.inputs
            k = cond.inputs.index(a) if a in cond.inputs else -1
            lim = cond.tensors[b].data
            if k not in counters or lim is None:
                raise Refuse("the loop condition compares something other than a counter "
                             "with a constant")
            limits.append(int(np.asarray(lim).reshape(-1)[0]))
        elif op.opcode != "LOGICAL_AND":
            raise Refuse(f"the loop condition uses {op.opcode}")
    if not limits:
        raise Refuse("the loop condition has no LESS(counter, N)")
    return min(limits)


@converts("WHILE")
def while_(ctx: Context, op: Operator) -> None:
    model = ctx.model
    bi = int(op.options["body_subgraph_index"])
    body = model.subgraphs[bi]
    outer = ctx.inputs(op)
    counters, invariant, seqs, trips = _classify(ctx, op, body, outer)
    from .importer import convert_ops

    bctx = Context(model, bi, ctx.em, prefix=f"{ctx.prefix}while{op.index}/")
    sched = {(outer[k].stride, outer[k].delay, outer[k].tail) for k in seqs}
    if len(sched) != 1:
        raise Refuse("the loop's sequences come at different frame rates")
    bctx.sched = sched.pop()
    start, first_state = len(ctx.em.ops), len(ctx.em.states)
    used = {i for o in body.operators for i in o.inputs}
    states: list[tuple[int, str, Meta | None]] = []
    lists = {k for k in range(len(op.inputs)) if k not in counters and k not in invariant
             and is_list(body, k)}
    for k, b_in in enumerate(body.inputs):
        if k in counters:
            bctx.put(b_in, Meta((), kind="counter"))
        elif k in lists:
            bctx.put(b_in, Meta(body.tensors[b_in].shape, kind="list"))
        elif k in seqs:
            bctx.put(b_in, Meta(outer[k].shape, kind="sequence", extra=outer[k]))
        elif k in invariant:
            if not outer[k].is_const:
                raise Refuse("a loop invariant computed from the input that is not a "
                             "sequence over time")
            bctx.put(b_in, outer[k])
        else:
            states.append(_carried(ctx, bctx, op, k, b_in in used))
    convert_ops(bctx, hooks={"GATHER": gather_frame, "ADD": count, "*": markers})
    for k in lists:
        ctx.put(op.outputs[k], written_sequence(ctx, bctx, op, k, outer))
    _outputs(ctx, bctx, op, states, counters, trips, outer)
    _fold(ctx, op, start, ctx.em.states[first_state:], bctx.sched)


def _classify(ctx: Context, op: Operator, body: Subgraph, outer: list):
    """(counters, invariants, sequences, trip count) of a WHILE, or Refuse."""
    cond = ctx.model.subgraphs[int(op.options["cond_subgraph_index"])]
    n = len(op.inputs)
    counters = {k for k in range(n) if _is_counter(body, k) and outer[k].is_const
                and int(np.asarray(outer[k].data).reshape(-1)[0]) == 0}
    trips = trip_count(cond, counters)
    invariant = {k for k in range(n) if body.outputs[k] == body.inputs[k]}
    seqs = {k for k in invariant if not outer[k].is_const and outer[k].time == 0}
    if not seqs:
        raise Refuse("a WHILE loop that does not iterate over the time axis of a sequence "
                     "(only recurrences over time stream)")
    for k in seqs:
        if outer[k].shape[0] != trips or outer[k].tpad != (0, 0):
            raise Refuse(f"the loop runs {trips} times over a sequence of "
                         f"{outer[k].shape[0]} frames")
    return counters, invariant, seqs, trips


def _fold(ctx: Context, op: Operator, start: int, states: list, sched: tuple) -> None:
    """A float cell becomes the IR's recurrent op; a hybrid one stays spelled out (its
    per-step quantization is exact only there) unless its input is delayed or strided."""
    from .cells import fold_loop

    hybrid = any(o.kind == "HybridDense" for o in ctx.em.ops[start:])
    late = sched[:2] != (1, 0)
    if states and (late or not hybrid):
        kind = fold_loop(ctx.em, start, states)
        if kind and hybrid:
            ctx.em.notes.append(f"the hybrid {kind} of WHILE operator {op.index} follows a "
                                "delayed/strided input, so it runs as one op whose int8 "
                                "weights see symmetrically quantized inputs (TFLite: "
                                "asymmetric): results differ by that rounding")
        if kind:
            return
    if late:
        raise Refuse("a loop after a delayed or strided conv must be an LSTM, GRU or RNN "
                     "cell edgernn recognizes (graph state runs every frame)")


def _carried(ctx: Context, bctx: Context, op: Operator, k: int, used: bool):
    """Declare the state value of carried loop var ``k``: (k, its input value, init meta)."""
    from .variables import bound_variable

    t = bctx.tensor(bctx.sg.inputs[k])
    init = ctx.meta(op.inputs[k])
    batch = 0 if len(t.shape) >= 2 and t.shape[0] == 1 else None
    st, de, ta = bctx.sched
    m = Meta(t.shape, q=value_q(t), batch=batch, stride=st, delay=de, tail=ta)
    var = bound_variable(ctx, op, k)
    if var is not None:
        bctx.put(bctx.sg.inputs[k], init)
        return k, init.value, None, init
    if not init.is_const:
        raise Refuse(f"loop state {k} starts from a value computed from the input")
    if not used:
        return k, "", init, m
    em = bctx.em
    value = em.fresh(f"{bctx.prefix}state{k}")
    em.declare(value, m.frame)
    if m.q is not None:
        em.values[value] = Value(value, m.frame, *m.q)
    m = m.with_(value=value)
    bctx.put(bctx.sg.inputs[k], m)
    return k, value, init, m


def _outputs(ctx: Context, bctx: Context, op: Operator, states, counters, trips,
             outer) -> None:
    body = bctx.sg
    for k, value, init, m in states:
        out = bctx.meta(body.outputs[k])
        if out.is_const or out.time is not None or out.kind:
            raise Refuse(f"loop state {k} is not a per-frame value of the body")
        if out.frame != m.frame or out.q != m.q:
            raise Refuse(f"loop state {k} changes shape or type in the body")
        v = bctx.value(out)
        if value and init is not None:  # (None: a variable's READ value is the state)
            data = np.asarray(init.data).reshape(m.frame)
            cname = (ctx.add_const(data.astype(np.float32), f"init{k}") if m.q is None
                     else _codes(ctx, data, k))
            ctx.em.states.append(State(value, v, m.frame, cname))
        ctx.put(op.outputs[k], out.with_(value=v, perm=None, reduced=True,
                                         shape=ctx.out(op, k).shape))
    for k in counters:
        ctx.put(op.outputs[k], Meta((), data=np.int32(trips)))
    for k in range(len(op.inputs)):
        if op.outputs[k] not in ctx.metas:
            ctx.put(op.outputs[k], outer[k])


def _codes(ctx: Context, data: np.ndarray, k: int) -> str:
    from edgernn.ir import Tensor

    return ctx.add_tensor(Tensor(f"init{k}", np.asarray(data).astype(np.int32), "i32"))


def gather_frame(ctx: Context, op: Operator) -> bool:
    """GATHER(sequence, counter, axis 0) in a loop body: the current frame."""
    ins = ctx.inputs(op)
    kinds = [m.kind if m is not None else "" for m in ins]
    if kinds[:2] != ["sequence", "counter"]:
        if "counter" in kinds or "sequence" in kinds:
            raise Refuse("a loop counter or sequence used other than to take the frame")
        return False
    if op.options.get("axis", 0) != 0:
        raise Refuse("a GATHER of the sequence along an axis other than time")
    seq: Meta = ins[0].extra
    shape = seq.shape[1:]
    batch = None if seq.batch is None else seq.batch - 1
    m = Meta(shape, value=ctx.value(seq), q=seq.q, batch=batch, stride=seq.stride,
             delay=seq.delay, tail=seq.tail)
    ctx.put(op.outputs[0], m)
    return True


def count(ctx: Context, op: Operator) -> bool:
    """ADD(counter, 1) in a loop body: the next counter (nothing per frame)."""
    ins = ctx.inputs(op)
    if ins[0] is not None and ins[0].kind == "counter":
        ctx.put(op.outputs[0], Meta((), kind="counter"))
        return True
    return False
