"""NAdam (Adam with Nesterov momentum and a momentum schedule) with PyTorch's update rule."""
from __future__ import annotations

from typing import Iterable, Optional, Tuple

from .. import _dtypes
from .adam import _check
from .optimizer import Optimizer, _check_implementation_flags, _kernels


class NAdam(Optimizer):
    """NAdam: Adam's moments with the momentum schedule ``mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))``;
    one fused kernel per parameter.

    ``decoupled_weight_decay=True`` gives NAdamW (``p *= 1 - lr * weight_decay``).
    The running product ``mu_product`` is kept in the default dtype, as
    PyTorch keeps it in a scalar tensor of its default dtype.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([1.0]))
    >>> opt = ng.optim.NAdam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); round(w.item(), 4)
    0.8944
    """

    _scalar_state = ("step", "mu_product")

    def __init__(self, params: Iterable, lr: float = 2e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: Optional[bool] = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False):
        _check(lr, betas, eps, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        _check_implementation_flags(foreach, None, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _update(self, group, p, g, state, parallel):
        k = _kernels(p)
        T = p.dtype.type
        S = _dtypes.get_default_dtype().np.type  # the dtype of PyTorch's scalar state tensors
        lr, wd, momentum_decay = group["lr"], group["weight_decay"], group["momentum_decay"]
        beta1, beta2 = group["betas"]
        step = int(state.get("step", 0)) + 1
        state["step"] = step
        m = self._buffer(state, "exp_avg", p)
        v = self._buffer(state, "exp_avg_sq", p)
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        mu_product = float(S(float(state.get("mu_product", 1.0))) * S(mu))
        state["mu_product"] = mu_product
        mu_product_next = mu_product * mu_next
        (k.nadam_step_par if parallel else k.nadam_step)(
            p, g, m, v, T(1 - lr * wd), T(1 - beta1), T(beta2), T(1 - beta2), T(group["eps"]), T(wd),
            bool(group["decoupled_weight_decay"]), bool(group["maximize"]), T(1 - beta2 ** step),
            T(-lr * (1.0 - mu) / (1.0 - mu_product)), T((-lr * mu_next) / (1.0 - mu_product_next)))
