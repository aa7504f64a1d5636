"""The ``.ern`` weight file: a fixed preamble, a JSON header, 64-byte-aligned blobs.

Layout (all integers little-endian)::

    offset  size  field
    0       8     magic  b"EDGERNN\\0"
    8       2     format major version (a reader refuses a newer major)
    10      2     format minor version (newer minors stay readable)
    12      4     header length in bytes (UTF-8 JSON)
    16      8     data offset (multiple of 64)
    24      8     data length in bytes
    32      4     CRC-32 of bytes [64, end of file)
    36      28    zero
    64      ...   JSON header: {"graph": ..., "tensors": [...], "metadata": {...},
                  "requires": [...]}
    data    ...   tensor blobs, each at a 64-byte-aligned offset from the data start

``requires`` lists the features a reader must implement to run the file correctly
(e.g. ``"int8-activations"``); a reader refuses a file that requires a feature it
does not know, rather than running it wrongly.  Every value carries its dtype (and
scale/zero point when quantized).

Loading maps the file (copy-on-write, so numpy sees writable arrays but the
pages are shared and never copied unless written) and builds the tensors as
zero-copy views.  Every inconsistency raises :class:`ModelFormatError`.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFormatError
from .ir import STORAGE_DTYPES, Graph, GraphError, Op, State, Tensor, Value

MAGIC = b"EDGERNN\0"
VERSION = (1, 1)
#: value dtype -> the feature a file with such activations requires
_DTYPE_FEATURES = {"i8": "int8-activations", "u8": "uint8-activations",
                   "i16": "int16-activations", "i32": "int32-activations"}
#: every feature this reader implements
KNOWN_FEATURES = frozenset({*_DTYPE_FEATURES.values(), "grouped-scales", "pad-modes",
                            "binary-prelu", "binary-compare"})
ALIGN = 64
_PREAMBLE = struct.Struct("<8sHHIQQI28x")
assert _PREAMBLE.size == ALIGN


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return v


def _tupled(v: Any) -> Any:
    return tuple(_tupled(x) for x in v) if isinstance(v, list) else v


def _tensor_entry(t: Tensor, offset: int) -> tuple[dict[str, Any], list[bytes]]:
    """The header entry of ``t`` and the blobs to place after its data.

    A scalar scale / zero point is written in the header; a per-channel or per-group
    one as a float32 blob (``{"offset", "count"}``): thousands of them as JSON text
    would outweigh an int8 model's weights.
    """
    entry: dict[str, Any] = {"name": t.name, "dtype": t.dtype, "shape": list(t.shape),
                             "offset": offset, "nbytes": t.nbytes}
    blobs = []
    pos = _align(offset + t.nbytes)
    for key in ("scale", "zero_point"):
        v = getattr(t, key)
        if v is None:
            continue
        arr = np.ascontiguousarray(v, dtype="<f4").ravel()
        entry[key + "_scalar"] = np.ndim(v) == 0
        if arr.size == 1:
            entry[key] = arr.tolist()
            continue
        entry[key] = {"offset": pos, "count": int(arr.size)}
        blobs.append(arr.tobytes())
        pos = _align(pos + arr.nbytes)
    if t.axis is not None:
        entry["axis"] = t.axis
    if t.group:
        entry["group"] = int(t.group)
    return entry, blobs


def _value_entry(v: Value) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": v.name, "shape": list(v.shape), "dtype": v.dtype}
    if v.scale is not None:
        entry["scale"] = float(v.scale)
    if v.zero_point is not None:
        entry["zero_point"] = int(v.zero_point)
    return entry


def requirements(graph: Graph) -> list[str]:
    """The features a reader needs to run ``graph`` (see the module docstring)."""
    needs = {_DTYPE_FEATURES[v.dtype] for v in graph.values.values()
             if v.dtype in _DTYPE_FEATURES}
    if any(t.group for t in graph.consts.values()):
        needs.add("grouped-scales")
    from .ops import get

    for op in graph.ops:
        needs |= get(op.kind).requires(op)
    return sorted(needs)


def graph_to_json(graph: Graph) -> dict[str, Any]:
    """The graph structure (everything but tensor data) as a JSON-able dict."""
    return {
        "inputs": [{"name": v.name, "shape": list(v.shape)} for v in graph.inputs],
        "outputs": list(graph.outputs),
        "values": [_value_entry(v) for v in graph.values.values()],
        "ops": [{"kind": o.kind, "name": o.name, "inputs": list(o.inputs),
                 "outputs": list(o.outputs), "attrs": _jsonable(dict(o.attrs))}
                for o in graph.ops],
        "states": [{"input": s.input, "output": s.output, "shape": list(s.shape),
                    "init": s.init} for s in graph.states],
    }


def save(graph: Graph, path: str | os.PathLike) -> Path:
    """Write ``graph`` to ``path`` as an ``.ern`` file; return the path."""
    graph.validate()
    entries, blobs, offset = [], [], 0
    for t in graph.consts.values():
        data = np.ascontiguousarray(t.data, dtype=STORAGE_DTYPES[t.dtype])
        entry, extra = _tensor_entry(t, offset)
        entries.append(entry)
        for raw in (data.tobytes(), *extra):
            blobs.append((offset, raw))
            offset = _align(offset + len(raw))
    header = json.dumps({"graph": graph_to_json(graph), "tensors": entries,
                         "metadata": _jsonable(dict(graph.metadata)),
                         "requires": requirements(graph)},
                        separators=(",", ":")).encode()
    data_offset = _align(ALIGN + len(header))
    body = bytearray(data_offset - ALIGN + offset)
    body[: len(header)] = header
    for off, raw in blobs:
        start = data_offset - ALIGN + off
        body[start:start + len(raw)] = raw
    crc = zlib.crc32(body)
    pre = _PREAMBLE.pack(MAGIC, *VERSION, len(header), data_offset, offset, crc)
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name such as "
                                f"{path / 'model.ern'}")
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(pre + bytes(body))
        os.replace(tmp, path)  # never leave a half-written model behind
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_graph(path: str | os.PathLike, *, verify_checksum: bool = True) -> Graph:
    """Map an ``.ern`` file and return its :class:`Graph` (tensors are zero-copy views)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < ALIGN:
                raise ModelFormatError(_msg(path, f"only {size} bytes; truncated or not a model"))
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelFormatError(f"{path}: is a directory, not a model file") from None
    except OSError as e:
        raise ModelFormatError(f"{path}: cannot read: {e.strerror or e}") from None
    return _parse(path, buf, size, verify_checksum)


def _msg(path: Path, what: str) -> str:
    return f"{path}: {what}. Re-export or re-convert the model (edgernn convert ...)."


def _parse(path: Path, buf: mmap.mmap, size: int, verify_checksum: bool) -> Graph:
    magic, major, minor, hlen, doff, dlen, crc = _PREAMBLE.unpack_from(buf, 0)
    if magic != MAGIC:
        hint = (" It looks like an ONNX/TFLite model: convert it first with "
                f"`edgernn convert {path.name} -o {path.stem}.ern`."
                if path.suffix.lower() in (".onnx", ".tflite") else "")
        raise ModelFormatError(f"{path}: not an edgernn model (bad magic {magic[:8]!r}).{hint}")
    if major > VERSION[0]:
        raise ModelFormatError(
            f"{path}: format {major}.{minor} is newer than this edgernn reads "
            f"({VERSION[0]}.x); upgrade edgernn (pip install -U edgernn)")
    if doff % ALIGN or doff < ALIGN + hlen or doff + dlen != size:
        raise ModelFormatError(_msg(path, f"size {size} does not match its preamble "
                                          f"(data at {doff}, {dlen} bytes): truncated or corrupt"))
    if verify_checksum and zlib.crc32(memoryview(buf)[ALIGN:]) != crc:
        raise ModelFormatError(_msg(path, "checksum mismatch: the file is corrupt"))
    try:
        header = json.loads(bytes(buf[ALIGN:ALIGN + hlen]).decode())
        _check_requires(path, header.get("requires", []), header["graph"]["ops"])
        tensors = {e["name"]: _tensor_view(buf, doff, dlen, e) for e in header["tensors"]}
        graph = _graph_from_json(header["graph"], tensors, header.get("metadata", {}))
        graph.validate()
    except ModelFormatError:
        raise
    except (GraphError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        raise ModelFormatError(
            _msg(path, f"inconsistent header ({type(e).__name__}: {e})")) from None
    return graph


def _check_requires(path: Path, requires: list, ops: list) -> None:
    """Refuse a file that needs features or op kinds this reader does not have."""
    from . import __version__
    from .ops import OPS

    unknown = sorted(set(map(str, requires)) - KNOWN_FEATURES)
    kinds = sorted({str(o["kind"]) for o in ops} - set(OPS))
    if unknown or kinds:
        what = ", ".join([*unknown, *(f"op kind {k}" for k in kinds)])
        raise ModelFormatError(
            f"{path}: the model requires {what}, which edgernn {__version__} does not "
            f"support; install a newer edgernn (pip install -U edgernn)")


def _tensor_view(buf: mmap.mmap, doff: int, dlen: int, e: dict[str, Any]) -> Tensor:
    dtype = e["dtype"]
    if dtype not in STORAGE_DTYPES:
        raise ModelFormatError(f"tensor {e['name']!r}: unknown dtype {dtype!r}")
    shape = tuple(int(d) for d in e["shape"])
    if any(d < 0 for d in shape):
        raise ModelFormatError(f"tensor {e['name']!r}: negative dimension in {shape}")
    count = int(np.prod(shape, dtype=np.int64))
    if dtype == "q4":
        count = (count + 1) // 2
    nbytes = count * STORAGE_DTYPES[dtype].itemsize
    off = int(e["offset"])
    if nbytes != int(e["nbytes"]) or off < 0 or off % ALIGN or off + nbytes > dlen:
        raise ModelFormatError(f"tensor {e['name']!r}: {nbytes} bytes at {off} do not fit "
                               f"the {dlen}-byte data section")
    data = np.frombuffer(buf, dtype=STORAGE_DTYPES[dtype], count=count, offset=doff + off)
    if dtype != "q4":
        data = data.reshape(shape)

    def quant(key: str) -> np.ndarray | None:
        if key not in e:
            return None
        v = e[key]
        if isinstance(v, dict):  # a float32 blob in the data section
            o, n = int(v["offset"]), int(v["count"])
            if o < 0 or o % ALIGN or n < 0 or o + 4 * n > dlen:
                raise ModelFormatError(f"tensor {e['name']!r}: {key} blob does not fit")
            v = np.frombuffer(buf, dtype="<f4", count=n, offset=doff + o)
        v = np.asarray(v, dtype=np.float32)
        return v.reshape(()) if e.get(key + "_scalar") else v

    scale = quant("scale")
    group = e.get("group")
    if group is not None:  # one scale per group of the last axis
        group = int(group)
        if group < 1 or not shape or scale is None:
            raise ModelFormatError(f"tensor {e['name']!r}: bad group {group}")
        scale = scale.reshape(*shape[:-1], -(-shape[-1] // group))
    return Tensor(name=e["name"], data=data, dtype=dtype, shape=shape, scale=scale,
                  zero_point=quant("zero_point"), axis=e.get("axis"), group=group)


def _graph_from_json(g: dict[str, Any], tensors: dict[str, Tensor], meta: dict) -> Graph:
    values = {v["name"]: Value(v["name"], tuple(int(d) for d in v["shape"]),
                               v.get("dtype", "f32"), v.get("scale"), v.get("zero_point"))
              for v in g["values"]}
    return Graph(
        inputs=tuple(values[v["name"]] for v in g["inputs"]),
        outputs=tuple(g["outputs"]),
        ops=tuple(Op(kind=o["kind"], name=o["name"], inputs=tuple(o["inputs"]),
                     outputs=tuple(o["outputs"]),
                     attrs={k: _tupled(v) for k, v in o["attrs"].items()}) for o in g["ops"]),
        values=values,
        consts=tensors,
        states=tuple(State(s["input"], s["output"], tuple(s["shape"]), s.get("init", ""))
                     for s in g.get("states", [])),
        metadata=meta,
    )
