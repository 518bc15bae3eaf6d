"""Adafactor with PyTorch's update rule (``torch.optim.Adafactor``): factored second moments, no first moment."""
from __future__ import annotations

from typing import Iterable, Optional, Tuple

import numpy as np

from ..autograd.grad_mode import enable_grad, no_grad
from ..creation import _filled
from .optimizer import Optimizer, _check_implementation_flags, _lerp_


class Adafactor(Optimizer):
    """Adafactor: for a matrix (or a batch of them) the second moment is kept as row and column means
    (``row_var``, ``col_var``), for a vector as ``variance``; the step is RMS-clipped to ``d`` and scaled by the
    parameter's RMS (``lr`` is a relative step size).

    Its update needs row/column reductions and a norm per step, so it is
    written with tensor operations (their elementwise parts fuse) rather than
    one elementwise kernel like the other optimizers.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([[1.0, 2.0], [3.0, 4.0]]))
    >>> opt = ng.optim.Adafactor([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); [round(v, 4) for v in w.flatten().tolist()]
    [0.7879, 1.7, 2.7154, 3.7317]
    """

    _flat_state = ("row_var", "col_var")  # shapes with a 1 in place of the last (row) or second-last (col) size

    def __init__(self, params: Iterable, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: Tuple[Optional[float], float] = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 foreach: Optional[bool] = None, maximize: bool = False):
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        _check_implementation_flags(foreach)
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()`` when given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:  # in-place tensor ops: pending readers of p are computed first
                        self._adafactor_update(group, p)
        return loss

    def _adafactor_update(self, group, param) -> None:
        grad = param.grad if not group["maximize"] else -param.grad
        if grad.dtype != param.dtype:
            grad = grad.to(param.dtype)
        state = self.state[param]
        if len(state) == 0:
            state["step"] = 0
            if grad.dim() > 1:
                row_shape, col_shape = list(grad.shape), list(grad.shape)
                row_shape[-1] = 1
                col_shape[-2] = 1
                state["row_var"] = _zeros_like(param, row_shape)
                state["col_var"] = _zeros_like(param, col_shape)
            else:
                state["variance"] = _zeros_like(param, list(grad.shape))
        lr, d, weight_decay = group["lr"], group["d"], group["weight_decay"]
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = float(np.finfo(param._data.dtype).eps)
        step = int(state["step"]) + 1
        state["step"] = step
        one_minus_beta2_t = float(step) ** group["beta2_decay"]
        rho_t = min(lr, 1 / (float(step) ** 0.5))
        alpha = max(eps2, param.norm(2).item() / (param.numel() ** 0.5)) * rho_t
        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)
        if grad.dim() > 1:
            row_var, col_var = state["row_var"], state["col_var"]
            _lerp_(row_var, grad.norm(dim=-1, keepdim=True).square() / grad.shape[-1], one_minus_beta2_t)
            _lerp_(col_var, grad.norm(dim=-2, keepdim=True).square() / grad.shape[-2], one_minus_beta2_t)
            var_estimate = (row_var @ col_var) / row_var.mean(dim=-2, keepdim=True).clamp(min=eps1)
        else:
            variance = state["variance"]
            _lerp_(variance, grad * grad, one_minus_beta2_t)
            var_estimate = variance
        update = var_estimate.clamp(min=eps1 * eps1).rsqrt() * grad
        denom = max(1.0, update.norm(2).item() / ((update.numel() ** 0.5) * d))
        param.add_(update, alpha=-alpha / denom)


def _zeros_like(param, shape):
    """Zeros of ``shape`` with ``param``'s dtype, on its device."""
    return _filled(tuple(shape), 0, param.dtype, False, param.device)
