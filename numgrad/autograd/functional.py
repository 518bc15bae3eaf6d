"""``torch.autograd.functional``: Jacobians, Hessians and their products with vectors, from reverse mode.

``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``vhp`` and ``hvp`` take a function of tensors and the point (a
tensor or a tuple of tensors), and return results of the same tuple-ness as PyTorch's, with its arguments
(``create_graph``, ``strict``) and its errors.  ``jvp`` and ``hvp`` use the double-backward trick, as PyTorch
does.  numgrad has no forward-mode AD: ``strategy="forward-mode"`` (and a Hessian's
``outer_jacobian_strategy="forward-mode"``) raises; ``vectorize=True`` is accepted and computes the same
rows one backward at a time (numgrad has no vmap).

This module is above the ops layer (it stacks the rows of a Jacobian); ``numgrad/__init__.py`` loads it, so
``numgrad.autograd.functional`` is there after ``import numgrad``.

>>> import numgrad as ng
>>> from numgrad.autograd.functional import jacobian
>>> jacobian(lambda x: x ** 2, ng.tensor([1., 2.]))
tensor([[2., 0.],
        [0., 4.]])
"""
from __future__ import annotations

from typing import Callable, Optional

from ..tensor import Tensor
from ..creation import zeros_like
from ..ops.shape import stack
from .grad_api import grad as _grad
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


def _as_tuple(value, arg_name: str, fn_name: str) -> tuple:
    """(whether ``value`` was a tuple, ``value`` as a tuple of tensors), with PyTorch's error for anything else."""
    is_tuple = isinstance(value, tuple)
    items = value if is_tuple else (value,)
    for i, item in enumerate(items):
        if not isinstance(item, Tensor):
            where = f"the value at index {i}" if is_tuple else f"the given {arg_name}"
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of Tensors but "
                            f"{where} has type {type(item)}.")
    return is_tuple, items


def _unpack(result, was_tuple):
    """``result`` (a tuple, or a tuple of tuples for ``(outputs_tuple, inputs_tuple)``) as the caller gave it."""
    if isinstance(was_tuple, tuple):
        outer, inner = was_tuple
        if not inner:
            result = tuple(row[0] for row in result)
        return result if outer else result[0]
    return result if was_tuple else result[0]


def _prepare(inputs: tuple, create_graph: bool, need_graph: bool) -> tuple:
    """The tensors the function is called with: views keeping the graph (``create_graph``), else fresh leaves."""
    return tuple(t.view_as(t) if create_graph and t.requires_grad else t.detach().requires_grad_(need_graph)
                 for t in inputs)


def _finish(tensors: tuple, create_graph: bool) -> tuple:
    if tensors and isinstance(tensors[0], Tensor):
        return tensors if create_graph else tuple(t.detach() for t in tensors)
    return tuple(_finish(t, create_graph) for t in tensors)


def _check_v(v: tuple, other: tuple, other_is_tuple: bool) -> None:
    if len(v) != len(other):
        if other_is_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (a, b) in enumerate(zip(v, other)):
        if a.shape != b.shape:
            prefix = f"Entry {i} in " if other_is_tuple else ""
            raise RuntimeError(f"{prefix}v has invalid size: should be {b.shape} but got {a.shape}.")


_INDEPENDENT = {
    "outputs": "Output {i} of the user-provided function does not require gradients. The outputs must be computed "
               "in a differentiable manner from the input when running in strict mode.",
    "grad_inputs": "The gradient with respect to input {i} is independent of the inputs of the user-provided "
                   "function. This is not allowed in strict mode.",
    "jacobian": "While computing the hessian, found that the jacobian of the user-provided function with respect to "
                "input {i} is independent of the input. This is not allowed in strict mode. You should ensure that "
                "your function is twice differentiable and that the jacobian depends on the inputs (this would be "
                "violated by a linear function for example).",
    "hessian": "The hessian of the user-provided function with respect to input {i} is independent of the input. "
               "This is not allowed in strict mode. You should ensure that your function is thrice differentiable "
               "and that the hessian depends on the inputs.",
}


def _check_requires_grad(tensors: tuple, kind: str, strict: bool) -> None:
    if not strict:
        return
    for i, t in enumerate(tensors):
        if t is None:
            raise RuntimeError(f"The output of the user-provided function is independent of input {i}. This is not "
                               "allowed in strict mode.")
        if not t.requires_grad:
            raise RuntimeError(_INDEPENDENT[kind].format(i=i))


def _grads(outputs: tuple, inputs: tuple, grad_outputs: Optional[tuple] = None, create_graph: bool = False,
           retain_graph: Optional[bool] = None) -> tuple:
    """``autograd.grad`` of the outputs that require grad (None for an input none of them reaches)."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return _grad([o for o, _ in pairs], list(inputs), [g for _, g in pairs], allow_unused=True,
                 create_graph=create_graph, retain_graph=retain_graph)


_ZERO_FILL_ERRORS = {
    "back": "The output of the user-provided function is independent of input {i}. This is not allowed in strict "
            "mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the grad_outputs when "
                  "using the double backward trick to compute forward mode gradients. This is not allowed in "
                  "strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. This is not allowed "
                   "in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} in the "
                         "grad_jacobian. This is not allowed in strict mode as it prevents from using the double "
                         "backward trick to replace forward mode AD.",
}


def _fill_in_zeros(grads: tuple, refs: tuple, strict: bool, create_graph: bool, stage: str) -> tuple:
    filled = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_ZERO_FILL_ERRORS[stage].format(i=i))
            g = zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(f"The {what} of the user-provided function is independent of input {i}. This is "
                               "not allowed in strict mode when create_graph=True.")
        filled.append(g)
    return tuple(filled)


def _products(outputs: tuple, outputs_are_tuple: bool, differentiate: Callable, refs: tuple, refs_are_tuple: bool,
              strict: bool, create_graph: bool, stage: str) -> tuple:
    """The end of every product: ``differentiate()`` (the last backward, recorded only for ``create_graph``),
    zeros for what it does not reach, and ``(outputs, products)`` shaped as the caller's arguments were."""
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        products = _fill_in_zeros(differentiate(), refs, strict, create_graph, stage)
    return (_unpack(_finish(outputs, create_graph), outputs_are_tuple),
            _unpack(_finish(products, create_graph), refs_are_tuple))


def _single_element_v(v, tensors: tuple, tensors_are_tuple: bool, create_graph: bool, fn_name: str,
                      which: str) -> Optional[tuple]:
    if v is not None:
        _, v = _as_tuple(v, "v", fn_name)
        v = _prepare(v, create_graph, need_graph=False)
        _check_v(v, tensors, tensors_are_tuple)
        return v
    if len(tensors) != 1 or tensors[0].numel() != 1:
        raise RuntimeError(f"The vector v can only be None if {which} a single Tensor with a single element.")
    return None


def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), v^T J)``: the vector-Jacobian product of ``func`` at ``inputs``.

    >>> import numgrad as ng
    >>> out, g = ng.autograd.functional.vjp(lambda x: x.exp().sum(1), ng.zeros(2, 2), ng.ones(2))
    >>> out, g
    (tensor([2., 2.]), tensor([[1., 1.],
            [1., 1.]]))
    """
    with enable_grad():
        inputs_are_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        outputs_are_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "vjp")
        _check_requires_grad(outputs, "outputs", strict)
        v = _single_element_v(v, outputs, outputs_are_tuple, create_graph, "vjp",
                              "the user-provided function returns")
    return _products(outputs, outputs_are_tuple, lambda: _grads(outputs, inputs, v, create_graph), inputs,
                     inputs_are_tuple, strict, create_graph, "back")


def jvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), J v)``: the Jacobian-vector product of ``func`` at ``inputs`` (by the double-backward
    trick, as PyTorch computes it).

    >>> import numgrad as ng
    >>> ng.autograd.functional.jvp(lambda x: x ** 2, ng.tensor([1., 2.]), ng.tensor([1., 1.]))[1]
    tensor([2., 4.])
    """
    with enable_grad():
        inputs_are_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        v = _single_element_v(v, inputs, inputs_are_tuple, create_graph, "jvp",
                              "the input to the user-provided function is")
        outputs_are_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jvp")
        _check_requires_grad(outputs, "outputs", strict)
        grad_outputs = tuple(zeros_like(out, requires_grad=True) for out in outputs)
        grad_inputs = _grads(outputs, inputs, grad_outputs, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
    return _products(outputs, outputs_are_tuple, lambda: _grads(grad_inputs, grad_outputs, v, create_graph), outputs,
                     outputs_are_tuple, strict, create_graph, "back_trick")


def _refuse_forward_mode(strategy: str, fn_name: str, argument: str) -> None:
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')
    if strategy == "forward-mode":
        raise NotImplementedError(f"torch.autograd.functional.{fn_name}: {argument}=\"forward-mode\" needs "
                                  "forward-mode AD, which numgrad does not have; use \"reverse-mode\" (the same "
                                  "values)")


def jacobian(func: Callable, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: for output ``i`` and input ``j``, a tensor of shape
    ``outputs[i].shape + inputs[j].shape`` (nested tuples when either is a tuple), one backward per output
    element.

    >>> import numgrad as ng
    >>> ng.autograd.functional.jacobian(lambda x, y: x * y, (ng.tensor([2.]), ng.tensor([3.])))
    (tensor([[3.]]), tensor([[2.]]))
    """
    _refuse_forward_mode(strategy, "jacobian", "strategy")
    if vectorize and strict:
        raise RuntimeError("torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not "
                           "supported together. Please either set `strict=False` or `vectorize=False`.")
    with enable_grad():
        inputs_are_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        outputs_are_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jacobian")
        _check_requires_grad(outputs, "outputs", strict)
        jacobians = []
        for i, out in enumerate(outputs):
            rows: tuple = tuple([] for _ in inputs)
            flat = out.reshape(-1)
            for k in range(out.numel()):
                row = _grads((flat[k],), inputs, retain_graph=True, create_graph=create_graph)
                for j, (grad_j, input_j) in enumerate(zip(row, inputs)):
                    if grad_j is None:
                        if strict:
                            raise RuntimeError(f"Output {i} of the user-provided function is independent of input "
                                               f"{j}. This is not allowed in strict mode.")
                        grad_j = zeros_like(input_j)
                    elif strict and create_graph and not grad_j.requires_grad:
                        raise RuntimeError(f"The jacobian of the user-provided function is independent of input {i}. "
                                           "This is not allowed in strict mode when create_graph=True.")
                    rows[j].append(grad_j)
            jacobians.append(tuple(
                (stack(rows_j) if rows_j else zeros_like(input_j).reshape((0,) + tuple(input_j.shape)))
                .reshape(tuple(out.shape) + tuple(input_j.shape)) for rows_j, input_j in zip(rows, inputs)))
        return _unpack(_finish(tuple(jacobians), create_graph), (outputs_are_tuple, inputs_are_tuple))


def hessian(func: Callable, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of scalar ``func`` at ``inputs``: shape ``inputs[i].shape + inputs[j].shape`` for each pair
    (nested tuples when ``inputs`` is a tuple).

    >>> import numgrad as ng
    >>> ng.autograd.functional.hessian(lambda x: (x ** 3).sum(), ng.tensor([1., 2.]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    inputs_are_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    _refuse_forward_mode(outer_jacobian_strategy, "hessian", "outer_jacobian_strategy")

    def single_output(*args):
        out = func(*args)
        out_is_tuple, outs = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(outs, "outputs", strict)
        if out_is_tuple:
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain a single element")
        return out.squeeze()

    def jac_func(*args):
        jac = jacobian(single_output, args, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    result = jacobian(jac_func, inputs, create_graph=create_graph, strict=strict, vectorize=vectorize)
    return _unpack(result, (inputs_are_tuple, inputs_are_tuple))


def _scalar_function_grads(func: Callable, inputs, v, create_graph: bool, strict: bool, fn_name: str):
    """The shared start of ``vhp`` and ``hvp``: (inputs tuple-ness, inputs, v, outputs tuple-ness, outputs, the
    gradient of the scalar output with its graph)."""
    inputs_are_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _prepare(inputs, create_graph, need_graph=True)
    v = _single_element_v(v, inputs, inputs_are_tuple, create_graph, fn_name,
                          "the input to the user-provided function is")
    outputs_are_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", fn_name)
    _check_requires_grad(outputs, "outputs", strict)
    if outputs_are_tuple:
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if outputs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should contain a single element")
    jac = _grads(outputs, inputs, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict)
    return inputs_are_tuple, inputs, v, outputs_are_tuple, outputs, jac


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), v^T H)``: the vector-Hessian product of scalar ``func`` at ``inputs``.

    >>> import numgrad as ng
    >>> ng.autograd.functional.vhp(lambda x: (x ** 3).sum(), ng.tensor([1., 2.]), ng.tensor([1., 0.]))[1]
    tensor([6., 0.])
    """
    with enable_grad():
        inputs_are_tuple, inputs, v, outputs_are_tuple, outputs, jac = _scalar_function_grads(
            func, inputs, v, create_graph, strict, "vhp")
    return _products(outputs, outputs_are_tuple, lambda: _grads(jac, inputs, v, create_graph), inputs,
                     inputs_are_tuple, strict, create_graph, "double_back")


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), H v)``: the Hessian-vector product of scalar ``func`` at ``inputs`` (by the
    double-backward trick, as PyTorch computes it).

    >>> import numgrad as ng
    >>> ng.autograd.functional.hvp(lambda x: (x ** 3).sum(), ng.tensor([1., 2.]), ng.tensor([0., 1.]))[1]
    tensor([ 0., 12.])
    """
    with enable_grad():
        inputs_are_tuple, inputs, v, outputs_are_tuple, outputs, jac = _scalar_function_grads(
            func, inputs, v, create_graph, strict, "hvp")
        grad_jac = tuple(zeros_like(t, requires_grad=True) for t in inputs)
        double_back = _grads(jac, inputs, grad_jac, create_graph=True)
        _check_requires_grad(jac, "hessian", strict)
    return _products(outputs, outputs_are_tuple, lambda: _grads(double_back, grad_jac, v, create_graph), inputs,
                     inputs_are_tuple, strict, create_graph, "double_back_trick")
