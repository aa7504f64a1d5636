"""edgernn toolchain (workstation side): source models -> IR -> ``.ern`` weight files.

>>> from edgernn.converters import convert, load_onnx
>>> report = convert("model.onnx", "model.ern", verify=True)   # ConversionReport
>>> graph = load_onnx("model.onnx")                            # import only: an IR Graph

Supported sources: ONNX (opsets 11-21).  TFLite is planned (a clear error for now).
"""

from .convert import ConversionReport, convert
from .errors import ConversionError, Problem, UnsupportedModelError, VerificationError
from .onnx import load_onnx
from .verify import VerifyResult, verify

__all__ = ["ConversionError", "ConversionReport", "Problem", "UnsupportedModelError",
           "VerificationError", "VerifyResult", "convert", "load_onnx", "verify"]
