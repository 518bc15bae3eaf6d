"""In-place writes and views, as PyTorch does them.

A view shares its base's memory, so an in-place write into either changes
both. Autograd follows:

* a recorded in-place write into a view makes the *base*'s history a
  ``CopySlices`` node: the base's old value everywhere except the view's
  elements, the new value of the view there;
* after any recorded in-place write into a base (directly or through one of
  its views), every live view of that base takes its history again from the
  base's new history (PyTorch regenerates a view's ``grad_fn``; here the
  views are retaken at the write, since the write is where the base changes).

>>> import numgrad as ng
>>> x = ng.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> y = x * 1
>>> y[0:2].mul_(2)
tensor([2., 4.], grad_fn=<IndexBackward0>)
>>> y.sum().backward(); x.grad
tensor([2., 2., 1.])
"""
from __future__ import annotations

import weakref

import numpy as np

from ..creation import tensor
from ..tensor import VIEW_IN_NO_GRAD, VIEW_OF_MULTIPLE, Tensor
from .function import Function, replay_view
from .grad_mode import _set, enable_grad, is_grad_enabled

_NO_GRAD_VIEW_MSG = (
    "A view was created in no_grad mode and is being modified inplace with grad mode enabled. Given that this "
    "use case is ambiguous and error-prone, it is forbidden. You can clarify your code by moving both the view "
    "and the inplace either both inside the no_grad block (if you don't want the inplace to be tracked) or both "
    "outside (if you want the inplace to be tracked)."
)


def check_view_inplace(t: Tensor, op: str) -> None:
    """PyTorch's refusals of a recorded in-place write ``op`` into the view ``t`` (nothing when not a view)."""
    info = t._view
    if info is None:
        return
    base, replay, creation = info
    if creation == VIEW_IN_NO_GRAD:
        raise RuntimeError(_NO_GRAD_VIEW_MSG)
    if creation == VIEW_OF_MULTIPLE:
        fn, _, _, index = replay[-1]
        raise RuntimeError(
            f"Output {index} of {fn.__name__.lstrip('_')} is a view and is being modified inplace. This view is the output "
            "of a function that returns multiple views. Such functions do not allow the output views to be "
            "modified inplace. You should replace the inplace operation by an out-of-place one."
        )
    if base._requires_grad and base._grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")


class CopySlices(Function):
    """The base's value after a write into one of its views: ``base`` outside the view, ``view_value`` inside.

    Forward computes nothing (the write already went through the view's memory); backward sends the
    gradient's view-shaped part to the new view value and the rest to the old base.
    """

    node_name = "CopySlices"
    # single use, as PyTorch's (which drops the wrapped node when the graph is released): a second backward
    # through a written view's base without retain_graph raises, as there
    saves_only_metadata = False

    @staticmethod
    def forward(ctx, base, view_value, replay):
        ctx.replay, ctx.base_shape = replay, base.shape
        return Tensor(base._data, _version=base._version)

    @staticmethod
    def backward(ctx, g):
        g_view = replay_view(g, ctx.replay)
        g_base = None
        if ctx.needs_input_grad[0]:
            g_base = g * _outside_mask(ctx.base_shape, ctx.replay, g)
        return g_base, g_view, None


def _outside_mask(shape: tuple, replay: tuple, like: Tensor) -> Tensor:
    """1 where an element of a ``shape`` base is outside the view ``replay`` takes, 0 inside (``like``'s dtype, device)."""
    size = int(np.prod(shape, dtype=np.int64))
    positions = tensor(np.arange(size, dtype=np.int64).reshape(shape))
    prev = is_grad_enabled()
    _set(False)
    try:
        inside = replay_view(positions, replay).numpy()
    finally:
        _set(prev)
    # built in float32 for 16-bit floats: NumPy would write bfloat16's words as integers
    mask = np.ones(size, dtype=np.float32 if like.dtype.is_16bit_float else like.dtype.np)
    mask[inside.reshape(-1)] = 0
    return tensor(mask.reshape(shape), dtype=like.dtype, device=like.device)


def rebase_view(view: Tensor, node, output_nr: int) -> None:
    """A recorded in-place op wrote ``view``: its new value is ``node``'s output ``output_nr``.

    The base's history becomes CopySlices of (old base, new view value), then every view of the base,
    ``view`` included, is retaken from it.
    """
    base, replay, _ = view._view
    new_value = Tensor(view._data)
    new_value._attach(node, output_nr)
    out = CopySlices.apply(base, new_value, replay)
    base._rebase_history(out._grad_fn, 0)


def retake_views(base: Tensor) -> None:
    """Give every live view of ``base`` a history taken from ``base``'s current one (after an in-place write).

    Views taken with grad mode off keep no history: PyTorch refuses to use them in the graph afterwards.
    """
    live = []
    with enable_grad():
        for ref in tuple(base._views):
            view = ref()
            if view is None:
                continue
            live.append(ref)
            info = view._view
            if info is None or info[0] is not base or info[2] == VIEW_IN_NO_GRAD:
                continue
            fresh = replay_view(base, info[1])
            if view._retains_grad:
                # as in PyTorch, a view that retains its gradient keeps doing so through its new history
                old = view._grad_fn
                if old is not None and old._retain:
                    old._retain.pop(view._output_nr, None)
                node, nr = fresh._grad_fn, fresh._output_nr
                if node._retain is None:
                    node._retain = {}
                node._retain[nr] = weakref.ref(view)
            view._attach(fresh._grad_fn, fresh._output_nr)
    base._views = live
