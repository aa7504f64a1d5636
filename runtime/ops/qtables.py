"""256-entry tables for int8 elementwise functions, built once at bind time.

An int8 input has 256 values, so every elementwise function of one int8 value is a
table lookup (:func:`edgernn.kernels.quant.lut8`); only building the table carries
the semantics, and these follow TFLite's int8 kernels:

* ``Relu``, ``Clip`` (Relu6, ReluN1To1): TFLite ReluX, ``clamp(mbqm(q - z_in,
  s_in / s_out) + z_out, act_min, act_max)`` with the range of
  CalculateActivationRangeQuantized: ``z_out + round(bound / s_out)`` in float32;
* ``Sigmoid``, ``Tanh``: TFLite's int8 LOGISTIC/TANH lookup tables (float32:
  ``round(f(s_in * (q - z_in)) * (1 / s_out)) + z_out``), which the LiteRT
  interpreter computes in its builtin, reference and XNNPACK paths alike
  (checked on all 256 inputs in tests/test_qint_tflite.py);
* every other function: dequantize, the float64 reference function, quantize with
  ties away from zero (TFLite's int8 kernels for e.g. LeakyRelu, HardSwish, Elu
  round differently and may differ by one step).
"""

from __future__ import annotations

import numpy as np

from ..activations import lookup
from ..ir import Op
from ..kernels import quant
from ..reference import ops as ref_ops
from .quant import I64, QParams, multipliers, round_half_away

_CODES = np.arange(-128, 128, dtype=np.int64)


def _act(op: Op) -> tuple[str, float, float]:
    act = lookup(op.attr("fn"))
    alpha, beta = act.params(op.attr("alpha"), op.attr("beta"))
    return act.name, alpha, beta


def clamp_bounds(op: Op) -> tuple[float, float] | None:
    """(lower, upper) real bounds of a clamp-like Unary, None for other functions."""
    name, alpha, beta = _act(op)
    if name == "Relu":
        return 0.0, np.inf
    if name == "Clip":
        return alpha, beta
    return None


def activation_range(op: Op, out: QParams) -> tuple[int, int] | None:
    """TFLite CalculateActivationRangeQuantized of a clamp-like Unary on ``out``."""
    bounds = clamp_bounds(op)
    if bounds is None:
        return None
    lo, hi = out.range

    def q(v: float) -> int:
        return out.zero_point + int(round_half_away(np.float32(v) / np.float32(out.scale)))

    qlo = lo if not np.isfinite(bounds[0]) else max(lo, q(bounds[0]))
    qhi = hi if not np.isfinite(bounds[1]) else min(hi, q(bounds[1]))
    return qlo, qhi


def unary_table(op: Op, src: QParams, dst: QParams) -> np.ndarray:
    """int64 [256]: the Unary ``op`` from int8 ``src`` codes to ``dst`` codes."""
    lo, hi = dst.range
    name, alpha, beta = _act(op)
    if clamp_bounds(op) is not None:
        (m, s), = multipliers([src.scale / dst.scale])
        out = np.empty(256, dtype=np.int64)
        alo, ahi = activation_range(op, dst)
        quant.requantize(_CODES, I64(m), I64(s), I64(src.zero_point), I64(dst.zero_point),
                         I64(alo), I64(ahi), out)
        return out
    if name in ("Sigmoid", "Tanh"):
        deq = np.float32(src.scale) * (_CODES - src.zero_point).astype(np.float32)
        with np.errstate(over="ignore"):
            f = (np.float32(1) / (np.float32(1) + np.exp(-deq)) if name == "Sigmoid"
                 else np.tanh(deq)).astype(np.float32)
        scaled = (f * (np.float32(1) / np.float32(dst.scale))).astype(np.float32)
        return np.clip(round_half_away(scaled) + dst.zero_point, lo, hi).astype(np.int64)
    deq = src.scale * (_CODES - src.zero_point).astype(np.float64)
    with np.errstate(all="ignore"):
        f = ref_ops.unary(name, deq, alpha, beta)
    f = np.nan_to_num(np.asarray(f, np.float64), nan=0.0, posinf=1e30, neginf=-1e30)
    return np.clip(round_half_away(np.clip(f / dst.scale, -1e12, 1e12)) + dst.zero_point,
                   lo, hi).astype(np.int64)
