"""``numgrad.optim``: optimizers whose updates are fused Numba kernels, and learning-rate schedulers.

>>> import numgrad as ng
>>> model = ng.nn.Linear(2, 1)
>>> opt = ng.optim.Adam(model.parameters(), lr=1e-3)
>>> model(ng.ones(4, 2)).sum().backward(); opt.step(); opt.zero_grad()
"""
from . import lr_scheduler  # noqa: F401
from .adadelta import Adadelta  # noqa: F401
from .adafactor import Adafactor  # noqa: F401
from .adagrad import Adagrad  # noqa: F401
from .asgd import ASGD  # noqa: F401
from .adam import Adam, AdamW  # noqa: F401
from .adamax import Adamax  # noqa: F401
from .nadam import NAdam  # noqa: F401
from .lbfgs import LBFGS  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
from .radam import RAdam  # noqa: F401
from .rmsprop import RMSprop  # noqa: F401
from .rprop import Rprop  # noqa: F401
from .sgd import SGD  # noqa: F401
from . import swa_utils  # noqa: F401

__all__ = ["ASGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "LBFGS", "NAdam", "Optimizer", "RAdam", "RMSprop",
           "Rprop", "SGD", "lr_scheduler", "swa_utils"]

from .muon import Muon  # noqa: E402,F401

__all__ += ["Muon"]
