"""edgernn toolchain (workstation side): source models -> IR -> ``.ern`` weight files.

>>> from edgernn.converters import convert, load_onnx
>>> report = convert("model.onnx", "model.ern", verify=True)   # ConversionReport
>>> graph = load_onnx("model.onnx")                            # import only: an IR Graph

Source formats are found in :data:`FORMATS` (:mod:`.formats`) by model object,
suffix or first bytes.  Supported: ONNX (opsets 11-21).  TFLite is planned (a
clear error for now).
"""

from . import onnx
from .convert import convert
from .errors import ConversionError, Problem, UnsupportedModelError, VerificationError
from .formats import FORMATS, TFLITE_PLANNED, FormatRegistry, SourceFormat
from .onnx import load_onnx
from .report import ConversionReport
from .verify import VerifyResult, verify

onnx.register_format(FORMATS)
FORMATS.register(TFLITE_PLANNED)  # with converters/tflite/: tflite.register_format(FORMATS)

__all__ = ["FORMATS", "ConversionError", "ConversionReport", "FormatRegistry", "Problem",
           "SourceFormat", "UnsupportedModelError", "VerificationError", "VerifyResult",
           "convert", "load_onnx", "verify"]
