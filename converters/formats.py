"""The registry of source formats that :func:`~.convert.convert` and ``verify`` dispatch on.

A format is a :class:`SourceFormat`: its name, file suffixes, a test of the
file's first bytes (for files with another suffix), the importer (``load``:
source -> IR graph) and the source model as a verification reference
(``runner``: source -> :class:`~.verify.Runner`).  A source is matched, in
this order, by an in-memory model object the format ``accepts``
(``onnx.ModelProto``), by its suffix, then by its first bytes.

The built-in formats register themselves in ``converters/__init__.py``, one
line each::

    onnx.register_format(FORMATS)
    tflite.register_format(FORMATS)

A format without an importer yet (``load=None``, e.g. :data:`TFLITE_PLANNED`, which
TFLite's importer replaced) is still recognized, and converting it raises a
:class:`ConversionError` saying what to do instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConversionError

if TYPE_CHECKING:
    from edgernn.ir import Graph

    from .verify import Runner

HEAD_BYTES = 64  # how much of a file ``magic`` sees


def _never(_: Any) -> bool:
    return False


@dataclass(frozen=True)
class SourceFormat:
    """One source model format.

    ``load(src, *, axes=None, state_pairs=None[, consts=, frame=]) -> Graph`` imports a
    source (``consts``/``frame`` are passed only when given);
    ``runner(src) -> Runner`` runs it for ``verify``; ``magic(head) -> bool``
    recognizes a file by its first bytes; ``accepts(obj) -> bool`` recognizes an
    in-memory model; ``planned`` is the message for a format without ``load``.
    """

    name: str
    suffixes: tuple[str, ...]
    magic: Callable[[bytes], bool] = _never
    load: Callable[..., Graph] | None = None
    runner: Callable[[Any], Runner] | None = None
    accepts: Callable[[Any], bool] = _never
    planned: str = ""


class FormatRegistry:
    """Source formats by name; registering a name again replaces it (a planned format by
    its importer)."""

    def __init__(self) -> None:
        self._formats: dict[str, SourceFormat] = {}

    def register(self, fmt: SourceFormat) -> None:
        self._formats[fmt.name] = fmt

    def __iter__(self) -> Iterator[SourceFormat]:
        return iter(self._formats.values())

    def __getitem__(self, name: str) -> SourceFormat:
        return self._formats[name]

    def find(self, src: Any) -> SourceFormat:
        """The format of ``src`` (a path or an in-memory model), one that can be imported.

        Raises :class:`ConversionError` for an unknown format, or a known one
        without an importer (the message says what to do instead).
        """
        fmt = self.identify(src)
        if fmt.load is None:
            raise ConversionError(f"{source_label(src)}: {fmt.planned}")
        return fmt

    def identify(self, src: Any) -> SourceFormat:
        """The format of ``src`` by model object, suffix, then first bytes."""
        for fmt in self:
            if fmt.accepts(src):
                return fmt
        if not isinstance(src, str | os.PathLike):
            raise ConversionError(f"cannot convert a {type(src).__name__}: give a model file "
                                  f"or a model object of a known format ({self._known()})")
        path = Path(os.fspath(src))
        suffix = path.suffix.lower()
        for fmt in self:
            if suffix in fmt.suffixes:
                return fmt
        head = _head(path)
        for fmt in self:
            if head and fmt.magic(head):
                return fmt
        if not path.exists():
            raise ConversionError(f"{path}: no such file")
        raise ConversionError(f"{path}: unknown model format ({suffix or 'no suffix'}, and its "
                              f"first bytes match no known format); edgernn converts "
                              f"{self._known()}")

    def _known(self) -> str:
        return ", ".join(f"{f.name} ({', '.join(f.suffixes)})" + ("" if f.load else ", planned")
                         for f in self)


def source_label(src: Any) -> str:
    """How messages and reports name a source: its path, or ``<model>`` for an object."""
    return os.fspath(src) if isinstance(src, str | os.PathLike) else "<model>"


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(HEAD_BYTES)
    except OSError:
        return b""


def _tflite_magic(head: bytes) -> bool:
    return head[4:8] == b"TFL3"  # the flatbuffer file identifier


TFLITE_PLANNED = SourceFormat(
    "tflite", (".tflite",), magic=_tflite_magic,
    planned="TFLite import is not supported yet (it is planned); export the model to ONNX "
            "(tf2onnx for Keras/TF, torch.onnx.export for PyTorch) and convert that")

#: the registry ``convert()`` and ``verify()`` use (filled in ``converters/__init__.py``)
FORMATS = FormatRegistry()
