"""Plain-numpy float64 reference cells for the non-recurrent ops, written from the ONNX
operator spec (Conv, the activation ops, Softmax/LogSoftmax, Reduce*, LayerNormalization),
independent of the kernels.  The recurrent cells live in :mod:`.cells`.
"""

from __future__ import annotations

import math

import numpy as np

# --- Conv --------------------------------------------------------------------------------


def conv2d(x, w, b, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), group=1):
    """ONNX Conv on (N, C, H, W) with W (M, C/group, kH, kW), pads (h0, w0, h1, w1).

    Explicit loops over output positions and kernel taps; float64.
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    assert c == cg * group and m % group == 0
    xp = np.zeros((n, c, h + pads[0] + pads[2], wd + pads[1] + pads[3]))
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + wd] = x
    oh = (xp.shape[2] - dilations[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (xp.shape[3] - dilations[1] * (kw - 1) - 1) // strides[1] + 1
    y = np.zeros((n, m, max(oh, 0), max(ow, 0)))
    mg = m // group
    for g in range(group):
        wg = w[g * mg:(g + 1) * mg]
        xg = xp[:, g * cg:(g + 1) * cg]
        for i in range(max(oh, 0)):
            for j in range(max(ow, 0)):
                acc = np.zeros((n, mg))
                for p in range(kh):
                    for q in range(kw):
                        tap = xg[:, :, i * strides[0] + p * dilations[0],
                                 j * strides[1] + q * dilations[1]]
                        acc += tap @ wg[:, :, p, q].T
                y[:, g * mg:(g + 1) * mg, i, j] = acc
    if b is not None and len(b):
        y += np.asarray(b, np.float64)[None, :, None, None]
    return y


def causal_conv(x, w, b, stride=1, dilation=1, delay=0, groups=1, fstride=1, fdilation=1,
                fpads=(0, 0)):
    """What a streamed causal conv must emit for a whole sequence.

    x (T, B, Cin, F), w (Cout, Cg, Kt, Kf) -> (M, B, Cout, Fout): the source model's
    conv whose time padding is (Kt-1)*dilation - delay at the start and 0 at the end.
    """
    kt = w.shape[2]
    left = (kt - 1) * dilation - delay
    xs = np.transpose(np.asarray(x, np.float64), (1, 2, 0, 3))  # (B, C, T, F)
    y = conv2d(xs, w, b, (stride, fstride), (dilation, fdilation),
               (left, fpads[0], 0, fpads[1]), groups)
    return np.transpose(y, (2, 0, 1, 3))


# --- elementwise --------------------------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])


def unary(fn, x, alpha=0.0, beta=0.0):
    """The activation ``fn`` of :mod:`edgernn.activations` in float64, from its definition
    (Clip: min=alpha, max=beta)."""
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        table = {
            "Affine": lambda: alpha * x + beta,
            "ThresholdedRelu": lambda: np.where(x > alpha, x, 0.0),
            "ScaledTanh": lambda: alpha * np.tanh(beta * x),
            "Rsqrt": lambda: 1.0 / np.sqrt(x),
            "Square": lambda: x * x,
            "HardSwish": lambda: x * np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0,
            "Silu": lambda: x / (1.0 + np.exp(-x)),
            "Relu": lambda: np.maximum(x, 0.0),
            "LeakyRelu": lambda: np.where(x >= 0, x, alpha * x),
            "Sigmoid": lambda: 1.0 / (1.0 + np.exp(-x)),
            "Tanh": lambda: np.tanh(x),
            "Sqrt": lambda: np.sqrt(x),
            "Exp": lambda: np.exp(x),
            "Log": lambda: np.log(x),
            "Abs": lambda: np.abs(x),
            "Neg": lambda: -x,
            "Reciprocal": lambda: 1.0 / x,
            "Softplus": lambda: np.logaddexp(0.0, x),
            "Softsign": lambda: x / (1.0 + np.abs(x)),
            "Elu": lambda: np.where(x > 0, x, alpha * (np.exp(x) - 1.0)),
            "HardSigmoid": lambda: np.maximum(0.0, np.minimum(1.0, alpha * x + beta)),
            "Clip": lambda: np.minimum(np.maximum(x, alpha), beta),
            "Erf": lambda: _erf(x),
            "Gelu": lambda: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
        }
        return table[fn]()


def binary(fn, a, b):
    """ONNX Add/Sub/Mul/Div/Pow/Max/Min/PRelu (b = slope) and the comparisons (1.0 where
    true, 0.0 where false) with numpy broadcasting, float64."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    with np.errstate(all="ignore"):
        return {
            "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
            "Pow": np.power, "Max": np.maximum, "Min": np.minimum,
            "PRelu": lambda x, slope: np.where(x < 0, x * slope, x),
            "Greater": np.greater, "GreaterEqual": np.greater_equal, "Less": np.less,
            "LessEqual": np.less_equal, "Equal": np.equal, "NotEqual": np.not_equal,
        }[fn](a, b).astype(np.float64)


def where(c, a, b):
    """ONNX Where on a float condition (nonzero = true), float64."""
    return np.where(np.asarray(c) != 0, np.asarray(a, np.float64), np.asarray(b, np.float64))


# --- normalization ------------------------------------------------------------------------


def softmax(x, axis=-1, log=False):
    """ONNX Softmax / LogSoftmax (opset 13: over one axis), float64."""
    x = np.asarray(x, np.float64)
    z = x - np.max(x, axis=axis, keepdims=True)
    lse = np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
    return z - lse if log else np.exp(z - lse)


def reduce(fn, x, axes, keepdims=False):
    """ONNX ReduceMean/Max/Min/Sum, float64."""
    f = {"Mean": np.mean, "Max": np.max, "Min": np.min, "Sum": np.sum}[fn]
    return f(np.asarray(x, np.float64), axis=tuple(axes), keepdims=keepdims)


def layernorm(x, scale, bias=None, axis=-1, epsilon=1e-5):
    """ONNX LayerNormalization: normalize over axes axis..end (population variance,
    epsilon inside the square root), then * scale + bias."""
    x = np.asarray(x, np.float64)
    axes = tuple(range(axis % x.ndim, x.ndim))
    mean = np.mean(x, axis=axes, keepdims=True)
    d = x - mean
    var = np.mean(d * d, axis=axes, keepdims=True)
    y = d / np.sqrt(var + epsilon) * np.asarray(scale, np.float64)
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return y
