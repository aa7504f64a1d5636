"""The ``int8-full`` pass: a float graph -> a TFLite-style full-integer graph.

``to_int8_full(graph, stats, keep_float)`` follows the conventions of
:mod:`edgernn.ops.quant`.  Every op with an integer kernel runs on int8 values:
Dense, Conv, LSTM, GRU, RNN (default activations), Unary (any function, as a table),
Binary Add/Sub/Mul of two values, Concat of values, Softmax, and the layout ops after
an integer value (they keep its quantization).  Ops in ``keep_float`` and all others
(LogSoftmax, Reduce, LayerNorm, Binary with a constant, ...) stay float32, with
``Dequantize``/``Quantize`` around them; float graph inputs enter through
``Quantize`` and float outputs (and state-loop outputs) leave through ``Dequantize``.

Quantization (TFLite's post-training rules):

* activations: asymmetric int8 from the calibrated (min, max) widened to contain 0,
  ``scale = (max - min) / 255``, zero point ``round(-128 - min / scale)`` clamped
  (GetAsymmetricQuantizationParams, float32); Sigmoid and Softmax outputs 1/256 with
  zero point -128, Tanh outputs 1/128 with 0; a Dense/Conv read only by a Relu/Clip takes that
  activation's quantization (TFLite's fused activation: a clamp in the kernel);
* weights: symmetric int8 per output row, ``max|row| / 127``; biases int32 at
  ``scale_x * scale_w``; LSTM peepholes int16 values (as i32) per gate block;
* the LSTM cell: int16 on ``2**(ceil(log2(max|c|)) - 15)`` from ``stats[f"{op}/c"]``
  (clamped to 2**-15 .. 2**-9); the projection input ``o * tanh(c)`` on 1/128.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

import numpy as np

from edgernn.ir import Graph, Op, Tensor, Value
from edgernn.ops import get
from edgernn.ops.qtables import clamp_bounds
from edgernn.ops.quant import round_half_away

from .errors import QuantizationError
from .weights import to_q8_rows

Stats = Mapping[str, tuple[float, float]]
FOLLOW = frozenset({"Transpose", "Slice", "Gather", "Pad", "Reshape", "Identity"})
RECURRENT_ACTS = {"LSTM": {("Sigmoid", "Tanh", "Tanh")}, "GRU": {("Sigmoid", "Tanh")},
                  "RNN": {("Tanh",), ("Sigmoid",), ("Relu",)}}
FIXED_OUT = {"Sigmoid": (1.0 / 256, -128), "Tanh": (1.0 / 128, 0), "Softmax": (1.0 / 256, -128)}
HIDDEN = (1.0 / 128, 0)


def asymmetric(lo: float, hi: float) -> tuple[float, int]:
    """TFLite GetAsymmetricQuantizationParams for int8, in float32."""
    lo, hi = min(np.float32(lo), np.float32(0)), max(np.float32(hi), np.float32(0))
    scale = np.float32((hi - lo) / np.float32(255))
    if not scale > 0:
        return 1.0 / 256, 0
    zp_float = np.float32(-128) - lo / scale
    zp = -128 if zp_float < -128 else 127 if zp_float > 127 else int(round_half_away(zp_float))
    return float(scale), zp


def _fn(op: Op) -> str:
    return "Softmax" if op.kind == "Softmax" else str(op.attr("fn"))


def _capable(op: Op, graph: Graph, stats: Stats, int_values: set[str]) -> bool:
    """Whether ``op`` has an integer kernel and the ranges it needs."""
    values = [n for n in op.inputs if n and n in graph.values]
    if any(n not in stats and n not in int_values for n in values):
        return False
    fixed = op.kind in ("Unary", "Softmax") and _fn(op) in FIXED_OUT
    if op.outputs[0] not in stats and not fixed:
        return False
    if op.kind in ("Dense", "Conv"):
        return graph.consts[op.inputs[1]].dtype in ("f32", "f16")
    if op.kind in RECURRENT_ACTS:
        acts = tuple(op.attr("activations"))
        plain = not op.attr("activation_alpha") and not op.attr("activation_beta")
        cell = op.kind != "LSTM" or f"{op.name}/c" in stats
        return acts in RECURRENT_ACTS[op.kind] and plain and cell
    if op.kind == "Binary":
        return _fn(op) in ("Add", "Sub", "Mul") and len(values) == 2
    if op.kind == "Concat":
        return len(values) == len(op.inputs)
    if op.kind == "Softmax":
        return not op.attr("log")
    return op.kind == "Unary"


def integer_ops(graph: Graph, stats: Stats, keep: Iterable[str]) -> set[str]:
    """Names of the ops that run integer."""
    keep, ints, int_values = set(keep), set(), set()
    for op in graph.ops:
        if op.name in keep:
            continue
        if op.kind in FOLLOW:
            ok = op.inputs[0] in int_values and not (
                op.kind == "Pad" and float(op.attr("value")) != 0.0)
        else:
            ok = _capable(op, graph, stats, int_values)
        if ok:
            ints.add(op.name)
            int_values.add(op.outputs[0])
    return ints


def value_params(graph: Graph, stats: Stats, ints: set[str]) -> dict[str, tuple[float, int]]:
    """(scale, zero point) of every value an integer op writes."""
    params: dict[str, tuple[float, int]] = {}
    readers: dict[str, list[Op]] = {}
    for op in graph.ops:
        for n in op.inputs:
            readers.setdefault(n, []).append(op)
    for op in graph.ops:
        if op.name not in ints:
            continue
        out = op.outputs[0]
        if op.kind in FOLLOW:
            params[out] = params.get(op.inputs[0]) or asymmetric(*stats[op.inputs[0]])
        elif op.kind in ("Unary", "Softmax") and _fn(op) in FIXED_OUT:
            params[out] = FIXED_OUT[_fn(op)]
        else:
            params[out] = asymmetric(*stats[out])
    for op in graph.ops:  # a Dense/Conv feeding only a clamp: the clamp's quantization
        users = readers.get(op.outputs[0], [])
        if (op.kind in ("Dense", "Conv") and op.name in ints and len(users) == 1
                and users[0].name in ints and users[0].kind == "Unary"
                and clamp_bounds(users[0]) is not None and op.outputs[0] not in graph.outputs):
            params[op.outputs[0]] = params[users[0].outputs[0]]
    return params


def i32_codes(b: np.ndarray, scale: np.ndarray, lo: int = -2 ** 31, hi: int = 2 ** 31 - 1):
    """round(b / scale) clamped to [lo, hi], as int32 (scale broadcasts over b)."""
    return np.clip(round_half_away(np.asarray(b, np.float64).reshape(-1) / scale), lo, hi
                   ).astype(np.int32)


class _Rewrite:
    """Builds the integer graph: ops in order, conversions where domains meet."""

    def __init__(self, graph: Graph, stats: Stats, ints: set[str], params: dict) -> None:
        self.g, self.stats, self.ints, self.params = graph, stats, ints, params
        self.must_float = set(graph.outputs) | {s.output for s in graph.states}
        self.values: dict[str, Value] = {v.name: v for v in graph.inputs}
        self.values.update({s.input: graph.values[s.input] for s in graph.states})
        self.consts: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.fnames = {n: n for n in self.values}
        self.qnames: dict[str, str] = {}

    def run(self, meta: dict) -> Graph:
        for op in self.g.ops:
            if op.name in self.ints:
                self._int_op(op)
            else:
                self._float_op(op)
        for name in sorted(self.must_float):
            self.float_of(name)
        g = Graph(self.g.inputs, self.g.outputs, tuple(self.ops), self.values, self.consts,
                  self.g.states, meta)
        g.validate()
        return g

    # --- values in either domain ------------------------------------------------------

    def _const(self, name: str) -> str:
        self.consts[name] = self.g.consts[name]
        return name

    def float_of(self, name: str) -> str:
        if name in self.g.consts:
            return self._const(name)
        if name not in self.fnames:
            qn = self.qnames[name]
            out = name if name in self.must_float else f"{name}:f"
            v = self.values[qn]
            self.values[out] = Value(out, v.shape)
            self.ops.append(Op("Dequantize", f"{out}:dequantize", (qn,), (out,), {
                "in_scale": v.scale, "in_zero_point": v.zero_point, "in_dtype": v.dtype}))
            self.fnames[name] = out
        return self.fnames[name]

    def int_of(self, name: str) -> str:
        if name in self.g.consts:
            return self._const(name)
        if name not in self.qnames:
            scale, zp = self.params.get(name) or asymmetric(*self.stats[name])
            out = f"{name}:q"
            self.values[out] = Value(out, self.g.values[name].shape, "i8", scale, zp)
            self.ops.append(Op("Quantize", f"{out}:quantize", (self.fnames[name],), (out,),
                               {"scale": scale, "zero_point": zp, "dtype": "i8"}))
            self.qnames[name] = out
        return self.qnames[name]

    def _float_op(self, op: Op) -> None:
        ins = tuple(self.float_of(n) if n else "" for n in op.inputs)
        out = op.outputs[0]
        self.values[out] = self.g.values[out]
        self.fnames[out] = out
        self.ops.append(Op(op.kind, op.name, ins, (out,), op.attrs))

    def _int_op(self, op: Op) -> None:
        out = op.outputs[0]
        name = f"{out}:q" if out in self.must_float else out
        scale, zp = self.params[out]
        self.values[name] = Value(name, self.g.values[out].shape, "i8", scale, zp)
        self.qnames[out] = name
        ins, attrs = _QUANTIZERS.get(op.kind, _plain)(self, op)
        self.ops.append(Op(op.kind, op.name, ins, (name,), {**op.attrs, **attrs}))

    # --- constants --------------------------------------------------------------------

    def weight(self, op: Op, role: str) -> tuple[str, np.ndarray]:
        """Symmetric int8 per output row (``max|row| / 127``), its float32 scales."""
        t = to_q8_rows(self.g.consts[op.input(role)])
        name = f"{op.name}/{role}:q8"
        self.consts[name] = dataclasses.replace(t, name=name)
        return name, np.asarray(t.scale, np.float32)

    def int_const(self, op: Op, role: str, codes: np.ndarray, scale=None) -> str:
        name = f"{op.name}/{role}:i32"
        sc = None if scale is None else np.asarray(scale, np.float32)
        self.consts[name] = Tensor(name, codes.astype(np.int32), "i32", codes.shape, sc,
                                   None, 0 if sc is not None and sc.ndim else None)
        return name

    def bias(self, op: Op, role: str, scale: np.ndarray) -> str:
        src = op.input(role)
        b = self.g.consts[src].to_float() if src else np.zeros(scale.size)
        return self.int_const(op, role, i32_codes(b, scale.astype(np.float64)), scale)


def _plain(rw: _Rewrite, op: Op) -> tuple[tuple[str, ...], dict]:
    return tuple(rw.int_of(n) if n else "" for n in op.inputs), {}


def _linear(rw: _Rewrite, op: Op) -> tuple[tuple[str, ...], dict]:
    x = rw.int_of(op.inputs[0])
    w, ws = rw.weight(op, "W")
    b = rw.bias(op, "B", np.float32(rw.values[x].scale) * ws)
    return (x, w, b), {}


def _h0(rw: _Rewrite, op: Op) -> str:
    """H0 as int8 codes at the output's quantization (zero point for a zero start)."""
    scale, zp = rw.params[op.outputs[0]]
    src = op.input("H0")
    size = rw.g.values[op.outputs[0]].shape[0]
    real = rw.g.consts[src].to_float().reshape(-1) if src else np.zeros(size)
    if not src and zp == 0:
        return ""
    return rw.int_const(op, "H0", np.clip(round_half_away(real / scale) + zp, -128, 127))


def _recurrent(rw: _Rewrite, op: Op) -> tuple[tuple[str, ...], dict]:
    x = rw.int_of(op.inputs[0])
    sx, (sh, _) = np.float32(rw.values[x].scale), rw.params[op.outputs[0]]
    (w, ws), (r, rs) = rw.weight(op, "W"), rw.weight(op, "R")
    roles = get(op.kind).roles
    ins = dict.fromkeys(roles, "")
    ins.update(x=x, W=w, R=r, H0=_h0(rw, op))
    attrs: dict = {}
    if op.kind == "GRU":
        ins.update(WB=rw.bias(op, "WB", sx * ws), RB=rw.bias(op, "RB", np.float32(sh) * rs))
    else:
        ins["B"] = rw.bias(op, "B", sx * ws)
    if op.kind == "LSTM":
        attrs = _lstm_extras(rw, op, ins)
    names = [ins[r] for r in roles]
    while names and not names[-1]:
        names.pop()
    return tuple(names), attrs


def _lstm_extras(rw: _Rewrite, op: Op, ins: dict) -> dict:
    lo, hi = rw.stats[f"{op.name}/c"]
    amax = max(abs(lo), abs(hi))
    bits = max(0, math.ceil(math.log2(amax))) if amax > 0 else 0
    cell_log2 = min(max(bits - 15, -15), -9)
    attrs = {"cell_scale_log2": cell_log2}
    if op.input("P"):
        p = rw.g.consts[op.input("P")].to_float().reshape(3, -1).astype(np.float64)
        ps = np.repeat(np.maximum(np.abs(p).max(axis=1), 1e-30) / 32767.0, p.shape[1])
        ins["P"] = rw.int_const(op, "P", i32_codes(p, ps, -32767, 32767), ps)
    if op.input("C0"):
        c0 = rw.g.consts[op.input("C0")].to_float()
        ins["C0"] = rw.int_const(op, "C0", i32_codes(c0, 2.0 ** cell_log2, -32768, 32767))
    if op.input("Wproj"):
        ins["Wproj"], wps = rw.weight(op, "Wproj")
        hs, hz = HIDDEN
        ins["Bproj"] = rw.bias(op, "Bproj", np.float32(hs) * wps)
        attrs.update(hidden_scale=hs, hidden_zero_point=hz)
    return attrs


_QUANTIZERS = {"Dense": _linear, "Conv": _linear, "LSTM": _recurrent, "GRU": _recurrent,
               "RNN": _recurrent}


def to_int8_full(graph: Graph, stats: Stats, keep_float: Iterable[str] = frozenset()
                 ) -> Graph:
    """The full-integer version of float ``graph`` (see the module docstring).

    ``stats`` maps value names (and ``f"{op}/c"`` for LSTM cells) to calibrated
    (min, max); ``keep_float`` names ops that stay float32."""
    keep = set(keep_float)
    unknown = sorted(keep - {op.name for op in graph.ops})
    if unknown:
        raise QuantizationError(f"keep_float: no op named {', '.join(unknown)}")
    if any(v.dtype != "f32" for v in graph.values.values()):
        raise QuantizationError("the graph already has integer values; quantize the float "
                                "model instead")
    ints = integer_ops(graph, stats, keep)
    params = value_params(graph, stats, ints)
    meta = {**graph.metadata, "quantization": "int8-full"}
    return _Rewrite(graph, stats, ints, params).run(meta)
