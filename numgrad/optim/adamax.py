"""Adamax (Adam with the infinity norm) with PyTorch's update rule."""
from __future__ import annotations

from typing import Iterable, Optional, Tuple

from .adam import _check
from .optimizer import Optimizer, _check_implementation_flags, _kernels


class Adamax(Optimizer):
    """Adamax: ``m = lerp(m, g, 1 - beta1)``, ``u = max(beta2 * u, |g| + eps)``,
    ``p -= lr / (1 - beta1^t) * m / u``; one fused kernel per parameter.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([1.0]))
    >>> opt = ng.optim.Adamax([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); round(w.item(), 4)
    0.9
    """

    def __init__(self, params: Iterable, lr: float = 2e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach: Optional[bool] = None, *,
                 maximize: bool = False, differentiable: bool = False, capturable: bool = False):
        _check(lr, betas, eps, weight_decay)
        _check_implementation_flags(foreach, None, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _update(self, group, p, g, state, parallel):
        k = _kernels(p)
        T = p.dtype.type
        beta1, beta2 = group["betas"]
        step = int(state.get("step", 0)) + 1
        state["step"] = step
        m = self._buffer(state, "exp_avg", p)
        u = self._buffer(state, "exp_inf", p)
        clr = group["lr"] / (1 - beta1 ** step)
        (k.adamax_step_par if parallel else k.adamax_step)(
            p, g, m, u, T(1 - beta1), T(beta2), T(group["eps"]), T(group["weight_decay"]), bool(group["maximize"]),
            T(-clr))
