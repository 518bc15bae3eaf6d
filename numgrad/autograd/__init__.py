"""Automatic differentiation: ``backward``, ``grad``, ``Function``, grad modes, ``gradcheck``."""
from __future__ import annotations

from . import tensor_methods  # noqa: F401 - binds backward, hooks and the in-place leaf rule onto Tensor
from .function import Function, Node
from .grad_api import backward, grad
from .gradcheck import gradcheck, gradgradcheck
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .grad_mode import inference_mode  # noqa: F401
from .anomaly_mode import (  # noqa: F401
    detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled, set_detect_anomaly)

__all__ = ["backward", "grad", "Function", "Node", "gradcheck", "gradgradcheck", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled"]
