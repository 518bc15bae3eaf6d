"""``AdaptiveLogSoftmaxWithLoss`` (PyTorch's ``torch.nn.AdaptiveLogSoftmaxWithLoss``): the adaptive softmax of
Grave et al. (https://arxiv.org/abs/1609.04309), built from numgrad ops so autograd runs through it and its
elementwise parts fuse.

Parameter names and shapes are PyTorch's (``head``: a ``Linear``; ``tail``: a ``ModuleList`` of
``Sequential(Linear, Linear)`` projections, none with a bias), so a ``state_dict`` loads across unchanged.
"""
from __future__ import annotations

import itertools
from collections import namedtuple
from typing import List, Sequence

from ...ops.shape import cat
from ...tensor import Tensor
from .. import functional as F
from .container import ModuleList, Sequential
from .linear import Linear
from .module import Module

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

# PyTorch's name and fields: code that unpacks ``out, loss = asm(x, y)`` or reads ``.output`` works the same
_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax: the most frequent classes (below ``cutoffs[0]``) share the ``head`` with one logit per
    tail cluster; each cluster's classes get a low-rank ``tail`` projection of ``in_features // div_value**i``
    features.  Class labels must be sorted by frequency (label 0 the most frequent).

    ``forward(input, target)`` returns ``_ASMoutput(output, loss)``: the target's log-probability per example and
    the mean negative log-likelihood.  ``log_prob(input)`` gives all ``n_classes`` log-probabilities and
    ``predict(input)`` the most likely class.

    >>> import numgrad as ng
    >>> asm = ng.nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[4, 7])
    >>> out, loss = asm(ng.randn(3, 8), ng.tensor([0, 5, 9]))
    >>> out.shape, loss.shape, asm.log_prob(ng.randn(3, 8)).shape
    ((3,), (), (3, 10))
    """

    in_features: int
    n_classes: int
    cutoffs: List[int]
    div_value: float
    head_bias: bool

    def __init__(self, in_features: int, n_classes: int, cutoffs: Sequence[int], div_value: float = 4.0,
                 head_bias: bool = False, device=None, dtype=None) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        cutoffs = list(cutoffs)
        # PyTorch's checks and texts
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if ((cutoffs != sorted(cutoffs)) or (min(cutoffs) <= 0) or (max(cutoffs) > (n_classes - 1))
                or (len(set(cutoffs)) != len(cutoffs)) or any(int(c) != c for c in cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted in an increasing "
                             "order, where each value is between 1 and n_classes-1")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(self.in_features, self.head_size, bias=self.head_bias, **factory_kwargs)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hidden_size = int(self.in_features // (self.div_value ** (i + 1)))
            cluster_size = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(self.in_features, hidden_size, bias=False, **factory_kwargs),
                                        Linear(hidden_size, cluster_size, bias=False, **factory_kwargs)))

    def reset_parameters(self) -> None:
        """Re-draw every parameter with ``Linear``'s default initialisation (as in ``__init__``).

        >>> import numgrad as ng
        >>> ng.nn.AdaptiveLogSoftmaxWithLoss(4, 6, [2]).reset_parameters()
        """
        self.head.reset_parameters()
        for in_to_hidden, hidden_to_out in self.tail:
            in_to_hidden.reset_parameters()
            hidden_to_out.reset_parameters()

    def forward(self, input_: Tensor, target_: Tensor) -> _ASMoutput:
        """``_ASMoutput(output, loss)``: ``output[i]`` is ``log p(target[i] | input[i])``, ``loss`` the mean of
        ``-output``.  ``input_`` is ``(N, in_features)`` with ``target_`` ``(N,)``, or unbatched ``(in_features,)``
        with a 0-d target (``output`` is then 0-d).

        >>> import numgrad as ng
        >>> asm = ng.nn.AdaptiveLogSoftmaxWithLoss(4, 6, [2])
        >>> asm(ng.randn(4), ng.tensor(5)).output.shape
        ()
        """
        targ_dim = target_.dim()
        if targ_dim == 1:
            if input_.size(0) != target_.size(0):
                raise RuntimeError("Input and target should have the same size in the batch dimension.")
            if input_.dim() != 2:
                raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with size "
                                   f"{input_.size()}")
        elif targ_dim == 0:
            if input_.dim() != 1:
                raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with size "
                                   f"{input_.size()}")
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")

        is_batched = targ_dim > 0
        input = input_ if is_batched else input_.unsqueeze(0)
        target = target_ if is_batched else target_.unsqueeze(0)
        used_rows = 0
        batch_size = target.size(0)
        output = input.new_zeros(batch_size)
        gather_inds = target.new_empty(batch_size)
        cutoff_values = [0] + self.cutoffs
        for i in range(len(cutoff_values) - 1):
            low_idx, high_idx = cutoff_values[i], cutoff_values[i + 1]
            target_mask = (target >= low_idx) & (target < high_idx)
            row_indices = target_mask.nonzero().squeeze()
            if row_indices.numel() == 0:
                continue  # only the clusters some target falls in are evaluated: the point of adaptive softmax
            if i == 0:
                gather_inds.index_copy_(0, row_indices, target[target_mask])
            else:
                relative_target = target[target_mask] - low_idx
                input_subset = input.index_select(0, row_indices)
                cluster_output = self.tail[i - 1](input_subset)
                cluster_index = self.shortlist_size + i - 1
                gather_inds.index_fill_(0, row_indices, cluster_index)
                cluster_logprob = F.log_softmax(cluster_output, dim=1)
                local_logprob = cluster_logprob.gather(1, relative_target.unsqueeze(1))
                output.index_copy_(0, row_indices, local_logprob.squeeze(1))
            used_rows += row_indices.numel()
        if used_rows != batch_size:
            raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], but values in range "
                               f"[{target.min().item()}, {target.max().item()}] were found. ")
        head_output = self.head(input)
        head_logprob = F.log_softmax(head_output, dim=1)
        output = output + head_logprob.gather(1, gather_inds.unsqueeze(1)).squeeze()
        loss = (-output).mean()
        if not is_batched:
            output = output.squeeze(0)
        return _ASMoutput(output, loss)

    def _get_full_log_prob(self, input: Tensor, head_output: Tensor) -> Tensor:
        """The ``(N, n_classes)`` log-probabilities from ``input`` and ``self.head(input)``."""
        head_logprob = F.log_softmax(head_output, dim=1)
        # the clusters' columns concatenated (not written into an empty tensor): one graph node per cluster
        pieces = [head_logprob[:, :self.shortlist_size]]
        for i, (start_idx, stop_idx) in enumerate(itertools.pairwise(self.cutoffs)):
            cluster_logprob = F.log_softmax(self.tail[i](input), dim=1)
            pieces.append(cluster_logprob + head_logprob[:, self.shortlist_size + i].unsqueeze(1))
        return cat(pieces, dim=1)

    def log_prob(self, input: Tensor) -> Tensor:
        """Log-probabilities of all ``n_classes`` classes: ``(N, in_features)`` -> ``(N, n_classes)``.

        >>> import numgrad as ng
        >>> asm = ng.nn.AdaptiveLogSoftmaxWithLoss(4, 6, [2])
        >>> round(asm.log_prob(ng.randn(1, 4)).exp().sum().item(), 4)
        1.0
        """
        head_output = self.head(input)
        return self._get_full_log_prob(input, head_output)

    def predict(self, input: Tensor) -> Tensor:
        """The most likely class of each example (``log_prob(input).argmax(dim=1)``, evaluating the tail clusters
        only for the rows whose head prediction is a cluster): ``(N, in_features)`` -> ``(N,)``.

        >>> import numgrad as ng
        >>> asm = ng.nn.AdaptiveLogSoftmaxWithLoss(4, 6, [2])
        >>> x = ng.randn(3, 4)
        >>> bool((asm.predict(x) == asm.log_prob(x).argmax(dim=1)).all())
        True
        """
        head_output = self.head(input)
        output = head_output.argmax(dim=1)
        not_in_shortlist = output >= self.shortlist_size
        all_in_shortlist = not bool(not_in_shortlist.any())
        if all_in_shortlist:
            return output
        if bool(not_in_shortlist.all()):
            return self._get_full_log_prob(input, head_output).argmax(dim=1)
        log_prob = self._get_full_log_prob(input[not_in_shortlist], head_output[not_in_shortlist])
        output[not_in_shortlist] = log_prob.argmax(dim=1)
        return output
