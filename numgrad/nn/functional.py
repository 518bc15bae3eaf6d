"""``numgrad.nn.functional``: activations, softmax and losses."""
from __future__ import annotations

from ..ops.pointwise import elu, gelu, hardtanh, leaky_relu, relu, relu6, sigmoid, silu, softplus, tanh  # noqa: F401
