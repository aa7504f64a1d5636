"""Which input axis is time, which is batch, and which inputs are carried state.

Every graph input gets an :class:`InputSpec`.  The time and batch axes come, in
this order of preference, from

1. the caller (``axes={"x": "BTF"}`` / ``--axes x=BTF``: ``T`` time, ``B``
   batch, any other letter a frame axis);
2. the names of symbolic dims (``time``, ``seq_len``, ``frames`` ... /
   ``batch``, ``N`` ...); with only time named, a fixed leading axis of size 1
   in front of it is the batch axis (an export with batch fixed at 1);
3. the first op the input feeds (through Transpose and the ops the op table
   marks ``pass_through``: elementwise ops, MatMul, Softmax ...): an
   LSTM/GRU/RNN fixes time and batch by its ``layout``; a Conv has batch at 0
   and time on its (only symbolic) spatial axis; an LSTM ``initial_h`` marks a
   state;
4. otherwise the input has no time axis: one call = one frame (a step model);
   a leading axis of size 1 (or symbolic) is taken as batch.

Inputs without a time axis that pair with an output (by name and shape, or the
caller's ``state_pairs``) are *state*: fed from the paired output of the
previous frame, never seen by the user.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import onnx

from ..errors import ConversionError
from .consts import suggestion
from .graph import RECURRENT, attrs_of, consumers, data_inputs, declared_dims
from .table import OpTable

TIME_DIM = re.compile(r"time|seq|len|frame|step|chunk|^t$", re.I)
BATCH_DIM = re.compile(r"batch|^n$|^b$|^bs$|^num_streams$", re.I)
STATE_WORDS = {"h", "c", "hx", "cx", "hidden", "cell", "state", "states", "mem", "memory",
               "cache", "carry", "hc", "ctx", "context"}
DROP_TOKENS = {"in", "out", "input", "output", "inputs", "outputs", "prev", "next", "new",
               "old", "init", "initial", "n", "t", "tm1", "tp1", "last", "cur", "current"}


@dataclass(frozen=True)
class InputSpec:
    """One graph input: declared dims, its time and batch axes, how they were found."""

    name: str
    dims: tuple[int | str, ...]
    time: int | None
    batch: int | None
    how: str
    state_of: str = ""  # the output it is fed from, for state inputs
    sizes: tuple[tuple[int, int], ...] = ()  # (axis, size) of free frame axes (chunks)


def parse_axes(spec: str, rank: int, name: str) -> tuple[int | None, int | None]:
    """``"BTF"`` -> (time=1, batch=0); the string must have one letter per axis."""
    letters = [ch for ch in str(spec) if not ch.isspace()]
    if len(letters) != rank:
        raise ConversionError(f"axes {spec!r} for input {name!r}: the input has {rank} axes, "
                              f"give one letter per axis (T = time, B = batch, other = frame)")
    if letters.count("T") > 1 or letters.count("B") > 1:
        raise ConversionError(f"axes {spec!r} for input {name!r}: at most one T and one B")
    t = letters.index("T") if "T" in letters else None
    b = letters.index("B") if "B" in letters else None
    return t, b


def input_specs(model: onnx.ModelProto, table: OpTable,
                axes: dict | None = None) -> list[InputSpec]:
    """Time/batch axes of every data input (see the module docstring)."""
    axes = dict(axes or {})
    vis = data_inputs(model)
    unknown = set(axes) - {v.name for v in vis}
    if unknown:
        raise ConversionError(f"axes given for unknown inputs {sorted(unknown)}; the model's "
                              f"inputs are {[v.name for v in vis]}")
    cons = consumers(model.graph)
    specs = []
    for vi in vis:
        if vi.type.tensor_type.elem_type not in (onnx.TensorProto.FLOAT,
                                                 onnx.TensorProto.FLOAT16,
                                                 onnx.TensorProto.DOUBLE):
            raise ConversionError(suggestion(model, vi))
        dims = declared_dims(vi)
        if vi.name in axes:
            t, b = parse_axes(axes[vi.name], len(dims), vi.name)
            specs.append(InputSpec(vi.name, dims, t, b, "given"))
            continue
        specs.append(_infer(vi.name, dims, cons, table))
    return specs


def _infer(name: str, dims: tuple, cons: dict, table: OpTable) -> InputSpec:
    named_t = [i for i, d in enumerate(dims) if isinstance(d, str) and TIME_DIM.search(d)]
    named_b = [i for i, d in enumerate(dims) if isinstance(d, str) and BATCH_DIM.search(d)]
    found = _trace(name, list(range(len(dims))), dims, cons, table)
    if len(named_t) == 1:
        t, how = named_t[0], f"dim named {dims[named_t[0]]!r}"
        b = named_b[0] if len(named_b) == 1 else (found[1] if found and found[0] == t
                                                    else None)
        if b is None and t > 0 and dims[0] == 1:  # export with batch fixed at 1
            b, how = 0, how + "; fixed leading 1 taken as batch"
        return InputSpec(name, dims, t, b, how)
    if found is not None:
        t, b, how = found
        if b is None and len(named_b) == 1:
            b = named_b[0]
        return InputSpec(name, dims, t, b, how)
    if len(named_b) == 1:
        return InputSpec(name, dims, None, named_b[0], "no time axis found: one call = one "
                                                       "frame")
    if len(dims) >= 2 and (dims[0] == 1 or not isinstance(dims[0], int)):
        return InputSpec(name, dims, None, 0, "no time axis found: one call = one frame; "
                                              "leading axis taken as batch")
    return InputSpec(name, dims, None, None, "no time axis found: one call = one frame")


def _trace(name: str, perm: list[int], dims: tuple, cons: dict, table: OpTable, depth: int = 0):
    """Follow ``name`` to the first recurrent op or Conv; map its axes back to the input."""
    if depth > 12:
        return None
    for node, idx in cons.get(name, []):
        a = attrs_of(node)
        op = node.op_type
        if op in RECURRENT and idx == 0:
            t, b = (1, 0) if a.get("layout", 0) else (0, 1)
            return perm[t], perm[b], f"layout of {op} {node.name!r}"
        if op in RECURRENT and idx in (5, 6):
            b = 0 if a.get("layout", 0) else 1
            return None, (perm[b] if b < len(perm) else None), f"initial state of {node.name!r}"
        if op == "Conv" and idx == 0 and len(perm) in (3, 4):
            spatial = list(range(2, len(perm)))
            sym = [s for s in spatial if not isinstance(dims[perm[s]], int) or dims[perm[s]] == 0]
            if len(spatial) == 1 or len(sym) == 1:
                t = spatial[0] if len(spatial) == 1 else sym[0]
                return perm[t], perm[0], f"Conv {node.name!r} (time = spatial axis)"
            continue
        if op == "Transpose" and idx == 0:
            p = a.get("perm") or list(reversed(range(len(perm))))
            found = _trace(node.output[0], [perm[i] for i in p], dims, cons, table, depth + 1)
        elif table.passes_through(node):
            found = _trace(node.output[0], perm, dims, cons, table, depth + 1)
        else:
            found = None
        if found is not None:
            return found
    return None


def normalize_name(name: str) -> str:
    """``h_out`` -> ``h``, ``hidden_in`` -> ``hidden``, ``c0`` -> ``c``, ``hn`` -> ``h``,
    ``stateN`` -> ``state``."""
    tokens = [t for t in re.split(r"[^0-9a-z]+", name.lower()) if t]
    tokens = [t for t in tokens if t not in DROP_TOKENS and not t.isdigit()]
    if tokens:
        last = re.sub(r"\d+$", "", tokens[-1]) or tokens[-1]
        if len(last) == 2 and last[1] == "n" and last[0] in "hc":
            last = last[0]
        elif last.endswith("n") and last[:-1] in STATE_WORDS:  # stateN: the next state
            last = last[:-1]
        tokens[-1] = last
    return "_".join(tokens)


def _same_dims(a: tuple, b: tuple) -> bool:
    if not a or not b:  # undeclared shape: the probes check it later
        return True
    if len(a) != len(b):
        return False
    return all(x == y or not isinstance(x, int) or not isinstance(y, int)  # symbolic: any
               or x == 0 or y == 0 for x, y in zip(a, b, strict=True))


def pair_states(specs: list[InputSpec], outputs: list[onnx.ValueInfoProto],
                state_pairs: dict[str, str] | None) -> list[InputSpec]:
    """Mark state inputs with the output they are fed from."""
    out_dims = {o.name: declared_dims(o) for o in outputs}
    by_name = {s.name: s for s in specs}
    pairs = dict(state_pairs or {})
    for i, o in pairs.items():
        if i not in by_name:
            raise ConversionError(f"--state {i}={o}: the model has no input {i!r} "
                                  f"(inputs: {sorted(by_name)})")
        if o not in out_dims:
            raise ConversionError(f"--state {i}={o}: the model has no output {o!r} "
                                  f"(outputs: {sorted(out_dims)})")
    taken = set(pairs.values())
    for s in specs:
        if s.name in pairs or s.time is not None:
            continue
        key = normalize_name(s.name)
        match = [o for o in out_dims if key and o not in taken and normalize_name(o) == key
                 and _same_dims(out_dims[o], s.dims)]  # ("input" and "output" both give "")
        if len(match) == 1:
            pairs[s.name] = match[0]
            taken.add(match[0])
    # state-like names left over: pair in order with equal-shaped, unpaired outputs
    leftovers = [s for s in specs if s.name not in pairs and s.time is None
                 and normalize_name(s.name).split("_")[-1] in STATE_WORDS]
    free = [o for o in out_dims if o not in taken]
    for s in leftovers:
        match = [o for o in free if _same_dims(out_dims[o], s.dims)]
        if match and normalize_name(match[0]).split("_")[-1] in STATE_WORDS | {""}:
            pairs[s.name] = match[0]
            free.remove(match[0])
    out = []
    for s in specs:
        if s.name in pairs:
            free = [i for i, d in enumerate(s.dims) if not (isinstance(d, int) and d > 0)]
            batch = free[0] if s.batch is None and len(free) == 1 else s.batch  # (2, ?, 128)
            out.append(dataclasses.replace(s, time=None, batch=batch, state_of=pairs[s.name]))
        else:
            out.append(s)
    return out
