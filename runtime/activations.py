"""The one table of activation functions: names, kernel codes, default parameters.

Both the elementwise ``Unary`` op and the gate activations of ``LSTM``/``GRU``/``RNN``
draw on this table, and importers take their defaults from it (so the ONNX
``alpha``/``beta`` defaults are written here and nowhere else).  The kernels that
implement the codes live in :mod:`edgernn.kernels.activations`.

This module imports nothing heavy: converters and tools may read it without numba.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Activation:
    """One activation function.

    ``alpha``/``beta`` are the defaults of its parameters (ONNX semantics), or None
    when it takes no such parameter.  ``gate`` says whether ONNX allows it as an
    activation of a recurrent op.
    """

    name: str
    code: int
    alpha: float | None = None
    beta: float | None = None
    gate: bool = False
    doc: str = ""

    @property
    def takes_alpha(self) -> bool:
        return self.alpha is not None

    @property
    def takes_beta(self) -> bool:
        return self.beta is not None

    def params(self, alpha: float | None = None, beta: float | None = None) -> tuple[float, float]:
        """(alpha, beta) as a kernel takes them: given values, else defaults, else 0."""
        a = alpha if alpha is not None else (self.alpha if self.takes_alpha else 0.0)
        b = beta if beta is not None else (self.beta if self.takes_beta else 0.0)
        return float(a), float(b)


_TABLE = (
    Activation("Sigmoid", 0, gate=True, doc="1 / (1 + exp(-x))"),
    Activation("Tanh", 1, gate=True, doc="tanh(x)"),
    Activation("Relu", 2, gate=True, doc="max(x, 0)"),
    Activation("Affine", 3, 1.0, 0.0, gate=True, doc="alpha * x + beta"),
    Activation("LeakyRelu", 4, 0.01, gate=True, doc="x if x >= 0 else alpha * x"),
    Activation("ThresholdedRelu", 5, 1.0, gate=True, doc="x if x > alpha else 0"),
    Activation("ScaledTanh", 6, 1.0, 1.0, gate=True, doc="alpha * tanh(beta * x)"),
    Activation("HardSigmoid", 7, 0.2, 0.5, gate=True, doc="clip(alpha * x + beta, 0, 1)"),
    Activation("Elu", 8, 1.0, gate=True, doc="x if x > 0 else alpha * (exp(x) - 1)"),
    Activation("Softsign", 9, gate=True, doc="x / (1 + |x|)"),
    Activation("Softplus", 10, gate=True, doc="log(1 + exp(x))"),
    Activation("Sqrt", 11, doc="sqrt(x)"),
    Activation("Exp", 12, doc="exp(x)"),
    Activation("Log", 13, doc="log(x)"),
    Activation("Abs", 14, doc="|x|"),
    Activation("Neg", 15, doc="-x"),
    Activation("Reciprocal", 16, doc="1 / x"),
    Activation("Clip", 17, -math.inf, math.inf, doc="min(max(x, alpha), beta)"),
    Activation("Erf", 18, doc="erf(x)"),
    Activation("Gelu", 19, doc="x / 2 * (1 + erf(x / sqrt(2))), exact"),
    Activation("Rsqrt", 20, doc="1 / sqrt(x)"),
    Activation("Square", 21, doc="x * x"),
    Activation("HardSwish", 22, doc="x * relu6(x + 3) / 6"),
    Activation("Silu", 23, doc="x * sigmoid(x)"),
)

#: name -> :class:`Activation`
ACTIVATIONS: dict[str, Activation] = {a.name: a for a in _TABLE}
#: kernel code -> name
NAMES: dict[int, str] = {a.code: a.name for a in _TABLE}


def lookup(name: str, *, gate: bool = False) -> Activation:
    """The activation called ``name`` (case-insensitive: exporters write "tanh").

    ``gate=True`` accepts only activations ONNX allows inside recurrent ops.
    Raises ``ValueError`` listing what is supported.
    """
    found = ACTIVATIONS.get(name) or next(
        (a for a in _TABLE if a.name.lower() == str(name).lower()), None)
    if found is None or (gate and not found.gate):
        allowed = [a.name for a in _TABLE if a.gate or not gate]
        what = "recurrent-gate activation" if gate else "activation"
        raise ValueError(f"unknown {what} {name!r}; supported: {', '.join(allowed)}")
    return found
