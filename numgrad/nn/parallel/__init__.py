"""``numgrad.nn.parallel``: ``DataParallel`` on numgrad's one device.

>>> import numgrad as ng
>>> net = ng.nn.parallel.DataParallel(ng.nn.Linear(2, 1))
>>> list(net.state_dict())
['module.weight', 'module.bias']
"""
from __future__ import annotations

from .data_parallel import DataParallel
from .distributed import DistributedDataParallel  # over numgrad.distributed (MPI)

__all__ = ["DataParallel"]
__all__ += ["DistributedDataParallel"]
