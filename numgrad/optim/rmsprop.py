"""RMSprop with PyTorch's update rule (optional centering and momentum)."""
from __future__ import annotations

from typing import Iterable, Optional

from .optimizer import Optimizer, _check_implementation_flags, _kernels


class RMSprop(Optimizer):
    """RMSprop: ``s = alpha * s + (1 - alpha) * g²``, ``p -= lr * g / (sqrt(s) + eps)``; one fused kernel per parameter.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([1.0]))
    >>> opt = ng.optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward(); opt.step(); round(w.item(), 4)
    0.9
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, capturable: bool = False,
                 foreach: Optional[bool] = None, maximize: bool = False, differentiable: bool = False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if alpha < 0.0:
            raise ValueError(f"Invalid alpha value: {alpha}")
        _check_implementation_flags(foreach, None, differentiable)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay,
                        capturable=capturable, foreach=foreach, maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _update(self, group, p, g, state, parallel):
        k = _kernels(p)
        T = p.dtype.type
        state["step"] = int(state.get("step", 0)) + 1
        sq = self._buffer(state, "square_avg", p)
        buf = self._buffer(state, "momentum_buffer", p) if group["momentum"] > 0 else sq
        gavg = self._buffer(state, "grad_avg", p) if group["centered"] else sq
        (k.rmsprop_step_par if parallel else k.rmsprop_step)(
            p, g, sq, gavg, buf, T(group["lr"]), T(group["alpha"]), T(1 - group["alpha"]), T(group["eps"]),
            T(group["weight_decay"]), T(group["momentum"]), bool(group["centered"]), bool(group["maximize"]))
