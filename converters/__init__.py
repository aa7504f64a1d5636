"""edgernn toolchain (workstation side): source models -> IR -> ``.ern`` weight files.

>>> from edgernn.converters import convert, load_onnx
>>> report = convert("model.onnx", "model.ern", verify=True)   # ConversionReport
>>> graph = load_onnx("model.onnx")                            # import only: an IR Graph
>>> small = quantize(graph, "int8")                            # see .quantize

Source formats are found in :data:`FORMATS` (:mod:`.formats`) by model object,
suffix or first bytes.  Supported: ONNX (opsets 11-21) and TFLite (:mod:`.tflite`).
"""

from . import onnx, tflite
from .convert import convert
from .errors import ConversionError, Problem, UnsupportedModelError, VerificationError
from .formats import FORMATS, FormatRegistry, SourceFormat
from .onnx import load_onnx
from .quantize import QuantizationError, quantize
from .report import ConversionReport
from .tflite import load_tflite
from .verify import VerifyResult, verify

onnx.register_format(FORMATS)
tflite.register_format(FORMATS)

__all__ = ["FORMATS", "ConversionError", "ConversionReport", "FormatRegistry", "Problem",
           "SourceFormat", "UnsupportedModelError", "VerificationError", "VerifyResult",
           "QuantizationError", "convert", "load_onnx", "load_tflite", "quantize", "verify"]
