"""``numgrad.onnx``: write a model's recorded graph as an ONNX file (``torch.onnx``'s API).

Needs the optional ``onnx`` package (numgrad imports without it).

>>> import io, numgrad as ng
>>> ng.onnx.export(ng.nn.Linear(3, 2), ng.randn(4, 3), io.BytesIO())
>>> ng.onnx.is_in_onnx_export()
False
"""
from __future__ import annotations

from . import errors
from ._export import TrainingMode, export, is_in_onnx_export
from .errors import OnnxExporterError, UnsupportedOperatorError

__all__ = ["export", "is_in_onnx_export", "TrainingMode", "errors", "OnnxExporterError", "UnsupportedOperatorError"]
