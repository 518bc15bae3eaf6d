"""``CTCLoss`` (PyTorch's ``torch.nn.modules.loss``): the Connectionist Temporal Classification loss."""
from __future__ import annotations

from ...tensor import Tensor
from ..functional.ctc import ctc_loss
from .loss import _Loss

__all__ = ["CTCLoss"]


class CTCLoss(_Loss):
    """CTC loss between ``log_probs`` ``(T, N, C)`` and unaligned ``targets`` (see
    ``numgrad.nn.functional.ctc_loss``).

    >>> import numgrad as ng
    >>> lp = ng.randn(6, 2, 4).log_softmax(2)
    >>> ng.nn.CTCLoss()(lp, ng.tensor([[1, 2], [3, 3]]), [6, 5], [2, 2]).shape
    ()
    """

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs: Tensor, targets: Tensor, input_lengths, target_lengths) -> Tensor:
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                        self.zero_infinity)
