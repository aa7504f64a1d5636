"""edgernn toolchain: source models (ONNX; TFLite later) -> IR -> ``.ern`` weight files."""

from .errors import ConversionError, Problem, UnsupportedModelError, VerificationError
from .onnx_import import load_onnx

__all__ = ["ConversionError", "Problem", "UnsupportedModelError", "VerificationError",
           "load_onnx"]
