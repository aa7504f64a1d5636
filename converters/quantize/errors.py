"""The error of the quantization family."""

from __future__ import annotations

from ..errors import ConversionError


class QuantizationError(ConversionError):
    """A graph cannot be quantized as asked: unknown scheme, bad calibration data,
    nothing to quantize, a value out of the storage type's range."""
