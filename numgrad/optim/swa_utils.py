"""Stochastic weight averaging and EMA of weights: ``AveragedModel``, ``SWALR``, ``update_bn`` (PyTorch's API).

>>> import numgrad as ng
>>> from numgrad.optim.swa_utils import AveragedModel
>>> model = ng.nn.Linear(2, 1)
>>> swa = AveragedModel(model)
>>> swa.update_parameters(model); int(swa.n_averaged)
1
"""
from __future__ import annotations

import itertools
import math
from copy import deepcopy
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from ..autograd.grad_mode import no_grad
from ..creation import tensor
from ..nn.modules.batchnorm import _BatchNorm
from ..nn.modules.module import Module
from ..tensor import Tensor
from ._scheduler_base import LRScheduler, _format_param
from .optimizer import Optimizer, _lerp_

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn", "get_ema_avg_fn",
           "get_swa_avg_fn"]


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable:
    """``multi_avg_fn`` for an exponential moving average of lists of parameters (``ema = lerp(ema, p, 1 - decay)``).

    >>> import numgrad as ng
    >>> from numgrad.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    >>> ema = AveragedModel(ng.nn.Linear(2, 1), multi_avg_fn=get_ema_multi_avg_fn(0.9))
    """
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")

    def ema_update(ema_param_list, current_param_list, _) -> None:
        with no_grad():
            if ema_param_list[0].dtype.is_floating_point:
                for p_ema, p_model in zip(ema_param_list, current_param_list):
                    _lerp_(p_ema, p_model, 1 - decay)
            else:
                for p_ema, p_model in zip(ema_param_list, current_param_list):
                    p_ema.copy_(p_ema * decay + p_model * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> Callable:
    """``multi_avg_fn`` for the running mean of lists of parameters.

    >>> from numgrad.optim.swa_utils import get_swa_multi_avg_fn
    >>> callable(get_swa_multi_avg_fn())
    True
    """

    def swa_update(averaged_param_list, current_param_list, num_averaged) -> None:
        with no_grad():
            if averaged_param_list[0].dtype.is_floating_point:
                for p_avg, p_model in zip(averaged_param_list, current_param_list):
                    _lerp_(p_avg, p_model, float(1 / (float(num_averaged) + 1)))
            else:
                for p_avg, p_model in zip(averaged_param_list, current_param_list):
                    p_avg.copy_(p_avg + (p_model - p_avg) / (num_averaged + 1))

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable:
    """``avg_fn`` for an exponential moving average: ``decay * ema + (1 - decay) * param``.

    >>> from numgrad.optim.swa_utils import get_ema_avg_fn
    >>> float(get_ema_avg_fn(0.5)(2.0, 4.0, 1))
    3.0
    """
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")

    def ema_update(ema_param, current_param, num_averaged):
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> Callable:
    """``avg_fn`` for the running mean: ``avg + (param - avg) / (num_averaged + 1)``.

    >>> from numgrad.optim.swa_utils import get_swa_avg_fn
    >>> float(get_swa_avg_fn()(2.0, 4.0, 1))
    3.0
    """

    def swa_update(averaged_param, current_param, num_averaged):
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose parameters are the average (SWA, or EMA with ``get_ema_*``) of ``model``'s over the
    calls to :meth:`update_parameters`; calling it runs the averaged copy.

    With ``use_buffers=True`` buffers are averaged too; otherwise they are
    copied from ``model`` at each update (run :func:`update_bn` for BatchNorm
    statistics that match the averaged weights).

    >>> import numgrad as ng
    >>> from numgrad.optim.swa_utils import AveragedModel
    >>> model = ng.nn.Linear(1, 1, bias=False)
    >>> swa = AveragedModel(model)
    >>> for w in (1.0, 3.0):
    ...     with ng.no_grad(): _ = model.weight.fill_(w)
    ...     swa.update_parameters(model)
    >>> swa.module.weight.item()
    2.0
    """

    def __init__(self, model: Module, device=None, avg_fn: Optional[Callable] = None,
                 multi_avg_fn: Optional[Callable] = None, use_buffers: bool = False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, device=device))  # int64, as PyTorch's long counter
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current parameters into the average (the first call copies them)."""
        self_params = (itertools.chain(self.module.parameters(), self.module.buffers()) if self.use_buffers
                       else self.parameters())
        model_params = (itertools.chain(model.parameters(), model.buffers()) if self.use_buffers
                        else model.parameters())
        with no_grad():
            averaged: List[Tensor] = []
            current: List[Tensor] = []
            copy_param = bool(self.n_averaged == 0)
            for p_averaged, p_model in zip(self_params, model_params):
                p_model_ = p_model.detach().to(p_averaged.device)
                averaged.append(p_averaged.detach())
                current.append(p_model_)
                if copy_param:
                    p_averaged.detach().copy_(p_model_)
            if int(self.n_averaged) > 0:
                if self.avg_fn is not None and self.multi_avg_fn is None:
                    for p_averaged, p_model in zip(averaged, current):
                        p_averaged.copy_(self.avg_fn(p_averaged, p_model, self.n_averaged.to(p_averaged.device)))
                else:
                    # the lists go to multi_avg_fn grouped by device and dtype, as PyTorch groups them
                    groups: Dict[Tuple[str, Any], Tuple[List[Tensor], List[Tensor]]] = {}
                    for p_averaged, p_model in zip(averaged, current):
                        mine, theirs = groups.setdefault((str(p_averaged.device), p_averaged.dtype), ([], []))
                        mine.append(p_averaged)
                        theirs.append(p_model)
                    for (device, _), (mine, theirs) in groups.items():
                        n_averaged = self.n_averaged.to(device)
                        if self.multi_avg_fn is not None:
                            self.multi_avg_fn(mine, theirs, n_averaged)
                        else:  # the running mean, with PyTorch's CPU formula
                            avg_fn = get_swa_avg_fn()
                            for p_averaged, p_model in zip(mine, theirs):
                                p_averaged.copy_(avg_fn(p_averaged, p_model, n_averaged))
            if not self.use_buffers:
                for b_swa, b_model in zip(self.module.buffers(), model.buffers()):
                    b_swa.detach().copy_(b_model.detach().to(b_swa.device))
            self.n_averaged += 1


def update_bn(loader: Iterable[Any], model: Module, device=None) -> None:
    """Recompute every BatchNorm's running statistics with one pass over ``loader`` (cumulative averages).

    >>> import numgrad as ng
    >>> from numgrad.optim.swa_utils import update_bn
    >>> model = ng.nn.Sequential(ng.nn.Linear(2, 2), ng.nn.BatchNorm1d(2))
    >>> update_bn([ng.randn(8, 2), ng.randn(8, 2)], model)
    """
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None:
                batch = batch.to(device)
            model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's learning rate to ``swa_lr`` over ``anneal_epochs`` epochs (cosine or linear), then hold it.

    >>> import numgrad as ng
    >>> from numgrad.optim.swa_utils import SWALR
    >>> opt = ng.optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=1.0)
    >>> sched = SWALR(opt, swa_lr=0.1, anneal_epochs=2, anneal_strategy="linear")
    >>> for _ in range(3): opt.step(); sched.step()
    >>> [round(lr, 6) for lr in sched.get_last_lr()]
    [0.1]
    """

    def __init__(self, optimizer: Optimizer, swa_lr: Union[float, List[float]], anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1):
        swa_lrs = _format_param("swa_lr", optimizer, swa_lr)
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> List[float]:
        self._warn_if_called_outside_step()
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        prev_lrs = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha)
                    for group in self.optimizer.param_groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [group["swa_lr"] * alpha + lr * (1 - alpha) for group, lr in zip(self.optimizer.param_groups, prev_lrs)]

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def state_dict(self) -> Dict[str, Any]:
        """The scheduler's attributes, without the optimizer and the annealing function."""
        return {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore the attributes saved by :meth:`state_dict`."""
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
