"""More loss modules (PyTorch's ``torch.nn.modules.loss``): thin layers over ``numgrad.nn.functional`` with
PyTorch's constructor arguments (including the legacy ``size_average`` / ``reduce`` flags)."""
from __future__ import annotations

from typing import Callable, Optional

from ...tensor import Tensor
from .. import functional as F
from ..functional import loss_more as L
from .activation_more import PairwiseDistance
from .loss import _Loss

__all__ = [
    "SmoothL1Loss", "HuberLoss", "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss", "MarginRankingLoss",
    "HingeEmbeddingLoss", "CosineEmbeddingLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss",
    "TripletMarginLoss", "TripletMarginWithDistanceLoss", "MultiLabelMarginLoss",
]


class SmoothL1Loss(_Loss):
    """Squared error below ``beta``, absolute error above (``F.smooth_l1_loss``).

    >>> import numgrad as ng
    >>> ng.nn.SmoothL1Loss()(ng.tensor([0.0, 3.0]), ng.tensor([0.5, 0.0]))
    tensor(1.3125)
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Squared error below ``delta``, ``delta``-scaled absolute error above (``F.huber_loss``).

    >>> import numgrad as ng
    >>> ng.nn.HuberLoss()(ng.tensor([0.0, 3.0]), ng.tensor([0.5, 0.0]))
    tensor(1.3125)
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence from log-probabilities (``F.kl_div``); ``reduction='batchmean'`` for the
    mathematical definition.

    >>> import numgrad as ng
    >>> ng.nn.KLDivLoss(reduction="batchmean")(ng.tensor([[-0.5, -1.0]]), ng.tensor([[0.5, 0.5]]))
    tensor(0.0569)
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood (``F.poisson_nll_loss``).

    >>> import numgrad as ng
    >>> ng.nn.PoissonNLLLoss()(ng.tensor([0.0]), ng.tensor([2.0]))
    tensor(1.)
    """

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None, eps: float = 1e-8,
                 reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input: Tensor, target: Tensor) -> Tensor:
        return L.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full, eps=self.eps,
                                  reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood with predicted variance (``F.gaussian_nll_loss``).

    >>> import numgrad as ng
    >>> ng.nn.GaussianNLLLoss()(ng.tensor([1.0]), ng.tensor([3.0]), ng.tensor([2.0]))
    tensor(1.3466)
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input: Tensor, target: Tensor, var) -> Tensor:
        return L.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps, reduction=self.reduction)


class MarginRankingLoss(_Loss):
    """``max(0, -y * (x1 - x2) + margin)`` (``F.margin_ranking_loss``).

    >>> import numgrad as ng
    >>> ng.nn.MarginRankingLoss()(ng.tensor([1.0]), ng.tensor([2.0]), ng.tensor([1.0]))
    tensor(1.)
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return L.margin_ranking_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """``x`` for ``y == 1``, ``max(0, margin - x)`` for ``y == -1`` (``F.hinge_embedding_loss``).

    >>> import numgrad as ng
    >>> ng.nn.HingeEmbeddingLoss()(ng.tensor([0.3]), ng.tensor([-1.0]))
    tensor(0.7000)
    """

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """``1 - cos`` for ``y == 1``, ``max(0, cos - margin)`` for ``y == -1`` (``F.cosine_embedding_loss``).

    >>> import numgrad as ng
    >>> ng.nn.CosineEmbeddingLoss()(ng.tensor([[1.0, 0.0]]), ng.tensor([[0.0, 1.0]]), ng.tensor([1.0]))
    tensor(1.)
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return L.cosine_embedding_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """``log(1 + exp(-y * x))`` (``F.soft_margin_loss``).

    >>> import numgrad as ng
    >>> ng.nn.SoftMarginLoss()(ng.tensor([0.0]), ng.tensor([1.0]))
    tensor(0.6931)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_Loss):
    """One-vs-all logistic loss averaged over classes (``F.multilabel_soft_margin_loss``).

    >>> import numgrad as ng
    >>> ng.nn.MultiLabelSoftMarginLoss()(ng.zeros(1, 2), ng.tensor([[1.0, 0.0]]))
    tensor(0.6931)
    """

    def __init__(self, weight: Optional[Tensor] = None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.multilabel_soft_margin_loss(input, target, weight=self.weight, reduction=self.reduction)


class MultiMarginLoss(_Loss):
    """Multi-class hinge loss (``F.multi_margin_loss``).

    >>> import numgrad as ng
    >>> ng.nn.MultiMarginLoss()(ng.tensor([[0.1, 0.2, 0.4]]), ng.tensor([2]))
    tensor(0.5000)
    """

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Optional[Tensor] = None, size_average=None,
                 reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and weight.ndim != 1:
            raise ValueError(f"MultiMarginLoss: expected weight to be None or 1D tensor, got {weight.ndim}D instead")
        self.p, self.margin = p, margin
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.multi_margin_loss(input, target, p=self.p, margin=self.margin, weight=self.weight,
                                   reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """``max(0, d(a, p) - d(a, n) + margin)`` (``F.triplet_margin_loss``).

    >>> import numgrad as ng
    >>> ng.nn.TripletMarginLoss(eps=0.0)(ng.zeros(1, 2), ng.zeros(1, 2), ng.ones(1, 2))
    tensor(0.)
    """

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return L.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
                                     swap=self.swap, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """Triplet loss with any distance function (``F.triplet_margin_with_distance_loss``); the default
    distance is a ``PairwiseDistance`` submodule, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.nn.TripletMarginWithDistanceLoss()(ng.zeros(1, 2), ng.zeros(1, 2), ng.ones(1, 2))
    tensor(0.)
    """

    def __init__(self, *, distance_function: Optional[Callable[[Tensor, Tensor], Tensor]] = None,
                 margin: float = 1.0, swap: bool = False, reduction: str = "mean"):
        super().__init__(reduction=reduction)
        if margin <= 0:
            raise ValueError(
                f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got {margin} instead"
            )
        self.distance_function = distance_function if distance_function is not None else PairwiseDistance()
        self.margin, self.swap = margin, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return L.triplet_margin_with_distance_loss(anchor, positive, negative,
                                                   distance_function=self.distance_function, margin=self.margin,
                                                   swap=self.swap, reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss (``F.multilabel_margin_loss``).

    >>> import numgrad as ng
    >>> ng.nn.MultiLabelMarginLoss()(ng.tensor([[0.1, 0.2, 0.4, 0.8]]), ng.tensor([[3, 0, -1, 1]]))
    tensor(0.8500)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.multilabel_margin_loss(input, target, reduction=self.reduction)
