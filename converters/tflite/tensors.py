"""TFLite tensors -> ``TensorInfo``: dtype, shape, quantization and constant data.

Constant data comes from the model's buffer table: inside the flatbuffer (``Buffer.data``)
or, for models over 2 GB (and converters run with ``_experimental_use_buffer_offset``),
outside it at ``Buffer.offset`` / ``Buffer.size`` bytes from the start of the file.
Buffer 0 is the empty sentinel; a tensor without data is an activation or a variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConversionError
from .options import enum_names

# TensorType name -> numpy dtype.  Types numpy lacks are kept as raw storage:
# BFLOAT16 as uint16 bits, INT4/UINT4 unpacked to one int8/uint8 per value,
# STRING as the packed TFLite string buffer (uint8), RESOURCE/VARIANT as object handles.
_NP_DTYPES = {
    "FLOAT32": np.float32, "FLOAT16": np.float16, "FLOAT64": np.float64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "BOOL": np.bool_, "COMPLEX64": np.complex64, "COMPLEX128": np.complex128,
    "STRING": np.bytes_, "RESOURCE": np.object_, "VARIANT": np.object_,
    "BFLOAT16": np.uint16, "INT4": np.int8, "UINT4": np.uint8, "INT2": np.int8,
}


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per axis."""

    scale: np.ndarray          # f32[n] (n = 1, or the size of quantized_dimension)
    zero_point: np.ndarray     # i64[n]
    quantized_dimension: int


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a subgraph, independent of the flatbuffer it came from."""

    index: int
    name: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]   # -1 = dynamic; equals shape when the file has none
    dtype: np.dtype
    type_name: str                     # the schema's TensorType name, e.g. "INT8", "RESOURCE"
    data: np.ndarray | None            # constant value (shape ``shape``), None if not constant
    quantization: Quantization | None
    is_variable: bool
    buffer: int = 0
    sparse: bool = False               # data then holds the raw (compressed) values, 1-D


def numpy_dtype(type_code: int) -> tuple[np.dtype, str]:
    name = enum_names("TensorType").get(type_code, f"TYPE_{type_code}")
    if name not in _NP_DTYPES:
        raise ConversionError(f"tensor type {name} is not known to edgernn's TFLite reader; "
                              "upgrade the 'tflite' package or re-export with common dtypes")
    return np.dtype(_NP_DTYPES[name]), name


def read_quantization(q: Any) -> Quantization | None:
    if q is None or q.ScaleLength() == 0:
        return None
    scale = np.asarray(q.ScaleAsNumpy(), np.float32).copy()
    zp = q.ZeroPointAsNumpy()
    zero_point = (np.zeros(len(scale), np.int64) if isinstance(zp, int)
                  else np.asarray(zp, np.int64).copy())
    return Quantization(scale, zero_point, int(q.QuantizedDimension()))


def buffer_bytes(model: Any, index: int, file: bytes) -> bytes | None:
    """The bytes of buffer ``index`` (inside or outside the flatbuffer), None if empty."""
    if index == 0:
        return None
    if index >= model.BuffersLength():
        raise ConversionError(f"buffer index {index} is out of range "
                              f"({model.BuffersLength()} buffers): the model file is corrupt")
    buf = model.Buffers(index)
    offset, size = buf.Offset(), buf.Size()
    if offset > 1:                      # 1 is the converter's placeholder for "not yet written"
        if offset + size > len(file):
            raise ConversionError(f"buffer {index} lies outside the file (offset {offset}, "
                                  f"size {size}, file {len(file)} bytes): the file is truncated")
        return bytes(file[offset:offset + size]) if size else None
    if buf.DataLength() == 0:
        return None
    return buf.DataAsNumpy().tobytes()


def _unpack_nibbles(raw: bytes, count: int, signed: bool) -> np.ndarray:
    b = np.frombuffer(raw, np.uint8)
    nib = np.empty(b.size * 2, np.uint8)
    nib[0::2], nib[1::2] = b & 0x0F, b >> 4           # low nibble first
    nib = nib[:count]
    return (nib.astype(np.int8) - ((nib >= 8) * 16).astype(np.int8)) if signed else nib


def decode_data(raw: bytes, dtype: np.dtype, type_name: str, shape: tuple[int, ...],
                name: str) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    if type_name in ("INT4", "UINT4"):
        return _unpack_nibbles(raw, count, type_name == "INT4").reshape(shape)
    if type_name in ("STRING", "RESOURCE", "VARIANT", "INT2"):
        return np.frombuffer(raw, np.uint8).copy()
    if len(raw) != count * dtype.itemsize:
        raise ConversionError(f"tensor {name!r}: its buffer has {len(raw)} bytes but shape "
                              f"{list(shape)} of {type_name} needs {count * dtype.itemsize}: "
                              "the model file is corrupt")
    return np.frombuffer(raw, dtype).reshape(shape).copy()


def read_tensor(model: Any, t: Any, index: int, file: bytes) -> TensorInfo:
    dtype, type_name = numpy_dtype(t.Type())
    shape = tuple(int(d) for d in (t.ShapeAsNumpy() if t.ShapeLength() else ()))
    sig = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else shape
    name = (t.Name() or b"").decode("utf-8", "replace")
    raw = buffer_bytes(model, t.Buffer(), file)
    sparse = t.Sparsity() is not None
    data = None
    if raw is not None:
        data = (np.frombuffer(raw, dtype).copy() if sparse
                else decode_data(raw, dtype, type_name, shape, name))
    return TensorInfo(index, name, shape, sig, dtype, type_name, data,
                      read_quantization(t.Quantization()), bool(t.IsVariable()),
                      int(t.Buffer()), sparse)
