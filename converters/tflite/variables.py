"""Resource variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE, CALL_ONCE) -> stream state.

A streaming TFLite model keeps state in resource variables: each ``invoke()`` reads
them, computes, and assigns new values; the interpreter keeps them until it is
re-created (``reset_all_variables()`` does not touch them).  In the IR each variable
that is assigned becomes a graph :class:`~edgernn.ir.State`: READ_VARIABLE gives its
value at the start of a frame, the last ASSIGN_VARIABLE its value for the next
frame, and the CALL_ONCE init subgraph its initial value (what ``reset()`` restores).
So ``step()`` equals one ``invoke()`` with the variables carried, and ``reset()`` a
fresh interpreter.  A variable that is only read is a constant.  Handles are paired
across subgraphs by ``shared_name``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgernn.ir import State, Tensor

from .context import Context, value_q
from .meta import Meta, Refuse
from .reader import Operator, TensorInfo, TFLModel
from .table import converts


@dataclass
class Variables:
    """The variables of a model: initial values, and their values while converting."""

    init: dict[str, tuple[TensorInfo, np.ndarray]] = field(default_factory=dict)
    assigned: set[str] = field(default_factory=set)
    state_in: dict[str, Meta] = field(default_factory=dict)
    current: dict[str, Meta] = field(default_factory=dict)

    @classmethod
    def scan(cls, model: TFLModel, main: int) -> Variables:
        """Initial values from every CALL_ONCE init subgraph of ``main``; the names the main
        subgraph assigns."""
        v = cls()
        sg = model.subgraphs[main]
        for op in sg.operators:
            if op.opcode == "CALL_ONCE":
                v._read_init(model, int(op.options["init_subgraph_index"]))
            elif op.opcode == "ASSIGN_VARIABLE":
                v.assigned.add(handle_name(sg, op.inputs[0]))
        return v

    def _read_init(self, model: TFLModel, index: int) -> None:
        sg = model.subgraphs[index]
        for op in sg.operators:
            if op.opcode == "VAR_HANDLE":
                continue
            if op.opcode != "ASSIGN_VARIABLE":
                raise Refuse(f"the CALL_ONCE init subgraph {sg.name!r} runs {op.opcode}; only "
                             "assignments of constants are supported there")
            t = sg.tensors[op.inputs[1]]
            if t.data is None:
                raise Refuse(f"the init subgraph assigns {t.name!r}, which is not a constant")
            self.init[handle_name(sg, op.inputs[0])] = (t, t.data)


def handle_name(sg, tensor: int) -> str:
    """The shared_name of the VAR_HANDLE that produced resource tensor ``tensor``."""
    for op in sg.operators:
        if op.opcode == "VAR_HANDLE" and op.outputs[0] == tensor:
            o = op.options
            return f"{o.get('container', '')}/{o.get('shared_name', '')}".lstrip("/")
    raise Refuse(f"resource tensor {tensor} does not come from a VAR_HANDLE in "
                 f"subgraph {sg.name!r}")


def _vars(ctx: Context) -> Variables:
    return ctx.em.variables


@converts("CALL_ONCE")
def call_once(ctx: Context, op: Operator) -> None:
    """Read by :meth:`Variables.scan`: initial values; nothing runs per frame."""


@converts()
def var_handle(ctx: Context, op: Operator) -> None:
    ctx.put(op.outputs[0], Meta((), kind="handle",
                                extra=handle_name(ctx.sg, op.outputs[0])))


def _handle(ctx: Context, i: int) -> str:
    m = ctx.meta(i)
    if m.kind != "handle":
        raise Refuse("a resource that is not a variable handle")
    return m.extra


@converts()
def read_variable(ctx: Context, op: Operator) -> None:
    v, name = _vars(ctx), _handle(ctx, op.inputs[0])
    t = ctx.out(op)
    if name not in v.assigned:  # never written: a constant
        if name not in v.init:
            raise Refuse(f"variable {name!r} is read but never initialized")
        ctx.put(op.outputs[0], Meta(t.shape, data=v.init[name][1]))
        return
    if name not in v.current:
        batch = 0 if len(t.shape) >= 2 and t.shape[0] == 1 else None
        m = Meta(t.shape, q=value_q(t), batch=batch)
        em = ctx.em
        value = em.fresh(f"state:{name}")
        em.declare(value, m.frame)
        if m.q is not None:
            from edgernn.ir import Value

            em.values[value] = Value(value, m.frame, *m.q)
        v.state_in[name] = v.current[name] = m.with_(value=value)
    ctx.put(op.outputs[0], v.current[name])


@converts()
def assign_variable(ctx: Context, op: Operator) -> None:
    v, name = _vars(ctx), _handle(ctx, op.inputs[0])
    m = ctx.meta(op.inputs[1])
    if m.is_const:
        raise Refuse(f"assigns a constant to variable {name!r} on every invoke")
    if m.time is not None:
        raise Refuse(f"assigns a whole sequence to variable {name!r}")
    v.current[name] = m


def states(ctx: Context) -> list[State]:
    """The graph states of the assigned variables (after the main subgraph is converted)."""
    v, out = _vars(ctx), []
    for name, m_in in v.state_in.items():
        final = v.current[name]
        if final is m_in:
            continue
        if final.frame != m_in.frame or final.q != m_in.q or final.schedule() != (1, 0):
            raise Refuse(f"variable {name!r} is assigned a value of another shape or type "
                         f"({list(final.shape)} {final.q}, read as {list(m_in.shape)} "
                         f"{m_in.q}) or at another frame rate")
        if name not in v.init:
            raise Refuse(f"variable {name!r} has no initial value (no CALL_ONCE assigns it)")
        t, data = v.init[name]
        init = np.asarray(data).reshape(m_in.frame)
        if m_in.q is None:
            cname = ctx.add_const(init.astype(np.float32), f"init:{name}")
        else:
            cname = ctx.add_tensor(Tensor(f"init:{name}", init.astype(np.int32), "i32"))
        out.append(State(m_in.value, ctx.value(final), m_in.frame, cname))
    return out


def bound_variable(ctx: Context, loop: Operator, k: int) -> str | None:
    """The variable whose READ_VARIABLE value feeds loop var ``k`` of the WHILE ``loop``
    and whose ASSIGN_VARIABLE takes the loop's output ``k`` (the loop carries it)."""
    m = ctx.meta(loop.inputs[k])
    v = _vars(ctx)
    name = next((n for n, s in v.state_in.items() if s is m), None)
    if name is None:
        return None
    for op in ctx.sg.operators[loop.index + 1:]:
        if op.opcode == "ASSIGN_VARIABLE" and op.inputs[1] == loop.outputs[k]:
            if handle_name(ctx.sg, op.inputs[0]) == name:
                return name
    return None
