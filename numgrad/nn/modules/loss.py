"""Loss modules: thin wrappers over the loss functions of ``numgrad.nn.functional``."""
from __future__ import annotations

from typing import Optional

from ...tensor import Tensor
from .. import functional as F
from ..functional.loss import _reduction
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss"]


class _Loss(Module):
    """PyTorch's ``_Loss``: ``reduction``, or the string the deprecated ``size_average`` / ``reduce`` flags give
    (with PyTorch's warning); as PyTorch's, the loss function checks it when called (``KLDivLoss`` has its own)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _reduction(reduction, size_average, reduce)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight: Optional[Tensor] = None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy between logits and class indices (or class probabilities).

    >>> import numgrad as ng
    >>> loss = ng.nn.CrossEntropyLoss()(ng.zeros(2, 4), ng.tensor([0, 3]))
    >>> round(loss.item(), 4)
    1.3863
    """

    def __init__(self, weight: Optional[Tensor] = None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        kwargs = dict(ignore_index=self.ignore_index, reduction=self.reduction)
        if self.weight is not None:
            kwargs["weight"] = self.weight
        if self.label_smoothing:
            kwargs["label_smoothing"] = self.label_smoothing
        return F.cross_entropy(input, target, **kwargs)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities at the target classes.

    >>> import numgrad as ng
    >>> ng.nn.NLLLoss()(ng.tensor([[-1.0, -2.0]]), ng.tensor([1]))
    tensor(2.)
    """

    def __init__(self, weight: Optional[Tensor] = None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        kwargs = dict(ignore_index=self.ignore_index, reduction=self.reduction)
        if self.weight is not None:
            kwargs["weight"] = self.weight
        return F.nll_loss(input, target, **kwargs)


class MSELoss(_Loss):
    """Mean squared error.

    >>> import numgrad as ng
    >>> ng.nn.MSELoss()(ng.tensor([1.0, 3.0]), ng.tensor([1.0, 1.0]))
    tensor(2.)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error.

    >>> import numgrad as ng
    >>> ng.nn.L1Loss()(ng.tensor([1.0, 3.0]), ng.tensor([1.0, 1.0]))
    tensor(1.)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross entropy between probabilities and targets.

    >>> import numgrad as ng
    >>> round(ng.nn.BCELoss()(ng.tensor([0.5]), ng.tensor([1.0])).item(), 4)
    0.6931
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross entropy in one numerically stable step.

    >>> import numgrad as ng
    >>> round(ng.nn.BCEWithLogitsLoss()(ng.tensor([0.0]), ng.tensor([1.0])).item(), 4)
    0.6931
    """

    def __init__(self, weight: Optional[Tensor] = None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight: Optional[Tensor] = None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, weight=self.weight, reduction=self.reduction, pos_weight=self.pos_weight)
