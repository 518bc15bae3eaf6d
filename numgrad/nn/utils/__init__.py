"""``numgrad.nn.utils``: PyTorch's ``torch.nn.utils`` - gradient clipping, parameter/vector
conversion, ``rnn`` (packed and padded sequences for the recurrent layers), ``parametrize`` and
``parametrizations`` (weight norm, spectral norm, orthogonal), and the older hook-based ``weight_norm`` and
``spectral_norm``.

>>> import numgrad as ng
>>> net = ng.nn.Linear(3, 2)
>>> net(ng.ones(4, 3)).sum().backward()
>>> float(ng.nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)) > 1.0
True
>>> ng.nn.utils.parameters_to_vector(net.parameters()).shape
(8,)
"""
from . import parametrizations, parametrize, rnn  # noqa: F401
from .clip_grad import clip_grad_norm, clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .spectral_norm import remove_spectral_norm, spectral_norm
from .weight_norm import remove_weight_norm, weight_norm

__all__ = [
    "clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
    "parameters_to_vector", "vector_to_parameters", "remove_spectral_norm", "spectral_norm", "remove_weight_norm",
    "weight_norm", "parametrizations", "parametrize", "rnn",
]
