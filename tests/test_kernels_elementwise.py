"""Elementwise, layout and normalization kernels vs numpy / torch / tests/reference_ops.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from edgernn.activations import ACTIVATIONS
from edgernn.kernels.activations import activation as unary
from edgernn.kernels.elementwise import BINARY, COMPARISONS, binary, broadcast_index, where
from edgernn.kernels.layout import (
    concat_index,
    gather,
    gather_index,
    pad_index,
    scatter,
    slice_index,
    transpose_index,
)
from edgernn.kernels.normalize import REDUCE, layernorm, reduce, softmax
from edgernn.reference import ops as ref

F32 = np.float32
EMPTY = np.zeros(0, np.int64)
EMPTY_F = np.zeros(0, np.float32)


def scratch(n):
    """The two (n,) float32 scratch rows softmax takes."""
    return np.zeros(n, np.float32), np.zeros(n, np.float32)
RNG = np.random.default_rng(1234)


def close(got, want, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol)


# --- unary ---------------------------------------------------------------------------------

UNARY = {name: a.code for name, a in ACTIVATIONS.items()}
UNARY_PARAMS = {"LeakyRelu": (0.1, 0.0), "Elu": (0.7, 0.0), "HardSigmoid": (0.2, 0.5),
                "Clip": (-0.5, 1.5), "Affine": (0.5, -0.25), "ThresholdedRelu": (0.3, 0.0),
                "ScaledTanh": (1.5, 0.7)}
POSITIVE = {"Sqrt", "Log", "Reciprocal", "Rsqrt"}


def unary_input(fn):
    x = RNG.standard_normal(1000).astype(F32) * 4
    if fn in POSITIVE:
        x = np.abs(x) + F32(1e-3)
    else:  # extremes: exp overflow must give inf/0 limits, not NaN
        x[:6] = [-100.0, -30.0, 0.0, 30.0, 88.0, 100.0]
    return x


def run_unary(fn, x):
    alpha, beta = UNARY_PARAMS.get(fn, (0.0, 0.0))
    y = np.empty_like(x)
    unary(x, y, np.int64(UNARY[fn]), F32(alpha), F32(beta))
    return y, ref.unary(fn, x, alpha, beta)


def test_unary_codes_cover_the_ir():
    assert sorted(UNARY.values()) == list(range(len(UNARY)))
    assert set(UNARY) >= {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Sqrt", "Exp", "Log", "Abs",
                          "Neg", "Reciprocal", "Softplus", "Softsign", "Elu", "HardSigmoid",
                          "Clip", "Erf", "Gelu"}


@pytest.mark.parametrize("fn", list(UNARY))
def test_unary_vs_reference(fn):
    x = unary_input(fn)
    got, want = run_unary(fn, x)
    assert not np.any(np.isnan(got))
    with np.errstate(over="ignore"):
        want32 = want.astype(F32)  # overflow to inf exactly where float32 overflows
    finite = np.isfinite(want32)
    close(got[finite], want[finite], rtol=2e-6, atol=1e-6)
    np.testing.assert_array_equal(got[~finite], want32[~finite])


@pytest.mark.parametrize("fn,torch_fn", [
    ("Gelu", lambda t: torch.nn.functional.gelu(t, approximate="none")),
    ("Erf", torch.erf),
    ("Softplus", lambda t: torch.nn.functional.softplus(t, threshold=1e9)),
    ("Sigmoid", torch.sigmoid), ("Tanh", torch.tanh),
    ("Elu", lambda t: torch.nn.functional.elu(t, alpha=0.7)),
    ("Softsign", torch.nn.functional.softsign),
])
def test_unary_vs_torch(fn, torch_fn):
    x = RNG.standard_normal(4096).astype(F32) * 5
    got, _ = run_unary(fn, x)
    want = torch_fn(torch.from_numpy(x).double()).numpy()
    close(got, want, rtol=2e-6, atol=1e-6)


def test_unary_in_place():
    x = RNG.standard_normal(37).astype(F32)
    want = np.tanh(x.astype(np.float64))
    unary(x, x, np.int64(UNARY["Tanh"]), F32(0), F32(0))
    close(x, want)


def test_softplus_large_inputs_exact():
    x = np.array([-200, -50, 50, 200], F32)
    got, _ = run_unary("Softplus", x)
    close(got, np.log1p(np.exp(-np.abs(x.astype(np.float64)))) + np.maximum(x, 0), rtol=1e-7)


# --- binary --------------------------------------------------------------------------------


def run_binary(fn, a_frame, b_frame, n_rows, a_const=False, b_const=False):
    """Apply binary to a (n or 1, *a_frame) and b (n or 1, *b_frame); return (got, want)."""
    out_frame = np.broadcast_shapes(a_frame, b_frame)
    a = RNG.standard_normal((1 if a_const else n_rows, *a_frame)).astype(F32)
    b = RNG.standard_normal((1 if b_const else n_rows, *b_frame)).astype(F32)
    if fn == "Pow":
        a = np.abs(a) + F32(0.1)
    if fn == "Div":
        b = np.where(np.abs(b) < 0.1, F32(0.5), b).astype(F32)
    if fn in COMPARISONS:  # coarse values: ties are frequent, so == and >= are tested
        a, b = np.round(a * 2) / 2, np.round(b * 2) / 2
    y = np.empty((n_rows, math.prod(out_frame)), F32)
    ia, ib = broadcast_index(a_frame, out_frame), broadcast_index(b_frame, out_frame)
    sa, sb = (np.empty(y.shape[1] if i.size else 0, F32) for i in (ia, ib))
    binary(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1), y, np.int64(BINARY[fn]),
           ia, ib, sa, sb)
    rank = len(out_frame)  # numpy aligns frames on the right, the row axis stays first
    want = ref.binary(fn, a.reshape(a.shape[0], *(1,) * (rank - len(a_frame)), *a_frame),
                      b.reshape(b.shape[0], *(1,) * (rank - len(b_frame)), *b_frame))
    return y, np.broadcast_to(want, (n_rows, *out_frame)).reshape(n_rows, -1)


BCAST = {  # (a frame, a const?, b frame, b const?)
    "same": ((5, 7), False, (5, 7), False),
    "const_same_shape": ((5, 7), False, (5, 7), True),
    "const_F": ((5, 7), False, (7,), True),
    "const_1": ((5, 7), False, (1,), True),
    "const_scalar": ((5, 7), False, (), True),
    "const_C1": ((5, 7), False, (5, 1), True),
    "const_first": ((5, 1), True, (5, 7), False),
    "values_C1_vs_CF": ((5, 1), False, (5, 7), False),
    "values_both_broadcast": ((5, 1), False, (1, 7), False),
    "values_rank_differs": ((7,), False, (3, 5, 7), False),
}


@pytest.mark.parametrize("case", list(BCAST))
@pytest.mark.parametrize("fn", list(BINARY))
def test_binary(fn, case):
    a_frame, a_const, b_frame, b_const = BCAST[case]
    got, want = run_binary(fn, a_frame, b_frame, 6, a_const, b_const)
    close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", [("same", (5, 7), (5, 7), (5, 7), ""),
                                  ("cond_broadcast", (1,), (5, 7), (5, 7), ""),
                                  ("const_else", (5, 7), (5, 7), (), "b"),
                                  ("const_cond_rows", (5, 1), (1, 7), (5, 7), "c"),
                                  ("rank_differs", (7,), (3, 5, 7), (5, 1), "a")])
def test_where(case):
    """Where vs numpy's where (the float64 reference), with broadcasting and constants."""
    _, cf, af, bf, const = case
    n = 6
    out = np.broadcast_shapes(cf, af, bf)
    arrays = []
    for name, frame in zip("cab", (cf, af, bf), strict=True):
        x = RNG.standard_normal((1 if name in const else n, *frame)).astype(F32)
        arrays.append((x > 0).astype(F32) if name == "c" else x)
    y = np.full((n, math.prod(out)), np.nan, F32)
    where(*(x.reshape(x.shape[0], -1) for x in arrays), y,
          *(broadcast_index(f, out) for f in (cf, af, bf)))
    rank = len(out)
    lifted = [x.reshape(x.shape[0], *(1,) * (rank - len(f)), *f)
              for x, f in zip(arrays, (cf, af, bf), strict=True)]
    want = np.broadcast_to(ref.where(*lifted), (n, *out)).reshape(n, -1)
    assert np.array_equal(y, want)


def test_binary_single_row_and_alias():
    a = RNG.standard_normal((1, 8)).astype(F32)
    b = RNG.standard_normal((1, 8)).astype(F32)
    want = a.astype(np.float64) * b
    binary(a, b, a, np.int64(BINARY["Mul"]), EMPTY, EMPTY, EMPTY_F, EMPTY_F)
    close(a, want)


def test_broadcast_index():
    assert broadcast_index((3, 4), (3, 4)).shape == (0,)
    assert broadcast_index((1, 3, 4), (3, 4)).shape == (0,)
    np.testing.assert_array_equal(broadcast_index((3, 1), (3, 2)), [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(broadcast_index((2,), (3, 2)), [0, 1] * 3)
    assert broadcast_index((2,), (3, 2)).dtype == np.int64
    with pytest.raises(ValueError, match="broadcast"):
        broadcast_index((3,), (3, 2))


# --- layout --------------------------------------------------------------------------------


def apply_gather(x, idx, out_shape, fill=0.0):
    """Run the gather kernel on N rows of frame x.shape[1:]."""
    n = x.shape[0]
    y = np.full((n, idx.shape[0]), np.nan, F32)
    gather(np.ascontiguousarray(x.reshape(n, -1)), idx, F32(fill), y)
    return y.reshape(n, *out_shape)


@st.composite
def frames(draw, min_rank=1, max_rank=4):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=min_rank, max_size=max_rank)))
    x = np.random.default_rng(draw(st.integers(0, 999))).standard_normal((3, *shape))
    return x.astype(F32)


@settings(max_examples=80, deadline=None)
@given(x=frames(), data=st.data())
def test_slice(x, data):
    shape = x.shape[1:]
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), unique_by=lambda a:
                              a % len(shape), max_size=len(shape)))
    starts = [data.draw(st.integers(-8, 8)) for _ in axes]
    ends = [data.draw(st.sampled_from([-(2**31), -9, -2, -1, 0, 1, 3, 8, 2**31 - 1]))
            for _ in axes]
    steps = [data.draw(st.sampled_from([-3, -1, 1, 2])) for _ in axes]
    idx, out_shape = slice_index(shape, axes, starts, ends, steps)
    sl = [slice(None)] * (len(shape) + 1)
    for a, s, e, t in zip(axes, starts, ends, steps, strict=True):
        sl[a % len(shape) + 1] = slice(s, e, t)
    want = x[tuple(sl)]
    assert out_shape == want.shape[1:]
    np.testing.assert_array_equal(apply_gather(x, idx, out_shape), want)


@settings(max_examples=60, deadline=None)
@given(x=frames(), data=st.data())
def test_gather_index(x, data):
    shape = x.shape[1:]
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    dim = shape[axis]
    ind_shape = data.draw(st.sampled_from([(), (1,), (4,), (2, 3)]))
    ind = np.array(data.draw(st.lists(st.integers(-dim, dim - 1), min_size=math.prod(ind_shape),
                                      max_size=math.prod(ind_shape)))).reshape(ind_shape)
    idx, out_shape = gather_index(shape, ind, axis)
    want = np.take(x, ind, axis=axis % len(shape) + 1)
    assert out_shape == want.shape[1:]
    np.testing.assert_array_equal(apply_gather(x, idx, out_shape), want)


@settings(max_examples=60, deadline=None)
@given(x=frames(), data=st.data())
def test_transpose(x, data):
    shape = x.shape[1:]
    perm = data.draw(st.permutations(range(len(shape))))
    idx, out_shape = transpose_index(shape, perm)
    want = np.transpose(x, [0, *(p + 1 for p in perm)])
    np.testing.assert_array_equal(apply_gather(x, idx, out_shape), want)
    idx, out_shape = transpose_index(shape, ())
    np.testing.assert_array_equal(apply_gather(x, idx, out_shape),
                                  np.transpose(x, [0, *range(len(shape), 0, -1)]))


@settings(max_examples=60, deadline=None)
@given(x=frames(max_rank=3), data=st.data())
def test_pad(x, data):
    shape = x.shape[1:]
    r = len(shape)
    pads = [data.draw(st.integers(-(shape[i % r] // 2), 3)) for i in range(2 * r)]
    idx, out_shape = pad_index(shape, pads)
    # numpy: crop the negative pads, then pad the positive ones
    crop = [slice(None)] + [slice(max(-pads[i], 0), shape[i] - max(-pads[i + r], 0))
                            for i in range(r)]
    want = np.pad(x[tuple(crop)], [(0, 0)] + [(max(pads[i], 0), max(pads[i + r], 0))
                                              for i in range(r)], constant_values=-2.5)
    assert out_shape == want.shape[1:]
    np.testing.assert_array_equal(apply_gather(x, idx, out_shape, fill=-2.5), want)


@settings(max_examples=60, deadline=None)
@given(x=frames(), data=st.data())
def test_concat_and_split(x, data):
    shape = x.shape[1:]
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = axis % len(shape)
    sizes = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    parts = [np.random.default_rng(s).standard_normal((3, *shape[:a], s, *shape[a + 1:]))
             .astype(F32) for s in sizes]
    idxs, out_shape = concat_index([p.shape[1:] for p in parts], axis)
    want = np.concatenate(parts, axis=a + 1)
    assert out_shape == want.shape[1:]
    y = np.full((3, math.prod(out_shape)), np.nan, F32)
    for p, idx in zip(parts, idxs, strict=True):
        scatter(np.ascontiguousarray(p.reshape(3, -1)), idx, y)
    np.testing.assert_array_equal(y.reshape(want.shape), want)
    # Split = the same maps used with gather
    for p, idx in zip(parts, idxs, strict=True):
        np.testing.assert_array_equal(apply_gather(want, idx, p.shape[1:]), p)


@pytest.mark.parametrize("call,match", [
    (lambda: slice_index((3, 4), [2], [0], [1]), "out of range"),
    (lambda: slice_index((3, 4), [0, -2], [0, 0], [1, 1]), "twice"),
    (lambda: slice_index((3, 4), [0], [0], [1], [0]), "step 0"),
    (lambda: slice_index((3, 4), [0], [0, 1], [1]), "length"),
    (lambda: gather_index((3, 4), [4], 1), "out of range"),
    (lambda: gather_index((3, 4), [0], -3), "out of range"),
    (lambda: transpose_index((3, 4, 5), (0, 0, 1)), "permutation"),
    (lambda: transpose_index((3, 4), (0, 1, 2)), "permutation"),
    (lambda: pad_index((3, 4), (1, 1)), "rank"),
    (lambda: pad_index((3, 4), (-2, 0, -2, 0)), "below 0"),
    (lambda: concat_index([(3, 4), (2, 5)], 1), "differ"),
    (lambda: concat_index([(3, 4), (3, 4)], 2), "out of range"),
    (lambda: concat_index([], 0), "no inputs"),
])
def test_layout_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- normalization -------------------------------------------------------------------------


def split_oli(shape, axis, n_axes=1):
    """(O, L, I) of a frame around axes axis..axis+n_axes-1."""
    a = axis % len(shape)
    return (math.prod(shape[:a]), math.prod(shape[a:a + n_axes]),
            math.prod(shape[a + n_axes:]))


SOFTMAX_CASES = [((10,), -1), ((4, 9), -1), ((4, 9), 0), ((3, 5, 6), 1), ((2, 1, 7), -1),
                 ((1,), 0)]


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape,axis", SOFTMAX_CASES)
def test_softmax(shape, axis, log):
    x = (RNG.standard_normal((5, *shape)) * 10).astype(F32)
    x[0] += F32(80.0)  # large values: exp would overflow without the max shift
    o, l, i = split_oli(shape, axis)
    y = np.empty_like(x)
    softmax(x.reshape(5, o, l, i), y.reshape(5, o, l, i), log, *scratch(i))
    ax = axis % len(shape) + 1
    close(y, ref.softmax(x, ax, log), rtol=1e-5, atol=1e-6)
    tfn = torch.log_softmax if log else torch.softmax
    close(y, tfn(torch.from_numpy(x).double(), ax).numpy(), rtol=1e-5, atol=1e-6)
    softmax(x.reshape(5, o, l, i), x.reshape(5, o, l, i), log, *scratch(i))  # in place
    close(x, y, rtol=1e-6, atol=1e-6)


REDUCE_CASES = [((10,), -1, 1), ((4, 9), 1, 1), ((4, 9), 0, 1), ((3, 5, 6), 1, 1),
                ((3, 5, 6), 0, 2), ((3, 5, 6), 1, 2), ((2, 3, 4, 5), 1, 2)]


@pytest.mark.parametrize("fn", list(REDUCE))
@pytest.mark.parametrize("shape,axis,n_axes", REDUCE_CASES)
def test_reduce(shape, axis, n_axes, fn):
    x = RNG.standard_normal((4, *shape)).astype(F32)
    o, l, i = split_oli(shape, axis, n_axes)
    y = np.full((4, o, i), np.nan, F32)
    reduce(x.reshape(4, o, l, i), y, np.int64(REDUCE[fn]))
    a = axis % len(shape) + 1
    axes = tuple(range(a, a + n_axes))
    want = ref.reduce(fn, x, axes)
    close(y.reshape(want.shape), want, rtol=1e-5, atol=1e-6)
    tfn = {"Mean": torch.mean, "Sum": torch.sum, "Max": torch.amax, "Min": torch.amin}[fn]
    close(y.reshape(want.shape), tfn(torch.from_numpy(x).double(), dim=axes).numpy())


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape,axis", [((16,), -1), ((4, 24), -1), ((3, 4, 5), 1),
                                        ((2, 64), 1)])
def test_layernorm(shape, axis, bias):
    x = (RNG.standard_normal((6, *shape)) * 3 + 5).astype(F32)
    norm_shape = shape[axis % len(shape):]
    scale = RNG.standard_normal(norm_shape).astype(F32)
    b = RNG.standard_normal(norm_shape).astype(F32) if bias else None
    o, l, _ = split_oli(shape, axis, len(norm_shape))
    y = np.empty_like(x)
    eps = 1e-3
    layernorm(x.reshape(6, o, l), scale.reshape(-1),
              b.reshape(-1) if bias else np.zeros(0, F32), F32(eps), y.reshape(6, o, l))
    close(y, ref.layernorm(x, scale, b, axis=axis % len(shape) + 1, epsilon=eps), rtol=1e-5,
          atol=2e-5)
    want = torch.nn.functional.layer_norm(
        torch.from_numpy(x).double(), norm_shape, torch.from_numpy(scale).double(),
        torch.from_numpy(b).double() if bias else None, eps).numpy()
    close(y, want, rtol=1e-5, atol=2e-5)
