"""What the compiler must emit for each Raspberry Pi CPU: the assembly check table.

Each :class:`AsmCase` names a jitted function (``module:name``), the numba types of its
arguments, the CPU it is compiled for (``NUMBA_CPU_NAME``, emulated with the same
``QEMU_CPU``), instructions that must appear (regexes, each at least once) and ones
that must not.  ``tests/arm/test_asm.py`` compiles every case in a fresh process per CPU
(``python asm_cases.py CPU OUT.json``) and checks the patterns.  A new kernel is one
``both_cpus`` entry (a case per CPU), e.g. once the int8 matvec (issue #8) and the fused
per-step function (issue #12) land::

    *both_cpus("int8 matvec", "edgernn.kernels.MODULE:NAME", (I8_2D, I8_1D, I32_1D),
               a72=WIDENING, a76=(SDOT,)),
    *both_cpus("fused step", "edgernn.kernels.MODULE:NAME", (F32_2D, F32_1D, ...),
               a72=(FMLA_4S,), a76=(FMLA_4S,)),

``dot_i8`` and ``matvec_i8`` below are the int8 kernel shape of DESIGN.md, kept here so
that the toolchain's ``sdot`` (Cortex-A76, Pi 5) and widening-multiply (Cortex-A72, Pi 4)
code is checked before the real int8 kernels exist.  What it takes (numba 0.68.1, LLVM
of llvmlite 0.50, measured under qemu): ONE int32 accumulator per output row, the inner
loop over a contiguous ``k``, each step written
``acc = np.int32(acc + np.int32(w[o, k]) * np.int32(x[k]))``, the float scale applied
after the loop.  The fp32 kernels' 4-rows-per-pass form (four accumulators sharing
``x[k]``) vectorizes too, but to ``smull``/``saddw`` even on the A76: no ``sdot``.
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass

import numpy as np
from numba import types

from edgernn.kernels import kernel

A72, A76 = "cortex-a72", "cortex-a76"
CPUS = (A72, A76)

F32_1D, F32_2D = types.float32[::1], types.float32[:, ::1]
I8_1D, I8_2D, I32_1D = types.int8[::1], types.int8[:, ::1], types.int32[::1]

FMLA_4S = r"\bfmla\s+v\d+\.4s"                      # fp32 fused multiply-add, 4 lanes
SDOT = r"\bsdot\s+v\d+\.4s,\s*v\d+\.16b"            # int8 dot product (Armv8.2 dotprod)
WIDEN_MUL = r"\b(smull2?|smlal2?)\s+v\d+\.8h"       # int8 x int8 -> int16, 8 lanes
WIDEN_ACC = r"\b(saddw2?|sadalp|smlal2?)\s+v\d+\.4s"  # int16 -> int32 accumulate
WIDENING = (WIDEN_MUL, WIDEN_ACC)
# the runtime's portable int8 tile (kernels/dot.py, generic mode): smull to int16, then
# sshll/sshll2 to int32 lanes and a plain add (measured under qemu, LLVM of llvmlite 0.50)
WIDEN_TO_32 = r"\b(saddw2?|sadalp|smlal2?|sshll2?)\s+v\d+\.4s"
WIDENING_RT = (WIDEN_MUL, WIDEN_TO_32)
# What a Cortex-A72 (Armv8.0) lacks: LSE atomics (numba's reference counts use them
# on Armv8.1+ targets) and the dot-product instructions.
NOT_ON_A72 = (r"\b(ldadd|ldclr|ldeor|ldset|swp|cas)(a|al|l)?[bh]?\s", r"\b[su]dot\s")


@dataclass(frozen=True)
class AsmCase:
    name: str
    kernel: str                      # "module:function", a numba dispatcher
    args: tuple                      # numba types of the arguments
    cpu: str                         # NUMBA_CPU_NAME (and QEMU_CPU) it is compiled for
    require: tuple[str, ...]         # regexes that must each match the assembly
    forbid: tuple[str, ...] = ()     # regexes that must not match

    @property
    def id(self) -> str:
        return f"{self.name}-{self.cpu}"


def both_cpus(name: str, kern: str, args: tuple, a72: tuple, a76: tuple) -> list[AsmCase]:
    """One case per Pi CPU; the A72 one also refuses instructions a Pi 4 lacks."""
    return [AsmCase(name, kern, args, A72, a72, NOT_ON_A72), AsmCase(name, kern, args, A76, a76)]


@kernel
def dot_i8(w, x):
    """int8 dot product, int32 accumulator.  w i8[K], x i8[K] -> i32."""
    acc = np.int32(0)
    for k in range(w.shape[0]):
        acc = np.int32(acc + np.int32(w[k]) * np.int32(x[k]))
    return acc


@kernel
def matvec_i8(w, x, out):
    """out = w @ x in int32, one row-dot per output.  w i8[O, K], x i8[K], out i32[O]."""
    n_out, n_in = w.shape
    for o in range(n_out):
        acc = np.int32(0)
        for k in range(n_in):
            acc = np.int32(acc + np.int32(w[o, k]) * np.int32(x[k]))
        out[o] = acc


def __getattr__(name: str):
    """``fused_lstm_step``: the fused per-step function of a small int8 LSTM + fp32 Dense
    model with its kernels called directly (as ``edgernn.aotbuild`` compiles it), built
    on first use; its arguments are (int64[::1] table, f32[::1] frame, f32[::1] out)."""
    if name != "fused_lstm_step":
        raise AttributeError(name)
    import tempfile

    import edgernn
    from edgernn.aotbuild import direct_step
    from edgernn.builder import GraphBuilder
    from edgernn.ir import Graph, Tensor

    rng = np.random.default_rng(0)
    r = lambda *s: (rng.standard_normal(s) * 0.3).astype(np.float32)  # noqa: E731
    b = GraphBuilder()
    h = b.lstm(b.input("x", (40,)), r(256, 40), r(256, 64), r(256))
    b.output(b.dense(h, r(12, 64), r(12)), "y")
    g = b.build()
    lstm = next(op for op in g.ops if op.kind == "LSTM")
    consts = dict(g.consts)
    for name in lstm.inputs[1:3]:  # W, R -> int8 per row (numpy only: no converters here)
        w = consts[name].data
        scale = (np.abs(w).max(axis=1) / 127).astype(np.float32)
        q = np.round(w / scale[:, None]).astype(np.int8)
        consts[name] = Tensor(name, q, "q8", w.shape, scale, np.zeros_like(scale), axis=0)
    graph = Graph(g.inputs, g.outputs, g.ops, g.values, consts, g.states, g.metadata)
    folder = tempfile.mkdtemp(prefix="asm-fused-")
    mod, _, _ = direct_step(edgernn.Model(graph).stream(), folder)
    return mod.step


I64_1D = types.int64[::1]

CASES: list[AsmCase] = [
    *both_cpus("f32 matvec gemv_add", "edgernn.kernels.linalg:gemv_add",
               (F32_2D, F32_1D, F32_1D), a72=(FMLA_4S,), a76=(FMLA_4S,)),
    *both_cpus("f32 dense", "edgernn.kernels.linalg:dense",
               (F32_2D, F32_2D, F32_1D, F32_2D), a72=(FMLA_4S,), a76=(FMLA_4S,)),
    *both_cpus("int8 dot (DESIGN.md shape)", "asm_cases:dot_i8", (I8_1D, I8_1D),
               a72=WIDENING, a76=(SDOT,)),
    *both_cpus("int8 matvec (DESIGN.md shape)", "asm_cases:matvec_i8", (I8_2D, I8_1D, I32_1D),
               a72=WIDENING, a76=(SDOT,)),
    # the kernels the runtime calls: int8 weights in the column form, fp32 transposed
    *both_cpus("int8 column matvec (runtime)", "edgernn.kernels.quantcols:_q8c_row",
               (F32_1D, types.int8[:, :, :, ::1], I64_1D, F32_1D, I8_1D, I32_1D, F32_1D,
                F32_1D, types.boolean), a72=WIDENING_RT, a76=(SDOT,)),
    *both_cpus("f32 column gemm (runtime)", "edgernn.kernels.gemm:xwt_cols",
               (F32_2D, types.float32[:, :, ::1], F32_2D, F32_1D, F32_2D, types.boolean),
               a72=(FMLA_4S,), a76=(FMLA_4S,)),
    # one jitted call per step, kernels compiled in (int8 LSTM + fp32 Dense)
    *both_cpus("fused step int8 LSTM + f32 Dense", "asm_cases:fused_lstm_step",
               (I64_1D, F32_1D, F32_1D), a72=(*WIDENING_RT, FMLA_4S), a76=(SDOT, FMLA_4S)),
]


def dump(cpu: str) -> dict[str, str]:
    """Compile every case for ``cpu`` in this process; return {case id: assembly}."""
    import numba

    if numba.config.CPU_NAME != cpu:
        raise SystemExit(f"NUMBA_CPU_NAME is {numba.config.CPU_NAME!r}, not {cpu!r}")
    out = {}
    for case in CASES:
        if case.cpu == cpu:
            module, name = case.kernel.split(":")
            fn = getattr(importlib.import_module(module), name)
            fn.compile(case.args)
            out[case.id] = fn.inspect_asm(case.args)
    return out


if __name__ == "__main__":
    cpu_name, path = sys.argv[1:3]
    with open(path, "w") as f:
        json.dump(dump(cpu_name), f)
