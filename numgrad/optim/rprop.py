"""Rprop (resilient backpropagation) with PyTorch's update rule."""
from __future__ import annotations

from typing import Iterable, Optional, Tuple

from .optimizer import Optimizer, _check_implementation_flags, _kernels


class Rprop(Optimizer):
    """Rprop: each element's step size grows by ``etas[1]`` while its gradient keeps its sign and shrinks by
    ``etas[0]`` when the sign flips (that step is skipped), within ``step_sizes``; ``p -= sign(g) * step_size``.
    One fused kernel per parameter.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([1.0]))
    >>> opt = ng.optim.Rprop([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); round(w.item(), 4)
    0.9
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, etas: Tuple[float, float] = (0.5, 1.2),
                 step_sizes: Tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: Optional[bool] = None, maximize: bool = False, differentiable: bool = False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        _check_implementation_flags(foreach, None, differentiable)
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _update(self, group, p, g, state, parallel):
        k = _kernels(p)
        T = p.dtype.type
        state["step"] = int(state.get("step", 0)) + 1
        prev = self._buffer(state, "prev", p)
        step_size = self._buffer(state, "step_size", p, group["lr"])
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        (k.rprop_step_par if parallel else k.rprop_step)(
            p, g, prev, step_size, T(etaminus), T(etaplus), T(step_size_min), T(step_size_max),
            bool(group["maximize"]))
