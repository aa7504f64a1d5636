"""TFLite flatbuffers -> edgernn IR (workstation side).

* :mod:`.reader` (+ :mod:`.tensors`, :mod:`.options`): the ``.tflite`` file as plain
  dataclasses, parsed with the schema-generated classes of the ``tflite`` package;
* :mod:`.importer` - ``load_tflite``: the driver;
* :mod:`.io` - each input's time/batch axes and names; :mod:`.meta`, :mod:`.context` -
  what each tensor is per frame, IR emission;
* :mod:`.table` - the op table; the ops: :mod:`.elementwise`, :mod:`.qbinary`,
  :mod:`.layout`, :mod:`.linear`, :mod:`.conv`, :mod:`.reduce`, :mod:`.recurrent`,
  :mod:`.lstm_cell`, :mod:`.loops` (WHILE), :mod:`.variables`; :mod:`.fold`
  (constant operators), :mod:`.weights` (constant tensors);
* :mod:`.runner` - the TFLite interpreter as the reference of ``verify`` (never the
  parser).

:func:`register_format` adds TFLite to a :class:`~..formats.FormatRegistry`.
"""

from __future__ import annotations

from ..formats import TFLITE_PLANNED, FormatRegistry, SourceFormat
from .importer import load_tflite
from .runner import TFLiteRunner, open_runner

FORMAT = SourceFormat("tflite", TFLITE_PLANNED.suffixes, magic=TFLITE_PLANNED.magic,
                      load=load_tflite, runner=open_runner)


def register_format(formats: FormatRegistry) -> None:
    """Register TFLite as a source format (replacing the planned placeholder)."""
    formats.register(FORMAT)


__all__ = ["FORMAT", "TFLiteRunner", "load_tflite", "open_runner", "register_format"]
