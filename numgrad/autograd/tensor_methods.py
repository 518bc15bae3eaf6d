"""The autograd half of ``Tensor``: ``backward``, hooks, ``retain_grad``, the in-place leaf rule.

``numgrad.tensor`` sits below autograd and holds only a tensor's state; these
methods need the graph, so this module binds them onto the class when the
autograd package is imported (the package imports it first thing).

>>> import numgrad as ng
>>> x = ng.tensor([1.0, 2.0], requires_grad=True)
>>> h = x.register_hook(lambda g: g * 3)
>>> (x * x).sum().backward(); x.grad
tensor([ 6., 12.])
"""
from __future__ import annotations

import weakref
from typing import Callable, Optional

import numpy as np

from .._pending_readers import owner
from ..tensor import Tensor, is_inference_mode_enabled
from .function import AccumulateGrad
from .grad_api import backward as autograd_backward
from .grad_mode import is_grad_enabled
from .views import check_view_inplace, rebase_view, retake_views


class RemovableHandle:
    """What ``register_hook`` (and every other hook registration) returns: ``handle.remove()`` unregisters the hook.

    ``hooks`` is the list the hook was appended to, or (PyTorch's form, for ``nn.Module`` hooks) the dict that
    holds it under ``handle.id``; ``extra_dict`` (a dict or a list of them) loses the same key on removal
    (the ``with_kwargs``/``always_call`` flags) and ``on_remove`` is called after each removal.  Used as a
    context manager, the hook is removed when the block ends (as PyTorch's).

    >>> import numgrad as ng
    >>> x = ng.tensor([1.0], requires_grad=True)
    >>> with x.register_hook(lambda g: g * 10):
    ...     (x * 1).sum().backward()
    >>> (x * 1).sum().backward(); x.grad
    tensor([11.])
    """

    next_id = 0

    def __init__(self, hooks, hook=None, *, extra_dict=None, on_remove: Optional[Callable[[], None]] = None):
        self._hooks = hooks
        self._hook = hook
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        if extra_dict is None:
            self._extra = ()
        elif isinstance(extra_dict, dict):
            self._extra = (extra_dict,)
        else:
            self._extra = tuple(extra_dict)
        self._on_remove = on_remove

    def remove(self) -> None:
        hooks = self._hooks
        if isinstance(hooks, dict):
            hooks.pop(self.id, None)
            for extra in self._extra:
                extra.pop(self.id, None)
        else:
            try:
                hooks.remove(self._hook)
            except ValueError:
                pass
        if self._on_remove is not None:
            self._on_remove()

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _accumulator(self: Tensor) -> AccumulateGrad:
    acc = self._acc() if self._acc is not None else None
    if acc is None or acc.variable is not self:  # a copy.deepcopy of a leaf copies the reference: not its own
        acc = AccumulateGrad(self)
        if self._hooks is None:
            self._hooks = []
        acc._pre_hooks = {0: self._hooks}
        self._acc = weakref.ref(acc)
    return acc

def retain_grad(self: Tensor) -> None:
    """Keep ``.grad`` for this non-leaf tensor after backward."""
    if not self._requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if self._grad_fn is None or self._retains_grad:
        return
    node = self._grad_fn
    if node._retain is None:
        node._retain = {}
    node._retain[self._output_nr] = weakref.ref(self)
    self._retains_grad = True

def register_hook(self: Tensor, hook: Callable) -> RemovableHandle:
    """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it.

    >>> import numgrad as ng
    >>> x = ng.tensor([1.0, 2.0], requires_grad=True)
    >>> h = x.register_hook(lambda g: g * 2)
    >>> x.sum().backward(); x.grad
    tensor([2., 2.])
    """
    if not self._requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if self._grad_fn is None:
        if self._hooks is None:
            self._hooks = []
        self._accumulator()
        hooks = self._hooks
    else:
        node = self._grad_fn
        if node._pre_hooks is None:
            node._pre_hooks = {}
        hooks = node._pre_hooks.setdefault(self._output_nr, [])
    hooks.append(hook)
    return RemovableHandle(hooks, hook)


def register_post_accumulate_grad_hook(self: Tensor, hook: Callable) -> RemovableHandle:
    """Call ``hook(tensor)`` on this leaf after backward has accumulated a gradient into its ``.grad``.

    The hook returns None; it reads (or writes in place) ``tensor.grad``.  Data-parallel training starts
    communicating a gradient from here (``nn.parallel.DistributedDataParallel``).

    >>> import numgrad as ng
    >>> w = ng.tensor([1.0, 2.0], requires_grad=True)
    >>> seen = []
    >>> h = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.tolist()))
    >>> (w * 3).sum().backward(); seen
    [[3.0, 3.0]]
    """
    if not self._requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if self._grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    if self._post_acc_hooks is None:
        self._post_acc_hooks = []
    self._post_acc_hooks.append(hook)
    return RemovableHandle(self._post_acc_hooks, hook)


def backward(self: Tensor, gradient=None, retain_graph: Optional[bool] = None, create_graph: bool = False,
             inputs=None) -> None:
    """Compute the gradient of this tensor w.r.t. graph leaves, accumulating into ``.grad``.

    >>> import numgrad as ng
    >>> x = ng.tensor(2.0, requires_grad=True)
    >>> (x ** 2).backward(); x.grad
    tensor(4.)
    """
    autograd_backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)


def _check_inplace(self: Tensor, op: str) -> None:
    """Called before every in-place write: autograd's leaf rule, and pending fused
    ops that read this memory must compute their values first."""
    if self._inference and not is_inference_mode_enabled():
        raise RuntimeError("Inplace update to inference tensor outside InferenceMode is not allowed.You can make a "
                           "clone to get a normal tensor before doing inplace update.See "
                           "https://github.com/pytorch/rfcs/pull/17 for more details.")
    view = self._view
    if view is not None and view[0]._requires_grad and is_grad_enabled():
        # PyTorch refuses writes into a view taken under no_grad of a tensor that requires grad, and into
        # views of leaves that require grad, even when nothing else in the write requires grad
        check_view_inplace(self, op)
    if self._requires_grad and self._grad_fn is None and is_grad_enabled():
        raise RuntimeError(
            f"a leaf Variable that requires grad is being used in an in-place operation ({op}_). "
            "Wrap the update in `with numgrad.no_grad():` or work on a clone()."
        )
    buf = self._buf
    if buf is not None and not buf.flags.writeable:  # expand()ed memory (stride 0), or read-only NumPy memory
        alias = _writable_alias(buf)
        if alias is not None:  # a row of an expanded tensor: NumPy marks it read-only, PyTorch writes it
            self._buf = alias
            self._before_write()
            return
        raise RuntimeError(
            f"{op}_: unsupported operation: more than one element of the written-to tensor refers to a single "
            "memory location. Please clone() the tensor before performing the operation."
        )
    self._before_write()


def _writable_alias(arr) -> Optional[np.ndarray]:
    """A writable array over the same memory as the read-only NumPy view ``arr``, when no two of its elements
    share an address and the memory it views is writable (a row of an ``expand()``ed tensor: NumPy marks every view
    of a broadcast read-only); None otherwise (memory shared by several elements, or read-only memory).

    >>> import numpy as np
    >>> row = np.broadcast_to(np.zeros(3), (2, 3))[0]
    >>> _writable_alias(row).flags.writeable, _writable_alias(np.broadcast_to(np.zeros(3), (2, 3)))
    (True, None)
    """
    if type(arr) is not np.ndarray:
        return None
    root = owner(arr)
    if not root.flags.writeable or not root.flags.c_contiguous:
        return None
    reach = arr.itemsize  # bytes spanned by the dims of smaller stride: each larger stride must step past them
    for stride, n in sorted((abs(st), n) for n, st in zip(arr.shape, arr.strides) if n > 1):
        if stride < reach:
            return None
        reach = stride * (n - 1) + reach
    offset = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return np.ndarray(arr.shape, arr.dtype, buffer=root, offset=offset, strides=arr.strides)


def _rebase_history(self: Tensor, node, output_nr: int) -> None:
    """An in-place op wrote ``self``: its history is now ``node``'s output ``output_nr``.

    A tensor that retains its gradient keeps doing so for its new value, as in
    PyTorch (``y.retain_grad(); y.mul_(3)``: ``y.grad`` is the gradient of the
    multiplied ``y``).
    """
    if self._view is not None:
        rebase_view(self, node, output_nr)  # the base's history changes; this view's is retaken from it
        return
    if self._retains_grad:
        old = self._grad_fn
        if old is not None and old._retain:
            old._retain.pop(self._output_nr, None)
        self._attach(node, output_nr)
        if node._retain is None:
            node._retain = {}
        node._retain[output_nr] = weakref.ref(self)
    else:
        self._attach(node, output_nr)
    if self._views:
        retake_views(self)


def _install() -> None:
    for fn in (_accumulator, retain_grad, register_hook, register_post_accumulate_grad_hook, backward, _check_inplace, _rebase_history):
        setattr(Tensor, fn.__name__, fn)


_install()
