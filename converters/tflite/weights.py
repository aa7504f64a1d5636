"""TFLite constant tensors -> IR weight ``Tensor``s, keeping their storage type.

* float32 -> ``f32``; float16 -> ``f16``;
* int8 symmetric (zero point 0), per tensor or per axis -> ``q8`` with the same scales
  (``axis`` follows the tensor through the layout change the caller asks for; it must
  end on axis 0, the output rows, as the kernels want);
* int32 biases with a scale -> ``i32`` with that scale (the int8 conventions of
  ``edgernn.ops.quant``); float biases -> ``f32``.

Asymmetric int8 weights (zero point != 0) have no IR kernel: they are dequantized to
float32 for float operators and refused for integer ones.
"""

from __future__ import annotations

import numpy as np

from edgernn.ir import Tensor

from .context import Context, dequantize
from .meta import Refuse


def weight(ctx: Context, i: int, perm: tuple[int, ...] | None = None, *,
           shape: tuple[int, ...] | None = None, hint: str = "W",
           integer: bool = False) -> str:
    """IR constant for weight tensor ``i``, transposed by ``perm`` then reshaped to
    ``shape`` (the quantized axis must end on axis 0). ``integer``: for an integer op."""
    t, m = ctx.tensor(i), ctx.meta(i)
    data = np.asarray(m.data)
    if perm is not None:
        data = data.transpose(perm)
    q = t.quantization
    symmetric = q is not None and not np.any(q.zero_point)
    if t.type_name == "INT8" and q is not None and (symmetric or integer):
        if not symmetric:
            raise Refuse(f"weight {t.name!r} is int8 with a nonzero zero point; edgernn's "
                         "integer kernels take symmetric weights")
        axis = None
        if q.scale.size > 1:
            axis = perm.index(q.quantized_dimension) if perm else q.quantized_dimension
            if axis != 0:
                raise Refuse(f"weight {t.name!r} is quantized per axis along the input side")
        data = data.reshape(shape) if shape is not None else data
        scale = q.scale.astype(np.float32) if q.scale.size > 1 else np.float32(q.scale[0])
        return ctx.add_tensor(Tensor(hint, np.ascontiguousarray(data), "q8", data.shape,
                                     scale, None, axis))
    if integer:
        raise Refuse(f"weight {t.name!r} is {t.type_name}; an integer op needs int8 weights")
    if t.type_name == "FLOAT16":
        data = data.reshape(shape) if shape is not None else data
        return ctx.add_tensor(Tensor(hint, np.ascontiguousarray(data.astype("<f2")), "f16"))
    f = dequantize(t, np.asarray(m.data))
    f = f.transpose(perm) if perm is not None else f
    return ctx.add_const(f.reshape(shape) if shape is not None else f, hint)


def bias(ctx: Context, i: int, *, integer: bool = False, hint: str = "B") -> str:
    """IR constant for bias tensor ``i`` ('' when absent)."""
    if i < 0:
        return ""
    t, m = ctx.tensor(i), ctx.meta(i)
    data = np.asarray(m.data).reshape(-1)
    if integer:
        q = t.quantization
        if t.type_name != "INT32" or q is None:
            raise Refuse(f"bias {t.name!r} is {t.type_name}; an int8 op needs int32 biases")
        scale = q.scale.astype(np.float32) if q.scale.size > 1 else np.float32(q.scale[0])
        return ctx.add_tensor(Tensor(hint, np.ascontiguousarray(data.astype(np.int32)), "i32",
                                     data.shape, scale, None, 0 if q.scale.size > 1 else None))
    return ctx.add_const(dequantize(t, data), hint)


def is_integer_op(ctx: Context, x_index: int) -> bool:
    """An op is integer when its data input is a quantized (int8) value."""
    m = ctx.meta(x_index)
    return m.q is not None
