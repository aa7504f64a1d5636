"""Read a ``.tflite`` flatbuffer into plain Python dataclasses (no flatbuffers objects leak out).

>>> m = read_tflite("model.tflite")
>>> [op.opcode for op in m.subgraphs[0].operators]
['UNIDIRECTIONAL_SEQUENCE_LSTM', 'STRIDED_SLICE', 'FULLY_CONNECTED']

Parsing uses the schema-generated classes of the ``tflite`` package; the TFLite
interpreter is never the parser (it is the reference in the tests).  Every subgraph is
read (WHILE cond/body, CALL_ONCE init, IF branches), tensors with their constant data
(see ``tensors.py``), operators with their builtin options as dicts (``options.py``).
The opcode is ``max(builtin_code, deprecated_builtin_code)``, as TFLite itself resolves
it: old files set only the int8 ``deprecated_builtin_code``; newer ones put 127
(PLACEHOLDER_FOR_GREATER_OP_CODES) there for codes above 127.  Bad input raises
``ConversionError`` with one line saying what to do.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import flatbuffers

from ..errors import ConversionError
from .tensors import Quantization, TensorInfo, read_tensor

__all__ = ["Operator", "Quantization", "SignatureDef", "Subgraph", "TFLModel", "TensorInfo",
           "read_tflite"]

SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Operator:
    """One operator; ``inputs``/``outputs`` are tensor indices, -1 = absent optional input."""

    index: int
    opcode: str                       # BuiltinOperator name, e.g. "UNIDIRECTIONAL_SEQUENCE_LSTM"
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any]           # builtin options, enum values as names
    intermediates: tuple[int, ...] = ()
    custom_code: str | None = None    # set when opcode == "CUSTOM"
    custom_options: bytes | None = None
    version: int = 1                  # the op's kernel version from the opcode table
    builtin_code: int = 0


@dataclass(frozen=True)
class Subgraph:
    name: str
    tensors: list[TensorInfo]
    operators: list[Operator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class SignatureDef:
    """A named entry point: its subgraph and the tensor index of each named input/output."""

    key: str
    subgraph_index: int
    inputs: dict[str, int]
    outputs: dict[str, int]


@dataclass(frozen=True)
class TFLModel:
    version: int
    subgraphs: list[Subgraph]
    description: str
    metadata: dict[str, bytes]        # name -> bytes of its buffer (e.g. min_runtime_version)
    signatures: list[SignatureDef] = field(default_factory=list)


def _tflite():
    try:
        import tflite
    except ImportError as e:
        raise ConversionError("reading .tflite files needs the 'tflite' package: "
                              "pip install 'edgernn[convert]'") from e
    return tflite


def _load_bytes(src: str | PathLike | bytes | bytearray | memoryview) -> tuple[bytes, str]:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src), "<bytes>"
    path = Path(src)
    try:
        return path.read_bytes(), str(path)
    except OSError as e:
        raise ConversionError(f"cannot read {path}: {e.strerror or e}; "
                              "check the path to the .tflite file") from e


class _StrictBytes(bytes):
    """bytes whose slices fail past the end: flatbuffers reads strings by slicing, and a
    plain slice of a truncated file would silently return a shorter name."""

    def __getitem__(self, key):
        if isinstance(key, slice) and ((key.stop or 0) > len(self) or (key.start or 0) < 0):
            raise IndexError(f"read of bytes {key.start}:{key.stop} past the end of the file")
        return super().__getitem__(key)


def _check_header(data: bytes, where: str) -> None:
    if len(data) < 8:
        raise ConversionError(f"{where}: {len(data)} bytes is too short to be a TFLite model; "
                              "pass a .tflite file written by the TensorFlow Lite converter")
    if data[4:8] != b"TFL3":
        raise ConversionError(f"{where}: not a TFLite model (file identifier {data[4:8]!r}, "
                              "expected b'TFL3'); pass a .tflite file from the TFLite converter")
    if struct.unpack_from("<I", data, 0)[0] >= len(data):
        raise ConversionError(f"{where}: the TFLite file is truncated (root table past the end "
                              f"of its {len(data)} bytes); copy or export the model again")


def _length(obj: Any, name: str, file: bytes) -> int:
    """Length of a vector of tables, checked against the file size (corrupt counts)."""
    n = int(getattr(obj, name + "Length")())
    if n * 4 > len(file):
        raise ConversionError(f"the file claims {n} {name} in {len(file)} bytes: it is corrupt")
    return n


def _ints(obj: Any, name: str) -> tuple[int, ...]:
    if getattr(obj, name + "Length")() == 0:
        return ()
    return tuple(int(i) for i in getattr(obj, name + "AsNumpy")())


def _raw_builtin_code(oc: Any) -> int:
    """The stored int32 ``builtin_code`` (0 if absent).

    The ``tflite`` package patches ``OperatorCode.BuiltinCode()`` to return the deprecated
    code below 127, which hides what the file holds; read the field (vtable slot 10) itself.
    """
    tab = oc._tab
    o = tab.Offset(10)
    return int(tab.Get(flatbuffers.number_types.Int32Flags, o + tab.Pos)) if o else 0


def _opcodes(tfl: Any, model: Any, file: bytes) -> list[tuple[str, int, str | None, int]]:
    """(name, builtin code, custom code, version) per entry of the operator-code table."""
    names = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for i in range(_length(model, "OperatorCodes", file)):
        oc = model.OperatorCodes(i)
        code = max(_raw_builtin_code(oc), int(oc.DeprecatedBuiltinCode()))
        custom = oc.CustomCode()
        out.append((names.get(code, f"BUILTIN_{code}"), code,
                    custom.decode("utf-8", "replace") if custom is not None else None,
                    int(oc.Version())))
    return out


def _custom_options(op: Any, file: bytes) -> bytes | None:
    offset, size = op.LargeCustomOptionsOffset(), op.LargeCustomOptionsSize()
    if offset > 1:
        if offset + size > len(file):
            raise ConversionError("custom options lie outside the file: it is truncated")
        return bytes(file[offset:offset + size])
    return op.CustomOptionsAsNumpy().tobytes() if op.CustomOptionsLength() else None


def _operator(op: Any, index: int, opcodes: list, file: bytes) -> Operator:
    from .options import builtin_options

    k = op.OpcodeIndex()
    if k >= len(opcodes):
        raise ConversionError(f"operator {index} uses opcode index {k} but the model has "
                              f"{len(opcodes)} opcodes: the file is corrupt")
    name, code, custom, version = opcodes[k]
    return Operator(index, name, _ints(op, "Inputs"), _ints(op, "Outputs"), builtin_options(op),
                    _ints(op, "Intermediates"), custom if name == "CUSTOM" else None,
                    _custom_options(op, file), version, code)


def _check_indices(sg: Subgraph, where: str) -> None:
    n = len(sg.tensors)
    refs = [*sg.inputs, *sg.outputs]
    for op in sg.operators:
        refs += [*op.inputs, *op.outputs, *op.intermediates]
    bad = [i for i in refs if not -1 <= i < n]
    if bad:
        raise ConversionError(f"{where}: subgraph {sg.name!r} refers to tensor {bad[0]} but has "
                              f"{n} tensors: the file is corrupt; export the model again")


def _subgraph(model: Any, j: int, opcodes: list, file: bytes, where: str) -> Subgraph:
    g = model.Subgraphs(j)
    tensors = [read_tensor(model, g.Tensors(i), i, file)
               for i in range(_length(g, "Tensors", file))]
    ops = [_operator(g.Operators(i), i, opcodes, file)
           for i in range(_length(g, "Operators", file))]
    name = (g.Name() or b"").decode("utf-8", "replace")
    sg = Subgraph(name, tensors, ops, _ints(g, "Inputs"), _ints(g, "Outputs"))
    _check_indices(sg, where)
    return sg


def _signatures(model: Any, file: bytes) -> list[SignatureDef]:
    def tmap(sd: Any, kind: str) -> dict[str, int]:
        return {getattr(sd, kind)(i).Name().decode(): int(getattr(sd, kind)(i).TensorIndex())
                for i in range(getattr(sd, kind + "Length")())}

    return [SignatureDef((sd.SignatureKey() or b"").decode(), int(sd.SubgraphIndex()),
                         tmap(sd, "Inputs"), tmap(sd, "Outputs"))
            for sd in (model.SignatureDefs(i)
                       for i in range(_length(model, "SignatureDefs", file)))]


def _parse(tfl: Any, data: bytes, where: str) -> TFLModel:
    from .tensors import buffer_bytes

    model = tfl.Model.GetRootAs(data, 0)
    version = int(model.Version())
    if version != SCHEMA_VERSION:
        raise ConversionError(f"{where}: TFLite schema version {version}; edgernn reads version "
                              f"{SCHEMA_VERSION}: re-convert with a current TensorFlow")
    if _length(model, "Subgraphs", data) == 0:
        raise ConversionError(f"{where}: the TFLite model has no subgraph; export it again")
    opcodes = _opcodes(tfl, model, data)
    subgraphs = [_subgraph(model, j, opcodes, data, where)
                 for j in range(_length(model, "Subgraphs", data))]
    metadata = {}
    for i in range(_length(model, "Metadata", data)):
        md = model.Metadata(i)
        metadata[(md.Name() or b"").decode("utf-8", "replace")] = (
            buffer_bytes(model, int(md.Buffer()), data) or b"")
    description = (model.Description() or b"").decode("utf-8", "replace")
    return TFLModel(version, subgraphs, description, metadata, _signatures(model, data))


def read_tflite(src: str | PathLike | bytes | bytearray | memoryview) -> TFLModel:
    """Parse a ``.tflite`` file (path or bytes) into a ``TFLModel``.

    Raises ``ConversionError`` for a missing file, a file that is not a TFLite
    flatbuffer (identifier ``TFL3``), a truncated or corrupt file.
    """
    data, where = _load_bytes(src)
    _check_header(data, where)
    tfl = _tflite()
    try:
        return _parse(tfl, _StrictBytes(data), where)
    except ConversionError as e:
        msg = str(e)
        raise ConversionError(msg if msg.startswith(where) else f"{where}: {msg}") from None
    except (IndexError, struct.error, ValueError, TypeError, UnicodeDecodeError,
            OverflowError, AttributeError, MemoryError) as e:
        raise ConversionError(f"{where}: the TFLite file is truncated or corrupt "
                              f"({type(e).__name__}: {e}); export or copy the model again"
                              ) from None
