"""``DistributedSampler``: each rank of a data-parallel job reads its own share of the dataset.

The dataset's indices (shuffled with the same permutation on every rank, drawn from ``seed + epoch``) are
split round-robin over ``num_replicas`` ranks: rank ``r`` takes positions ``r, r + num_replicas, ...``.
When the dataset does not split evenly, indices from the start are repeated so every rank gets the same
number (or, with ``drop_last``, the tail is dropped): PyTorch's partition, index for index when
``shuffle=False``.  The permutation is NumPy's (seeded by ``seed + epoch``), not PyTorch's ``randperm``, so
with ``shuffle=True`` the order differs from PyTorch's while the partition rule is the same.

>>> from numgrad.utils.data.distributed import DistributedSampler
>>> [list(DistributedSampler(range(5), num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
[[0, 2, 4], [1, 3, 0]]
"""
from __future__ import annotations

import math
from typing import Iterator, Optional, Sized

import numpy as np

from ... import distributed as dist
from .sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """Restricts loading to this rank's share of ``dataset`` (see the module's docstring); call
    ``set_epoch(epoch)`` at the start of every epoch so each epoch shuffles differently (and the same on every
    rank).  ``num_replicas`` and ``rank`` default to the process group's.

    >>> s = DistributedSampler(range(10), num_replicas=3, rank=2, shuffle=True, seed=1)
    >>> s.set_epoch(4); len(s), len(list(s))
    (4, 4)
    """

    def __init__(self, dataset: Sized, num_replicas: Optional[int] = None, rank: Optional[int] = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None:
            num_replicas = dist.get_world_size()
        if rank is None:
            rank = dist.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            # the tail that does not split evenly is dropped: every rank gets the same count
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            # the same permutation on every rank: a generator seeded by seed + epoch only
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        assert len(indices) == self.total_size
        indices = indices[self.rank:self.total_size:self.num_replicas]
        assert len(indices) == self.num_samples
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose permutation ``__iter__`` uses next (the same on every rank).

        >>> s = DistributedSampler(range(4), num_replicas=2, rank=0)
        >>> s.set_epoch(1); s.epoch
        1
        """
        self.epoch = epoch
