"""Stochastic gradient descent with PyTorch's momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

from typing import Iterable, Optional

from .optimizer import Optimizer, _check_implementation_flags, _kernels


class SGD(Optimizer):
    """SGD; the update of each parameter is one fused Numba kernel.

    ``buf = momentum * buf + (1 - dampening) * g`` (``buf = g`` on the first
    step), ``p -= lr * (g + momentum * buf if nesterov else buf)``.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([1.0]))
    >>> opt = ng.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> (2 * w).sum().backward(); opt.step(); w
    Parameter containing:
    tensor([0.8000], requires_grad=True)
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: Optional[bool] = None, differentiable: bool = False, fused: Optional[bool] = None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _check_implementation_flags(foreach, fused, differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                        fused=fused)
        super().__init__(params, defaults)

    def _update(self, group, p, g, state, parallel):
        k = _kernels(p)
        T = p.dtype.type
        momentum = group["momentum"]
        first = False
        if momentum != 0:
            first = "momentum_buffer" not in state or state["momentum_buffer"] is None
            if first:
                state["momentum_buffer"] = None
            buf = self._buffer(state, "momentum_buffer", p)
        else:
            buf = p  # unused by the kernel when momentum == 0
        (k.sgd_step_par if parallel else k.sgd_step)(
            p, g, buf, T(group["lr"]), T(group["weight_decay"]), T(momentum), T(1 - group["dampening"]),
            bool(group["nesterov"]), bool(group["maximize"]), first)
