"""Adagrad with PyTorch's update rule (learning-rate decay, initial accumulator value)."""
from __future__ import annotations

from typing import Iterable, Optional

from .optimizer import Optimizer, _check_implementation_flags, _kernels


class Adagrad(Optimizer):
    """Adagrad: ``sum += g²``, ``p -= clr * g / (sqrt(sum) + eps)`` with ``clr = lr / (1 + (t - 1) * lr_decay)``;
    one fused kernel per parameter.

    As in PyTorch, every parameter's ``"sum"`` state is created at construction
    (or, for a group added later, at its first step), filled with the
    constructor's ``initial_accumulator_value``; PyTorch ignores a value given
    in a parameter group, and so does numgrad, so results match.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([1.0]))
    >>> opt = ng.optim.Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); round(w.item(), 4)
    0.9
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: Optional[bool] = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: Optional[bool] = None):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_implementation_flags(foreach, fused, differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.setdefault(p, {})
                state["step"] = 0
                self._param_shape = p.shape
                self._buffer(state, "sum", p._data, initial_accumulator_value)

    def _update(self, group, p, g, state, parallel):
        k = _kernels(p)
        T = p.dtype.type
        step = int(state.get("step", 0)) + 1
        state["step"] = step
        acc = self._buffer(state, "sum", p, self.defaults["initial_accumulator_value"])
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        (k.adagrad_step_par if parallel else k.adagrad_step)(
            p, g, acc, T(-clr), T(group["eps"]), T(group["weight_decay"]), bool(group["maximize"]))
