"""Dynamic-range int8 and int4-group kernels vs a plain-numpy model of their arithmetic.

The activations are quantized per row on the fly (checked bit for bit), the integer
products are exact (int64 in numpy), the float epilogue may fuse a multiply-add.
Needs only numpy + numba: it runs in the aarch64 check (tests/arm) too.
"""

from __future__ import annotations

import platform

import numpy as np
import pytest

from edgernn.ir import Tensor, pack_int4
from edgernn.kernels import FASTMATH, linalg
from edgernn.packing import q4_groups, q8_rows

F32 = np.float32


def rnd(rng, *shape):
    return (rng.standard_normal(shape) * 0.3).astype(F32)


def q8_tensor(w: np.ndarray) -> Tensor:
    scale = np.abs(w).max(axis=1) / 127
    q = np.rint(w / scale[:, None]).astype(np.int8)
    return Tensor("w", q, "q8", w.shape, scale.astype(F32), np.zeros(len(w), F32), axis=0)


def q4_tensor(w: np.ndarray, group: int) -> tuple[Tensor, np.ndarray]:
    o, i = w.shape
    n = -(-i // group)
    pad = np.zeros((o, n * group))
    pad[:, :i] = w
    scale = np.abs(pad.reshape(o, n, group)).max(axis=2) / 7
    q = np.rint(pad.reshape(o, n, group) / scale[..., None]).reshape(o, -1)[:, :i]
    return Tensor("w", pack_int4(q), "q4", (o, i), scale.astype(F32), group=group), q


def quantize_rows_np(x):
    m = np.abs(x).max(axis=1)
    s = (m / F32(127)).astype(F32)
    inv = np.where(m > 0, F32(127) / np.where(m > 0, m, 1), 0).astype(F32)
    return np.floor(x * inv[:, None] + F32(0.5)).astype(np.int8), s


@pytest.mark.parametrize("n,o,i", [(1, 512, 128), (3, 7, 40), (5, 64, 1)])
def test_int8_kernel_equals_its_integer_model(n, o, i):
    rng = np.random.default_rng(n + o)
    x, w, b = rnd(rng, n, i), rnd(rng, o, i), rnd(rng, o)
    wq, ws = q8_rows(q8_tensor(w))
    y = np.zeros((n, o), F32)
    linalg.dense_packed(x, (wq, ws, np.zeros((n, i), np.int8), np.zeros(n, F32)), b, y)
    xq, sx = quantize_rows_np(x)
    got_q, got_s = np.zeros_like(xq), np.zeros_like(sx)
    linalg.quantize_rows(x, got_q, got_s)
    np.testing.assert_array_equal(got_q, xq)  # the integer part is exact
    np.testing.assert_array_equal(got_s, sx)
    acc = xq.astype(np.int64) @ wq.astype(np.int64).T  # exact integer products
    want = acc.astype(np.float64) * (sx[:, None] * ws[None, :]) + b
    # the float epilogue may fuse its multiply-add (fastmath contract): float rounding only
    np.testing.assert_allclose(y, want, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("o,i,group", [(6, 40, 32), (3, 64, 32), (4, 10, 4)])
def test_int4_kernel_equals_its_integer_model(o, i, group):
    rng = np.random.default_rng(o * i)
    x, w = rnd(rng, 2, i), rnd(rng, o, i)
    t, q = q4_tensor(w, group)
    wq, gs = q4_groups(t)
    y = np.zeros((2, o), F32)
    scratch = np.zeros((2, 2 * wq.shape[1]), np.int8)
    linalg.dense_packed(x, (wq, gs, scratch, np.zeros(2, F32)), np.zeros(0, F32), y)
    xq, sx = quantize_rows_np(x)
    want = np.zeros((2, o))
    for g in range(t.scale.shape[1]):
        part = slice(g * group, min((g + 1) * group, i))
        acc = xq[:, part].astype(np.int64) @ q[:, part].astype(np.int64).T
        want += acc * t.scale[:, g].astype(np.float64)[None, :]
    np.testing.assert_allclose(y, want * sx[:, None], rtol=1e-6, atol=1e-7)


def test_int8_inner_loop_uses_integer_multiply_add():
    """x86: the int8 dot compiles to vpmaddwd (or VNNI vpdpbusd / vpdpwssd)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("x86 assembly check (aarch64: tests/arm/asm_cases.py)")
    from numba import njit

    # a fresh compile: a kernel loaded from the on-disk cache has no assembly text
    kernel = njit(cache=False, fastmath=FASTMATH, error_model="numpy")(linalg._xwt_q8.py_func)
    rng = np.random.default_rng(0)
    kernel(rnd(rng, 1, 128), np.zeros((512, 128), np.int8), np.ones(512, F32),
           np.zeros((1, 128), np.int8), np.zeros(1, F32), np.zeros(0, F32),
           np.zeros((1, 512), F32), False)
    asm = "\n".join(kernel.inspect_asm(sig) for sig in kernel.signatures)
    assert any(op in asm for op in ("vpmaddwd", "vpdpbusd", "vpdpwssd", "pmaddwd")), \
        "no integer multiply-add in the int8 kernel"
