"""int8 dot products in the column form, with the machine's dot-product instruction.

numba has no vector types, and LLVM does not find a dot-product instruction in a
loop with outputs innermost: written as scalar code, int8 x int8 -> int32 in the
column form compiles to ``vpmulld`` (several times slower than float32), and the
row form ends every output with a horizontal sum.  So :func:`dot4_block` is a numba
intrinsic that writes the loop in LLVM IR with the instruction of the target:

* x86-64 with AVX512-VNNI: ``vpdpbusd`` (16 outputs x 4 inputs per instruction;
  unsigned x signed bytes, so x is offset by +128 and the caller starts each
  output at -128 * (its row sum): :func:`dot_offset` is 128 there);
* aarch64 with the dot-product extension (Cortex-A55/A76/..., Pi 5): ``sdot``
  (4 outputs x 4 inputs, signed x signed: offset 0);
* anything else (Pi 4's Cortex-A72, x86 without VNNI): the same arithmetic as plain
  vector IR (sign extension, multiply, sums of 4 lanes), which LLVM maps to
  ``pmaddwd`` / ``smull``+``saddlp`` and friends.

All three are exact int32 arithmetic: they give identical results.

Weight layout (:func:`edgernn.packing.q8_cols`): ``w i8[NB, Kq, 16*T, 4]``:
block b holds outputs ``16*T*b ..`` for every quad of inputs ``4*kq .. 4*kq+3``,
the 4 inputs of one output adjacent (``w[b, kq, o, j] = W[16*T*b + o, 4*kq + j]``),
padded with zeros to whole quads and blocks.  T = 4 tiles per block (1 for <= 32
outputs) keeps 4 independent accumulators in registers.
"""

from __future__ import annotations

import llvmlite.binding as llb
import llvmlite.ir as lir
from numba.core import cgutils, types
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

#: aarch64 CPUs (LLVM names) with the dot-product extension
_DOTPROD_CPUS = ("cortex-a55", "cortex-a65", "cortex-a75", "cortex-a76", "cortex-a77",
                 "cortex-a78", "cortex-a510", "cortex-a710", "cortex-a715", "cortex-x",
                 "neoverse-n1", "neoverse-n2", "neoverse-v", "apple-", "ampere1")


def dot_mode(codegen) -> str:
    """'vnni', 'sdot' or 'generic' for the machine ``codegen`` compiles for."""
    triple = llb.get_process_triple()
    features = codegen._tm_features or ""
    cpu = getattr(codegen, "_cpu_name", "host")  # an ahead-of-time build names its target
    cpu = codegen._get_host_cpu_name() if cpu in ("host", None) else cpu
    if triple.startswith("x86_64") and "+avx512vnni" in features and "+avx512bw" in features:
        return "vnni"
    if triple.startswith(("aarch64", "arm64")) and "-dotprod" not in features and (
            "+dotprod" in features or cpu.startswith(_DOTPROD_CPUS)):
        return "sdot"
    return "generic"


@intrinsic
def dot_offset(typingctx):
    """The offset added to int8 activations for :func:`dot4_block` on this machine (int32):
    128 with VNNI (unsigned x bytes), else 0."""

    def codegen(context, builder, sig, args):
        off = 128 if dot_mode(context.codegen()) == "vnni" else 0
        return context.get_constant(types.int32, off)

    return types.int32(), codegen


_I32, _I8 = lir.IntType(32), lir.IntType(8)


def _splat(builder, x32, n: int):
    vec = lir.VectorType(_I32, n)
    v = builder.insert_element(lir.Constant(vec, None), x32, lir.Constant(_I32, 0))
    return builder.shuffle_vector(v, lir.Constant(vec, None), lir.Constant(vec, [0] * n))


def _tile_dot(builder, mode: str, acc, wptr, x32):
    """acc <16 x i32> + the dot products of 16 outputs x 4 inputs at wptr (64 bytes)."""
    v16, b64 = lir.VectorType(_I32, 16), lir.VectorType(_I8, 64)
    mod = builder.module
    if mode == "vnni":
        xs = _splat(builder, builder.xor(x32, lir.Constant(_I32, 0x80808080 - (1 << 32))), 16)
        w = builder.load(builder.bitcast(wptr, b64.as_pointer()), align=1)
        fn = cgutils.get_or_insert_function(
            mod, lir.FunctionType(v16, [v16, b64, b64]), "llvm.x86.avx512.vpdpbusd.512")
        return builder.call(fn, [acc, builder.bitcast(xs, b64), w])
    if mode == "sdot":
        v4, b16 = lir.VectorType(_I32, 4), lir.VectorType(_I8, 16)
        xs = builder.bitcast(_splat(builder, x32, 4), b16)
        fn = cgutils.get_or_insert_function(
            mod, lir.FunctionType(v4, [v4, b16, b16]), "llvm.aarch64.neon.sdot.v4i32.v16i8")
        out = lir.Constant(v16, None)
        for q in range(4):
            part = builder.shuffle_vector(acc, acc, lir.Constant(v4, list(range(4 * q, 4 * q + 4))))
            w = builder.load(builder.bitcast(builder.gep(wptr, [lir.Constant(_I32, 16 * q)]),
                                             b16.as_pointer()), align=1)
            part = builder.call(fn, [part, w, xs])
            for j in range(4):
                out = builder.insert_element(out, builder.extract_element(part, lir.Constant(
                    _I32, j)), lir.Constant(_I32, 4 * q + j))
        return out
    v64 = lir.VectorType(_I32, 64)
    w = builder.sext(builder.load(builder.bitcast(wptr, b64.as_pointer()), align=1), v64)
    xs = builder.sext(builder.bitcast(_splat(builder, x32, 16), b64), v64)
    prod = builder.mul(w, xs)
    total = acc
    for j in range(4):
        lanes = builder.shuffle_vector(prod, prod, lir.Constant(v64, [4 * i + j for i in range(16)]
                                                                + [0] * 48))
        total = builder.add(total, builder.shuffle_vector(
            lanes, lanes, lir.Constant(v16, list(range(16)))))
    return total


def _dot4_block(force: str | None):
    def typer(typingctx, acc, w, x32, block, tiles):
        return _dot4_typer(force, acc, w, x32, block, tiles)

    return typer


def _dot4_typer(force, acc, w, x32, block, tiles):
    if not (isinstance(tiles, types.IntegerLiteral) and isinstance(w, types.Array)
            and w.ndim == 4 and w.dtype == types.int8 and x32.dtype == types.int32
            and acc.dtype == types.int32):
        return None
    n_t = tiles.literal_value

    def codegen(context, builder, sig, args):
        mode = force or dot_mode(context.codegen())
        a_arr, w_arr, x_arr = (make_array(t)(context, builder, v)
                               for t, v in zip(sig.args[:3], args[:3], strict=True))
        shape = cgutils.unpack_tuple(builder, w_arr.shape, 4)
        n_kq = shape[1]
        blk = context.cast(builder, args[3], sig.args[3], types.intp)
        v16 = lir.VectorType(_I32, 16)
        a_ptr = builder.gep(a_arr.data, [builder.mul(blk, context.get_constant(types.intp,
                                                                                 16 * n_t))])
        slots = [cgutils.alloca_once(builder, v16) for _ in range(n_t)]
        for t, slot in enumerate(slots):
            src = builder.gep(a_ptr, [context.get_constant(types.intp, 16 * t)])
            builder.store(builder.load(builder.bitcast(src, v16.as_pointer()), align=4), slot)
        row = context.get_constant(types.intp, 64 * n_t)  # bytes of one kq in a block
        w_blk = builder.gep(w_arr.data, [builder.mul(builder.mul(blk, n_kq), row)])
        with cgutils.for_range(builder, n_kq) as loop:
            x32v = builder.load(builder.gep(x_arr.data, [loop.index]))
            w_row = builder.gep(w_blk, [builder.mul(loop.index, row)])
            for t, slot in enumerate(slots):
                wptr = builder.gep(w_row, [context.get_constant(types.intp, 64 * t)])
                builder.store(_tile_dot(builder, mode, builder.load(slot), wptr, x32v), slot)
        for t, slot in enumerate(slots):
            dst = builder.gep(a_ptr, [context.get_constant(types.intp, 16 * t)])
            builder.store(builder.load(slot), builder.bitcast(dst, v16.as_pointer()), align=4)
        return context.get_dummy_value()

    return types.none(acc, w, x32, block, tiles), codegen


dot4_block = intrinsic(_dot4_block(None))
dot4_block.__doc__ = """dot4_block(acc, w, x32, block, T): acc[16T*b : 16T*(b+1)] += W_b @ x for
weight block b (see the module doc).  acc i32[>= 16T*(b+1)], w i8[NB, Kq, 16T, 4]
C-contiguous, x32 i32[Kq] (the int8 activations 4 to an int32, offset by
:func:`dot_offset` in the caller's row sums), block int, T a literal int."""
#: the same with the portable vector IR whatever the machine (tests compare the two)
dot4_block_generic = intrinsic(_dot4_block("generic"))


def dot_mode_here() -> str:
    """:func:`dot_mode` of this process's JIT ('vnni', 'sdot' or 'generic')."""
    from numba.core.registry import cpu_target

    return dot_mode(cpu_target.target_context.codegen())
