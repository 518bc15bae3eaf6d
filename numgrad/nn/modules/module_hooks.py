"""``nn.Module``'s hooks, as PyTorch's: forward (pre-)hooks, full backward (pre-)hooks, the global ones, state-dict
hooks, and ``Module.compile``.

``Module.__call__`` checks ``any_call_hooks`` (a global of this module, False while no module has a hook or a
``compile()``d call and no global hook exists: a call then costs what it did before hooks existed), then the
module's ``_slow_call`` (True on a module with hooks or a compiled call; the class default, on ``ModuleHooks``,
is True while global hooks exist).  Registering or removing a hook updates both and bumps ``hook_writes`` and
``plain_attribute_writes``, which ``ng.compile`` reads to walk a step's hooks again (their Python runs inside the
step, so what they read is guarded) and to drop its hot variant.

Full backward hooks are PyTorch's ``BackwardHook``: the module's positional tensor inputs and its outputs pass
through an identity ``autograd.Function`` (``BackwardHookFunction``) whose backward calls the hooks, so
``grad_input`` are the gradients w.r.t. the module's inputs and ``grad_output`` those w.r.t. its outputs.

>>> import numgrad as ng
>>> lin = ng.nn.Linear(2, 1)
>>> seen = []
>>> handle = lin.register_forward_hook(lambda m, args, out: seen.append(tuple(out.shape)))
>>> _ = lin(ng.ones(3, 2)); handle.remove(); _ = lin(ng.ones(3, 2))
>>> seen
[(3, 1)]
"""
from __future__ import annotations

import functools
import warnings
import weakref
from collections import OrderedDict
from typing import Callable

from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...autograd.tensor_methods import RemovableHandle
from ...tensor import Tensor

# how many plain attributes (not parameters, buffers or submodules) were set on any module so far, hook
# registrations and removals included: ng.compile reads the modules' plain attributes it guards (a dropout's p, an
# eps) and their hooks again only when this number moved
plain_attribute_writes = [0]
# how many times a module hook (forward, backward, global) was registered or removed: ng.compile walks a step's
# state again when it moved (a new hook's Python runs in the step and reads values that must be guarded)
hook_writes = [0]

_global_backward_pre_hooks: "OrderedDict[int, Callable]" = OrderedDict()
_global_backward_hooks: "OrderedDict[int, Callable]" = OrderedDict()
_global_forward_pre_hooks: "OrderedDict[int, Callable]" = OrderedDict()
_global_forward_hooks: "OrderedDict[int, Callable]" = OrderedDict()
_global_forward_hooks_always_called: "OrderedDict[int, bool]" = OrderedDict()
_global_forward_hooks_with_kwargs: "OrderedDict[int, bool]" = OrderedDict()

# whether any module call may have hooks to run (``Module.__call__`` reads it first: a global is the cheapest check)
any_call_hooks = False
# id -> module, for the modules whose ``_slow_call`` is True (by id: a module class may define ``__eq__`` and no hash)
_modules_with_call_hooks: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()


def _update_any_call_hooks() -> None:
    global any_call_hooks
    any_call_hooks = bool(_modules_with_call_hooks) or ModuleHooks._slow_call


# the dicts of hooks that run inside a module call (what ng.compile walks and guards), per module and global
CALL_HOOK_DICTS = ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks",
                   "_forward_pre_hooks_with_kwargs", "_forward_hooks_with_kwargs", "_forward_hooks_always_called")
GLOBAL_CALL_HOOK_DICTS = (_global_forward_pre_hooks, _global_forward_hooks, _global_backward_pre_hooks,
                          _global_backward_hooks, _global_forward_hooks_with_kwargs,
                          _global_forward_hooks_always_called)
STATE_HOOK_DICTS = ("_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
                     "_load_state_dict_post_hooks")

# ``Module.compile``'s compiler: numgrad.compiler (a layer above nn) registers its function here at import, as
# lower layers own registries that higher layers fill; called as ``fn(module, *args, **kwargs)``, it returns
# what the module's calls go through
_module_compilers: list = []


def register_module_compiler(fn: Callable) -> None:
    """Install what ``Module.compile`` calls (``numgrad.compiler`` does this when it is imported).

    >>> from numgrad.nn.modules.module_hooks import _module_compilers
    >>> len(_module_compilers) >= 1  # numgrad's own
    True
    """
    _module_compilers.append(fn)


def _count_hook_change() -> None:
    hook_writes[0] += 1
    plain_attribute_writes[0] += 1


def _global_hooks_changed() -> None:
    # the class attribute every module without hooks of its own reads in ``__call__``
    ModuleHooks._slow_call = bool(_global_forward_pre_hooks or _global_forward_hooks or _global_backward_pre_hooks
                                  or _global_backward_hooks)
    _update_any_call_hooks()
    _count_hook_change()


def _global_handle(hooks: dict, extra_dict=None) -> RemovableHandle:
    return RemovableHandle(hooks, extra_dict=extra_dict, on_remove=_global_hooks_changed)


def register_module_forward_pre_hook(hook: Callable) -> RemovableHandle:
    """Call ``hook(module, args)`` before the ``forward`` of every module (PyTorch's global forward pre-hook).

    A returned value replaces the positional arguments (a non-tuple is wrapped in a tuple).

    >>> import numgrad as ng
    >>> from numgrad.nn.modules.module import register_module_forward_pre_hook
    >>> with register_module_forward_pre_hook(lambda m, args: (args[0] * 0,)):
    ...     ng.nn.Identity()(ng.ones(2))
    tensor([0., 0.])
    """
    handle = _global_handle(_global_forward_pre_hooks)
    _global_forward_pre_hooks[handle.id] = hook
    _global_hooks_changed()
    return handle


def register_module_forward_hook(hook: Callable, *, with_kwargs: bool = False,
                                 always_call: bool = False) -> RemovableHandle:
    """Call ``hook(module, args, output)`` after the ``forward`` of every module (PyTorch's global forward hook).

    A returned value replaces the output; ``with_kwargs`` passes ``(module, args, kwargs, output)``;
    ``always_call`` runs the hook even when ``forward`` raised.

    >>> import numgrad as ng
    >>> from numgrad.nn.modules.module import register_module_forward_hook
    >>> with register_module_forward_hook(lambda m, args, out: out + 1):
    ...     ng.nn.Identity()(ng.zeros(2))
    tensor([1., 1.])
    """
    handle = _global_handle(_global_forward_hooks,
                            [_global_forward_hooks_always_called, _global_forward_hooks_with_kwargs])
    _global_forward_hooks[handle.id] = hook
    if with_kwargs:
        _global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _global_forward_hooks_always_called[handle.id] = True
    _global_hooks_changed()
    return handle


def register_module_full_backward_pre_hook(hook: Callable) -> RemovableHandle:
    """Call ``hook(module, grad_output)`` when the gradients w.r.t. any module's outputs are computed; a returned
    tuple replaces ``grad_output`` (PyTorch's global backward pre-hook).

    >>> import numgrad as ng
    >>> from numgrad.nn.modules.module import register_module_full_backward_pre_hook
    >>> x = ng.ones(2, requires_grad=True)
    >>> with register_module_full_backward_pre_hook(lambda m, g: (g[0] * 3,)):
    ...     ng.nn.Identity()(x).sum().backward()
    >>> x.grad
    tensor([3., 3.])
    """
    handle = _global_handle(_global_backward_pre_hooks)
    _global_backward_pre_hooks[handle.id] = hook
    _global_hooks_changed()
    return handle


def register_module_full_backward_hook(hook: Callable) -> RemovableHandle:
    """Call ``hook(module, grad_input, grad_output)`` when the gradients w.r.t. any module's inputs are computed; a
    returned tuple replaces ``grad_input`` (PyTorch's global full backward hook).

    >>> import numgrad as ng
    >>> from numgrad.nn.modules.module import register_module_full_backward_hook
    >>> x = ng.ones(2, requires_grad=True)
    >>> with register_module_full_backward_hook(lambda m, gi, go: (gi[0] * 2,)):
    ...     ng.nn.Identity()(x).sum().backward()
    >>> x.grad
    tensor([2., 2.])
    """
    handle = _global_handle(_global_backward_hooks)
    _global_backward_hooks[handle.id] = hook
    _global_hooks_changed()
    return handle


def register_module_backward_hook(hook: Callable) -> RemovableHandle:
    """PyTorch's deprecated global non-full backward hook: not supported; use
    ``register_module_full_backward_hook``.

    >>> from numgrad.nn.modules.module import register_module_backward_hook
    >>> register_module_backward_hook(print)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    NotImplementedError: register_module_backward_hook (deprecated in PyTorch) is not supported by numgrad: use ...
    """
    raise NotImplementedError("register_module_backward_hook (deprecated in PyTorch) is not supported by numgrad: use "
                              "register_module_full_backward_hook, whose grad_input are the gradients w.r.t. the "
                              "module's inputs")


# ------------------------------------------------------------------ full backward hooks (PyTorch's BackwardHook)
class BackwardHookFunction(Function):
    """Identity on a module's input (or output) tensors whose backward calls the module's backward hooks."""

    @staticmethod
    def forward(ctx, on_backward, materialize_grads, *tensors):
        ctx.on_backward = on_backward
        # the output side's hooks see None for an output no gradient reached (PyTorch's hook there is a node hook,
        # which sees the gradients as they arrive); the input side's see the zeros backward materialized
        ctx.set_materialize_grads(materialize_grads)
        # tensors that do not require grad come back as themselves, as PyTorch's
        ctx.mark_non_differentiable(*[t for t in tensors if not t.requires_grad])
        return tensors

    @staticmethod
    def backward(ctx, *grads):
        # an input that does not require grad gets zeros on the input side (its gradient, materialized), as in
        # PyTorch
        return (None, None) + tuple(ctx.on_backward(grads))


class BackwardHook:
    """One module call's full backward hooks and pre-hooks (PyTorch's ``torch.utils.hooks.BackwardHook``)."""

    def __init__(self, module, user_hooks: list, user_pre_hooks: list):
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.module = module
        self.grad_outputs = None
        self.n_outputs = -1
        self.output_tensors_index = None
        self.n_inputs = -1
        self.input_tensors_index = None

    @staticmethod
    def _pack_with_none(indices, values, size: int) -> tuple:
        res = [None] * size
        for idx, val in zip(indices, values):
            res[idx] = val
        return tuple(res)

    def _input_backward(self, grads: tuple) -> tuple:
        if self.grad_outputs is None:
            # the gradient reached the inputs without passing through the outputs (double backward)
            return grads
        res = self._pack_with_none(self.input_tensors_index, grads, self.n_inputs)
        for hook in self.user_hooks:
            out = hook(self.module, res, self.grad_outputs)
            if out is None:
                continue
            if len(out) != len(res):
                raise RuntimeError("Backward hook returned an invalid number of grad_input, "
                                   f"got {len(out)}, but expected {len(res)}")
            res = out
        self.grad_outputs = None
        return tuple(res[i] for i in self.input_tensors_index)

    def _output_backward(self, grads: tuple) -> tuple:
        self.grad_outputs = self._pack_with_none(self.output_tensors_index, grads, self.n_outputs)
        if self.user_pre_hooks:
            expected = len(self.grad_outputs)
            for pre_hook in self.user_pre_hooks:
                new = pre_hook(self.module, self.grad_outputs)
                if new is None:
                    continue
                if len(new) != expected:
                    raise RuntimeError("Backward pre hook returned an invalid number of grad_output, "
                                       f"got {len(new)}, but expected {expected}")
                self.grad_outputs = new
        local_grad_outputs = self.grad_outputs
        if self.input_tensors_index is None:
            # no input requires grad: the hooks fire here, with no grad_input (PyTorch's rule and warning)
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module outputs "
                          "since no inputs require gradients. See https://docs.pytorch.org/docs/main/generated/"
                          "torch.nn.Module.html#torch.nn.Module.register_full_backward_hook for more details.",
                          stacklevel=5)
            grad_inputs = (None,) * self.n_inputs
            for hook in self.user_hooks:
                res = hook(self.module, grad_inputs, self.grad_outputs)
                if res is not None and not (isinstance(res, tuple) and all(el is None for el in res)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                       "return None or None for all gradients.")
            self.grad_outputs = None
        return tuple(local_grad_outputs[i] for i in self.output_tensors_index)

    @staticmethod
    def _apply_on_tensors(on_backward, args: tuple, materialize_grads: bool):
        index = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        tensors = [args[i] for i in index]
        if not (any(t.requires_grad for t in tensors) and is_grad_enabled()):
            return args, None
        new = BackwardHookFunction.apply(on_backward, materialize_grads, *tensors)
        items = list(args)
        for i, t in zip(index, new):
            items[i] = t
        return (tuple(items) if type(args) is tuple else type(args)(*items)), index

    def setup_input_hook(self, args: tuple) -> tuple:
        res, self.input_tensors_index = self._apply_on_tensors(self._input_backward, args, True)
        self.n_inputs = len(args)
        return res

    def setup_output_hook(self, result):
        is_tuple = isinstance(result, tuple)
        outputs = result if is_tuple else (result,)
        res, self.output_tensors_index = self._apply_on_tensors(self._output_backward, outputs, False)
        self.n_outputs = len(outputs)
        return res if is_tuple else res[0]


# ------------------------------------------------------------------ the Module side
class ModuleHooks:
    """The hook half of ``nn.Module`` (its base class): registration, ``_call_impl`` and ``compile``."""

    _slow_call = False  # see the module docstring; True on a module with hooks, here while global hooks exist
    _compiled_call_impl = None  # set on the module by ``compile()``

    def _init_hooks(self) -> None:
        d = self.__dict__
        for name in CALL_HOOK_DICTS + STATE_HOOK_DICTS:
            d[name] = OrderedDict()
        d["_compiled_call_impl"] = None

    def _hooks_changed(self) -> None:
        """A hook was registered or removed (or ``compile()`` called): set this module's ``_slow_call``."""
        d = self.__dict__
        if (d["_forward_pre_hooks"] or d["_forward_hooks"] or d["_backward_pre_hooks"] or d["_backward_hooks"]
                or d.get("_compiled_call_impl") is not None):
            d["_slow_call"] = True
            _modules_with_call_hooks[id(self)] = self
        else:
            d.pop("_slow_call", None)  # back to the class attribute (True only while global hooks exist)
            _modules_with_call_hooks.pop(id(self), None)
        _update_any_call_hooks()
        _count_hook_change()

    def _call_handle(self, hooks: dict, extra_dict=None) -> RemovableHandle:
        return RemovableHandle(hooks, extra_dict=extra_dict, on_remove=self._hooks_changed)

    # ------------------------------------------------------------ forward hooks
    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before every ``forward``; a returned value replaces ``args`` (a non-tuple is
        wrapped in a tuple).  With ``with_kwargs``: ``hook(module, args, kwargs)`` returns None or
        ``(new_args, new_kwargs)``.  ``prepend`` runs it before the hooks already registered.

        >>> import numgrad as ng
        >>> lin = ng.nn.Identity()
        >>> h = lin.register_forward_pre_hook(lambda m, args: args[0] * 2)
        >>> lin(ng.ones(2))
        tensor([2., 2.])
        """
        handle = self._call_handle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        self._hooks_changed()
        return handle

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every ``forward``; a returned value replaces the output.
        ``with_kwargs``: ``hook(module, args, kwargs, output)``; ``always_call``: run it even when ``forward``
        raised; ``prepend``: before the hooks already registered.

        >>> import numgrad as ng
        >>> m = ng.nn.Identity()
        >>> h = m.register_forward_hook(lambda m, args, out: out * 3)
        >>> m(ng.ones(2))
        tensor([3., 3.])
        """
        handle = self._call_handle(self._forward_hooks,
                                   [self._forward_hooks_with_kwargs, self._forward_hooks_always_called])
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        self._hooks_changed()
        return handle

    # ------------------------------------------------------------ backward hooks
    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients w.r.t. the module's outputs are computed; a
        returned tuple replaces ``grad_output``.

        >>> import numgrad as ng
        >>> m, x = ng.nn.Identity(), ng.ones(2, requires_grad=True)
        >>> h = m.register_full_backward_pre_hook(lambda m, g: (g[0] * 5,))
        >>> m(x).sum().backward(); x.grad
        tensor([5., 5.])
        """
        handle = self._call_handle(self._backward_pre_hooks)
        self._backward_pre_hooks[handle.id] = hook
        if prepend:
            self._backward_pre_hooks.move_to_end(handle.id, last=False)
        self._hooks_changed()
        return handle

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when the gradients w.r.t. the module's positional tensor
        inputs are computed (``None`` for other arguments and for inputs that do not require grad); a returned
        tuple replaces ``grad_input``.

        >>> import numgrad as ng
        >>> m, x = ng.nn.Identity(), ng.ones(2, requires_grad=True)
        >>> h = m.register_full_backward_hook(lambda m, gi, go: (gi[0] * 4,))
        >>> m(x).sum().backward(); x.grad
        tensor([4., 4.])
        """
        handle = self._call_handle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        if prepend:
            self._backward_hooks.move_to_end(handle.id, last=False)
        self._hooks_changed()
        return handle

    def register_backward_hook(self, hook: Callable) -> RemovableHandle:
        """PyTorch's deprecated non-full backward hook: not supported (its ``grad_input`` is the last autograd node's
        inputs, not the module's); use ``register_full_backward_hook``.

        >>> import numgrad as ng
        >>> ng.nn.Identity().register_backward_hook(print)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        NotImplementedError: Module.register_backward_hook (deprecated in PyTorch) is not supported by numgrad: ...
        """
        raise NotImplementedError("Module.register_backward_hook (deprecated in PyTorch) is not supported by numgrad: "
                                  "use register_full_backward_hook, whose grad_input are the gradients w.r.t. the "
                                  "module's inputs")

    def _get_backward_hooks(self) -> list:
        return [*_global_backward_hooks.values(), *self._backward_hooks.values()]

    def _get_backward_pre_hooks(self) -> list:
        return [*_global_backward_pre_hooks.values(), *self._backward_pre_hooks.values()]

    # ------------------------------------------------------------ calling
    def _wrapped_call_impl(self, *args, **kwargs):
        compiled = self.__dict__.get("_compiled_call_impl")
        if compiled is not None:
            return compiled(*args, **kwargs)
        return self._call_impl(*args, **kwargs)

    def _call_impl(self, *args, **kwargs):
        """``forward`` with the hooks around it, in PyTorch's order: global forward pre-hooks, this module's, the
        backward hooks' input identity, ``forward``, global forward hooks, this module's, the output identity."""
        forward_call = self.forward
        if not (self._backward_hooks or self._backward_pre_hooks or self._forward_hooks or self._forward_pre_hooks
                or _global_backward_pre_hooks or _global_backward_hooks or _global_forward_hooks
                or _global_forward_pre_hooks):
            return forward_call(*args, **kwargs)
        result = None
        called_always = set()
        try:
            backward_pre_hooks = full_backward_hooks = ()
            if self._backward_pre_hooks or _global_backward_pre_hooks:
                backward_pre_hooks = self._get_backward_pre_hooks()
            if self._backward_hooks or _global_backward_hooks:
                full_backward_hooks = self._get_backward_hooks()
            if _global_forward_pre_hooks or self._forward_pre_hooks:
                for hook_id, hook in (*_global_forward_pre_hooks.items(), *self._forward_pre_hooks.items()):
                    if hook_id in self._forward_pre_hooks_with_kwargs:
                        new = hook(self, args, kwargs)
                        if new is not None:
                            if isinstance(new, tuple) and len(new) == 2:
                                args, kwargs = new
                            else:
                                raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, "
                                                   f"new_kwargs), but got {new}.")
                    else:
                        new = hook(self, args)
                        if new is not None:
                            args = new if isinstance(new, tuple) else (new,)
            bw_hook = None
            if full_backward_hooks or backward_pre_hooks:
                bw_hook = BackwardHook(self, full_backward_hooks, backward_pre_hooks)
                args = bw_hook.setup_input_hook(args)
            result = forward_call(*args, **kwargs)
            if _global_forward_hooks or self._forward_hooks:
                for hook_id, hook in (*_global_forward_hooks.items(), *self._forward_hooks.items()):
                    if hook_id in self._forward_hooks_always_called or hook_id in _global_forward_hooks_always_called:
                        called_always.add(hook_id)
                    if hook_id in self._forward_hooks_with_kwargs or hook_id in _global_forward_hooks_with_kwargs:
                        new = hook(self, args, kwargs, result)
                    else:
                        new = hook(self, args, result)
                    if new is not None:
                        result = new
            if bw_hook is not None:
                if not isinstance(result, (Tensor, tuple)):
                    warnings.warn("For backward hooks to be called, module output should be a Tensor or a tuple of "
                                  f"Tensors but received {type(result)}", stacklevel=2)
                result = bw_hook.setup_output_hook(result)
            return result
        except Exception:
            # the always_call hooks not run yet run now; an error of theirs is a warning, the forward's error wins
            for hook_id, hook in _global_forward_hooks.items():
                if hook_id in _global_forward_hooks_always_called and hook_id not in called_always:
                    try:
                        new = hook(self, args, result)
                        if new is not None:
                            result = new
                    except Exception as e:  # noqa: BLE001 - PyTorch silences it the same way
                        warnings.warn("global module forward hook with ``always_call=True`` raised an exception that "
                                      f"was silenced as another error was raised in forward: {e}", stacklevel=2)
            for hook_id, hook in self._forward_hooks.items():
                if hook_id in self._forward_hooks_always_called and hook_id not in called_always:
                    try:
                        if hook_id in self._forward_hooks_with_kwargs:
                            new = hook(self, args, kwargs, result)
                        else:
                            new = hook(self, args, result)
                        if new is not None:
                            result = new
                    except Exception as e:  # noqa: BLE001 - PyTorch silences it the same way
                        warnings.warn("module forward hook with ``always_call=True`` raised an exception that was "
                                      f"silenced as another error was raised in forward: {e}", stacklevel=2)
            raise

    def compile(self, *args, **kwargs) -> None:
        """Compile this module's calls in place (PyTorch's ``Module.compile``): afterwards calling the module goes
        through ``numgrad.compile(self._call_impl, *args, **kwargs)`` (hooks included), with the same options.

        >>> import numgrad as ng
        >>> lin = ng.nn.Linear(2, 1)
        >>> lin.compile()
        >>> with ng.no_grad():
        ...     _ = [lin(ng.ones(3, 2)) for _ in range(4)]
        >>> lin._compiled_call_impl.replays
        1
        """
        if not _module_compilers:
            raise RuntimeError("Module.compile needs numgrad.compiler, which registers itself when numgrad is "
                               "imported (import numgrad)")
        compiled = _module_compilers[-1](self, *args, **kwargs)
        object.__setattr__(self, "_compiled_call_impl", compiled)
        self._hooks_changed()

    # ------------------------------------------------------------ state dict hooks
    def register_state_dict_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, prefix, keep_vars)`` before ``state_dict`` saves this module.

        >>> import numgrad as ng
        >>> lin, seen = ng.nn.Linear(1, 1), []
        >>> h = lin.register_state_dict_pre_hook(lambda m, prefix, keep_vars: seen.append(prefix))
        >>> _ = ng.nn.Sequential(lin).state_dict(); seen
        ['0.']
        """
        handle = RemovableHandle(self._state_dict_pre_hooks)
        self._state_dict_pre_hooks[handle.id] = hook
        return handle

    def register_state_dict_post_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, state_dict, prefix, local_metadata)`` after ``state_dict`` saved this module (and its
        submodules); the hook changes ``state_dict`` in place and returns None.

        >>> import numgrad as ng
        >>> lin = ng.nn.Linear(1, 1)
        >>> h = lin.register_state_dict_post_hook(lambda m, sd, prefix, meta: sd.pop(prefix + "bias"))
        >>> list(lin.state_dict())
        Traceback (most recent call last):
        ...
        RuntimeError: state_dict post-hook must return None
        """
        hook._from_public_api = True
        handle = RemovableHandle(self._state_dict_hooks)
        self._state_dict_hooks[handle.id] = hook
        return handle

    def _register_state_dict_hook(self, hook: Callable) -> RemovableHandle:
        """PyTorch's older private state-dict hook: a returned value replaces the state dict (at the root)."""
        if getattr(hook, "_from_public_api", False):
            raise RuntimeError("Cannot register the same function as the state dict post hook that was previously "
                               "registered via register_state_dict_post_hook")
        handle = RemovableHandle(self._state_dict_hooks)
        self._state_dict_hooks[handle.id] = hook
        return handle

    def register_load_state_dict_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs)`` before ``load_state_dict`` loads this module; it may change ``state_dict`` (a copy) in place.

        >>> import numgrad as ng
        >>> lin = ng.nn.Linear(1, 1, bias=False)
        >>> def rename(m, sd, prefix, *rest):
        ...     sd[prefix + "weight"] = sd.pop(prefix + "w")
        >>> h = lin.register_load_state_dict_pre_hook(rename)
        >>> lin.load_state_dict({"w": ng.ones(1, 1)})
        <All keys matched successfully>
        """
        handle = RemovableHandle(self._load_state_dict_pre_hooks)
        self._load_state_dict_pre_hooks[handle.id] = functools.partial(hook, self)
        return handle

    def _register_load_state_dict_pre_hook(self, hook: Callable, with_module: bool = False) -> RemovableHandle:
        """PyTorch's private form: ``hook(state_dict, prefix, ...)`` without the module unless ``with_module``."""
        handle = RemovableHandle(self._load_state_dict_pre_hooks)
        self._load_state_dict_pre_hooks[handle.id] = functools.partial(hook, self) if with_module else hook
        return handle

    def register_load_state_dict_post_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, incompatible_keys)`` after ``load_state_dict`` loaded this module and its submodules;
        the hook may clear ``incompatible_keys.missing_keys``/``unexpected_keys`` in place (before a strict load
        raises) and returns None.

        >>> import numgrad as ng
        >>> lin = ng.nn.Linear(1, 1)
        >>> h = lin.register_load_state_dict_post_hook(lambda m, keys: keys.missing_keys.clear())
        >>> lin.load_state_dict({"weight": ng.ones(1, 1)})
        <All keys matched successfully>
        """
        handle = RemovableHandle(self._load_state_dict_post_hooks)
        self._load_state_dict_post_hooks[handle.id] = hook
        return handle


def has_backward_hooks(modules) -> bool:
    """Whether a call of these modules runs full backward hooks or pre-hooks (theirs or global ones).

    >>> import numgrad as ng
    >>> has_backward_hooks([ng.nn.Linear(1, 1)])
    False
    """
    if _global_backward_hooks or _global_backward_pre_hooks:
        return True
    return any(m.__dict__.get("_backward_hooks") or m.__dict__.get("_backward_pre_hooks") for m in modules)
