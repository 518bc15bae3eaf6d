"""``AlphaDropout`` and ``FeatureAlphaDropout`` (PyTorch's ``torch.nn.modules.dropout``)."""
from __future__ import annotations

from ...tensor import Tensor
from ..functional.dropout_more import alpha_dropout, feature_alpha_dropout
from .dropout import Dropout

__all__ = ["AlphaDropout", "FeatureAlphaDropout"]


class AlphaDropout(Dropout):
    """Alpha dropout for SELU networks in training mode (identity in eval).

    >>> import numgrad as ng
    >>> ng.nn.AlphaDropout(0.2).eval()(ng.ones(2))
    tensor([1., 1.])
    """

    def forward(self, input: Tensor) -> Tensor:
        return alpha_dropout(input, self.p, self.training, self.inplace)


class FeatureAlphaDropout(Dropout):
    """Alpha dropout of whole channels in training mode (identity in eval).

    >>> import numgrad as ng
    >>> ng.nn.FeatureAlphaDropout(0.2).eval()(ng.ones(1, 2))
    tensor([[1., 1.]])
    """

    def forward(self, input: Tensor) -> Tensor:
        return feature_alpha_dropout(input, self.p, self.training, self.inplace)
