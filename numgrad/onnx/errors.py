"""The errors of ``numgrad.onnx.export`` (``torch.onnx.errors``' names).

>>> from numgrad.onnx.errors import UnsupportedOperatorError
>>> issubclass(UnsupportedOperatorError, RuntimeError)
True
"""
from __future__ import annotations


class OnnxExporterError(RuntimeError):
    """A model that numgrad's exporter cannot write as ONNX (``torch.onnx.errors.OnnxExporterError``)."""


class UnsupportedOperatorError(OnnxExporterError):
    """A recorded op has no ONNX spelling in numgrad's exporter (``torch.onnx.errors.UnsupportedOperatorError``)."""
