"""Operators whose inputs are all constant are evaluated at conversion time.

Weight preprocessing (DEQUANTIZE of float16 weights, a TRANSPOSE of a constant, shape
arithmetic) becomes a constant; nothing is emitted.  Arithmetic runs on the real
(dequantized) values and is quantized back to the output tensor's type.
"""

from __future__ import annotations

import numpy as np

from .context import Context, dequantize
from .meta import Meta, Refuse
from .reader import Operator

_ARITH = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply, "DIV": np.divide,
          "MAXIMUM": np.maximum, "MINIMUM": np.minimum, "POW": np.power,
          "LESS": np.less, "GREATER": np.greater, "EQUAL": np.equal,
          "GREATER_EQUAL": np.greater_equal, "LESS_EQUAL": np.less_equal,
          "LOGICAL_AND": np.logical_and, "LOGICAL_OR": np.logical_or}
_UNARY = {"LOGISTIC": lambda x: 1 / (1 + np.exp(-x)), "TANH": np.tanh, "EXP": np.exp,
          "LOG": np.log, "SQRT": np.sqrt, "RSQRT": lambda x: 1 / np.sqrt(x), "NEG": np.negative,
          "ABS": np.abs, "RELU": lambda x: np.maximum(x, 0), "CAST": lambda x: x,
          "DEQUANTIZE": lambda x: x, "QUANTIZE": lambda x: x}


def _store(ctx: Context, op: Operator, k: int, real: np.ndarray) -> None:
    """Put a constant output from its real value (quantized to the tensor's type)."""
    t = ctx.out(op, k)
    a = np.asarray(real)
    if t.dtype.kind == "f":
        data = a.astype(t.dtype)
    elif t.quantization is not None:
        q = t.quantization
        info = np.iinfo(t.dtype)
        data = np.clip(np.round(a / q.scale[0]) + q.zero_point[0], info.min, info.max)
        data = data.astype(t.dtype)
    else:
        data = a.astype(t.dtype)
    ctx.put(op.outputs[k], Meta(tuple(data.shape), data=data))


def _raw(ctx: Context, op: Operator, k: int) -> np.ndarray:
    return np.asarray(ctx.meta(op.inputs[k]).data)


def _real(ctx: Context, op: Operator, k: int) -> np.ndarray:
    m, t = ctx.meta(op.inputs[k]), ctx.tensor(op.inputs[k])
    quantized = t.quantization is not None and np.asarray(m.data).dtype.kind in "iu"
    return dequantize(t, m.data) if quantized or m.data.dtype == np.float16 \
        else np.asarray(m.data)


def _layout(ctx: Context, op: Operator) -> np.ndarray | None:
    """Layout ops on the raw stored values (no requantization)."""
    x = _raw(ctx, op, 0) if op.inputs else None
    c = op.opcode
    if c == "RESHAPE":
        from .layout import infer_reshape

        new = (_raw(ctx, op, 1).reshape(-1).tolist() if len(op.inputs) > 1
               else op.options.get("new_shape"))
        return x.reshape(infer_reshape(x.shape, new))
    if c == "TRANSPOSE":
        return x.transpose(_raw(ctx, op, 1).reshape(-1).tolist())
    if c == "EXPAND_DIMS":
        return np.expand_dims(x, int(_raw(ctx, op, 1).reshape(-1)[0]))
    if c == "SQUEEZE":
        dims = op.options.get("squeeze_dims") or None
        return np.squeeze(x, axis=tuple(dims) if dims else None)
    if c == "CONCATENATION":
        return np.concatenate([_raw(ctx, op, k) for k in range(len(op.inputs))],
                              axis=op.options.get("axis", 0))
    if c == "PACK":
        return np.stack([_raw(ctx, op, k) for k in range(len(op.inputs))],
                        axis=op.options.get("axis", 0))
    if c == "GATHER":
        return np.take(x, _raw(ctx, op, 1), axis=op.options.get("axis", 0))
    if c == "SHAPE":
        return np.asarray(x.shape, np.int32)
    if c == "STRIDED_SLICE":
        from .slicing import slice_spec

        spec = slice_spec(op, x.shape, *(_raw(ctx, op, k).reshape(-1).tolist()
                                         for k in (1, 2, 3)))
        y = x[tuple(slice(a, b, s) for a, b, s, _ in spec)]
        return y.reshape([n for n, s in zip(y.shape, spec, strict=True) if not s[3]])
    return None


def fold(ctx: Context, op: Operator) -> None:
    """Evaluate ``op`` on its constant inputs; Refuse when it cannot be evaluated here."""
    if op.opcode in ("DEQUANTIZE", "CAST"):
        _store(ctx, op, 0, _real(ctx, op, 0))
        return
    y = _layout(ctx, op)
    if y is not None:
        ctx.put(op.outputs[0], Meta(tuple(y.shape), data=np.ascontiguousarray(y)))
        return
    if op.opcode in _ARITH:
        with np.errstate(all="ignore"):
            _store(ctx, op, 0, _ARITH[op.opcode](_real(ctx, op, 0), _real(ctx, op, 1)))
        return
    if op.opcode in _UNARY:
        with np.errstate(all="ignore"):
            _store(ctx, op, 0, _UNARY[op.opcode](_real(ctx, op, 0)))
        return
    raise Refuse(f"{op.opcode} on constant inputs (no evaluator for it)")


def all_const(ctx: Context, op: Operator) -> bool:
    return bool(op.inputs) and all(i < 0 or ctx.is_const(i) for i in op.inputs)
