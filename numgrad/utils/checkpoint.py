"""``numgrad.utils.checkpoint``: PyTorch's activation checkpointing (``torch.utils.checkpoint``).

``checkpoint(fn, *args)`` runs ``fn`` without recording a graph, keeping only its inputs; the backward runs
``fn`` again with grad on (from the same random state, so dropout draws the same masks) and backpropagates
through that graph: memory for the activations inside ``fn`` is traded for a second forward.

The backward is PyTorch's reentrant one for both ``use_reentrant`` values: a backward pass inside the
backward, which accumulates into the ``.grad`` of every leaf ``fn`` uses (parameters included, wherever ``fn``
finds them) and hands the inputs' gradients on.  So, as PyTorch's reentrant variant, it runs only inside a plain
``backward()``: ``autograd.grad`` or ``backward(inputs=...)`` through a checkpoint raises.  With
``use_reentrant=False`` the output also needs a graph when no input requires grad, through the parameters of
``fn`` when it is a module, a module's method or a closure over modules (PyTorch's non-reentrant variant finds
every parameter it uses).
"""
from __future__ import annotations

import functools
import types
import warnings
from typing import Any, Callable, Iterable, List

from ..autograd.engine import is_checkpoint_valid
from ..autograd.function import Function
from ..autograd.grad_api import backward as _backward
from ..autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from ..creation import get_rng_state, set_rng_state
from ..nn.modules.module import Module
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]

_REENTRANT_WARNING = (
    "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. Starting in PyTorch 2.9, "
    "calling checkpoint without use_reentrant will raise an exception. use_reentrant=False is recommended, but if "
    "you need to preserve the current default behavior, you can pass use_reentrant=True. Refer to docs for more "
    "details on the differences between the two variants.")


class _Checkpoint(Function):
    """``fn(*args)`` computed without a graph; its backward computes it again with one and backpropagates."""

    node_name = "CheckpointFunctionBackward"

    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, n_args, *args_and_params):
        args = args_and_params[:n_args]
        ctx.run_function, ctx.n_params = run_function, len(args_and_params) - n_args
        ctx.rng_state = get_rng_state() if preserve_rng_state else None
        ctx.tensor_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.others = [None if isinstance(a, Tensor) else a for a in args]
        ctx.save_for_backward(*(args[i] for i in ctx.tensor_positions))
        with no_grad():
            return run_function(*args)

    @staticmethod
    def backward(ctx, *grads):
        if not is_checkpoint_valid():
            raise RuntimeError("When use_reentrant=True, torch.utils.checkpoint is incompatible with .grad() or "
                               "passing an `inputs` parameter to .backward(). To resolve this error, you can "
                               "either set use_reentrant=False, or call .backward() without passing the `inputs` "
                               "argument.")
        args = list(ctx.others)
        for position, saved in zip(ctx.tensor_positions, ctx.saved_tensors):
            args[position] = saved.detach().requires_grad_(saved.requires_grad)
        now = get_rng_state() if ctx.rng_state is not None else None
        if now is not None:
            set_rng_state(ctx.rng_state)
        try:
            with enable_grad():
                outputs = ctx.run_function(*args)
        finally:
            if now is not None:
                set_rng_state(now)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        pairs = [(o, g) for o, g in zip(outputs, grads)
                 if isinstance(o, Tensor) and o.requires_grad and g is not None]
        if pairs:
            _backward([o for o, _ in pairs], [g for _, g in pairs])
        input_grads = tuple(a.grad if isinstance(a, Tensor) else None for a in args)
        return (None, None, None) + input_grads + (None,) * ctx.n_params


def _parameters_of(function: Callable) -> List[Tensor]:
    """The parameters that require grad of ``function`` when it is a module, a module's method, a
    ``functools.partial`` of one, or a function closing over modules or parameters."""
    roots: list = [function]
    if isinstance(function, types.MethodType):
        roots.append(function.__self__)
    if isinstance(function, functools.partial):
        roots += [function.func, *function.args, *function.keywords.values()]
    if isinstance(function, _SegmentRunner):
        roots += function.modules
    for cell in getattr(function, "__closure__", None) or ():
        try:
            roots.append(cell.cell_contents)
        except ValueError:
            pass
    found: dict = {}
    for root in roots:
        if isinstance(root, Module):
            found.update((id(p), p) for p in root.parameters() if p.requires_grad)
        elif isinstance(root, Tensor) and root.requires_grad and root.is_leaf:
            found[id(root)] = root
    return list(found.values())


def checkpoint(function: Callable, *args, use_reentrant: bool = None, context_fn: Callable = None,
               determinism_check: str = "default", debug: bool = False, preserve_rng_state: bool = True,
               **kwargs) -> Any:
    """``function(*args, **kwargs)``, recomputed in backward instead of keeping its activations.

    >>> import numgrad as ng
    >>> from numgrad.utils.checkpoint import checkpoint
    >>> layer = ng.nn.Linear(3, 3)
    >>> x = ng.ones(2, 3, requires_grad=True)
    >>> checkpoint(layer, x, use_reentrant=False).sum().backward()
    >>> x.grad.shape, layer.weight.grad.shape
    ((2, 3), (3, 3))
    """
    if use_reentrant is None:
        warnings.warn(_REENTRANT_WARNING, UserWarning, stacklevel=2)
        use_reentrant = True
    if context_fn is not None:
        raise NotImplementedError("checkpoint(context_fn=...): numgrad's checkpoint has no forward/recompute contexts")
    if determinism_check not in ("default", "none"):
        raise ValueError(f"determinism_check should be one of ['default', 'none'], but got {determinism_check}")
    if use_reentrant and kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if kwargs:
        function = functools.partial(function, **kwargs)
    params = [] if use_reentrant else _parameters_of(function)
    if is_grad_enabled() and not any(isinstance(a, Tensor) and a.requires_grad for a in args) and not params:
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", UserWarning, stacklevel=2)
    return _Checkpoint.apply(function, preserve_rng_state, len(args), *args, *params)


def checkpoint_sequential(functions, segments: int, input, use_reentrant: bool = None, **kwargs) -> Any:
    """Run the modules of ``functions`` (a ``Sequential`` or a list) in ``segments`` checkpointed runs, the last
    one not checkpointed (PyTorch's ``checkpoint_sequential``).

    >>> import numgrad as ng
    >>> from numgrad.utils.checkpoint import checkpoint_sequential
    >>> net = ng.nn.Sequential(ng.nn.Linear(2, 2), ng.nn.ReLU(), ng.nn.Linear(2, 1))
    >>> checkpoint_sequential(net, 2, ng.ones(3, 2, requires_grad=True), use_reentrant=False).shape
    (3, 1)
    """
    if use_reentrant is None:
        warnings.warn(_REENTRANT_WARNING, UserWarning, stacklevel=2)
        use_reentrant = True
    functions = list(functions.children()) if isinstance(functions, Module) else list(functions)
    size = len(functions) // segments
    end = -1

    def run(start: int, stop: int, parts: Iterable) -> Callable:
        def forward(x):
            for j in range(start, stop + 1):
                x = parts[j](x)
            return x
        return forward

    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        segment = _SegmentRunner(run(start, end, functions), functions[start:end + 1])
        input = checkpoint(segment, input, use_reentrant=use_reentrant, **kwargs)
    return run(end + 1, len(functions) - 1, functions)(input)


class _SegmentRunner:
    """A segment of ``checkpoint_sequential``: calls its modules in order; holds them, so the non-reentrant
    variant finds their parameters."""

    def __init__(self, forward: Callable, modules: list):
        self.forward, self.modules = forward, modules

    def __call__(self, x):
        return self.forward(x)
