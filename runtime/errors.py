"""The exception families a user of edgernn can meet, one type each.

Every message says what went wrong and what to do about it.
"""

from __future__ import annotations


class EdgeRNNError(Exception):
    """Base class of every error edgernn raises on purpose."""


class ModelFormatError(EdgeRNNError, ValueError):
    """An ``.ern`` file is not readable: wrong magic, newer version, truncated, corrupt."""


class InputError(EdgeRNNError, ValueError):
    """A frame given to a stream has the wrong shape, dtype, or non-finite values."""


class SourceError(EdgeRNNError, RuntimeError):
    """An input source (microphone, serial port, file) is missing or failed."""
