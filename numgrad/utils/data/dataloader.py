"""``DataLoader``: batches from a dataset through a sampler and a collate function, as ``torch.utils.data`` does.

numgrad loads in the calling process.  ``num_workers > 0`` is accepted (so scripts written for PyTorch run)
and gives the same batches, loaded here instead of in worker processes; a warning says so.
A ``TensorDataset`` with the default collate is batched by gathering rows with one ``index_select``
kernel per tensor instead of stacking samples one by one.

>>> import numgrad as ng
>>> from numgrad.utils.data import TensorDataset
>>> ds = TensorDataset(ng.arange(6))
>>> [b[0].tolist() for b in DataLoader(ds, batch_size=4, drop_last=True)]
[[0, 1, 2, 3]]
"""
from __future__ import annotations

import numbers
import warnings
from typing import Callable, Iterator, Optional

import numpy as np

from ...kernels.cuda.pinned import pinned_memory_available
from ._collate import default_collate, default_convert
from ._pin_memory import pin_memory as _pin_batch
from .dataset import Dataset, IterableDataset, TensorDataset, gather_rows
from .sampler import BatchSampler, RandomSampler, SequentialSampler, as_numpy_generator

__all__ = ["DataLoader", "get_worker_info"]

def get_worker_info():
    """Information about the current loader worker: always None, since numgrad loads in the main process
    (as PyTorch's is in its main process).

    >>> get_worker_info() is None
    True
    """
    return None


class _InfiniteConstantSampler:
    """The sampler of an IterableDataset: the index is meaningless, the dataset's iterator decides."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Iterate over a dataset in mini-batches.

    Arguments as in PyTorch: ``batch_size`` (None: samples one by one, converted with ``default_convert``),
    ``shuffle`` (a ``RandomSampler``), ``sampler`` / ``batch_sampler`` (mutually exclusive with the options
    they replace), ``drop_last``, ``collate_fn``, ``generator`` (a ``numpy.random.Generator`` or an int seed;
    default: numgrad's global generator, seeded by ``numgrad.manual_seed``).

    >>> import numgrad as ng
    >>> from numgrad.utils.data import TensorDataset
    >>> loader = DataLoader(TensorDataset(ng.zeros(5, 3), ng.arange(5)), batch_size=2, shuffle=True, generator=0)
    >>> len(loader), [y.shape for _, y in loader]
    (3, [(2,), (2,), (1,)])
    """

    def __init__(self, dataset: Dataset, batch_size: Optional[int] = 1, shuffle: Optional[bool] = None,
                 sampler=None, batch_sampler=None, num_workers: int = 0, collate_fn: Optional[Callable] = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Optional[Callable] = None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor: Optional[int] = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers "
                             "> 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if num_workers > 0:
            warnings.warn(f"numgrad's DataLoader loads batches in the main process: num_workers={num_workers} "
                          "gives the same batches, without worker processes", UserWarning, stacklevel=2)
        if batch_size is not None and (not isinstance(batch_size, (numbers.Integral, np.integer))
                                       or isinstance(batch_size, bool) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if generator is not None:
            generator = as_numpy_generator(generator)  # an int seed becomes one generator for every epoch

        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (False, None):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                                 f"shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got "
                                 f"sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                                 f"but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        if sampler is None:
            if self._iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self._default_collate = collate_fn is None
        if collate_fn is None:
            collate_fn = default_collate if batch_size is not None or batch_sampler is not None else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    def __iter__(self) -> Iterator:
        batches = self._iter_stream() if self._iterable else self._iter_map()
        # PyTorch's warnings, when the iterator is made, and its rule: pin only where a GPU can use pinned memory
        if self.pin_memory and self.pin_memory_device:
            warnings.warn("pin_memory_device is deprecated, the current accelerator will be used as the device,"
                          f"ignore pin_memory_device='{self.pin_memory_device}'.", stacklevel=2)
        if self.pin_memory and not pinned_memory_available():
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then device pinned "
                          "memory won't be used.", stacklevel=2)
        if self.pin_memory and pinned_memory_available():
            return (_pin_batch(batch) for batch in batches)
        return batches

    def _iter_map(self):
        dataset, collate = self.dataset, self.collate_fn
        if not self._auto_collation:
            for idx in self.sampler:
                yield collate(dataset[idx])
            return
        gather = self._default_collate and type(dataset) is TensorDataset
        batched = getattr(dataset, "__getitems__", None)
        for indices in self.batch_sampler:
            if gather:
                # same values as stacking the samples (PyTorch gives a list of the stacked tensors)
                idx = np.asarray(indices, dtype=np.int64)
                n = len(dataset)
                if len(idx) and (idx.min() < -n or idx.max() >= n):
                    raise IndexError(f"index {int(idx.max())} is out of range for a dataset of size {n}")
                yield [gather_rows(t, idx % n if n else idx) for t in dataset.tensors]
            elif callable(batched):
                yield collate(batched(list(indices)))
            else:
                yield collate([dataset[i] for i in indices])

    def _iter_stream(self):
        collate = self.collate_fn
        it = iter(self.dataset)
        if not self._auto_collation:
            for sample in it:
                yield collate(sample)
            return
        size = self.batch_size
        batch: list = []
        for sample in it:
            batch.append(sample)
            if len(batch) == size:
                yield collate(batch)
                batch = []
        if batch and not self.drop_last:
            yield collate(batch)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError when the stream has no length, as in PyTorch
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self.batch_sampler if self._auto_collation else self.sampler)
