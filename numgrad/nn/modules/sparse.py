"""``Embedding`` (PyTorch's ``torch.nn.modules.sparse``)."""
from __future__ import annotations

from typing import Optional

from ...tensor import Tensor
from .. import init
from ..functional.sparse import embedding
from ..parameter import Parameter
from .module import Module
from .utils import _empty

__all__ = ["Embedding"]


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim`` (init N(0, 1)).

    ``max_norm``, ``norm_type``, ``scale_grad_by_freq`` as in :func:`numgrad.nn.functional.embedding`;
    ``sparse=True`` raises (numgrad has no sparse gradients).

    >>> import numgrad as ng
    >>> ng.nn.Embedding(10, 3)(ng.tensor([1, 2])).shape
    (2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: Optional[int] = None,
                 max_norm: Optional[float] = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Optional[Tensor] = None, _freeze: bool = False, device=None,
                 dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = padding_idx + num_embeddings if padding_idx < 0 else padding_idx
        self.padding_idx = padding_idx
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        if sparse:
            raise NotImplementedError("Embedding(sparse=True): numgrad has no sparse gradients; use sparse=False (the "
                                      "dense weight gradient holds the same values)")
        self.sparse = sparse
        if _weight is not None:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight, requires_grad=not _freeze)
        else:
            self.weight = _empty(num_embeddings, embedding_dim, dtype=dtype)
            self.reset_parameters()
            if _freeze:
                self.weight.requires_grad_(False)
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        """N(0, 1) weights; the padding row is zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            # a view of the padding row, so that the zeros land in the weight itself
            init.zeros_(Tensor(self.weight._data[self.padding_idx], _version=self.weight._version))

    def forward(self, input: Tensor) -> Tensor:
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: Optional[int] = None,
                        max_norm: Optional[float] = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> "Embedding":
        """An ``Embedding`` whose weight is ``embeddings`` (2-D), frozen unless ``freeze=False``.

        >>> import numgrad as ng
        >>> table = ng.nn.Embedding.from_pretrained(ng.eye(3))
        >>> table(ng.tensor([2])), table.weight.requires_grad
        (tensor([[0., 0., 1.]]), False)
        """
        if embeddings.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse, _weight=embeddings,
                   _freeze=freeze)
