"""RAdam (rectified Adam) with PyTorch's update rule."""
from __future__ import annotations

from typing import Iterable, Optional, Tuple

from .adam import _check
from .optimizer import Optimizer, _check_implementation_flags, _kernels


class RAdam(Optimizer):
    """RAdam: Adam's moments; while the variance estimate is intractable (``rho_t <= 5``) the step is
    ``lr * m / (1 - beta1^t)`` (SGD with momentum), then Adam's step times the rectification term.
    One fused kernel per parameter.

    ``decoupled_weight_decay=True`` gives RAdamW (``p *= 1 - lr * weight_decay``).

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([1.0]))
    >>> opt = ng.optim.RAdam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); round(w.item(), 4)
    0.8
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: Optional[bool] = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        _check(lr, betas, eps, weight_decay)
        _check_implementation_flags(foreach, None, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _update(self, group, p, g, state, parallel):
        k = _kernels(p)
        T = p.dtype.type
        lr, wd = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        step = int(state.get("step", 0)) + 1
        state["step"] = step
        m = self._buffer(state, "exp_avg", p)
        v = self._buffer(state, "exp_avg_sq", p)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
        rectified = rho_t > 5.0
        rect = (((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                if rectified else 1.0)
        (k.radam_step_par if parallel else k.radam_step)(
            p, g, m, v, T(1 - lr * wd), T(1 - beta1), T(beta2), T(1 - beta2), T(group["eps"]), T(wd),
            bool(group["decoupled_weight_decay"]), bool(group["maximize"]), T(bias_correction1), T(lr), rectified,
            T(bias_correction2 ** 0.5), T(rect))
