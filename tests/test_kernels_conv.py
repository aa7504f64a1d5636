"""conv_time streamed (frame by frame and in random chunks) vs PyTorch and the numpy reference.

Alignment being tested: the source model is a conv whose time padding is
``P - delay`` at the start (P = (Kt-1)*dilation) and 0 at the end.  Its output j
covers source frames ``j*stride + delay - P .. j*stride + delay``, so the stream can
emit it exactly when frame ``n = j*stride + delay`` arrives — the op emits at
``n >= delay and (n - delay) % stride == 0`` and nothing else.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from edgernn.kernels.conv import conv_time
from edgernn.reference import ops as ref

TOL = 1e-5


class Streamer:
    """Per-stream conv state, as the planner would keep it."""

    def __init__(self, w, b, batch, cin, fin, fout, stride=1, dilation=1, delay=0, groups=1,
                 fstride=1, fdilation=1, fpad0=0):
        self.w = np.ascontiguousarray(w, np.float32)
        self.b = np.ascontiguousarray(b if b is not None else np.zeros(0), np.float32)
        kt = self.w.shape[2]
        self.hist = np.zeros((batch, (kt - 1) * dilation + 1, cin, fin), np.float32)
        self.count = np.zeros(batch, np.int64)
        self.fout = fout
        self.scratch = (np.zeros(self.w.shape[1] * kt * self.w.shape[3], np.float32),
                        np.zeros(kt, np.int64))
        self.args = tuple(np.int64(a) for a in (stride, dilation, delay, groups, fstride,
                                                 fdilation, fpad0))

    def __call__(self, x):
        x = np.ascontiguousarray(x, np.float32)
        stride = int(self.args[0])
        m_max = -(-x.shape[0] // stride) + 1
        y = np.full((m_max, x.shape[1], self.w.shape[0], self.fout), np.nan, np.float32)
        m = conv_time(x, self.w, self.b, self.hist, self.count, y, *self.args, *self.scratch)
        assert 0 <= m <= m_max
        assert np.all(np.isnan(y[m:]))
        return y[:m]


def run_stream(x, w, b, chunks=None, **kw):
    """Stream x (T, B, Cin, Fin) in chunks (default: one frame at a time)."""
    t_len, batch, cin, fin = x.shape
    fout = out_freq(fin, w.shape[3], kw.get("fstride", 1), kw.get("fdilation", 1),
                    kw.get("fpad0", 0), kw.pop("fpad1", 0))
    s = Streamer(w, b, batch, cin, fin, fout, **kw)
    chunks = chunks if chunks is not None else [1] * t_len
    cuts = np.cumsum([0, *chunks])
    assert cuts[-1] == t_len
    outs = [s(x[a:z]) for a, z in itertools.pairwise(cuts)]
    assert np.all(s.count == t_len)
    return np.concatenate(outs)


def out_freq(fin, kf, fstride, fdilation, fpad0, fpad1):
    return (fin + fpad0 + fpad1 - fdilation * (kf - 1) - 1) // fstride + 1


def torch_conv1d(x, w, b, stride=1, dilation=1, delay=0, groups=1):
    """nn.Conv1d(padding=0) on the sequence left-padded with (Kt-1)*dilation - delay zeros."""
    cout, cg, kt = w.shape[:3]
    conv = torch.nn.Conv1d(cg * groups, cout, kt, stride=stride, dilation=dilation,
                           groups=groups, bias=b is not None, padding=0)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w[..., 0]))
        if b is not None:
            conv.bias.copy_(torch.from_numpy(b))
        xt = torch.from_numpy(x[..., 0]).permute(1, 2, 0)  # (B, Cin, T)
        xt = torch.nn.functional.pad(xt, ((kt - 1) * dilation - delay, 0))
        return conv(xt).permute(2, 0, 1).numpy()[..., None]  # (M, B, Cout, 1)


def torch_conv2d(x, w, b, stride=1, dilation=1, delay=0, groups=1, fstride=1, fdilation=1,
                 fpad0=0, fpad1=0):
    cout, cg, kt, kf = w.shape
    conv = torch.nn.Conv2d(cg * groups, cout, (kt, kf), stride=(stride, fstride),
                           dilation=(dilation, fdilation), groups=groups,
                           bias=b is not None, padding=0)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w))
        if b is not None:
            conv.bias.copy_(torch.from_numpy(b))
        xt = torch.from_numpy(x).permute(1, 2, 0, 3)  # (B, Cin, T, F)
        xt = torch.nn.functional.pad(xt, (fpad0, fpad1, (kt - 1) * dilation - delay, 0))
        return conv(xt).permute(2, 0, 1, 3).numpy()  # (M, B, Cout, Fout)


def make(rng, t_len, batch, cin, cout, groups, kt, kf=1, fin=1, bias=True):
    x = rng.standard_normal((t_len, batch, cin, fin)).astype(np.float32)
    w = (rng.standard_normal((cout, cin // groups, kt, kf)) * 0.3).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32) if bias else None
    return x, w, b


def check(got, *expected):
    for e in expected:
        assert got.shape == e.shape, (got.shape, e.shape)
        assert np.max(np.abs(got - e), initial=0.0) <= TOL


GROUPS = {"dense": (4, 6, 1), "grouped": (4, 6, 2), "depthwise": (4, 4, 4),
          "depthwise_x2": (3, 6, 3)}


@pytest.mark.parametrize("groups_case", list(GROUPS))
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2, 3])
@pytest.mark.parametrize("kt", [1, 2, 3, 4, 5])
def test_conv1d_frame_by_frame(kt, dilation, stride, groups_case):
    cin, cout, groups = GROUPS[groups_case]
    rng = np.random.default_rng(kt * 100 + dilation * 10 + stride)
    x, w, b = make(rng, 23, 2, cin, cout, groups, kt)
    kw = dict(stride=stride, dilation=dilation, groups=groups)
    got = run_stream(x, w, b, **kw)
    check(got, torch_conv1d(x, w, b, **kw), ref.causal_conv(x, w, b, **kw))


@pytest.mark.parametrize("groups_case", ["dense", "depthwise"])
@pytest.mark.parametrize("kt,dilation,stride", [(3, 1, 1), (5, 1, 2), (3, 2, 1), (4, 3, 3)])
def test_conv1d_delay(kt, dilation, stride, groups_case):
    """delay D > 0: the source conv had left padding (Kt-1)*dilation - D (e.g. 'same')."""
    cin, cout, groups = GROUPS[groups_case]
    rng = np.random.default_rng(7)
    x, w, b = make(rng, 19, 2, cin, cout, groups, kt)
    for delay in range(1, (kt - 1) * dilation + 1):
        kw = dict(stride=stride, dilation=dilation, groups=groups, delay=delay)
        got = run_stream(x, w, b, **kw)
        check(got, torch_conv1d(x, w, b, **kw), ref.causal_conv(x, w, b, **kw))
        assert got.shape[0] == (19 - 1 - delay) // stride + 1


def test_symmetric_padding_is_delay():
    """A 'same' conv (pad (K-1)/2 both sides) streams with delay (K-1)/2: every output but
    the last (K-1)/2, which need frames not yet seen, appears (K-1)/2 frames late."""
    rng = np.random.default_rng(3)
    x, w, b = make(rng, 16, 1, 4, 5, 1, 5)
    conv = torch.nn.Conv1d(4, 5, 5, padding=2)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w[..., 0]))
        conv.bias.copy_(torch.from_numpy(b))
        same = conv(torch.from_numpy(x[..., 0]).permute(1, 2, 0)).permute(2, 0, 1).numpy()
    got = run_stream(x, w, b, delay=2)
    check(got[..., 0], same[:-2])


def test_no_bias_and_pointwise():
    rng = np.random.default_rng(4)
    x, w, _ = make(rng, 9, 3, 5, 7, 1, 1, bias=False)
    got = run_stream(x, w, None)
    check(got, torch_conv1d(x, w, None), np.einsum("tbc,oc->tbo", x[..., 0],
                                                   w[:, :, 0, 0])[..., None])


@pytest.mark.parametrize("groups_case", list(GROUPS))
def test_streams_are_independent(groups_case):
    """B = 3 streams in one call == each stream alone."""
    cin, cout, groups = GROUPS[groups_case]
    rng = np.random.default_rng(5)
    x, w, b = make(rng, 14, 3, cin, cout, groups, 3)
    kw = dict(stride=2, dilation=2, groups=groups, delay=1)
    together = run_stream(x, w, b, chunks=[5, 1, 8], **kw)
    for i in range(3):
        alone = run_stream(x[:, i:i + 1], w, b, **kw)
        np.testing.assert_array_equal(together[:, i:i + 1], alone)


@settings(max_examples=60, deadline=None)
@given(
    kt=st.integers(1, 5), dilation=st.integers(1, 3), stride=st.integers(1, 3),
    groups_case=st.sampled_from(list(GROUPS)), delay_frac=st.floats(0, 1),
    t_len=st.integers(1, 30), cuts=st.lists(st.integers(0, 30), max_size=6),
    seed=st.integers(0, 2**16),
)
def test_conv1d_random_chunks(kt, dilation, stride, groups_case, delay_frac, t_len, cuts, seed):
    cin, cout, groups = GROUPS[groups_case]
    delay = int(round(delay_frac * (kt - 1) * dilation))
    points = sorted({c for c in cuts if 0 < c < t_len})
    chunks = np.diff([0, *points, t_len]).tolist()
    x, w, b = make(np.random.default_rng(seed), t_len, 3, cin, cout, groups, kt)
    kw = dict(stride=stride, dilation=dilation, groups=groups, delay=delay)
    got = run_stream(x, w, b, chunks=chunks, **kw)
    check(got, ref.causal_conv(x, w, b, **kw))
    if t_len > delay:
        check(got, torch_conv1d(x, w, b, **kw))
    else:
        assert got.shape[0] == 0


CONV2D = [  # cin, cout, groups, kt, kf, fin, stride, dilation, delay, fstride, fdil, fpads
    (3, 4, 1, 3, 3, 10, 1, 1, 0, 1, 1, (1, 1)),
    (3, 4, 1, 3, 3, 10, 2, 1, 1, 2, 1, (1, 1)),
    (2, 6, 2, 2, 5, 12, 1, 2, 0, 3, 1, (2, 0)),
    (4, 4, 1, 3, 3, 9, 1, 1, 0, 1, 2, (0, 2)),
    (4, 4, 4, 3, 3, 10, 1, 1, 1, 1, 1, (1, 1)),  # depthwise 2-D (DS-CNN)
    (2, 4, 2, 4, 3, 8, 2, 1, 0, 2, 2, (3, 1)),   # depthwise x2, padding past the kernel
    (3, 5, 1, 1, 4, 7, 1, 1, 0, 1, 1, (0, 0)),   # time kernel 1: a conv over frequency only
]


@pytest.mark.parametrize("case", CONV2D)
def test_conv2d_time_freq(case):
    cin, cout, groups, kt, kf, fin, stride, dil, delay, fstride, fdil, (fp0, fp1) = case
    rng = np.random.default_rng(fin)
    x, w, b = make(rng, 17, 2, cin, cout, groups, kt, kf, fin)
    kw = dict(stride=stride, dilation=dil, delay=delay, groups=groups, fstride=fstride,
              fdilation=fdil, fpad0=fp0, fpad1=fp1)
    expected_torch = torch_conv2d(x, w, b, **kw)
    expected_ref = ref.causal_conv(x, w, b, stride, dil, delay, groups, fstride, fdil,
                                   (fp0, fp1))
    check(run_stream(x, w, b, **kw), expected_torch, expected_ref)
    check(run_stream(x, w, b, chunks=[4, 7, 6], **kw), expected_torch)


def test_streaming_state_continues_across_calls():
    """Emission phase (stride, delay) is tracked by the global frame count, not per chunk."""
    rng = np.random.default_rng(9)
    x, w, b = make(rng, 20, 1, 4, 4, 1, 3)
    kw = dict(stride=3, dilation=1, delay=2)
    whole = run_stream(x, w, b, chunks=[20], **kw)
    odd = run_stream(x, w, b, chunks=[1, 1, 2, 5, 4, 7], **kw)
    np.testing.assert_allclose(odd, whole, atol=1e-6)
    check(whole, torch_conv1d(x, w, b, **kw))
