"""The column-form products (float32 :mod:`edgernn.kernels.gemm`, int8
:mod:`edgernn.kernels.dot`) vs plain numpy, and their instructions in the assembly.

References: float64 ``x @ W.T + b``; for int8, an integer numpy model of dynamic-range
quantization (activations per row, round half up, int64 sums) and the row-form int8
kernel it replaces; the portable vector IR against the machine's dot instruction.
"""

from __future__ import annotations

import re

import llvmlite.binding as llb
import llvmlite.ir as lir
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgernn.ir import Tensor
from edgernn.kernels import dot
from edgernn.kernels import kernel as jit_kernel
from edgernn.kernels.gemm import matvec_cols, xwt_cols
from edgernn.kernels.linalg import _xwt_q8
from edgernn.kernels.quantcols import _q8c_row, _xwt_q8c
from edgernn.packing import f32_cols, q8_cols, q8_rows

f32 = np.float32
E1 = np.zeros(0, f32)


def q8_tensor(rng, rows, cols):
    w = rng.standard_normal((rows, cols)).astype(f32)
    scale = (np.abs(w).max(axis=1) / 127).astype(f32)
    q = np.clip(np.round(w / scale[:, None]), -127, 127).astype(np.int8)
    return Tensor("w", q, "q8", (rows, cols), scale=scale, axis=0)


def int8_model(x, t: Tensor, b):
    """Dynamic-range int8 in numpy: x quantized per row, exact integer sums."""
    m = np.abs(x).max(axis=1)
    s = (m / f32(127)).astype(f32)
    inv = np.where(m > 0, f32(127) / np.where(m > 0, m, 1), 0).astype(f32)
    xq = np.floor(x * inv[:, None] + f32(0.5)).astype(np.int64)
    acc = xq @ t.data.astype(np.int64).T
    return acc.astype(np.float64) * s[:, None] * t.scale[None, :] + b


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 9), k=st.integers(1, 70), o=st.integers(1, 80), bias=st.booleans(),
       acc=st.booleans(), seed=st.integers(0, 2**16))
def test_f32_columns_match_float64(n, k, o, bias, acc, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((o, k)).astype(f32)
    x, y0 = rng.standard_normal((n, k)).astype(f32), rng.standard_normal((n, o)).astype(f32)
    b = rng.standard_normal(o).astype(f32) if bias else E1
    wt = f32_cols(Tensor.f32("w", w))
    width = 64 if o > 32 else 16
    assert wt.shape == (-(-o // width), k, width) and wt.ctypes.data % 64 == 0
    y = y0.copy()
    xwt_cols(x, wt, np.full((n, wt.shape[0] * width), np.nan, f32), b, y, acc)
    want = x.astype(np.float64) @ w.T.astype(np.float64) + (b if bias else 0) + (y0 if acc else 0)
    assert np.abs(y - want).max() <= 1e-5 * max(1.0, np.abs(want).max())


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 140), o=st.integers(1, 200), seed=st.integers(0, 2**16))
def test_f32_matvec_matches_float64_and_every_row_of_a_batch(k, o, seed):
    """One stream's product (matvec_cols) against float64, and bit-equal to the same row in
    a batch of 6 (4-row tiles + a lone row): batches and chunks of streams round alike."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((o, k)).astype(f32)
    x, y0 = rng.standard_normal((6, k)).astype(f32), rng.standard_normal((6, o)).astype(f32)
    wt = f32_cols(Tensor.f32("w", w))
    acc = np.full((6, wt.shape[0] * wt.shape[2]), np.nan, f32)
    batch = y0.copy()
    xwt_cols(x, wt, acc, E1, batch, True)
    for n in range(6):
        out = y0[n].copy()
        matvec_cols(wt, np.full(acc.shape[1], np.nan, f32), x[n], out)
        want = w.astype(np.float64) @ x[n].astype(np.float64) + y0[n]
        assert np.abs(out - want).max() <= 1e-5 * max(1.0, np.abs(want).max())
        assert np.array_equal(out, batch[n])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), k=st.integers(1, 140), o=st.integers(1, 150), bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_int8_columns_match_integer_model_and_row_form(n, k, o, bias, seed):
    rng = np.random.default_rng(seed)
    t = q8_tensor(rng, o, k)
    x = rng.standard_normal((n, k)).astype(f32)
    x[0, : k // 2] = 0  # zeros and an all-zero row where possible
    if n > 2:
        x[2] = 0
    b = rng.standard_normal(o).astype(f32) if bias else E1
    w, wsum, ws = q8_cols(t)
    assert w.shape[2] in (16, 64) and w.shape[3] == 4 and wsum.shape == (w.shape[0] * w.shape[2],)
    y = np.full((n, o), np.nan, f32)
    _xwt_q8c(x, w, wsum, ws, np.zeros((n, 4 * w.shape[1]), np.int8), np.zeros(n, f32),
             np.zeros(wsum.shape[0], np.int32), b, y, False)
    want = int8_model(x, t, b if bias else 0)
    assert np.abs(y - want).max() <= 2e-6 * max(1.0, np.abs(want).max())
    wq, ws_rows = q8_rows(t)
    y_rows = np.full((n, o), np.nan, f32)
    _xwt_q8(x, wq, ws_rows, np.zeros((n, k), np.int8), np.zeros(n, f32), b, y_rows, False)
    np.testing.assert_array_equal(y, y_rows)


@jit_kernel
def _blocks_machine(w, x32, acc, tiles):
    for blk in range(w.shape[0]):
        if tiles == 4:
            dot.dot4_block(acc, w, x32, blk, 4)
        else:
            dot.dot4_block(acc, w, x32, blk, 1)


@jit_kernel
def _blocks_generic(w, x32, acc, tiles):
    for blk in range(w.shape[0]):
        if tiles == 4:
            dot.dot4_block_generic(acc, w, x32, blk, 4)
        else:
            dot.dot4_block_generic(acc, w, x32, blk, 1)


@pytest.mark.parametrize("rows,cols", [(512, 128), (20, 40), (70, 3)])
def test_dot_instruction_equals_portable_ir_and_numpy(rows, cols):
    rng = np.random.default_rng(rows)
    t = Tensor("w", rng.integers(-128, 128, (rows, cols)).astype(np.int8), "q8", (rows, cols),
               scale=np.ones(rows, f32), axis=0)
    w, wsum, _ = q8_cols(t)
    xq = np.zeros(4 * w.shape[1], np.int8)
    xq[:cols] = rng.integers(-127, 128, cols)
    x32, tiles = xq.view(np.int32), w.shape[2] // 16
    off = 128 if dot.dot_mode_here() == "vnni" else 0
    machine = (-off * wsum).astype(np.int32)
    generic = np.zeros(wsum.shape[0], np.int32)
    _blocks_machine(w, x32, machine, tiles)
    _blocks_generic(w, x32, generic, tiles)
    want = t.data.astype(np.int64) @ xq[:cols].astype(np.int64)
    np.testing.assert_array_equal(generic[:rows], want)
    np.testing.assert_array_equal(machine, generic)


def _fresh(fn):
    """An uncached copy of a kernel: a kernel loaded from the cache has no assembly to show."""
    from edgernn.kernels import FASTMATH

    return numba.njit(fastmath=FASTMATH, error_model="numpy")(fn.py_func)


def _asm(fn) -> str:
    return "\n".join(fn.inspect_asm(sig) for sig in fn.signatures)


def test_x86_asm_uses_vnni_and_vector_fma():
    if not llb.get_process_triple().startswith("x86_64"):
        pytest.skip("x86 check")
    rng = np.random.default_rng(0)
    w, wsum, ws = q8_cols(q8_tensor(rng, 64, 32))
    y = np.zeros(64, f32)
    row = _fresh(_q8c_row)
    row(np.ones(32, f32), w, wsum, ws, np.zeros(32, np.int8), np.zeros(64, np.int32), E1, y,
        False)
    asm = _asm(row)
    if dot.dot_mode_here() == "vnni":
        assert re.search(r"\bvpdpbusd\b", asm), "no vpdpbusd in the int8 kernel"
    else:
        assert re.search(r"\bv?pmaddwd\b|\bvpdp", asm), "no integer multiply-add"
    assert not re.search(r"\bvpmulld\b", asm), "int8 products fell back to vpmulld"
    x, cols = np.ones((5, 8), f32), _fresh(xwt_cols)
    cols(x, f32_cols(Tensor.f32("w", np.ones((20, 8), f32))), np.zeros((5, 32), f32), E1,
         np.zeros((5, 20), f32), False)
    fma = re.findall(r"\bvfmadd\w+ps\s+[^\n]*%([xyz])mm", _asm(cols))
    assert fma and set(fma) <= {"y", "z"}, "the float32 tile is not vector FMA"


def _tile_asm(mode: str, cpu: str) -> str:
    """Assembly of one 16x4 int8 tile (the IR of dot4_block's body) for aarch64."""
    llb.initialize_all_targets()
    llb.initialize_all_asmprinters()
    mod = lir.Module()
    v16 = lir.VectorType(lir.IntType(32), 16)
    fn = lir.Function(mod, lir.FunctionType(v16, [v16, lir.IntType(8).as_pointer(),
                                                  lir.IntType(32)]), "tile")
    b = lir.IRBuilder(fn.append_basic_block())
    b.ret(dot._tile_dot(b, mode, *fn.args))
    target = llb.Target.from_triple("aarch64-unknown-linux-gnu")
    tm = target.create_target_machine(cpu=cpu, opt=3)
    ll = llb.parse_assembly(str(mod))
    ll.triple = "aarch64-unknown-linux-gnu"
    return tm.emit_assembly(ll)


def test_aarch64_tile_uses_sdot_on_a76_and_widening_multiplies_on_a72():
    try:
        a76 = _tile_asm("sdot", "cortex-a76")
    except RuntimeError as e:
        pytest.skip(f"llvmlite without the AArch64 target: {e}")
    assert re.search(r"\bsdot\b", a76)
    a72 = _tile_asm("generic", "cortex-a72")
    assert not re.search(r"\bsdot\b", a72)
    assert re.search(r"\b(smull2?|smlal2?|mul)\b", a72)
