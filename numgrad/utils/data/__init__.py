"""``numgrad.utils.data``: datasets, samplers, collation and the ``DataLoader``, as in ``torch.utils.data``.

>>> import numgrad as ng
>>> from numgrad.utils.data import DataLoader, TensorDataset
>>> ds = TensorDataset(ng.arange(10.0).reshape(5, 2), ng.arange(5))
>>> [y.tolist() for _, y in DataLoader(ds, batch_size=2)]
[[0, 1], [2, 3], [4]]
"""
from __future__ import annotations

from ._collate import default_collate, default_convert
from .dataloader import DataLoader, get_worker_info
from .dataset import (
    ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset, TensorDataset, random_split,
)
from .sampler import (
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler, WeightedRandomSampler,
)

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset", "RandomSampler",
    "Sampler", "SequentialSampler", "StackDataset", "Subset", "SubsetRandomSampler", "TensorDataset",
    "WeightedRandomSampler", "default_collate", "default_convert", "get_worker_info", "random_split",
]
from .distributed import DistributedSampler  # noqa: E402 - torch.utils.data.distributed
__all__ += ["DistributedSampler"]
