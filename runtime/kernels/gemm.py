"""Float32 products of many rows (B streams, the frames of a chunk) in the column form.

``y[n] = W @ x[n]`` for N rows: the row form (4 weight rows per pass, a horizontal
sum per output and row) runs at a fraction of the FMA units, and numba cannot keep
a tile of outputs in registers across the input loop.  :func:`fma_rows` is an
intrinsic that does: for 4 rows of x and 16 outputs it loads 16 weights of one input
``k`` (transposed weights, outputs innermost), broadcasts the 4 inputs and issues 4
vector FMAs into 4 accumulators held in registers for the whole k loop.  Plain vector
IR (``llvm.fma``): AVX-512 does a tile in 4 instructions per k, AVX2 in 8, NEON in 16.

Layout (:func:`edgernn.packing.f32_cols`): ``wt f32[K, Op]`` = W transposed, the
outputs padded with zeros to a multiple of 16; the caller's scratch ``acc f32[N, Op]``.
A matrix-vector product (one stream) with a multiple of 16 inputs stays in the row
form, which already runs at the cache's bandwidth (:func:`edgernn.kernels.linalg.gemv_add`);
with other input counts (40 features: a 16-wide tail per row) it takes this form with
one row and 4 tiles of independent accumulators.
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


@intrinsic
def fma_rows(typingctx, acc, wt, x, r0, o0, rows, tiles):
    """acc[r0 + r, o0:o0 + 16T] += sum_k x[r0 + r, k] * wt[k, o0:o0 + 16T] for r < rows.

    acc f32[N, Op], wt f32[K, Op], x f32[N, K], all C-contiguous; rows and tiles (T)
    literal ints: rows x T accumulators of 16 outputs stay in registers."""
    ok = (isinstance(rows, types.IntegerLiteral) and isinstance(tiles, types.IntegerLiteral)
          and all(isinstance(a, types.Array) and a.ndim == 2 and a.dtype == types.float32
                  and a.layout == "C" for a in (acc, wt, x)))
    if not ok:
        return None
    n_r, n_t = rows.literal_value, tiles.literal_value

    def codegen(context, builder, sig, args):
        v16 = lir.VectorType(_F32, 16)
        a_arr, w_arr, x_arr = (make_array(t)(context, builder, v)
                               for t, v in zip(sig.args[:3], args[:3], strict=True))
        a_op = cgutils.unpack_tuple(builder, a_arr.shape, 2)[1]
        n_k, w_op = cgutils.unpack_tuple(builder, w_arr.shape, 2)
        x_k = cgutils.unpack_tuple(builder, x_arr.shape, 2)[1]
        r_base = context.cast(builder, args[3], sig.args[3], types.intp)
        o_base = context.cast(builder, args[4], sig.args[4], types.intp)
        fma = cgutils.get_or_insert_function(builder.module, lir.FunctionType(v16, [v16] * 3),
                                             "llvm.fma.v16f32")
        zero = lir.Constant(lir.VectorType(lir.IntType(32), 16), [0] * 16)
        slots, rows_x = [], []
        for r in range(n_r):
            row = builder.add(r_base, context.get_constant(types.intp, r))
            rows_x.append(builder.gep(x_arr.data, [builder.mul(row, x_k)]))
            for t in range(n_t):
                col = builder.add(o_base, context.get_constant(types.intp, 16 * t))
                ptr = builder.gep(a_arr.data, [builder.add(builder.mul(row, a_op), col)])
                slot = cgutils.alloca_once(builder, v16)
                builder.store(builder.load(builder.bitcast(ptr, v16.as_pointer()), align=4),
                              slot)
                slots.append((slot, ptr))
        with cgutils.for_range(builder, n_k) as loop:
            w_row = builder.gep(w_arr.data, [builder.add(builder.mul(loop.index, w_op), o_base)])
            ws = [builder.load(builder.bitcast(builder.gep(
                w_row, [context.get_constant(types.intp, 16 * t)]), v16.as_pointer()), align=4)
                for t in range(n_t)]
            for r, xr in enumerate(rows_x):
                xv = builder.load(builder.gep(xr, [loop.index]))
                xs = builder.shuffle_vector(
                    builder.insert_element(lir.Constant(v16, None), xv,
                                           lir.Constant(lir.IntType(32), 0)),
                    lir.Constant(v16, None), zero)
                for t in range(n_t):
                    slot = slots[r * n_t + t][0]
                    builder.store(builder.call(fma, [ws[t], xs, builder.load(slot)]), slot)
        for slot, ptr in slots:
            builder.store(builder.load(slot), builder.bitcast(ptr, v16.as_pointer()), align=4)
        return context.get_dummy_value()

    return types.none(acc, wt, x, r0, o0, rows, tiles), codegen


@kernel
def xwt_cols(x, wt, acc, b, y, accumulate):
    """y (+)= x @ W.T (+ b) with W transposed: x f32[N, K] and wt f32[K, Op]
    C-contiguous, scratch acc f32[>=N, Op], b f32[O] or [0], y f32[N, O] (O <= Op, any
    strides).  4 rows per tile."""
    n_rows, n_out = x.shape[0], y.shape[1]
    n_tiles = wt.shape[1] // 16
    has_bias = b.shape[0] > 0
    for n in range(n_rows):
        for o in range(n_out):
            a = b[o] if has_bias else _ZERO
            acc[n, o] = a + y[n, o] if accumulate else a
        for o in range(n_out, acc.shape[1]):  # padding: zero weights, keep it finite
            acc[n, o] = _ZERO
    n4, t4 = n_rows - n_rows % 4, n_tiles - n_tiles % 4
    for r in range(0, n4, 4):  # 4 rows x 1 tile: the inputs of 4 rows share each load of W
        for t in range(n_tiles):
            fma_rows(acc, wt, x, r, 16 * t, 4, 1)
    for r in range(n4, n_rows):  # one row: 4 tiles, so 4 independent FMA chains
        for t in range(0, t4, 4):
            fma_rows(acc, wt, x, r, 16 * t, 1, 4)
        for t in range(t4, n_tiles):
            fma_rows(acc, wt, x, r, 16 * t, 1, 1)
    for n in range(n_rows):
        for o in range(n_out):
            y[n, o] = acc[n, o]
