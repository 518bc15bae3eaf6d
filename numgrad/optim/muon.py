"""Muon (PyTorch's ``torch.optim.Muon``): momentum, then the update orthogonalized by a Newton-Schulz iteration
in bfloat16, with PyTorch's learning-rate adjustment for rectangular matrices."""
from __future__ import annotations

import math
from typing import Iterable, Optional, Tuple

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer

__all__ = ["Muon"]

# PyTorch's (and Keller Jordan's) constants
EPS = 1e-7
DEFAULT_A = 3.4445
DEFAULT_B = -4.7750
DEFAULT_C = 2.0315
DEFAULT_NS_STEPS = 5


def _lerp(start: Tensor, end: Tensor, weight: float) -> Tensor:
    """``start.lerp(end, weight)`` with PyTorch's two formulas (the one near the end for ``weight >= 0.5``), so
    the float32 result matches torch's ``lerp`` where a single formula would differ in the last bit."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


def _addmm_bf16(input: Tensor, mat1: Tensor, mat2: Tensor, beta: float = 1.0, alpha: float = 1.0) -> Tensor:
    """``torch.addmm`` of bfloat16 matrices as PyTorch's CPU computes it: ``beta * input + alpha * mat1 @ mat2``
    in float32 (the products of bfloat16 values are exact there), rounded to bfloat16 once."""
    product = mat1.float() @ mat2.float()
    return (beta * input.float() + alpha * product).bfloat16()


def zeropower_via_newtonschulz(grad: Tensor, ns_coefficients: Tuple[float, float, float], ns_steps: int,
                               eps: float) -> Tensor:
    """The orthogonalized ``grad`` (roughly ``U V^T`` of its SVD ``U S V^T``) by ``ns_steps`` quintic
    Newton-Schulz iterations in bfloat16, as ``torch.optim._muon._zeropower_via_newtonschulz``; returns bfloat16.

    >>> import numgrad as ng
    >>> o = zeropower_via_newtonschulz(ng.tensor([[3.0, 0.0], [0.0, 0.5]]), (3.4445, -4.7750, 2.0315), 5, 1e-7)
    >>> o.dtype, o.shape
    (numgrad.bfloat16, (2, 2))
    """
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if len(grad.shape) != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(ns_coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = ns_coefficients
    ortho_grad = grad.bfloat16()
    tall = grad.size(0) > grad.size(1)
    if tall:  # iterate on the wide orientation: the Gram matrix is the smaller one
        ortho_grad = ortho_grad.T
    # spectral norm at most 1 (the Frobenius norm bounds it)
    ortho_grad = ortho_grad / ortho_grad.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram_matrix = ortho_grad @ ortho_grad.T
        gram_update = _addmm_bf16(gram_matrix, gram_matrix, gram_matrix, beta=b, alpha=c)
        ortho_grad = _addmm_bf16(ortho_grad, gram_update, ortho_grad, beta=a)
    if tall:
        ortho_grad = ortho_grad.T
    return ortho_grad


def _adjust_lr(lr: float, adjust_lr_fn: Optional[str], param_shape) -> float:
    """The learning rate scaled for a ``(A, B)`` matrix: ``sqrt(max(1, A/B))`` ("original", the default) or
    ``0.2 * sqrt(max(A, B))`` ("match_rms_adamw", so AdamW's learning rate and weight decay carry over)."""
    rows, cols = param_shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        adjusted_ratio = math.sqrt(max(1, rows / cols))
    elif adjust_lr_fn == "match_rms_adamw":
        adjusted_ratio = 0.2 * math.sqrt(max(rows, cols))
    else:
        adjusted_ratio = 1.0
    return lr * adjusted_ratio


class Muon(Optimizer):
    """Muon for 2-D parameters (hidden layers' weight matrices): ``B = momentum * B + g`` (as
    ``B.lerp_(g, 1 - momentum)``), the update ``g.lerp(B, momentum)`` (Nesterov) or ``B``, orthogonalized by
    ``ns_steps`` Newton-Schulz iterations in bfloat16; then decoupled weight decay ``p *= 1 - lr * weight_decay``
    and ``p -= adjusted_lr * update``.  Optimize biases, embeddings and other non-2-D parameters with another
    optimizer (AdamW, say).

    The step of each parameter is one ``_update`` call (momentum and Newton-Schulz written with numgrad's tensor
    ops), so ``ng.compile`` captures a training step with Muon and calls the update again on replay.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([[1.0, 0.0], [0.0, 1.0]]))
    >>> opt = ng.optim.Muon([w], lr=0.1, weight_decay=0.0)
    >>> (w * ng.tensor([[1.0, 0.0], [0.0, 2.0]])).sum().backward(); opt.step()
    >>> [round(v, 2) for v in w.flatten().tolist()]
    [0.89, 0.0, 0.0, 0.93]
    """

    _scalar_state = ()  # the momentum buffer is the whole state (no step count), as in PyTorch

    def __init__(self, params: Iterable, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True,
                 ns_coefficients: Tuple[float, float, float] = (DEFAULT_A, DEFAULT_B, DEFAULT_C),
                 eps: float = EPS, ns_steps: int = DEFAULT_NS_STEPS, adjust_lr_fn: Optional[str] = None) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ["original", "match_rms_adamw"]:
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        defaults = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum, "nesterov": nesterov,
                    "ns_coefficients": ns_coefficients, "eps": eps, "ns_steps": ns_steps,
                    "adjust_lr_fn": adjust_lr_fn}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(f"Muon only supports 2D parameters whereas we found a parameter with size: "
                                     f"{p.size()}")

    def _update(self, group, p: np.ndarray, g: np.ndarray, state, parallel: bool) -> None:
        # p and g are the flat arrays of one parameter and its gradient (``Optimizer._step_param``); the update
        # writes p in place, so a compiled step's replay (which calls this again on its own arrays) matches eager
        shape = tuple(self._param_shape)
        if len(shape) != 2:
            raise ValueError("Param gradient must be a 2D matrix")
        momentum = group["momentum"]
        lr = float(group["lr"].item()) if isinstance(group["lr"], Tensor) else group["lr"]
        self._buffer(state, "momentum_buffer", p)  # zeros in the parameter's shape on the first step
        buf = state["momentum_buffer"]
        grad = Tensor(g).view(shape)
        buf.copy_(_lerp(buf, grad, 1 - momentum))
        update = _lerp(grad, buf, momentum) if group["nesterov"] else buf
        if update.device.type != "cpu":
            # numgrad's CUDA kernels have no bfloat16: a GPU parameter's iteration runs on the host (small matrices
            # of hidden layers; the bits are PyTorch's CPU ones) and the update goes back widened to its dtype
            update = update.cpu()
        update = zeropower_via_newtonschulz(update, group["ns_coefficients"], group["ns_steps"], group["eps"])
        adjusted_lr = _adjust_lr(lr, group["adjust_lr_fn"], shape)
        param = Tensor(p).view(shape)
        # PyTorch's two in-place steps: decay, then the bfloat16 update added in the parameter's dtype
        param.mul_(1 - lr * group["weight_decay"])
        param.add_(update.to(param.dtype).to(param.device), alpha=-adjusted_lr)
