"""Float32 products of many rows (B streams, the frames of a chunk) in the column form.

``y[n] = W @ x[n]`` for N rows: the row form (4 weight rows per pass, a horizontal
sum per output and row) runs at a fraction of the FMA units, and numba cannot keep
a tile of outputs in registers across the input loop.  :func:`fma_rows` is an
intrinsic that does: for 4 rows of x and 16 outputs it loads 16 weights of one input
``k`` (transposed weights, outputs innermost), broadcasts the 4 inputs and issues 4
vector FMAs into 4 accumulators held in registers for the whole k loop.  Plain vector
IR (``llvm.fma``): AVX-512 does a tile in 4 instructions per k, AVX2 in 8, NEON in 16.

Layout (:func:`edgernn.packing.f32_cols`): ``wt f32[P, K, W]``, W transposed and cut
into panels of ``W`` = 64 outputs (16 for layers of at most 32), the outputs padded with
zeros to whole panels; the caller's scratch ``acc f32[N, P*W]``.  A panel is one
contiguous run of memory that the k loop reads front to back, so a matrix-vector product
streams its weights at the cache's bandwidth (measured on Zen 4: 384x128 in 2.04 µs
against 2.72 µs for the row form with its horizontal sums, and 2.49 µs with W.T
unpanelled, whose k loop jumps a whole row of outputs per step).
"""

from __future__ import annotations

import llvmlite.ir as lir
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

from . import kernel

_F32 = lir.FloatType()
_ZERO = np.float32(0.0)


def _emit_fma(context, builder, sig, args, n_r, tile_groups):
    """The IR of :func:`fma_rows`: for each group of tile offsets (one k loop per group),
    rows x tiles accumulators of 16 outputs held in registers while k runs."""
    v16 = lir.VectorType(_F32, 16)
    a_arr, w_arr, x_arr = (make_array(t)(context, builder, v)
                           for t, v in zip(sig.args[:3], args[:3], strict=True))
    intp = context.get_constant(types.intp, 0).type

    def row_len(arr, ty):  # elements per row; 0 for a 1-D array (one row)
        if ty.ndim == 1:
            return lir.Constant(intp, 0)
        return cgutils.unpack_tuple(builder, arr.shape, 2)[1]

    a_op, x_k = row_len(a_arr, sig.args[0]), row_len(x_arr, sig.args[2])
    n_k, w_op = cgutils.unpack_tuple(builder, w_arr.shape, 2)
    r_base, a_base, w_base = (context.cast(builder, args[i], sig.args[i], types.intp)
                              for i in (3, 4, 5))
    fma = cgutils.get_or_insert_function(builder.module, lir.FunctionType(v16, [v16] * 3),
                                         "llvm.fma.v16f32")
    zero = lir.Constant(lir.VectorType(lir.IntType(32), 16), [0] * 16)
    const = lambda v: context.get_constant(types.intp, v)  # noqa: E731
    rows_x = [builder.gep(x_arr.data, [builder.mul(builder.add(r_base, const(r)), x_k)])
              for r in range(n_r)]
    for tiles in tile_groups:
        slots = []
        for r in range(n_r):
            row = builder.add(r_base, const(r))
            for t in tiles:
                col = builder.add(a_base, const(16 * t))
                ptr = builder.gep(a_arr.data, [builder.add(builder.mul(row, a_op), col)])
                slot = cgutils.alloca_once(builder, v16)
                builder.store(builder.load(builder.bitcast(ptr, v16.as_pointer()), align=4),
                              slot)
                slots.append((slot, ptr))
        with cgutils.for_range(builder, n_k) as loop:
            w_row = builder.gep(w_arr.data, [builder.add(builder.mul(loop.index, w_op), w_base)])
            ws = [builder.load(builder.bitcast(builder.gep(w_row, [const(16 * t)]),
                                               v16.as_pointer()), align=4) for t in tiles]
            for r, xr in enumerate(rows_x):
                xv = builder.load(builder.gep(xr, [loop.index]))
                xs = builder.shuffle_vector(
                    builder.insert_element(lir.Constant(v16, None), xv,
                                           lir.Constant(lir.IntType(32), 0)),
                    lir.Constant(v16, None), zero)
                for i in range(len(tiles)):
                    slot = slots[r * len(tiles) + i][0]
                    builder.store(builder.call(fma, [ws[i], xs, builder.load(slot)]), slot)
        for slot, ptr in slots:
            builder.store(builder.load(slot), builder.bitcast(ptr, v16.as_pointer()), align=4)


def _fma_args_ok(acc, wt, x) -> bool:
    return (all(isinstance(a, types.Array) and a.dtype == types.float32 and a.layout == "C"
                for a in (acc, wt, x))
            and wt.ndim == 2 and acc.ndim in (1, 2) and x.ndim in (1, 2))


@intrinsic
def fma_rows(typingctx, acc, wt, x, r0, a0, w0, rows, tiles):
    """acc[r0 + r, a0:a0 + 16T] += sum_k x[r0 + r, k] * wt[k, w0:w0 + 16T] for r < rows.

    acc f32[N, Op] or f32[Op] (one row), wt f32[K, W] (one panel), x f32[N, K] or f32[K],
    all C-contiguous; rows and tiles (T) literal ints: rows x T accumulators of 16
    outputs stay in registers for the whole k loop."""
    if not (isinstance(rows, types.IntegerLiteral) and isinstance(tiles, types.IntegerLiteral)
            and _fma_args_ok(acc, wt, x)):
        return None
    n_r, n_t = rows.literal_value, tiles.literal_value

    def codegen(context, builder, sig, args):
        _emit_fma(context, builder, sig, args, n_r, [range(n_t)])
        return context.get_dummy_value()

    return types.none(acc, wt, x, r0, a0, w0, rows, tiles), codegen


@intrinsic
def fma_panel4(typingctx, acc, wt, x, r0, a0):
    """:func:`fma_rows` for 4 rows and a whole 64-wide panel (w0 = 0, 4 tiles): with
    AVX-512 (32 vector registers) one k loop with 16 accumulators, so each weight load
    feeds 4 FMAs and 16 independent chains hide the FMA latency; elsewhere (AVX2's 16
    registers, NEON's 32 of 4 floats) one k loop per tile with 4 accumulators."""
    if not _fma_args_ok(acc, wt, x):
        return None

    def codegen(context, builder, sig, args):
        wide = "+avx512f" in (context.codegen()._tm_features or "")
        groups = [range(4)] if wide else [range(t, t + 1) for t in range(4)]
        w0 = context.get_constant(types.intp, 0)
        _emit_fma(context, builder, types.none(*sig.args, types.intp),
                  (*args, w0), 4, groups)
        return context.get_dummy_value()

    return types.none(acc, wt, x, r0, a0), codegen


@kernel
def _panel_products(x, wt, acc):
    """acc[n, :P*W] += x[n] @ W.T for every row n: x f32[N, K], wt f32[P, K, W] panels,
    acc f32[N, P*W], all C-contiguous.  Panel by panel (K*W floats, in L1 while every
    row passes it): 4 rows share each weight load (:func:`fma_panel4`); a lone row
    takes a whole panel (4 tiles: 4 independent FMA chains).  Every output is one FMA
    chain over k in order, whatever the number of rows, so any grouping of rows rounds
    the same."""
    n_rows = x.shape[0]
    n_panels, width = wt.shape[0], wt.shape[2]
    n4 = n_rows - n_rows % 4
    for p in range(n_panels):
        panel, col = wt[p], p * width
        for r in range(0, n4, 4):
            if width == 64:
                fma_panel4(acc, panel, x, r, col)
            else:
                for t in range(width // 16):
                    fma_rows(acc, panel, x, r, col + 16 * t, 16 * t, 4, 1)
        for r in range(n4, n_rows):
            if width == 64:
                fma_rows(acc, panel, x, r, col, 0, 1, 4)
            else:
                for t in range(width // 16):
                    fma_rows(acc, panel, x, r, col + 16 * t, 16 * t, 1, 1)


@kernel
def start_acc(acc, init, n_out):
    """acc[:n_out] = init (zeros if init is empty), zeros after it up to acc's end."""
    if init.shape[0] > 0:
        for o in range(n_out):
            acc[o] = init[o]
    else:
        for o in range(n_out):
            acc[o] = _ZERO
    for o in range(n_out, acc.shape[0]):
        acc[o] = _ZERO


@kernel
def xwt_cols(x, wt, acc, b, y, accumulate):
    """y (+)= x @ W.T (+ b) with W in panels: x f32[N, K] C-contiguous, wt f32[P, K, W]
    (:func:`edgernn.packing.f32_cols`), scratch acc f32[>=N, P*W], b f32[O] or [0],
    y f32[N, O] (O <= P*W, any strides)."""
    n_rows, n_out = x.shape[0], y.shape[1]
    for n in range(n_rows):
        a = acc[n]
        start_acc(a, b, n_out)
        if accumulate:
            yn = y[n]
            for o in range(n_out):
                a[o] += yn[o]
    _panel_products(x, wt, acc)
    for n in range(n_rows):
        for o in range(n_out):
            y[n, o] = acc[n, o]


@kernel
def panel_matvec(wt, acc, v):
    """acc[:P*W] += W @ v: wt f32[P, K, W] panels, acc f32[>=P*W] and v f32[K]
    contiguous.  A whole panel per pass: 4 tiles, 4 independent FMA chains."""
    width = wt.shape[2]
    for p in range(wt.shape[0]):
        if width == 64:
            fma_rows(acc, wt[p], v, 0, p * width, 0, 1, 4)
        else:
            for t in range(width // 16):
                fma_rows(acc, wt[p], v, 0, p * width + 16 * t, 16 * t, 1, 1)


@kernel
def matvec_cols(wt, acc, v, out):
    """out += W @ v for one row: wt f32[P, K, W] panels, scratch acc f32[>=P*W],
    v f32[K] and out f32[O] contiguous (no reshape: numba's is a C call)."""
    n_out = out.shape[0]
    start_acc(acc, out, n_out)
    panel_matvec(wt, acc, v)
    for o in range(n_out):
        out[o] = acc[o]
