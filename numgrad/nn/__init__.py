"""``numgrad.nn``: modules, parameters, layers, losses, initialisers and ``functional``.

>>> import numgrad as ng
>>> net = ng.nn.Sequential(ng.nn.Linear(4, 8), ng.nn.ReLU(), ng.nn.Linear(8, 2))
>>> net(ng.ones(3, 4)).shape
(3, 2)
"""
from . import functional  # noqa: F401
from . import init  # noqa: F401
from .modules import *  # noqa: F401,F403
from .parameter import Parameter  # noqa: F401
from .parameter import Buffer, UninitializedBuffer, UninitializedParameter  # noqa: F401
from . import utils  # noqa: F401
from . import parallel  # noqa: F401
from .parallel import DataParallel  # noqa: F401
