"""Finite-difference gradient checks (``gradcheck``, ``gradgradcheck``)."""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from ..creation import zeros_like
from ..tensor import Tensor
from .grad_api import grad as autograd_grad


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when analytical and numerical gradients disagree."""


def _as_tuple(x):
    return x if isinstance(x, (tuple, list)) else (x,)


def _flat_outputs(fn, inputs):

    outs = _as_tuple(fn(*inputs))
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.is_floating_point]


def gradcheck(fn: Callable, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Compare ``fn``'s analytical gradients with central finite differences.

    Inputs that require grad should be float64.  Returns True, or raises
    ``GradcheckError`` naming the input, output and worst element.

    >>> import numgrad as ng
    >>> x = ng.randn(3, dtype=ng.float64, requires_grad=True)
    >>> ng.autograd.gradcheck(lambda t: (t.tanh() * t).sum(), (x,))
    True
    """

    inputs = _as_tuple(inputs)
    diff_inputs = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not diff_inputs:
        raise ValueError("gradcheck expects at least one input tensor with requires_grad=True")
    for t in diff_inputs:
        if t.dtype.name != "float64":

            warnings.warn(
                f"gradcheck: input of dtype {t.dtype} is not float64; finite differences will be imprecise",
                stacklevel=2,
            )
    outputs = _flat_outputs(fn, inputs)
    for oi, out in enumerate(outputs):
        n_out = out.numel()
        # analytical Jacobian, one row per output element
        analytical = [np.zeros((n_out, t.numel())) for t in diff_inputs]
        for k in range(n_out):
            go = zeros_like(out)
            go._data.reshape(-1)[k] = 1.0
            if not out.requires_grad:
                continue
            grads = autograd_grad(out, diff_inputs, grad_outputs=go, retain_graph=True, allow_unused=True)
            for j, g in enumerate(grads):
                if g is not None:
                    analytical[j][k] = np.asarray(g._data, dtype=np.float64).reshape(-1)
        for j, t in enumerate(diff_inputs):
            numerical = np.zeros((n_out, t.numel()))
            flat = t._data.reshape(-1) if t._data.flags.c_contiguous else None
            if flat is None:
                raise ValueError("gradcheck needs contiguous inputs")
            for e in range(t.numel()):
                orig = flat[e]
                # written straight into the buffer: a perturbation is not an op to record
                flat[e] = orig + eps
                plus = np.array(_flat_outputs(fn, inputs)[oi]._data, dtype=np.float64).reshape(-1)
                flat[e] = orig - eps
                minus = np.array(_flat_outputs(fn, inputs)[oi]._data, dtype=np.float64).reshape(-1)
                flat[e] = orig
                numerical[:, e] = (plus - minus) / (2 * eps)
            ok = np.allclose(analytical[j], numerical, atol=atol, rtol=rtol, equal_nan=True)
            if not ok:
                if not raise_exception:
                    return False
                diff = np.abs(analytical[j] - numerical)
                worst = np.unravel_index(np.nanargmax(diff), diff.shape)
                raise GradcheckError(
                    f"Jacobian mismatch for output {oi} with respect to input {j} (shape {list(t.shape)}): "
                    f"worst at (output element {worst[0]}, input element {worst[1]}): "
                    f"analytical {analytical[j][worst]:.8g} vs numerical {numerical[worst]:.8g}\n"
                    f"numerical:\n{numerical}\nanalytical:\n{analytical[j]}"
                )
    return True


def gradgradcheck(fn: Callable, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """Check second derivatives: gradcheck of ``grad(fn)`` (built with ``create_graph=True``).

    >>> import numgrad as ng
    >>> x = ng.randn(3, dtype=ng.float64, requires_grad=True)
    >>> ng.autograd.gradgradcheck(lambda t: (t.sin() * t).sum(), (x,))
    True
    """

    inputs = _as_tuple(inputs)
    diff_inputs = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]

    def first_grads(*args):
        outs = _flat_outputs(fn, args)
        total = None
        for o in outs:
            s = o.sum()
            total = s if total is None else total + s
        ins = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
        grads = autograd_grad(total, ins, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    del diff_inputs
    return gradcheck(first_grads, inputs, eps=eps, atol=atol, rtol=rtol)
