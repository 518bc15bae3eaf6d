"""ASGD (averaged stochastic gradient descent) with PyTorch's update rule."""
from __future__ import annotations

from typing import Iterable, Optional

from .. import _dtypes
from .optimizer import Optimizer, _check_implementation_flags, _kernels


class ASGD(Optimizer):
    """ASGD: ``p = p * (1 - lambd * eta) - eta * g`` with ``eta = lr / (1 + lambd * lr * t) ** alpha``, and the
    running average ``ax`` of the iterates (state ``"ax"``), averaged from step ``t0`` on.  One fused kernel per
    parameter.

    ``eta`` and ``mu`` are kept in the default dtype, as PyTorch keeps them in
    scalar tensors of its default dtype.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([1.0]))
    >>> opt = ng.optim.ASGD([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); round(w.item(), 4)
    0.8
    """

    _scalar_state = ("step", "eta", "mu")

    def __init__(self, params: Iterable, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: Optional[bool] = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _check_implementation_flags(foreach, None, differentiable)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _update(self, group, p, g, state, parallel):
        k = _kernels(p)
        T = p.dtype.type
        S = _dtypes.get_default_dtype().np.type  # the dtype of PyTorch's scalar state tensors
        lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
        if "eta" not in state:
            state["eta"], state["mu"] = float(S(lr)), 1.0
        step = int(state.get("step", 0)) + 1
        state["step"] = step
        ax = self._buffer(state, "ax", p)
        eta, mu = state["eta"], state["mu"]
        (k.asgd_step_par if parallel else k.asgd_step)(
            p, g, ax, T(1 - lambd * eta), T(-eta), T(mu), T(group["weight_decay"]), mu != 1,
            bool(group["maximize"]))
        state["eta"] = float(S(lr / ((1 + lambd * lr * step) ** alpha)))
        state["mu"] = float(S(1 / max(1, step - t0)))
