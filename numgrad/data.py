"""``numgrad.data``: datasets and a ``DataLoader`` that batches, shuffles (seedably) and collates.

A ``TensorDataset`` is batched by gathering rows with one ``index_select``
kernel per tensor instead of collating samples one by one.

>>> import numgrad as ng
>>> from numgrad.data import DataLoader, TensorDataset
>>> ds = TensorDataset(ng.arange(10.0).reshape(5, 2), ng.arange(5))
>>> [y.tolist() for _, y in DataLoader(ds, batch_size=2)]
[[0, 1], [2, 3], [4]]
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Iterator, List, Optional, Sequence, Union

import numpy as np

from .tensor import Tensor
from .creation import default_generator, tensor
from .ops.indexing import index_select
from .ops.shape import stack

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "default_collate"]


class Dataset:
    """Base class: implement ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class TensorDataset(Dataset):
    """Samples are the ``i``-th rows of the given tensors (which share their first dimension).

    >>> import numgrad as ng
    >>> ds = TensorDataset(ng.zeros(3, 2), ng.tensor([0, 1, 2]))
    >>> len(ds), ds[1][1]
    (3, tensor(1))
    """

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        for t in tensors:
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset expects Tensors, got {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError("TensorDataset tensors need a first (sample) dimension; got a 0-d tensor")
        sizes = [t.shape[0] for t in tensors]
        if any(n != sizes[0] for n in sizes):
            raise ValueError(f"Size mismatch between tensors: first dimensions {sizes}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(_rows(t, np.array([_check_index(index, len(self))], dtype=np.int64)).reshape(t.shape[1:])
                     for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


def _check_index(index, n: int) -> int:
    if not isinstance(index, (numbers.Integral, np.integer)) or isinstance(index, bool):
        raise TypeError(f"dataset indices must be integers, got {type(index).__name__}")
    if not -n <= index < n:
        raise IndexError(f"index {index} is out of range for a dataset of size {n}")
    return int(index) % n


def _rows(t: Tensor, idx: np.ndarray) -> Tensor:
    return index_select(t, 0, Tensor(idx))


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def _as_generator(generator) -> np.random.Generator:
    if generator is None:
        return default_generator()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (numbers.Integral, np.integer)):
        return np.random.default_rng(int(generator))
    raise TypeError(f"generator must be a numpy.random.Generator or an int seed, got {type(generator).__name__}")


def random_split(dataset: Dataset, lengths: Sequence[Union[int, float]], generator=None) -> List[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths (or fractions).

    >>> import numgrad as ng
    >>> a, b = random_split(TensorDataset(ng.arange(10)), [0.8, 0.2], generator=0)
    >>> len(a), len(b)
    (8, 2)
    """
    n = len(dataset)
    lengths = list(lengths)
    if all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1.0):
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    perm = _as_generator(generator).permutation(n)
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[start:start + length].tolist()))
        start += length
    return out


def default_collate(batch: List[Any]):
    """Stack a list of samples into a batch: tensors and numbers are stacked, tuples and dicts recursed."""
    first = batch[0]
    if isinstance(first, Tensor):
        return stack(list(batch), 0)
    if isinstance(first, np.ndarray):
        return tensor(np.stack(batch))
    if isinstance(first, (bool, numbers.Number, np.number)):
        return tensor(list(batch))
    if isinstance(first, str):
        return list(batch)
    if isinstance(first, dict):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, (tuple, list)):
        sizes = {len(b) for b in batch}
        if len(sizes) != 1:
            raise RuntimeError("each element in list of batch should be of equal size")
        return type(first)(default_collate(list(items)) for items in zip(*batch)) if isinstance(first, tuple) \
            else [default_collate(list(items)) for items in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, arrays, numbers, dicts or lists; "
                    f"found {type(first).__name__}")


class DataLoader:
    """Iterate over a dataset in (optionally shuffled) mini-batches.

    ``generator`` (a ``numpy.random.Generator`` or an int seed) makes shuffling
    reproducible; without it numgrad's global generator (``ng.manual_seed``) is used.

    >>> import numgrad as ng
    >>> ds = TensorDataset(ng.arange(6))
    >>> [b[0].tolist() for b in DataLoader(ds, batch_size=4, drop_last=True)]
    [[0, 1, 2, 3]]
    """

    def __init__(self, dataset: Dataset, batch_size: Optional[int] = 1, shuffle: bool = False, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn: Optional[Callable] = None,
                 pin_memory: bool = False, drop_last: bool = False, generator=None):
        if batch_size is not None and (not isinstance(batch_size, (numbers.Integral, np.integer))
                                       or isinstance(batch_size, bool) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if num_workers != 0:
            raise ValueError("numgrad's DataLoader loads in the main process only (num_workers=0)")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                             "and drop_last")
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else batch_size
        self.shuffle, self.sampler, self.batch_sampler = shuffle, sampler, batch_sampler
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.generator = _as_generator(generator) if generator is not None else None

    def _order(self) -> Sequence[int]:
        n = len(self.dataset)
        if self.sampler is not None:
            return list(self.sampler)
        if self.shuffle:
            return _as_generator(self.generator).permutation(n)
        return np.arange(n)

    def _batches(self) -> Iterator[Sequence[int]]:
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        order = self._order()
        if self.batch_size is None:
            for i in order:
                yield i
            return
        size = self.batch_size
        for start in range(0, len(order), size):
            chunk = order[start:start + size]
            if len(chunk) < size and self.drop_last:
                return
            yield chunk

    def __iter__(self):
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None and self.batch_size is not None
        for chunk in self._batches():
            if self.batch_size is None and self.batch_sampler is None:
                sample = self.dataset[int(chunk)]
                yield self.collate_fn(sample) if self.collate_fn is not None else sample
            elif fast:
                idx = np.asarray(chunk, dtype=np.int64)
                yield tuple(_rows(t, idx) for t in self.dataset.tensors)
            else:
                samples = [self.dataset[int(i)] for i in chunk]
                yield (self.collate_fn or default_collate)(samples)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
