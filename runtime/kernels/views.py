"""Kernel calls described by tables, inside jitted code: the machinery of the fused step.

The fused step (:mod:`edgernn.fusedstep`) gets every array a program touches as
numbers in one int64 table ``p`` (address, shape, strides; scalars, floats as the bits
of a float64; native entry addresses) instead of as Python objects: unboxing one table
costs one argument, where passing the arrays costs numba ~0.03 µs each.  A *spec
string* (a literal in the generated source) says what sits where, so typing a call is
one cheap step for numba:

* :func:`table_view` ``(p, "A<slot>.<dtype>.<C|A>.<ndim>")`` -> the array view
  (no copy, no reference count; the caller keeps the arrays alive);
* :func:`invoke` ``(p, "<fn slot>;<return type>;<arg>,<arg>,...")`` calls the
  numba-compiled function whose native entry address is ``p[fn slot]``, compiled
  for exactly these argument types; an argument is ``A...`` (an array as above),
  ``I<slot>.<dtype>`` (an integer), ``F<slot>.<dtype>`` (a float: the bits of a
  float64), ``B<slot>`` (a bool) or ``(<arg>,...)`` (a tuple).  An error status it
  returns propagates;
* :func:`float_at` ``(p, slot)`` -> the float64 whose bits ``p[slot]`` holds.
"""

from __future__ import annotations

import llvmlite.ir as lir
import numpy as np
from numba import from_dtype
from numba.core import cgutils, types
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from . import kernel
from .io import copy_checked


def _split(text: str) -> list[str]:
    """Top-level comma-separated items of ``text`` (parentheses nest)."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    tail = text[start:]
    return items + [tail] if tail else items


def parse(arg: str):
    """Spec of one argument -> (numba type, kind, slot, extra)."""
    if arg.startswith("("):
        parts = [parse(a) for a in _split(arg[1:-1])]
        return types.Tuple([p[0] for p in parts]), "T", parts, None
    kind, rest = arg[0], arg[1:]
    if kind == "B":
        return types.boolean, kind, int(rest), None
    fields = rest.split(".")
    dt = from_dtype(np.dtype(fields[1]))
    if kind == "A":
        return types.Array(dt, int(fields[3]), fields[2]), kind, int(fields[0]), None
    return dt, kind, int(fields[0]), None


def _load(builder, context, table, i: int):
    return builder.load(cgutils.gep(builder, table, i))


def _build(context, builder, parsed, p_data):
    """LLVM value of one parsed argument, read from the table."""
    ty, kind, slot, _ = parsed
    if kind == "T":
        return context.make_tuple(builder, ty, [_build(context, builder, a, p_data)
                                                for a in slot])
    if kind == "B":
        v = _load(builder, context, p_data, slot)
        return context.cast(builder, v, types.int64, types.boolean)
    if kind == "I":
        return context.cast(builder, _load(builder, context, p_data, slot), types.int64, ty)
    if kind == "F":
        bits = _load(builder, context, p_data, slot)
        return context.cast(builder, builder.bitcast(bits, lir.DoubleType()), types.float64, ty)
    nd = ty.ndim
    vals = [_load(builder, context, p_data, slot + j) for j in range(1 + 2 * nd)]
    ary = make_array(ty)(context, builder)
    ptr = builder.inttoptr(vals[0], context.get_data_type(ty.dtype).as_pointer())
    size = context.get_abi_sizeof(context.get_data_type(ty.dtype))
    populate_array(ary, data=ptr, shape=vals[1:1 + nd], strides=vals[1 + nd:],
                   itemsize=context.get_constant(types.intp, size), meminfo=None)
    return ary._getvalue()


def _data(context, builder, arrty, value):
    return make_array(arrty)(context, builder, value).data


@intrinsic
def table_view(typingctx, p, spec):
    """table_view(p, "A<slot>.<dtype>.<layout>.<ndim>") -> the array described at p[slot]."""
    if not isinstance(spec, types.StringLiteral):
        return None
    parsed = parse(spec.literal_value)

    def codegen(context, builder, sig, args):
        return _build(context, builder, parsed, _data(context, builder, p, args[0]))

    return parsed[0](p, spec), codegen


_RET = {"none": types.none, "bool": types.boolean}


@intrinsic
def float_at(typingctx, p, slot):
    """float_at(p, slot) -> float64: the float whose bits the int64 p[slot] holds."""

    def codegen(context, builder, sig, args):
        ptr = cgutils.gep(builder, _data(context, builder, p, args[0]), args[1])
        return builder.bitcast(builder.load(ptr), lir.DoubleType())

    return types.float64(p, slot), codegen


@intrinsic
def invoke(typingctx, p, spec):
    """invoke(p, "<fn slot>;<return type>;<args>") -> the call's result (see the module
    docstring)."""
    if not isinstance(spec, types.StringLiteral):
        return None
    fslot, ret, args = spec.literal_value.split(";", 2)
    ret = _RET.get(ret) or from_dtype(np.dtype(ret))
    parsed = [parse(a) for a in _split(args)]
    argtys = [a[0] for a in parsed]

    def codegen(context, builder, sig, llargs):
        p_data = _data(context, builder, p, llargs[0])
        values = [_build(context, builder, a, p_data) for a in parsed]
        fnty = context.call_conv.get_function_type(ret, argtys)
        fn = builder.inttoptr(_load(builder, context, p_data, int(fslot)), fnty.as_pointer())
        status, res = context.call_conv.call_function(builder, fn, ret, argtys, values)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return res if ret is not types.none else context.get_dummy_value()

    return ret(p, spec), codegen


@kernel
def load_frame(frame, dst):
    """dst f32[n] <- frame (any shape of n float32/float64 values); False on NaN/Inf.

    The check is on the float32 value (1e39 as float64 is Inf as float32)."""
    src = frame if frame.ndim == 1 else frame.ravel()  # ravel is a C call (~0.1 µs)
    return copy_checked(src, dst)


@kernel
def copy_flat(src, dst):
    """dst[i] = src[i] for the n elements of C-contiguous arrays of any shape."""
    if src.ndim == 1 and dst.ndim == 1:  # ravel is a C call (~0.1 µs)
        for i in range(dst.shape[0]):
            dst[i] = src[i]
    else:
        s, d = src.ravel(), dst.ravel()
        for i in range(d.shape[0]):
            d[i] = s[i]
