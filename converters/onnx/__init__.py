"""ONNX -> edgernn IR: the ONNX importer (see :mod:`.importer`)."""

from .importer import load_onnx

__all__ = ["load_onnx"]
