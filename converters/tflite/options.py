"""Builtin options of a TFLite operator -> a plain dict (snake_case keys, enum values as names).

The schema-generated classes of the ``tflite`` package have one accessor per field
(``FusedActivationFunction()``, vectors as ``NewShape(j)`` / ``NewShapeAsNumpy()``).
Instead of one hand-written reader per options table, the accessors are found by
reflection once per class; the few enum-typed fields are named in ``ENUM_FIELDS``
(field name -> enum class of the schema).  An options table the installed schema does
not know (a newer converter) gives ``{"unparsed_options_type": n}``.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any

import numpy as np

_TENSOR_TYPE_FIELDS = ("out_type", "output_type", "in_data_type", "out_data_type",
                       "idx_out_type", "key_dtype", "value_dtype", "quantized_bias_type")
ENUM_FIELDS: dict[str, str] = {
    "fused_activation_function": "ActivationFunctionType",
    "padding": "Padding",
    "kernel_type": "LSTMKernelType",
    "type": "LSHProjectionType",
    "combiner": "CombinerType",
    "mode": "MirrorPadMode",
    "weights_format": "FullyConnectedOptionsWeightsFormat",
    "reduce_function": "ReduceWindowFunction",
    "comparison_direction": "StablehloComparisonDirection",
    "compare_type": "StablehloComparisonType",
    "algorithm": "RngAlgorithm",
    "precision_config": "StablehloPrecisionConfig",
    "composite_attributes_format": "CustomOptionsFormat",
    **{f: "TensorType" for f in _TENSOR_TYPE_FIELDS},
}
_SKIP_SUFFIXES = ("AsNumpy", "Length", "IsNone", "BufferHasIdentifier")


def _tflite():
    import tflite  # imported lazily: reader.read_tflite explains a missing package

    return tflite


@functools.cache
def enum_names(enum_class: str) -> dict[int, str]:
    """value -> name for one schema enum (``tflite.<enum_class>``); {} if unknown."""
    cls = getattr(_tflite(), enum_class, None)
    if cls is None:
        return {}
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@functools.cache
def _accessors(cls: type) -> tuple[tuple[str, str, bool], ...]:
    """(snake_name, method_name, is_vector) for every field accessor of a generated class."""
    out = []
    for name, fn in vars(cls).items():
        if (name.startswith("_") or name == "Init" or name.startswith("GetRootAs")
                or name.endswith(_SKIP_SUFFIXES) or not inspect.isfunction(fn)):
            continue
        n_params = len(inspect.signature(fn).parameters)
        out.append((_snake(name), name, n_params == 2))
    return tuple(out)


def _named(field: str, value: Any) -> Any:
    enum = ENUM_FIELDS.get(field)
    if enum is None:
        return value
    names = enum_names(enum)
    if isinstance(value, list):
        return [names.get(v, v) for v in value]
    return names.get(value, value)


def _value(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    if hasattr(v, "_tab"):                      # a nested table
        return table_to_dict(v)
    return v


def _vector(obj: Any, method: str) -> list:
    as_numpy = getattr(obj, method + "AsNumpy", None)
    if as_numpy is not None:
        arr = as_numpy()
        return [] if isinstance(arr, int) else arr.tolist()
    return [_value(getattr(obj, method)(j)) for j in range(getattr(obj, method + "Length")())]


def table_to_dict(obj: Any) -> dict[str, Any]:
    """Every field of a schema-generated table object, by reflection."""
    out: dict[str, Any] = {}
    for field, method, is_vector in _accessors(type(obj)):
        raw = _vector(obj, method) if is_vector else _value(getattr(obj, method)())
        out[field] = _named(field, raw)
    return out


def _union_to_dict(union_enum: str, type_code: int, table: Any) -> dict[str, Any] | None:
    if type_code == 0 or table is None:
        return None
    name = enum_names(union_enum).get(type_code)
    cls = getattr(_tflite(), name, None) if name else None
    if cls is None:
        return {"unparsed_options_type": type_code}
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    return table_to_dict(obj)


def builtin_options(op: Any) -> dict[str, Any]:
    """The operator's ``builtin_options`` (or ``builtin_options_2``) as a dict ({} if none)."""
    first = _union_to_dict("BuiltinOptions", op.BuiltinOptionsType(), op.BuiltinOptions())
    second = _union_to_dict("BuiltinOptions2", op.BuiltinOptions2Type(), op.BuiltinOptions2())
    return {**(first or {}), **(second or {})}
