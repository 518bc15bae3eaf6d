"""Adam and AdamW with PyTorch's update rules (bias correction, optional AMSGrad)."""
from __future__ import annotations

import math
from typing import Iterable, Optional, Tuple

from .optimizer import Optimizer, _check_implementation_flags, _kernels


def _check(lr, betas, eps, weight_decay) -> None:
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if eps < 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if weight_decay < 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    """Adam: ``m = lerp(m, g, 1 - beta1)``, ``v = beta2 * v + (1 - beta2) * g²``,
    ``p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``; one fused kernel per parameter.

    ``weight_decay`` adds ``weight_decay * p`` to the gradient (L2), as in PyTorch;
    with ``decoupled_weight_decay=True`` it decays the weights instead (AdamW).

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([1.0]))
    >>> opt = ng.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); round(w.item(), 4)
    0.9
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: Optional[bool] = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: Optional[bool] = None, decoupled_weight_decay: bool = False):
        _check(lr, betas, eps, weight_decay)
        _check_implementation_flags(foreach, fused, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _update(self, group, p, g, state, parallel):
        k = _kernels(p)
        T = p.dtype.type
        beta1, beta2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        step = int(state.get("step", 0)) + 1
        state["step"] = step
        m = self._buffer(state, "exp_avg", p)
        v = self._buffer(state, "exp_avg_sq", p)
        vmax = self._buffer(state, "max_exp_avg_sq", p) if group["amsgrad"] else v
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        (k.adam_step_par if parallel else k.adam_step)(
            p, g, m, v, vmax, T(1 - lr * wd), T(1 - beta1), T(beta2), T(1 - beta2), T(group["eps"]), T(wd),
            bool(group["decoupled_weight_decay"]), bool(group["amsgrad"]), bool(group["maximize"]), T(step_size),
            T(math.sqrt(bias_correction2)))


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam step.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([1.0]))
    >>> opt = ng.optim.AdamW([w], lr=0.1, weight_decay=0.1)
    >>> (w * w).sum().backward(); opt.step(); round(w.item(), 4)
    0.89
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: Optional[bool] = None, capturable: bool = False, differentiable: bool = False,
                 fused: Optional[bool] = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
