"""``PackedSequence`` (PyTorch's ``torch.nn.utils.rnn.PackedSequence``) and ``invert_permutation``, on their own:
the recurrent layers (``nn.modules.rnn``) take and return packed sequences, and importing them from
``nn.utils.rnn`` would load the ``nn.utils`` package, whose parametrizations build on ``nn.modules``: a cycle.
``nn.utils.rnn`` exports both under PyTorch's path, with the packing and padding functions.

>>> import numgrad as ng
>>> from numgrad.nn.packed_sequence import PackedSequence
>>> PackedSequence(ng.ones(3), ng.tensor([2, 1])).batch_sizes
tensor([2, 1])
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

import numpy as np

from .. import _dtypes
from ..creation import tensor
from ..tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation"]


class _PackedSequenceBase(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Optional[Tensor]
    unsorted_indices: Optional[Tensor]


class PackedSequence(_PackedSequenceBase):
    """Variable-length sequences packed time-major: ``data``, ``batch_sizes`` and the batch permutation.

    Build one with ``pack_padded_sequence`` or ``pack_sequence``; the recurrent
    layers take it as input and return their output packed the same way.
    ``sorted_indices[k]`` is the original batch index of the ``k``-th longest
    sequence and ``unsorted_indices`` its inverse (both ``None`` when the batch
    was already sorted).

    >>> import numgrad as ng
    >>> p = ng.nn.utils.rnn.pack_sequence([ng.ones(1), ng.ones(2)], enforce_sorted=False)
    >>> p.batch_sizes, p.sorted_indices
    (tensor([2, 1]), tensor([1, 0]))
    """

    def __new__(cls, data: Tensor, batch_sizes: Optional[Tensor] = None, sorted_indices: Optional[Tensor] = None,
                unsorted_indices: Optional[Tensor] = None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data
        if batch_sizes.device.type != "cpu":
            raise ValueError(
                "batch_sizes should always be on CPU. Instances of PackedSequence should never be created "
                "manually. They should be instantiated by functions like pack_sequence and "
                "pack_padded_sequences in nn.utils.rnn."
            )
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> "PackedSequence":
        """The same sequences with ``data`` converted by ``Tensor.to``; the indices follow ``data``'s device."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self

        def move(t):
            return None if t is None else t.to(data.device)

        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cpu(self) -> "PackedSequence":
        return self.to("cpu")

    def cuda(self) -> "PackedSequence":
        return self.to("cuda")

    def double(self) -> "PackedSequence":
        return self.to(dtype=_dtypes.float64)

    def float(self) -> "PackedSequence":
        return self.to(dtype=_dtypes.float32)

    def long(self) -> "PackedSequence":
        return self.to(dtype=_dtypes.int64)

    def int(self) -> "PackedSequence":
        return self.to(dtype=_dtypes.int32)

    @property
    def is_cuda(self) -> bool:
        """Whether ``data`` lives on a CUDA device."""
        return self.data.is_cuda


def invert_permutation(permutation: Optional[Tensor]) -> Optional[Tensor]:
    """The inverse of a permutation given as an index tensor (``None`` stays ``None``).

    >>> import numgrad as ng
    >>> ng.nn.utils.rnn.invert_permutation(ng.tensor([2, 0, 1]))
    tensor([1, 2, 0])
    """
    if permutation is None:
        return None
    perm = np.asarray(permutation.numpy(), dtype=np.int64)
    out = np.empty_like(perm)
    out[perm] = np.arange(perm.size, dtype=np.int64)
    return tensor(out).to(permutation.device)
