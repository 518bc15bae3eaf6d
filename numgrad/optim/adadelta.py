"""Adadelta with PyTorch's update rule."""
from __future__ import annotations

from typing import Iterable, Optional

from .optimizer import Optimizer, _check_implementation_flags, _kernels


class Adadelta(Optimizer):
    """Adadelta: ``v = rho * v + (1 - rho) * g²``, ``delta = sqrt(u + eps) / sqrt(v + eps) * g``,
    ``u = rho * u + (1 - rho) * delta²``, ``p -= lr * delta``; one fused kernel per parameter.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([1.0]))
    >>> opt = ng.optim.Adadelta([w])
    >>> (w * w).sum().backward(); opt.step(); round(w.item(), 4)
    0.9968
    """

    def __init__(self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: Optional[bool] = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _check_implementation_flags(foreach, None, differentiable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, capturable=capturable,
                        foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _update(self, group, p, g, state, parallel):
        k = _kernels(p)
        T = p.dtype.type
        state["step"] = int(state.get("step", 0)) + 1
        sq = self._buffer(state, "square_avg", p)
        acc_delta = self._buffer(state, "acc_delta", p)
        rho = group["rho"]
        (k.adadelta_step_par if parallel else k.adadelta_step)(
            p, g, sq, acc_delta, T(-group["lr"]), T(rho), T(1 - rho), T(group["eps"]), T(group["weight_decay"]),
            bool(group["maximize"]))
