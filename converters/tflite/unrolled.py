"""Keras ``unroll=True`` recurrences (float32) folded back into one streaming IR
``LSTM`` / ``GRU`` / ``RNN``.

The TF converter writes an unrolled layer as ``UNPACK`` of the input over time into T
frames, then T copies of the cell's ops, step k reading frame k and the carried values
of step k-1 (h, c, or already ``h R``: the product that needs only h is computed at the
end of the step before), all sharing the same weight tensors; ``return_sequences``
adds a ``PACK`` over time of h at every step.  Step 0 is special: the zero initial
state is constant-folded away, so its ops differ from the others'.

:func:`find` recognizes that structure on the flatbuffer alone (no conversion yet):

* every operator is given the last frame it depends on; step k = the ops of frame k;
  its carried inputs are the values of step k-1 it reads (no older step may be read);
* step 1 is the *template*: each later step must contain the same ops (opcode,
  options, the same constants) wired the same way onto its own frame and carried
  values, the last step those up to the new state (the carried outputs' order is
  found by trying the permutations);
* step 0 must compute what the template computes with a zero state: checked
  numerically (:mod:`.step_eval`, float64, random frames);
* nothing but the next step reads a step's values, except after the last step and a
  PACK over time of one state's value at every step.

The importer then gives the input its time axis (the UNPACK's), and :class:`Plan`'s
hook converts the template once with the carried values as graph states, folds it
with :func:`.cells.fold_loop` and skips every step's ops; the last step's state
values become last-step (reduced) values of the folded op, the PACK its per-frame
output.  Anything else - quantized or hybrid steps, other per-step values (an LSTM's
c), a cell that does not fold - is not folded (:func:`find` gives None, or the hook
raises :class:`NotUnrolled`) and the importer converts the model as before (a window
of T frames per call): each int8 step has its own quantization, which no op has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations

import numpy as np

from .meta import Refuse
from .reader import Operator, Subgraph, TFLModel
from .step_eval import run

MAX_CARRIED = 5  # carried tensors per step (their pairing is searched: n! orders)


class NotUnrolled(Exception):  # noqa: N818 - a signal: convert the model without the plan
    """The unrolled structure did not fold; convert without it."""


@dataclass
class Plan:
    """A found unrolled recurrence: what the hook needs to emit and skip.

    Step 1 (the template) is ``f`` then ``g``: ``f`` computes the new state (h, c) from
    the frame and the carried inputs, ``g`` the carried values the next step reads that
    are computed from the state alone (the converter moves ``h R`` there); the last step
    has no ``g``.  The stream's states are ``states``: the values ``f`` hands on.
    """

    unpack: Operator
    frames: list[int]           # x_0 .. x_{T-1}: the UNPACK outputs
    f: list[Operator]           # step 1's ops up to the new state, in order
    g: list[Operator]           # step 1's ops from the new state to step 2's inputs
    ins: list[int]              # step 1's carried inputs (slot order)
    outs: list[int]             # step 1's carried outputs (slot order)
    states: list[int]           # the state values of step 1 (f's outputs g or step 2 read)
    last: list[int]             # the same values of the last step
    cell: set[int] = field(default_factory=set)  # operator indices of every step
    chains: dict[int, list] = field(default_factory=dict)  # state -> its tensor per step
    packs: dict[int, int] = field(default_factory=dict)  # PACK over time -> state index
    first: dict[int, int] = field(default_factory=dict)  # state -> step 0's (a PACK's)
    out: tuple | None = None    # once folded: (state index, IR value, frame schedule)
    off: bool = False

    @property
    def revealed(self) -> tuple[int, int, str]:
        """(tensor, time axis, by what) for :func:`.io.input_specs`."""
        return (self.unpack.inputs[0], int(self.unpack.options.get("axis", 0)),
                f"an unrolled recurrence (UNPACK, operator {self.unpack.index})")

    def hook(self, ctx, op: Operator) -> bool:
        """The importer's intercept: emit the folded op at the UNPACK, skip the steps."""
        if self.off:
            return False
        if op.index == self.unpack.index:
            seq = ctx.meta(op.inputs[0])
            if seq.time is None:  # (the user gave the input no time axis: a window)
                self.off = True
                return False
            from .unrolled_emit import emit

            emit(self, ctx, seq)
            return True
        if op.index in self.packs:
            from .unrolled_emit import sequence

            sequence(self, ctx, op)
            return True
        return op.index in self.cell


def find(model: TFLModel, index: int) -> Plan | None:
    """The unrolled float recurrence of subgraph ``index``, or None."""
    sg = model.subgraphs[index]
    for u in sg.operators:
        if u.opcode == "UNPACK" and len(u.outputs) >= 3 and \
                sg.tensors[u.inputs[0]].type_name == "FLOAT32":
            plan = _plan(sg, u)
            if plan is not None:
                return plan
    return None


def _steps(sg: Subgraph, u: Operator) -> tuple[list[list[Operator]], dict[int, int]]:
    """Ops per frame they last depend on, and each tensor's frame (-1: none)."""
    dep = {t: k for k, t in enumerate(u.outputs)}
    steps: list[list[Operator]] = [[] for _ in u.outputs]
    for op in sg.operators[u.index + 1:]:
        k = max((dep.get(i, -1) for i in op.inputs), default=-1)
        for o in op.outputs:
            dep[o] = k
        if k >= 0:
            steps[k].append(op)
    return steps, dep


def _carried(step: list[Operator], dep: dict, k: int, frames) -> list[int] | None:
    """The values of step k-1 step k reads (sorted), None if it reads older steps."""
    ins = {i for op in step if op.opcode != "PACK"  # (a per-step output: see _packs)
           for i in op.inputs if 0 <= dep.get(i, -1) < k}
    if any(dep[i] != k - 1 or i in frames for i in ins):
        return None
    return sorted(ins)


def _plan(sg: Subgraph, u: Operator) -> Plan | None:
    steps, dep = _steps(sg, u)
    frames, T = list(u.outputs), len(u.outputs)
    carried = [None] + [_carried(steps[k], dep, k, frames) for k in range(1, T)]
    n = len(carried[1] or ())
    if not 1 <= n <= MAX_CARRIED or any(c is None or len(c) != n for c in carried[1:]):
        return None
    if not all(_float(sg, op) for s in steps for op in s):
        return None
    for outs in permutations(carried[2]):
        plan = _matched(sg, u, steps, carried[1], list(outs))
        if plan is not None and _packs(sg, steps[0], plan) and \
                _first_step(sg, steps[0], plan) and _sealed(sg, steps, plan):
            return plan
    return None


def _float(sg: Subgraph, op: Operator) -> bool:
    return all(sg.tensors[i].type_name in ("FLOAT32", "INT32")
               for i in (*op.inputs, *op.outputs) if i >= 0)


def _matched(sg, u, steps, ins, outs) -> Plan | None:
    """The plan if steps 2..T-2 repeat step 1 exactly on their own frame and carried
    values, and the last step repeats its ``f`` part (see :class:`Plan`)."""
    frames, template = list(u.outputs), steps[1]
    cell = {op.index for op in steps[0] + steps[1]}
    prev, maps = list(outs), []
    for k in range(2, len(steps)):
        mapping = {frames[1]: frames[k], **dict(zip(ins, prev, strict=True))}
        used, done = _match(sg, template, steps[k], mapping)
        middle = k < len(steps) - 1
        if middle and (len(done) != len(template) or len(used) != len(steps[k])):
            return None
        cell |= used
        maps.append(mapping)
        prev = [mapping.get(o, -1) for o in outs]
    f = [op for op in template if op.index in done]
    g = [op for op in template if op.index not in done]
    states = _states(f, g, outs)
    if states is None or not f or any(s not in mapping for s in states):
        return None
    chains = {s: [-1, s] + [m.get(s, -1) for m in maps] for s in states}
    return Plan(u, frames, f, g, list(ins), list(outs), states,
                [mapping[s] for s in states], cell, chains)


def _packs(sg: Subgraph, step0: list[Operator], plan: Plan) -> bool:
    """Find the PACKs over time of a state's value at every step (``return_sequences``);
    their step-0 input is checked by :func:`_first_step`.  False if two disagree."""
    axis = int(plan.unpack.options.get("axis", 0))
    made0 = {o for op in step0 for o in op.outputs}
    for op in sg.operators:
        if op.opcode != "PACK" or int(op.options.get("axis", 0)) != axis or \
                len(op.inputs) != len(plan.frames) or op.inputs[0] not in made0:
            continue
        j = next((j for j, s in enumerate(plan.states)
                  if list(op.inputs[1:]) == plan.chains[s][1:]), None)
        if j is not None:
            s = plan.states[j]
            if plan.first.setdefault(s, op.inputs[0]) != op.inputs[0]:
                return False
            plan.packs[op.index] = j
    return True


def _match(sg, template, step, mapping: dict) -> tuple[set[int], set[int]]:
    """Map the template's ops onto ``step``'s (extending ``mapping``): (the step's ops
    used, the template's ops found); an op not found leaves its outputs unmapped."""
    used, done = set(), set()
    for t in template:
        want = [mapping.get(i, i) for i in t.inputs]
        op = next((s for s in step if s.index not in used and s.opcode == t.opcode and
                   s.options == t.options and len(s.outputs) == len(t.outputs) and
                   len(s.inputs) == len(want) and
                   all(_same(sg, a, b) for a, b in zip(s.inputs, want, strict=True))), None)
        if op is None:
            mapping.update({o: -2 for o in t.outputs})  # (nothing reads -2)
            continue
        used.add(op.index)
        done.add(t.index)
        mapping.update(zip(t.outputs, op.outputs, strict=True))
    return used, done


def _same(sg: Subgraph, a: int, b: int) -> bool:
    if a == b:
        return True
    ta, tb = (sg.tensors[i] if i >= 0 else None for i in (a, b))
    return ta is not None and tb is not None and ta.data is not None and \
        tb.data is not None and ta.type_name == tb.type_name and \
        np.array_equal(np.asarray(ta.data), np.asarray(tb.data))


def _states(f, g, outs) -> list[int] | None:
    """The values ``f`` hands on: the carried outputs it makes and what ``g`` reads of
    it; None if ``g`` reads anything else that is not a constant."""
    made_f = {o for op in f for o in op.outputs}
    made_g = {o for op in g for o in op.outputs}
    states = [o for o in outs if o in made_f]
    for op in g:
        for i in op.inputs:
            if i in made_f and i not in states:
                states.append(i)
    if any(o not in made_f | made_g for o in outs):
        return None
    return states


def _first_step(sg, step0: list[Operator], plan: Plan, tries: int = 3) -> bool:
    """Step 0 (its zero state folded away) hands step 1 what the template hands step 2
    from a zero state, checked numerically on random frames."""
    rng = np.random.default_rng(0)
    for _ in range(tries):
        x = rng.standard_normal(sg.tensors[plan.frames[0]].shape)
        try:
            got = run(sg, step0, {plan.frames[0]: x})
            zero = run(sg, plan.g, {s: np.zeros(sg.tensors[s].shape) for s in plan.states})
            if got is None or zero is None:
                return False
            start = {i: zero.get(o, np.zeros(sg.tensors[i].shape))
                     for i, o in zip(plan.ins, plan.outs, strict=True)}
            want = run(sg, plan.f + plan.g, {plan.frames[1]: x, **start})
        except (Refuse, ValueError, IndexError, KeyError):
            return False
        if want is None:
            return False
        pairs = list(zip(plan.ins, plan.outs, strict=True)) + list(
            (p0, s) for s, p0 in plan.first.items())
        for i, o in pairs:
            if i not in got or not np.allclose(got[i], want[o], rtol=1e-6, atol=1e-6):
                return False
    return True


def _sealed(sg: Subgraph, steps, plan: Plan) -> bool:
    """No value of a step but the last step's states is read outside the cell, or is a
    graph output."""
    inside = plan.cell | {plan.unpack.index} | set(plan.packs)
    made = {o for s in steps for op in s if op.index in plan.cell for o in op.outputs}
    hidden = (made | set(plan.frames)) - set(plan.last)
    if any(i in hidden for op in sg.operators if op.index not in inside for i in op.inputs):
        return False
    return not set(sg.outputs) & hidden
