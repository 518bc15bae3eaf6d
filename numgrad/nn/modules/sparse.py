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

    >>> import numgrad as ng
    >>> ng.nn.Embedding(10, 3)(ng.tensor([1, 2])).shape
    (2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: Optional[int] = None,
                 _weight: Optional[Tensor] = None, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = padding_idx + num_embeddings if padding_idx < 0 else padding_idx
        self.padding_idx = padding_idx
        if _weight is not None:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight)
        else:
            self.weight = _empty(num_embeddings, embedding_dim, dtype=dtype)
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """N(0, 1) weights; the padding row is zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            # a view of the padding row, so that the zeros land in the weight itself
            init.zeros_(Tensor(self.weight._data[self.padding_idx], _version=self.weight._version))

    def forward(self, input: Tensor) -> Tensor:
        return embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
