"""Step models with explicit state: turn (x, h) -> (y, h') loops into streaming state.

Each state input is tracked element by element (``Dyn.prov``) through view ops
(Slice, Gather, Squeeze, Concat ...).  Two outcomes per (input, output) pair:

* **internal**: every element of the input feeds exactly the ``initial_h`` /
  ``initial_c`` element of an LSTM/GRU/RNN whose final ``Y_h`` / ``Y_c``
  element lands at the same position of the paired output.  The loop is then
  the op's own state; the input and output disappear from the graph.
* **graph**: otherwise the output's IR value is written back to the input's
  at the end of every frame (:class:`edgernn.ir.State`).  This needs the
  state to reach no recurrent op's initial state.
"""

from __future__ import annotations

import numpy as np

from edgernn.ir import State

from ..errors import Problem
from .context import Context
from .io import InputSpec


def state_prov(name: str, frame: tuple[int, ...]) -> np.ndarray:
    p = np.empty(frame, dtype=object)
    for k, idx in enumerate(np.ndindex(*frame)):
        p[idx] = ("state", name, k)
    return p


def _internal(ctx: Context, spec: InputSpec, size: int) -> list[str] | None:
    """The recurrent ops that carry this state internally, or None if it is not that simple."""
    out = ctx.metas.get(spec.state_of)
    if out is None or out.prov is None or spec.name in ctx.state_data_use:
        return None
    elems = list(out.prov.reshape(-1))
    if len(elems) != size or any(e is None or e[0] != "op" for e in elems):
        return None
    for p, (_, op, key, k) in enumerate(elems):
        link = ctx.links.get((op, key))
        if link is None or link[k] != ("state", spec.name, p):
            return None
    # every link that reads this state must be matched by the output
    matched = {(e[1], e[2]) for e in elems}
    for (op, key), link in ctx.links.items():
        if any(e[1] == spec.name for e in link) and (op, key) not in matched:
            return None
    return sorted({e[1] for e in elems})


def resolve_states(ctx: Context, specs: list[InputSpec]) -> tuple[list[State], dict, list]:
    """(graph states, {input: description}, problems) for the paired state inputs."""
    states, info, problems = [], {}, []
    for spec in specs:
        if not spec.state_of:
            continue
        d_in = ctx.metas[spec.name]
        size = int(np.prod(d_in.frame, dtype=np.int64))
        ops = _internal(ctx, spec, size)
        if ops is not None:
            info[spec.name] = {"output": spec.state_of, "mode": "internal", "ops": ops,
                               "dims": list(spec.dims)}
            continue
        out = ctx.metas.get(spec.state_of)
        if spec.state_of in ctx.poisoned:
            continue  # the node computing it is already reported
        linked = [op for (op, _), link in ctx.links.items()
                  if any(e[1] == spec.name for e in link)]
        if linked:
            problems.append(Problem("state", spec.name, f"feeds the initial state of {linked} "
                                    f"but {spec.state_of!r} is not exactly their final state"))
            continue
        if out is None:
            problems.append(Problem("state", spec.name, f"its output {spec.state_of!r} does not "
                                    f"depend on the input; it is not a state"))
            continue
        if out.value is None or out.time is not None or out.tpad != (0, 0):
            problems.append(Problem("state", spec.name, f"its output {spec.state_of!r} is not "
                                    f"one value per frame"))
            continue
        if int(np.prod(out.frame, dtype=np.int64)) != size:
            problems.append(Problem("state", spec.name, f"shape {d_in.frame} but its output "
                                    f"{spec.state_of!r} has {out.frame}"))
            continue
        ctx.node_name = f"state:{spec.name}"
        value = ctx.reshape(out, d_in.frame)
        states.append(State(input=spec.name, output=value, shape=d_in.frame))
        info[spec.name] = {"output": spec.state_of, "mode": "graph", "dims": list(spec.dims)}
    return states, info, problems
