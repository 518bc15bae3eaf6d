"""``backward`` and ``grad``: the entry points of a backward pass (``Tensor.backward`` calls ``backward``).

>>> import numgrad as ng
>>> x = ng.tensor([1.0, 2.0], requires_grad=True)
>>> ng.autograd.grad((x * x).sum(), x)
(tensor([2., 4.]),)
"""
from __future__ import annotations

from typing import Optional

from ..creation import ones_like, tensor, zeros_like
from ..tensor import Tensor
from .engine import run_backward, writable


def _as_list(x):
    if x is None:
        return None
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _make_grads(outputs, grad_outputs, create_graph):
    grads = []
    for i, out in enumerate(outputs):
        g = grad_outputs[i] if grad_outputs is not None and i < len(grad_outputs) else None
        if g is None:
            if out.numel() != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs (the output has shape "
                    f"{list(out.shape)}); pass gradient= with that shape, or reduce it first, e.g. .sum()"
                )
            if not out.dtype.is_floating_point:
                raise RuntimeError(
                    f"grad can be implicitly created only for real scalar outputs but got {out.dtype}"
                )
            g = ones_like(out)
        else:
            if not isinstance(g, Tensor):
                g = tensor(g, dtype=out.dtype)
            if tuple(g.shape) != tuple(out.shape):
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(g.shape)} and output[{i}] has a "
                    f"shape of {tuple(out.shape)}."
                )
            if g.dtype != out.dtype:
                g = g.to(out.dtype)
        grads.append(g)
    return grads


def _check_roots(outputs):
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn "
                f"(shape {list(out.shape)}, dtype {out.dtype}); set requires_grad=True on the inputs "
                "you want gradients for, and compute outside no_grad()"
            )


def backward(tensors, grad_tensors=None, retain_graph: Optional[bool] = None, create_graph: bool = False,
             inputs=None) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of graph leaves.

    >>> import numgrad as ng
    >>> x = ng.tensor([1.0, 2.0], requires_grad=True)
    >>> ng.autograd.backward([(x * 3).sum()]); x.grad
    tensor([3., 3.])
    """
    outputs = _as_list(tensors)
    grad_list = _as_list(grad_tensors) if grad_tensors is not None else None
    _check_roots(outputs)
    grads = _make_grads(outputs, grad_list, create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    input_list = _as_list(inputs)
    if input_list is not None and len(input_list) == 0:
        raise RuntimeError("backward(): 'inputs' argument to backward() cannot be empty.")
    run_backward(outputs, grads, retain_graph, create_graph, inputs=input_list, accumulate_into_grad=True)


def grad(outputs, inputs, grad_outputs=None, retain_graph: Optional[bool] = None, create_graph: bool = False,
         allow_unused: bool = False, materialize_grads: bool = False) -> tuple:
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned (``.grad`` is left alone).

    >>> import numgrad as ng
    >>> x = ng.tensor(3.0, requires_grad=True)
    >>> (g,) = ng.autograd.grad(x ** 2, x, create_graph=True)
    >>> ng.autograd.grad(g, x)
    (tensor(2.),)
    """
    outputs = _as_list(outputs)
    input_list = _as_list(inputs)
    for i, t in enumerate(input_list):
        if not t.requires_grad:
            raise RuntimeError(
                f"One of the differentiated Tensors does not require grad (input {i}, shape {list(t.shape)})"
            )
    _check_roots(outputs)
    grads = _make_grads(outputs, _as_list(grad_outputs), create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    result = run_backward(outputs, grads, retain_graph, create_graph, inputs=input_list,
                          accumulate_into_grad=False)
    out = []
    for i, (t, g) in enumerate(zip(input_list, result)):
        if g is None:
            if materialize_grads:
                g = zeros_like(t)
            elif not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated Tensors appears to not have been used in the graph "
                    f"(input {i}, shape {list(t.shape)}). Set allow_unused=True if this is the desired behavior."
                )
        out.append(None if g is None else writable(g))
    return tuple(out)
