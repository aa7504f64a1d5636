"""Frame-shape inference for every IR op.

The builder uses it to give values their shapes; the planner uses it to check
that a loaded graph's declared shapes are consistent *before* any kernel sees
them (kernels do no bounds checks, so a lying header must be stopped here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .ir import Graph, GraphError, Op
from .kernels import layout

Shape = tuple[int, ...]


def _size(shape: Sequence[int]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _need(cond: bool, op: Op, what: str) -> None:
    if not cond:
        raise GraphError(f"op {op.name!r} ({op.kind}): {what}")


def _opt(shapes: list[Shape | None], i: int) -> Shape | None:
    return shapes[i] if i < len(shapes) else None


def _dense(op: Op, s: list) -> Shape:
    x, w, b = s[0], s[1], _opt(s, 2)
    _need(len(w) == 2 and len(x) >= 1 and x[-1] == w[1], op, f"x {x} does not fit W {w}")
    _need(b is None or _size(b) == w[0], op, f"bias {b} does not match {w[0]} outputs")
    return (*x[:-1], w[0])


OPTIONAL_ROLES = {
    "LSTM": {3: "B", 4: "P", 6: "Bproj", 7: "H0", 8: "C0"},
    "GRU": {3: "WB", 4: "RB", 5: "H0"},
    "RNN": {3: "B", 4: "H0"},
}


def _optional_sizes(kind: str, rows: int, hidden: int, out: int) -> dict[int, int]:
    """Input index -> required element count of the optional recurrent inputs."""
    if kind == "LSTM":
        return {3: rows, 4: 3 * hidden, 6: out, 7: out, 8: hidden}
    if kind == "GRU":
        return {3: rows, 4: rows, 5: out}
    return {3: rows, 4: out}


def _recurrent(gates: int) -> Callable[[Op, list], Shape]:
    def infer(op: Op, s: list) -> Shape:
        x, w, r = s[0], s[1], s[2]
        _need(len(x) == 1, op, f"input must be a vector per frame, got {x}")
        _need(len(w) == 2 and w[1] == x[0] and w[0] % gates == 0, op, f"W {w} vs x {x}")
        hidden = w[0] // gates
        _need(op.attr("hidden_size") in (0, hidden), op, "hidden_size does not match W")
        out = hidden
        if op.kind == "LSTM" and _opt(s, 5) is not None:
            wp = s[5]
            _need(len(wp) == 2 and wp[1] == hidden, op, f"Wproj {wp} vs hidden {hidden}")
            out = wp[0]
        _need(r == (gates * hidden, out), op, f"R {r} should be {(gates * hidden, out)}")
        for i, want in _optional_sizes(op.kind, gates * hidden, hidden, out).items():
            got = _opt(s, i)
            _need(got is None or _size(got) == want, op,
                  f"input {i} ({OPTIONAL_ROLES[op.kind][i]}) has shape {got}, needs {want} "
                  f"values" + (" (sum the input and recurrent biases)"
                               if got and _size(got) == 2 * want and i == 3 else ""))
        return (out,)

    return infer


def _conv(op: Op, s: list) -> Shape:
    x, w = s[0], s[1]
    _need(len(x) in (1, 2) and len(w) == len(x) + 2, op, f"x {x} and W {w} ranks")
    groups = int(op.attr("groups"))
    _need(groups >= 1 and x[0] % groups == 0 and w[0] % groups == 0
          and w[1] * groups == x[0], op, f"channels: x {x}, W {w}, groups {groups}")
    for key in ("stride", "dilation", "freq_stride", "freq_dilation"):
        _need(int(op.attr(key)) >= 1, op, f"{key} must be >= 1")
    _need(0 <= int(op.attr("delay")) <= (w[2] - 1) * int(op.attr("dilation")), op,
          "delay must lie in [0, (Kt-1)*dilation]")
    b = _opt(s, 2)
    _need(b is None or _size(b) == w[0], op, f"bias {b} vs {w[0]} channels")
    if len(x) == 1:
        return (w[0],)
    p0, p1 = op.attr("freq_pads")
    span = int(op.attr("freq_dilation")) * (w[3] - 1) + 1
    fout = (x[1] + p0 + p1 - span) // int(op.attr("freq_stride")) + 1
    _need(fout >= 1, op, "frequency axis too short for the kernel")
    return (w[0], fout)


def _binary(op: Op, s: list) -> Shape:
    try:
        return tuple(np.broadcast_shapes(s[0], s[1]))
    except ValueError:
        raise GraphError(f"op {op.name!r}: shapes {s[0]} and {s[1]} do not broadcast") from None


def _axis(op: Op, axis: int, rank: int) -> int:
    _need(-rank <= axis < rank, op, f"axis {axis} out of range for rank {rank}")
    return axis % rank


def _reduce(op: Op, s: list) -> Shape:
    x = s[0]
    axes = sorted({_axis(op, a, len(x)) for a in op.attr("axes")})
    if op.attr("keepdims"):
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def _layer_norm(op: Op, s: list) -> Shape:
    x = s[0]
    axis = _axis(op, op.attr("axis"), len(x))
    for i in (1, 2):
        p = _opt(s, i)
        _need(p is None or _size(p) in (1, _size(x[axis:])), op, f"scale/bias {p} vs {x}")
    return x


def _concat(op: Op, s: list) -> Shape:
    return _via_layout(op, lambda: layout.concat_index(s, op.attr("axis"))[1])


def _reshape(op: Op, s: list) -> Shape:
    shape = tuple(int(d) for d in op.attr("shape"))
    _need(all(d >= 1 for d in shape) and _size(shape) == _size(s[0]), op,
          f"cannot reshape {s[0]} to {shape}")
    return shape


def _via_layout(op: Op, fn: Callable[[], Shape]) -> Shape:
    try:
        return tuple(int(d) for d in fn())
    except (ValueError, IndexError, TypeError) as e:
        raise GraphError(f"op {op.name!r} ({op.kind}): {e}") from None


def _same(op: Op, s: list) -> Shape:
    return s[0]


INFER: dict[str, Callable[[Op, list], Shape]] = {
    "Dense": _dense,
    "LSTM": _recurrent(4),
    "GRU": _recurrent(3),
    "RNN": _recurrent(1),
    "Conv": _conv,
    "Unary": _same,
    "Binary": _binary,
    "Softmax": lambda op, s: (_axis(op, op.attr("axis"), len(s[0])), s[0])[1],
    "Reduce": _reduce,
    "LayerNorm": _layer_norm,
    "Concat": _concat,
    "Reshape": _reshape,
    "Identity": _same,
    "Transpose": lambda op, s: _via_layout(
        op, lambda: layout.transpose_index(s[0], op.attr("perm"))[1]),
    "Slice": lambda op, s: _via_layout(op, lambda: layout.slice_index(
        s[0], op.attr("axes"), op.attr("starts"), op.attr("ends"), op.attr("steps"))[1]),
    "Pad": lambda op, s: _via_layout(op, lambda: layout.pad_index(s[0], op.attr("pads"))[1]),
}


def _check_attrs(op: Op) -> None:
    """Enumerated attributes must name something the kernels implement."""
    from .kernels.activations import activation_params
    from .kernels.elementwise import BINARY, UNARY
    from .kernels.normalize import REDUCE

    table = {"Unary": UNARY, "Binary": BINARY, "Reduce": REDUCE}.get(op.kind)
    if table is not None:
        _need(op.attr("fn") in table, op, f"unknown function {op.attr('fn')!r}; "
                                          f"supported: {', '.join(sorted(table))}")
    if op.kind in ("LSTM", "GRU", "RNN"):
        acts = op.attr("activations")
        _need(len(acts) == {"LSTM": 3, "GRU": 2, "RNN": 1}[op.kind], op,
              f"needs {dict(LSTM=3, GRU=2, RNN=1)[op.kind]} activations, got {acts}")
        activation_params(acts, op.attr("activation_alpha"), op.attr("activation_beta"))
        _need(float(op.attr("clip")) >= 0, op, "clip must be >= 0")


def infer_op(op: Op, shapes: list[Shape | None], consts: dict | None = None) -> Shape:
    """The output frame shape of ``op`` given its input shapes (None for absent optionals)."""
    try:
        _check_attrs(op)
    except (TypeError, ValueError) as e:
        raise GraphError(f"op {op.name!r} ({op.kind}): bad attribute ({e})") from None
    if op.kind == "Gather":
        _need(consts is not None and op.inputs[1] in consts, op, "indices must be a constant")
        idx = consts[op.inputs[1]].to_float().astype(np.int64)
        return _via_layout(op, lambda: layout.gather_index(shapes[0], idx, op.attr("axis"))[1])
    _need(len(op.outputs) == 1, op, "ops have exactly one output")
    return INFER[op.kind](op, shapes)


def check_graph(graph: Graph) -> None:
    """Infer every op's output shape and compare with the declared one."""
    for op in graph.ops:
        shapes = [graph.shape(n) if n else None for n in op.inputs]
        try:
            got = infer_op(op, shapes, dict(graph.consts))
        except GraphError:
            raise
        except (TypeError, ValueError, KeyError, IndexError) as e:
            raise GraphError(f"op {op.name!r} ({op.kind}): bad attributes ({e})") from None
        declared = graph.values[op.outputs[0]].shape
        if tuple(got) != tuple(declared):
            raise GraphError(f"op {op.name!r} ({op.kind}): output {op.outputs[0]!r} is declared "
                             f"{declared} but the op produces {got}")
    for s in graph.states:
        for name in (s.input, s.output):
            if graph.shape(name) != tuple(s.shape):
                raise GraphError(f"state {s.input}->{s.output}: {name!r} has shape "
                                 f"{graph.shape(name)}, state declared {s.shape}")
