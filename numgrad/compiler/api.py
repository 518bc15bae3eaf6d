"""``ng.compile``: PyTorch's ``torch.compile`` entry point over numgrad's capture and replay.

A compiled function runs eagerly on its first call for a new guard key (kernels compile), is
recorded on the next two (``recorder.Recording``) and from then on replays the captured launches
(``plan.Plan``): no autograd recording, no lazy regions, no per-op Python - one Python loop over
prepared (kernel, arguments) pairs (or a few generated ``@njit`` functions, ``codegen``), plus one
Python call per optimizer update.  A compiled module (``ng.compile(model)``) whose forward runs
in grad mode (its parameters or arguments require grad) is captured as a forward and a backward
(``aot``, as PyTorch's AOTAutograd): a replay returns outputs whose ``grad_fn`` is one
``CompiledFunctionBackward`` node, whose backward replays the captured backward kernels and hands
the gradients to the engine, so an ordinary eager loop (``loss_fn(model(x), y).backward();
opt.step()``) works unchanged; under ``no_grad()`` (evaluation) the forward alone replays.  A
compiled function (not a module) returning a tensor that needs a graph runs eagerly.

A step whose arguments or state live on the CUDA backend is captured the same way into a
``cuda_plan.CudaPlan`` (the recorded ``@cuda.jit`` launches over one device arena, replayed as a loop
over configured launches); a compiled module's grad-mode call on CUDA runs eagerly.

The guard key (as torch.compile's guards): the shapes, dtypes, strides, devices and
``requires_grad`` of tensor arguments, the values of other arguments, grad mode, the
``training`` flag of every module the step reaches, fusion on/off, the default dtype, the
kernel thread count and the autocast state the call is made in (an ``autocast`` block inside the step is
part of the step's code and replays as captured); a captured plan also checks that the
parameters, buffers and ``.grad`` tensors it was captured with are still the ones in place.
A new key captures a new variant (at most ``cache_size_limit`` of them, 8 by default as in
PyTorch); past that the function runs eagerly.

Shapes (``dynamic``): a plan binds buffers of one size, so every batch size has its own variant.
With ``dynamic=None`` (the default: PyTorch's automatic dynamic shapes) or ``dynamic=True``, a
new size of a step that is already captured for another size is captured from its FIRST call -
no eager warm-up, one recording instead of two - when that call launches the same kernels, fills,
draws and optimizer updates with arguments of the same kinds (``plan.launch_structure``; a kernel's
serial and parallel twins, which eager code picks by size, count as one); the captured size's two
recordings already showed that the step's numbers do not change from call to call.  The plan gets its
own arena (allocation by shape) and verification, and its generated function is the other size's
(offsets, shapes, numbers and the addresses of the kernels called come from tables, not the source), so
no compile happens.  An epoch whose last batch is smaller replays every full batch from the first
epoch on, captures the last batch on its first call and replays it from the second epoch on,
without recapturing either.  ``dynamic=False`` captures every size from scratch.  Numbers that
depend on the batch size (``mean``'s ``1/N``) are simply the ones the new size's recording saw.
``cache_size_limit`` counts the variants that compiled code of their own (``_new_variant``): sizes sharing
another's code do not count, and a family keeps at most ``SIZES_PER_FAMILY`` of their plans.

The ``.grad`` guard: a gradient the plan reads or writes in place (accumulation, ``zero_grad(
set_to_none=False)``) must be the captured tensor; one the step drops without reading it
(``zero_grad()`` sets ``None``, backward creates a new one) is not guarded; a gradient that was
``None`` when the captured call started must be ``None`` again (else eager code would accumulate).

Module hooks (forward, full backward, global) are Python inside the step: they are walked like the step's
own code (``state``: what they read is guarded; which hooks a reachable module has is part of the key, so a hook
registered or removed after a capture never replays the other plan).  A step that changes Python state it reads
(a hook appending to a list) or prints runs eagerly; a compiled module's grad-mode call with a full backward hook
does too (its captured backward would not call the hook).  So does a step that changes an optimizer's Python state
(an attribute, an entry of ``optimizer.state`` or of a parameter group, a list they hold) anywhere but in the
``Optimizer._update`` calls a replay makes again (``state.OptimizerStateWatch``, on the recorded calls): an
optimizer subclass whose ``step()`` keeps the gradients in a list or counts its calls.

Learning rates: an optimizer update reads its group's numbers (``lr``, ``momentum``) on every replay, and a
learning-rate scheduler's ``step()`` inside the step is called again on replay (``recorder.SchedulerStep``), so
both a scheduler stepped outside the step and one stepped inside it are followed.  A step whose own code names
``param_groups``, ``get_last_lr`` or a scheduler's counters is guarded on those numbers (``state``); one that
changes a group's number other than through a scheduler runs eagerly (``_unexplained_rate_change``).

What cannot be captured runs eagerly, with the reason logged once (``NUMGRAD_DEBUG=1``) and kept in
``compiled.fallback_reason``; under ``fullgraph=True`` it raises ``GraphBreak`` instead.
"""
from __future__ import annotations

import functools
import logging
import random
import sys
import threading
from typing import Any, Callable, Optional

import numpy as np
from numba.np.ufunc import parallel as _numba_parallel

from .. import _pending_readers, _profiler_hooks, creation
from ..fusion.explain import register_explainer
from .._dtypes import get_default_dtype
from ..autograd import is_grad_enabled
from ..device import cpu
from ..ops.autocast_policy import autocast_state_key
from ..fusion.state import is_fusion_enabled
from ..kernels.backend import copy as _copy_array
from ..kernels.config import get_num_threads
from ..kernels.cuda.array import DeviceArray
from ..nn.modules.module import Module, plain_attribute_writes
from ..nn.modules.module_hooks import has_backward_hooks, hook_writes, register_module_compiler
from ..tensor import Tensor
from . import aot as _aot
from . import codegen
from . import cuda_plan as _cuda_plan
from . import plan as _plan
from . import trees
from .plan import owner
from .python_state import OptimizerPythonState
from .recorder import GraphBreak, Recording, SchedulerStep, _active
from .trees import TensorSlot, flatten
from .state import (OptimizerStateWatch, changed_python_value, holds_tensor, read_python_values, reachable_state,
                    tensor_slot_guards)

_log = logging.getLogger("numgrad")

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_BACKENDS = ("inductor", "numgrad", "eager")
_OPTIONS = {"cache_size_limit": int, "verify": bool, "fuse": bool}
_MAX_SNAPSHOT_BYTES = 1 << 30
_MISSING = object()
_MISS = object()  # (``_HotVariant.replay``: the call is not the hot variant's)
_RECORDING_RETRIES = 2  # consecutive calls that differ are recorded again this many times before giving up


def _thread_count() -> int:
    """``get_num_threads()`` without its lock once Numba's threads run (the guard key reads it on every call)."""
    if getattr(_numba_parallel, "_is_initialized", False):
        count = _numba_parallel._get_num_threads()
        if count > 0:
            return count
    return get_num_threads()


# ------------------------------------------------------------------ arguments as trees of tensors and constants
def _fresh_copy(arr):
    """A copy of a plan's output buffer the caller owns (a NumPy copy, or one CUDA copy kernel)."""
    return arr.copy() if type(arr) is np.ndarray else _copy_array(arr)


def _fresh_outputs(plan, inputs):
    """A replay's result: the plan's output structure (``trees.flatten``'s) with a fresh tensor of each output
    array, except for outputs in persistent memory (``plan.live_outputs``), which stay that memory, and outputs in a
    tensor argument's memory (``plan.argument_views``), which are that argument (of this call, ``inputs``) or a
    view of it."""
    structure, arrays, live, views = plan.outputs, plan.output_arrays, plan.live_outputs, plan.argument_views
    if type(structure) is TensorSlot and not live and not views:  # the usual step returns its loss: no tree
        return Tensor(_fresh_copy(arrays[structure.index]))

    def output(index: int) -> Tensor:
        if index in live:
            kept = live[index]
            return kept if kept is not None else Tensor(arrays[index])
        if index in views:
            view = views[index]
            argument = inputs[view[0]]
            if view[1] is None:  # the argument itself
                return argument
            _, shape, strides, offset = view
            return argument.as_strided(shape, strides, argument.storage_offset() + offset)
        return Tensor(_fresh_copy(arrays[index]))
    return trees.rebuild(structure, output)


_CONSTANT_TYPES = (type(None), bool, int, float, complex, str, bytes)


def _constant_key(structure) -> Any:
    """A hashable key for the non-tensor parts of the arguments (values of constants, identity of objects)."""
    if type(structure) is TensorSlot:
        return ("T",)
    if type(structure) in (tuple, list):
        return (type(structure).__name__,) + tuple(_constant_key(v) for v in structure)
    if type(structure) is dict:
        return ("dict",) + tuple((k, _constant_key(v)) for k, v in structure.items())
    if isinstance(structure, _CONSTANT_TYPES):
        return (type(structure).__name__, structure)
    return ("id", id(structure))


def _layout_key(t: Tensor) -> tuple:
    """What of a tensor argument the kernels' types see (rank, dtype, C/F order), without its shape."""
    arr = t._buf
    if type(arr) is DeviceArray:
        return ("cuda", arr.ndim, arr.dtype, arr.flags.c_contiguous, arr.flags.f_contiguous, t._requires_grad,
                t.grad is None)
    return (arr.ndim, arr.dtype, arr.dtype.metadata is not None, arr.flags.c_contiguous, arr.flags.f_contiguous,
            t._requires_grad, t.grad is None)


def _tensor_key(t: Tensor) -> tuple:
    arr = t._data  # a lazy argument is computed now: the step reads its memory
    if type(arr) is DeviceArray:  # a CUDA plan binds the argument's layout like a CPU one
        return ("cuda", arr.shape, arr.dtype, arr.strides, t._requires_grad, t.grad is None)
    # shape and strides say the layout; the dtype object (with its metadata: bfloat16 words are not uint16)
    return (arr.shape, arr.dtype, arr.dtype.metadata is not None, arr.strides, t._requires_grad, t.grad is None)


# ------------------------------------------------------------------ one guard key's captured variant
class _Variant:
    """The state of one guard key: warming up, recording, ready to replay, or eager with a reason."""

    __slots__ = ("stage", "recording", "plan", "guard_bufs", "guard_slots", "guard_cells", "guard_values",
                 "guard_grads", "reason", "input_grads", "retries", "siblings", "structure", "from_one_call", "shapes",
                 "aot", "key", "family", "shares_code", "past_limit", "used")

    def __init__(self):
        self.stage = 0  # 0: eager warm-up, 1: first recording, 2: second recording + plan, 3: replay
        self.recording = None
        self.plan = None
        self.guard_bufs: list = []
        self.guard_slots: list = []  # (dict, key, object): the dict still holds that object there
        self.guard_cells: list = []  # (closure cell, tensor): a closure variable still holds that tensor
        self.guard_values: list = []  # (``state.PythonValue``, tensor): another slot still holds that tensor
        self.guard_grads: list = []
        self.reason: Optional[str] = None
        self.input_grads: list = []  # positions of arguments whose .grad the step sets
        self.retries = 0
        self.siblings: list = []  # variants of the same step that differ only in shapes (dynamic shapes)
        self.structure: Optional[tuple] = None  # ``plan.launch_structure`` of the captured recording
        self.from_one_call = False
        self.key: tuple = ()  # its guard key (``CompiledFunction._variants``)
        self.family: Optional[_Family] = None
        # captured from one call, and its generated functions are a sibling's: it compiled nothing (dynamic shapes)
        self.shares_code = False
        self.past_limit = False  # admitted past cache_size_limit: it replays only if it shares a sibling's code
        self.used = 0  # when it was last called (``CompiledFunction._clock``): the least recently used size goes first
        self.shapes: tuple = ()
        self.aot: Optional[_aot.AotPlans] = None  # a compiled module's grad-mode forward + backward (``aot``)

    def guards_hold(self) -> bool:
        for t, buf in self.guard_bufs:
            if t._buf is not buf:
                return False
        for registry, key, t in self.guard_slots:
            if registry.get(key) is not t:
                return False
        try:
            for cell, t in self.guard_cells:
                if cell.cell_contents is not t:
                    return False
        except ValueError:  # the variable was deleted
            return False
        for slot, t in self.guard_values:
            if slot._get() is not t:
                return False
        for t, g in self.guard_grads:
            if t.grad is not g:
                return False
        return True


class _Family:
    """The variants of one guard key but for the tensor arguments' shapes (dynamic shapes, ``_new_variant``), and
    how many of its batch sizes' plans were dropped to keep at most ``SIZES_PER_FAMILY`` of them."""

    __slots__ = ("variants", "evicted")

    def __init__(self):
        self.variants: list = []
        self.evicted = 0

    def captured(self) -> bool:
        return any(v.structure is not None for v in self.variants)


# plans one family keeps of shapes that compiled nothing of their own; the least recently used goes first, and a
# family that has dropped this many takes no new shape (they come back faster than a capture pays off: pad or bucket
# the batches)
SIZES_PER_FAMILY = 32


class _HotVariant:
    """The variant the last call replayed and the guard key it was found with: a later call whose arguments and
    settings still give that key replays it without building and hashing the key (``CompiledFunction.__call__``;
    the whole key costs about 2 us, a W1 step at 1e4 elements 14 us).

    The modules' ``training`` flags, plain attributes and hooks are not read: ``plain_attribute_writes`` counts every
    write of them (``Module.__setattr__``, ``train()``, a hook registered or removed), and a hot call needs it
    unchanged.  ``replay`` checks the key in as few Python frames as it can (each costs about as much as a dozen
    of its lines): what the key and the plan always have is read once, here.
    """

    __slots__ = ("owner", "variant", "tensor_keys", "n_args", "grad", "fusion", "dtype", "threads", "python_key",
                 "autocast", "writes", "leaf_flags", "output_index")

    def __init__(self, owner: "CompiledFunction", variant: _Variant, key: tuple):
        self.owner = owner
        self.variant = variant
        self.tensor_keys, _, self.grad, _, self.fusion, self.dtype, self.threads, self.python_key, self.autocast = key
        self.n_args = len(self.tensor_keys)
        self.writes = plain_attribute_writes[0]
        # the usual step reads no other Python value: its Python key is its leaves' requires_grad flags
        plain = not owner._optimizers and not owner._other_values and not owner._module_values
        self.leaf_flags = list(zip(owner._leaf_tensors, self.python_key)) if plain else None
        plan = variant.plan
        # a CPU step returning one tensor (a loss) in its arena: the replay returns a fresh copy of it
        simple = (type(plan) is _plan.Plan and type(plan.outputs) is TensorSlot and not plan.live_outputs
                  and not plan.argument_views and not variant.input_grads)
        self.output_index = plan.outputs.index if simple else None

    def replay(self, args: tuple):
        """The result of a call with tensor arguments ``args`` replayed, or ``_MISS`` when the call does not have
        this variant's key or its guards do not hold."""
        if (_profiler_hooks._ACTIVE or plain_attribute_writes[0] != self.writes or len(args) != self.n_args
                or is_grad_enabled() is not self.grad or is_fusion_enabled() is not self.fusion
                or get_default_dtype() is not self.dtype
                or autocast_state_key() is not self.autocast  # (the same object until a setter changes the state)
                or _thread_count() != self.threads):
            return _MISS  # (the profiler's record of the step is ``_replay``'s)
        for arg, key in zip(args, self.tensor_keys):
            if type(arg) is not Tensor or _tensor_key(arg) != key:
                return _MISS
        owner = self.owner
        if self.leaf_flags is None:
            if owner._python_key() != self.python_key:
                return _MISS
        else:
            for t, flag in self.leaf_flags:
                if t._requires_grad is not flag:
                    return _MISS
        variant = self.variant
        if not variant.guards_hold():
            return _MISS
        return owner._run_plan(variant, args, args, {}, self.output_index)


class _Observation:
    """One recorded eager call and what checking a plan against it needs."""

    def __init__(self):
        self.persistent: dict = {}  # owner id -> owner array of the state the step reaches
        self.rec = None
        self.verify = False
        self.before: dict = {}
        self.after: dict = {}
        self.input_arrays: list = []
        self.inputs_before: list = []
        self.bufs_before: dict = {}
        self.grads_before: list = []
        self.slots_before: list = []
        self.opt_state_before: list = []
        self.python_state: Optional[OptimizerPythonState] = None
        self.rng_states: tuple = (None, None)
        self.out_structure = None
        self.out_tensors: list = []
        self.out_values: list = []
        self.end_grads: list = []
        self.grad_values: dict = {}
        self.input_grads: list = []
        self.cuda = False  # the step's state and arguments are CUDA memory (``cuda_plan``)


class CompiledFunction:
    """What ``ng.compile(fn)`` returns for a function: call it like ``fn`` (see the module docstring).

    >>> import numgrad as ng
    >>> w = ng.ones(3)
    >>> step = ng.compile(lambda x: (x * w).sum())
    >>> [step(ng.ones(3)).item() for _ in range(4)]
    [3.0, 3.0, 3.0, 3.0]
    >>> step.replays
    1
    """

    def __init__(self, fn: Callable, fullgraph: bool = False, dynamic: Optional[bool] = None,
                 cache_size_limit: int = 8, verify: bool = True, fuse: bool = True):
        self._fn = fn
        self.fullgraph = fullgraph
        self.dynamic = dynamic
        self.cache_size_limit = cache_size_limit
        self.verify = verify
        self.fuse = fuse
        self._variants: dict = {}
        self._families: dict = {}  # guard key without the shapes -> its ``_Family``
        self._clock = 0  # counts the calls that find a variant by its key (``_Variant.used``)
        self._modules: Optional[list] = None
        self._hook_writes = -1  # ``module_hooks.hook_writes`` when the step's state was walked
        self._python_values: list = []  # ``state.PythonValue``s: the Python values the step reads, in the key
        self._side_effect: Optional[str] = None  # why the step never replays: it changes the Python values it reads
        self._module_values: list = []  # the guarded values that are module attributes ...
        self._other_values: list = []  # ... and the others (closure variables, globals, list items, attributes)
        self._tensor_slots: list = []  # the guarded values that are tensors (checked by identity, not keyed)
        self._module_values_at = -1  # ``plain_attribute_writes`` when ``_module_values_now`` was read
        self._module_values_now: tuple = ()
        self._leaf_tensors: list = []  # the leaves the step reaches that required grad at its first call
        self._optimizers: list = []  # the optimizers the step reaches
        self._module: Optional[Module] = None  # set for ``ng.compile(module)``: its grad-mode calls are ``aot``'s
        self.fallback_reason: Optional[str] = None  # the last reason a call ran eagerly for good
        self.captures = 0
        self.recaptures = 0
        self.replays = 0
        self.eager_calls = 0
        # a plan's buffers are shared by its replays: calls from several threads take turns
        self._lock = threading.RLock()
        self._hot: Optional[_HotVariant] = None  # the variant the last call replayed, while its key holds
        functools.update_wrapper(self, fn, updated=())

    # ------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        if _active:  # a compiled function called while another step is being recorded: part of that step
            return self._fn(*args, **kwargs)
        with self._lock:
            hot = self._hot
            if hot is not None and not kwargs:
                out = hot.replay(args)
                if out is not _MISS:
                    return out
            return self._call(args, kwargs)

    def _call(self, args, kwargs):
        self._hot = None  # a call that misses may recapture or give up a variant: ``_replay`` sets it again
        if not kwargs and all(type(a) is Tensor for a in args):
            # the usual call (tensors only): no tree to walk, the argument count stands for the structure
            inputs = args
            constants = len(args)
        else:
            inputs = []
            constants = flatten((args, kwargs), inputs)
        if self._modules is None or self._hook_writes != hook_writes[0]:
            # first call, or a module hook was registered or removed since the walk: walk again (a new hook's Python
            # runs in the step; the hook dicts are guards, so a variant captured with other hooks never replays)
            self._hook_writes = hook_writes[0]
            self._side_effect = None  # found again by the next warm-up if it is the step's own
            self._module_values_at = -1
            found = reachable_state(self._fn, args, kwargs)
            self._modules, self._python_values = found.modules, found.python_values
            # a slot holding a tensor is checked by identity in the variant's guards (``_tensor_guards``), not keyed
            self._tensor_slots = [v for v in found.python_values if holds_tensor(v)]
            self._module_values = [v for v in found.python_values if v.in_module and not holds_tensor(v)]
            # freezing a parameter changes what backward computes and what the optimizer updates
            self._leaf_tensors = [t for t in found.tensors.values() if t._grad_fn is None and t._requires_grad]
            self._optimizers = found.optimizers  # a parameter group added between calls is a new variant
            self._other_values = [v for v in found.python_values if not v.in_module and not holds_tensor(v)]
        if self._side_effect is not None:
            return self._eager(self._side_effect, args, kwargs)
        try:
            tensor_keys = tuple(map(_tensor_key, inputs))
            # fusion, the default dtype, the thread count and the autocast state (an ``autocast`` around the call)
            # change which kernels eager code would launch; the
            # Python values the step reads (a global, a closure variable, a module's p or eps) may be baked in
            key = (tensor_keys, constants if type(constants) is int else _constant_key(constants), is_grad_enabled(),
                   tuple([m.training for m in self._modules]), is_fusion_enabled(), get_default_dtype(),
                   _thread_count(), self._python_key(), autocast_state_key())
        except TypeError:
            return self._eager("an argument cannot be used in a guard", args, kwargs)
        variant = self._variants.get(key)
        if variant is None:
            variant = self._new_variant(key, inputs)
            if type(variant) is str:
                return self._eager(variant, args, kwargs)
        self._clock += 1
        variant.used = self._clock
        if variant.reason is not None:
            self.eager_calls += 1
            return self._fn(*args, **kwargs)
        if variant.stage == 3:
            if variant.guards_hold() and (variant.aot is None or variant.aot.flags_hold()):
                if variant.aot is not None:
                    return self._replay_aot(variant, inputs, constants, args, kwargs)
                if type(constants) is int:
                    self._hot = _HotVariant(self, variant, key)
                return self._replay(variant, inputs, args, kwargs)
            # a parameter replaced, or (for a module's grad-mode call) frozen or unfrozen
            self.recaptures += 1
            variant.stage, variant.plan, variant.recording, variant.aot = 0, None, None, None
            variant.shares_code = False
        if self._module is not None and key[2] and self._needs_autograd(inputs, args, kwargs):
            return self._capture_aot(variant, inputs, constants, args, kwargs)
        return self._capture_step(variant, inputs, args, kwargs)

    def _new_variant(self, key: tuple, inputs) -> Any:
        """The variant of a new guard key, or why the call runs eagerly (a string).

        ``cache_size_limit`` counts the variants with compiled code of their own, as PyTorch's counts compiled
        graphs: a variant whose generated functions are another's (a batch size captured from one call,
        ``_capture_from_sibling``; a sequence length launching the same kinds of kernels) is not one, and past the
        limit a new size of a captured step is still taken if it is captured from one call and shares that code.
        Such shapes keep at most ``SIZES_PER_FAMILY`` plans (arenas) per family, dropping the least recently used;
        a family that dropped that many takes no new shape (they come back faster than a capture pays off).
        """
        family_key = (tuple(map(_layout_key, inputs)),) + key[1:]
        family = self._families.get(family_key)
        if family is None:
            family = self._families[family_key] = _Family()
        dynamic = self.dynamic is not False and bool(family.variants)
        compiled = sum(1 for v in self._variants.values() if not v.shares_code)
        past_limit = compiled >= self.cache_size_limit
        if family.evicted >= SIZES_PER_FAMILY:
            return (f"more than {SIZES_PER_FAMILY} shapes of this step's arguments keep coming back (each new one is "
                    "captured again, and the least recently used plan dropped): new shapes run eagerly; pad or "
                    "bucket the batches to a few sizes")
        if past_limit and not (dynamic and family.captured()):
            return f"cache_size_limit ({self.cache_size_limit}) variants reached; new guard keys run eagerly"
        variant = self._variants[key] = _Variant()
        variant.key, variant.family, variant.past_limit = key, family, past_limit
        variant.shapes = tuple(k[1] if k[0] == "cuda" else k[0] for k in key[0])
        if dynamic:
            # PyTorch's automatic dynamic shapes: after a shape miss the step is compiled for any size; here
            # the new size is captured from its first call (no eager warm-up, one recording) when it launches
            # what a captured size launches (``_capture_from_sibling``)
            variant.siblings = family.variants
            variant.stage = 1
        family.variants.append(variant)
        return variant

    def _drop_old_sizes(self, family: _Family) -> None:
        """Keep at most ``SIZES_PER_FAMILY`` plans of a family's shapes that share code (the least recently used go:
        a shape called again is captured again)."""
        sizes = [v for v in family.variants if v.shares_code]
        sizes.sort(key=lambda v: v.used)
        for variant in sizes[:max(0, len(sizes) - SIZES_PER_FAMILY)]:
            family.variants.remove(variant)
            del self._variants[variant.key]
            family.evicted += 1
            _log.debug("ng.compile: %s: dropped the plan of arguments %s (more than %d batch sizes)", self.__name__,
                       variant.shapes, SIZES_PER_FAMILY)

    def _python_key(self) -> tuple:
        """The guarded Python values (``state.PythonValue``) as they are now; the modules' attributes are read
        again only after some module attribute was set (reading a few dozen every call costs microseconds)."""
        leaves = tuple([t._requires_grad for t in self._leaf_tensors])
        if self._optimizers:
            # a group added, or a parameter appended to a group's list: the replay would not update it
            leaves += tuple([len(g["params"]) for o in self._optimizers for g in o.param_groups])
            leaves += tuple([len(o.param_groups) for o in self._optimizers])
        if not self._other_values and not self._module_values:  # the usual step: nothing else to read
            return leaves
        writes = plain_attribute_writes[0]
        if writes != self._module_values_at:
            self._module_values_now = read_python_values(self._module_values)
            self._module_values_at = writes
        return read_python_values(self._other_values), self._module_values_now, leaves

    def _changes_python_state(self, before: tuple, optimizers: Optional[OptimizerStateWatch] = None
                              ) -> Optional[str]:
        """After a call: why the step can never replay when it changed a Python value it reads, or (a recorded call,
        ``optimizers`` given) its optimizers' Python state other than through the optimizer updates a replay calls
        again (then also kept as ``_side_effect``: every later call runs eagerly), else None."""
        reason = None
        changed = changed_python_value(self._python_values, before)
        if changed is not None:
            reason = (f"the step changes Python state ({changed}), which a replay would not change (it runs only "
                      "the captured kernels): make that change outside the compiled step")
        elif optimizers is not None and optimizers.finish() is not None:
            opt, changed = optimizers.change
            name = type(opt).__name__
            reason = (f"the step changes {name}'s Python state outside {name}._update ({changed}), which a replay "
                      f"would not change (it runs only the captured kernels and the {name}._update calls): keep "
                      "that bookkeeping out of the compiled step (do it before or after the call, or call "
                      "optimizer.step() outside the compiled function)")
        if reason is not None:
            self._side_effect = reason
        return reason

    def _eager(self, reason: str, args, kwargs):
        if self.fallback_reason != reason:
            _log.debug("ng.compile: %s runs eagerly: %s", self.__name__, reason)
        self.fallback_reason = reason
        self.eager_calls += 1
        return self._fn(*args, **kwargs)

    def _give_up(self, variant: _Variant, reason: str, error=GraphBreak) -> None:
        if self.fullgraph:
            raise error(f"ng.compile(fullgraph=True): {reason}")
        variant.reason = reason
        variant.recording = None  # its arrays are no longer needed
        self.fallback_reason = reason
        _log.debug("ng.compile: %s runs eagerly: %s", getattr(self, "__name__", "function"), reason)

    # ------------------------------------------------------------ replay
    def _replay(self, variant: _Variant, inputs: list, args, kwargs):
        if _profiler_hooks._ACTIVE and _profiler_hooks._outer(self):  # the profiler shows the step as one op
            return _profiler_hooks._op(f"compiled {self.__name__}", None, self._replay,
                                       (variant, inputs, args, kwargs), {}, self)
        return self._run_plan(variant, inputs, args, kwargs)

    def _run_plan(self, variant: _Variant, inputs, args, kwargs, output_index: Optional[int] = None):
        """Replay ``variant`` for a call with tensor arguments ``inputs``; ``output_index``: the step is a CPU step
        returning one tensor, that output array (``_HotVariant``), whose fresh copy is the result."""
        plan = variant.plan
        pending = _pending_readers._pending
        if pending:  # a deferred computation outside the step reads memory the step writes: it runs first
            for key, arr in plan.persistent_keys:
                if key in pending:
                    _pending_readers.flush_readers(arr)
        try:
            plan.run([t._buf for t in inputs] if inputs else [])
        except _plan.AbandonReplay as exc:
            _log.debug("ng.compile: %s: %s; this call runs eagerly", self.__name__, exc)
            self.eager_calls += 1
            return self._fn(*args, **kwargs)
        self.replays += 1
        if output_index is not None:
            return Tensor._new(plan.output_arrays[output_index].copy(), None, cpu, [0])
        if variant.input_grads:
            n_out = len(plan.output_arrays) - len(variant.input_grads)
            for j, k in enumerate(variant.input_grads):
                inputs[k].grad = Tensor(_fresh_copy(plan.output_arrays[n_out + j]))
        return _fresh_outputs(plan, inputs)

    # ------------------------------------------------------------ a compiled module in grad mode (``aot``)
    def _needs_autograd(self, inputs: list, args, kwargs) -> bool:
        """Whether the call's outputs need a graph: an argument or a reachable leaf requires grad."""
        if any(t._requires_grad for t in inputs):
            return True
        return any(t._requires_grad and t._grad_fn is None
                   for t in reachable_state(self._fn, args, kwargs).tensors.values())

    def _replay_aot(self, variant: _Variant, inputs: list, constants, args, kwargs):
        plans = variant.aot
        params = plans.params
        try:
            outs = _aot.ModuleReplay.apply(plans, *inputs, *params)
        except _plan.AbandonReplay as exc:
            _log.debug("ng.compile: %s: %s; this call runs eagerly", self.__name__, exc)
            self.eager_calls += 1
            return self._fn(*args, **kwargs)
        self.replays += 1
        return trees.rebuild(plans.out_structure, outs.__getitem__)

    def _capture_aot(self, variant: _Variant, inputs: list, constants, args, kwargs):
        """Warm up, record the forward and a backward twice, build and verify both plans; each call of these
        returns eager's result (the recorded run's side effects are put back first)."""
        if has_backward_hooks(self._modules):
            self._give_up(variant, "a module in the call has a full backward hook or pre-hook, which the captured "
                          "backward would not call; compile the whole training step (forward, backward, optimizer "
                          "step) instead, which runs the hooks while it is captured")
            self.eager_calls += 1
            return self._fn(*args, **kwargs)
        if variant.stage == 0:
            return self._warm_up(variant, args, kwargs)
        state = reachable_state(self._fn, args, kwargs)
        if any(type(t._data) is DeviceArray for t in list(inputs) + list(state.tensors.values())):
            self._give_up(variant, "a compiled module's grad-mode call on CUDA is not captured as a forward and a "
                          "backward; compile the whole training step (forward, backward, optimizer step) instead, "
                          "which is captured on CUDA", NotImplementedError)
            return self._fn(*args, **kwargs)
        if type(constants) is int:
            def substitute(tensors):
                return tuple(tensors), {}
        else:
            def substitute(tensors):
                return trees.rebuild(constants, tensors.__getitem__)
        obs = _aot.record(self._fn, args, kwargs, inputs, substitute, state, self.fullgraph)
        if obs.reason is not None:
            self._give_up(variant, obs.reason)
        elif variant.stage == 1:
            variant.recording = obs
            variant.stage = 2
        else:
            plans, reason = _aot.build(variant.recording, obs, self.verify, self._lock)
            variant.recording = None
            if plans is None:
                if variant.retries < _RECORDING_RETRIES:
                    variant.retries += 1
                    variant.recording = obs
                else:
                    self._give_up(variant, reason)
            else:
                referenced = {id(a) for p in (plans.forward, plans.backward) for a in p.persistent_arrays}
                variant.guard_bufs = [(t, t._buf) for t in state.tensors.values()
                                      if t._buf is not None and id(owner(t._buf)) in referenced]
                variant.guard_slots = list(state.module_slots) + state.state_slots
                self._tensor_guards(variant)
                plans.flags = [(t, t._requires_grad) for _, _, t in state.module_slots if t is not None]
                variant.aot = plans
                variant.stage = 3
                self.captures += 1
        self.eager_calls += 1
        return self._fn(*args, **kwargs)

    # ------------------------------------------------------------ capture
    def _warm_up(self, variant: _Variant, args, kwargs):
        """A variant's first call: eager (its kernels compile); a step that changes Python state it reads or prints
        (a counter, a hook appending to a list) is given up, since a replay would do neither."""
        variant.stage = 1
        self.eager_calls += 1
        before = read_python_values(self._python_values)
        with _OutputWatch() as output:
            result = self._fn(*args, **kwargs)
        if self._changes_python_state(before) is not None:
            # every later call would find the value changed again (a new guard key): the step never replays
            self._give_up(variant, self._side_effect)
        elif output.wrote:
            self._give_up(variant, output.reason())
        return result

    def _capture_step(self, variant: _Variant, inputs: list, args, kwargs):
        if variant.stage == 0:
            return self._warm_up(variant, args, kwargs)
        result, obs = self._observed_call(variant, inputs, args, kwargs)
        if variant.reason is not None:
            return result
        if variant.stage == 1:
            if variant.siblings and self._capture_from_sibling(variant, obs):
                return result
            if variant.past_limit:
                # it would record twice and may compile code of its own: past cache_size_limit, that size runs eagerly
                variant.reason = self.fallback_reason = (
                    f"cache_size_limit ({self.cache_size_limit}) variants reached; this batch size launches other "
                    "kernels than the captured sizes (it would compile a step of its own), so it runs eagerly")
                return result
            variant.recording = obs
            variant.stage = 2
            return result
        self._build(variant, variant.recording, obs)
        return result

    def _observed_call(self, variant: _Variant, inputs: list, args, kwargs):
        """Run the step once, recorded, with what a verification needs (state before and after, outputs)."""
        state = reachable_state(self._fn, args, kwargs)
        if any(type(t._data) is DeviceArray for t in list(inputs) + list(state.tensors.values())):
            return self._observed_cuda_call(variant, state, inputs, args, kwargs)
        obs = _Observation()
        persistent = obs.persistent
        for t in state.tensors.values():
            buf = t._data  # a pending value in the state is computed before the step, as it would be when read
            own = owner(buf)
            persistent[id(own)] = own
        obs.input_arrays = [t._buf for t in inputs]
        obs.inputs_before = [a.copy() for a in obs.input_arrays]
        obs.verify = self.verify and sum(o.nbytes for o in persistent.values()) <= _MAX_SNAPSHOT_BYTES
        obs.before = {k: (o, o.copy()) for k, o in persistent.items()} if obs.verify else {}
        _note_bindings(obs, state)
        rng_before = creation._rng.bit_generator.state
        result, rec, (obs.out_structure, out_tensors) = self._record(variant, state, inputs, args, kwargs)
        if variant.reason is not None:
            return result, None
        obs.rec = rec
        obs.rng_states = (rng_before, creation._rng.bit_generator.state)
        reason = _rebinding(obs.bufs_before, obs.slots_before, obs.opt_state_before)
        if reason is None and any(not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
                                  for a, b in zip(obs.input_arrays, obs.inputs_before)):
            reason = "the step writes into a tensor argument in place"
        if reason is not None:
            self._give_up(variant, reason)
            return result, None
        obs.end_grads = [(t, t.grad) for t, _ in obs.grads_before]
        obs.grad_values = {id(t): (g._buf.copy() if g is not None else None) for t, g in obs.end_grads}
        obs.after = {k: (o, o.copy()) for k, o in persistent.items()} if obs.verify else {}
        obs.python_state.finish()
        # the .grad an argument got is returned like an output (a fresh tensor per call)
        obs.input_grads = [(k, t.grad) for k, t in enumerate(inputs) if t._requires_grad and t.grad is not None]
        obs.out_tensors = out_tensors + [g for _, g in obs.input_grads]
        obs.out_values = [t._buf.copy() for t in obs.out_tensors]
        return result, obs

    def _observed_cuda_call(self, variant: _Variant, state, inputs: list, args, kwargs):
        """``_observed_call`` for a step on the CUDA backend: its state is device memory (``cuda_plan``)."""
        obs = _Observation()
        obs.cuda = True
        arrays = {}  # id of each storage of the state -> a DeviceArray on it
        for t in state.tensors.values():
            buf = t._data  # a pending value in the state is computed before the step, as it would be when read
            if type(buf) is DeviceArray:
                arrays.setdefault(id(buf.storage), buf)
        obs.persistent = arrays
        obs.input_arrays = [t._buf for t in inputs]
        obs.inputs_before = [_cuda_plan.input_snapshot(a) for a in obs.input_arrays]
        obs.verify = self.verify and sum(a.storage.nbytes for a in arrays.values()) <= _MAX_SNAPSHOT_BYTES
        obs.before = {k: (a.storage, _cuda_plan.host_copy(a.storage)) for k, a in arrays.items()} \
            if obs.verify else {}
        _note_bindings(obs, state)
        rng_before = creation._rng.bit_generator.state
        result, rec, (obs.out_structure, out_tensors) = self._record(variant, state, inputs, args, kwargs, cuda=True)
        if variant.reason is not None:
            return result, None
        obs.rec = rec
        obs.rng_states = (rng_before, creation._rng.bit_generator.state)
        reason = _rebinding(obs.bufs_before, obs.slots_before, obs.opt_state_before)
        if reason is None and any(not _cuda_plan._bits_equal(_cuda_plan.input_snapshot(a), b)
                                  for a, b in zip(obs.input_arrays, obs.inputs_before)):
            reason = "the step writes into a tensor argument in place"
        if reason is None and any(type(t._buf) is not DeviceArray for t in out_tensors):
            reason = "the CUDA step returns a CPU tensor (a value copied to the host inside the step)"
        if reason is not None:
            self._give_up(variant, reason)
            return result, None
        obs.end_grads = [(t, t.grad) for t, _ in obs.grads_before]
        obs.grad_values = {id(t): (g._buf.to_host() if g is not None else None) for t, g in obs.end_grads}
        obs.after = {k: (a.storage, _cuda_plan.host_copy(a.storage)) for k, a in arrays.items()} if obs.verify else {}
        obs.python_state.finish()
        obs.input_grads = [(k, t.grad) for k, t in enumerate(inputs) if t._requires_grad and t.grad is not None]
        obs.out_tensors = out_tensors + [g for _, g in obs.input_grads]
        obs.out_values = [t._buf.to_host() for t in obs.out_tensors]
        return result, obs

    def _record(self, variant, state, inputs, args, kwargs, cuda: bool = False):
        foreign_grads = any(t._requires_grad and (t._grad_fn is not None or t.grad is not None) for t in inputs)
        python_before = read_python_values(self._python_values)
        rates_before = _group_numbers(state.optimizers)
        random_before = _global_random_states()
        optimizers = OptimizerStateWatch(state.optimizers)
        with Recording(state.optimizers, self.fullgraph, state.schedulers, optimizers) as rec, \
                _OutputWatch() as output:
            result = self._fn(*args, **kwargs)
            out_tensors: list = []
            out_structure = flatten(result, out_tensors)
            for t in out_tensors:
                t._data  # computed inside the recording: the plan produces it
        self.eager_calls += 1
        reason = None
        rate_change = _unexplained_rate_change(rates_before, rec)
        # the optimizers' watch speaks when neither a parameter group's number changed (``_unexplained_rate_change``
        # says so) nor Python read tensor data (the first thing to change: Adafactor's own step reads norms)
        watch = optimizers if rate_change is None and not rec.data_reads else None
        if self._changes_python_state(python_before, watch) is not None:
            reason = self._side_effect
        elif rate_change is not None:
            reason = rate_change
        elif _global_random_states() != random_before:
            reason = ("the step draws from Python's random module or NumPy's global generator (random.random(), "
                      "np.random.rand()): a replay would not draw again; draw with ng.rand, ng.randn or ng.randint "
                      "(replayed), or pass the number as an argument")
        elif output.wrote:
            reason = output.reason()
        elif rec.data_reads:
            reason = rec.data_reads[0]
        elif rec.device_arrays and not cuda:
            reason = ("the step makes CUDA tensors while its arguments and state are on the CPU: put the model or "
                      "an argument on the GPU before the call, so the step is captured on the CUDA backend")
        elif foreign_grads:
            reason = ("a tensor argument that requires grad is not a leaf, or already has a .grad: gradients flowing "
                      "into another graph, or accumulating into an argument's .grad, are not captured")
        elif rec.backward_calls == 0 and any(t._requires_grad for t in out_tensors):
            reason = ("the step returns a tensor that requires grad and runs no backward: a replayed forward would "
                      "return no autograd graph, so the forward runs eagerly and the backward you run on its output "
                      "is eager's; to replay, compile the whole training step (forward, backward, optimizer step), "
                      "or run the forward under no_grad()")
        else:
            bad = [v for v in trees.leaves(out_structure)
                   if type(v) is not TensorSlot and not isinstance(v, _CONSTANT_TYPES)]
            if bad:
                reason = f"the step returns a {type(bad[0]).__name__}, which replay cannot rebuild"
        if reason is not None:
            self._give_up(variant, reason)
        return result, rec, (out_structure, out_tensors)

    def _verify(self, plan, obs: "_Observation") -> Optional[str]:
        """Replay ``plan`` against the recorded call ``obs`` (its state before, inputs, state and outputs after)."""
        expected_grads = [obs.grad_values.get(id(t)) for t, _ in plan.end_grads]
        return _plan.verify(plan, obs.before, obs.after, obs.inputs_before, obs.out_values, expected_grads,
                            set(obs.persistent), obs.python_state, obs.rng_states)

    def _capture_from_sibling(self, variant: _Variant, obs: "_Observation") -> bool:
        """Build the plan of a new shape from one recorded call, if a captured variant of another shape launched the
        same kernels with the same kinds of arguments (its two recordings showed that the step's scalars do not
        change from call to call); True when that happened (captured, or given up with a reason)."""
        structure = _plan.launch_structure(obs.rec.launches)
        if not any(v.plan is not None and v.structure == structure for v in variant.siblings):
            return False
        variant.from_one_call = True
        self._build(variant, obs, obs)
        if variant.plan is None and variant.reason is None:  # not captured: record again, as for a first shape
            variant.from_one_call = False
            return False
        return True

    def _build(self, variant: _Variant, first: "_Observation", obs: "_Observation") -> None:
        """Turn the second recorded call into a verified plan (or give up with the reason)."""
        if obs.cuda:
            self._build_cuda(variant, first, obs)
            return
        rec = obs.rec
        reason = _plan.compare_recordings(first.rec.launches, rec.launches, first.rec.derived, rec.derived)
        if reason is not None:
            self._record_again_or_give_up(variant, obs, reason)
            return
        try:
            plan = _plan.build_plan(rec.launches, rec.derived, obs.input_arrays, obs.out_structure,
                                    obs.out_tensors, obs.end_grads, set(obs.persistent),
                                    [t for t, _ in obs.grads_before], rec.python_data)
        except _plan.NotCapturable as exc:
            self._give_up(variant, str(exc))
            return
        verify = obs.verify and first.verify
        # what will replay is checked: the generated step (``_fuse``), or the launch loop
        if self.fuse:
            reason = self._fuse(plan, verify, first, obs)
        else:
            reason = self._verify_both(plan, first, obs) if verify else None
        if reason is not None:
            self._give_up(variant, reason)
            return
        referenced = {id(a) for a in plan.persistent_arrays}
        variant.guard_bufs = [(t, t._buf) for t, _ in obs.bufs_before.values()
                              if t._buf is not None and id(owner(t._buf)) in referenced]
        variant.guard_slots = obs.slots_before
        self._tensor_guards(variant)
        # the .grad a parameter has when a replay starts: the one the plan reads or writes in place, or None if
        # the recorded call started from None (a backward then creates it; a replay must not overwrite a .grad
        # that eager code would accumulate into).  A .grad the step drops without reading it (zero_grad() setting
        # None) is not guarded: calls alternating between batch sizes, or an eager call in between, replay
        # without recapturing
        before = {id(t): g for t, g in obs.grads_before}
        variant.guard_grads = [(t, g if before.get(id(t)) is not None else None) for t, g in plan.end_grads
                               if before.get(id(t)) is None or id(owner(before[id(t)]._buf)) in referenced]
        # a replay sets only the .grad tensors the step rebinds (one it leaves alone stays whatever it is then)
        plan.end_grads = [(t, g) for t, g in plan.end_grads if g is not before.get(id(t), _MISSING)]
        plan.prepare_fast()
        variant.structure = _plan.launch_structure(rec.launches)
        variant.plan = plan
        # compiled nothing: its generated functions are another variant's (another batch size, or a sequence length
        # that launches the same kinds of kernels more often), or it replays as a sibling's launch loop
        theirs = {source for v in self._variants.values() if v is not variant and v.plan is not None
                  for source in v.plan.sources}
        variant.shares_code = (variant.from_one_call or bool(plan.sources)) and theirs.issuperset(plan.sources)
        if variant.shares_code:
            self._drop_old_sizes(variant.family)
        variant.input_grads = [k for k, _ in obs.input_grads]
        variant.recording = None
        variant.stage = 3
        self.captures += 1
        _log.debug("ng.compile: captured %s: %d launches, replayed as %d calls", self.__name__,
                   len(plan.kernel_names), len(plan.steps))

    def _tensor_guards(self, variant: _Variant) -> None:
        """Guard the tensors the step reads through Python slots (globals, closure variables, attributes) by
        identity: the plan binds their memory, so a slot rebound to another tensor makes the variant recapture."""
        in_dicts, variant.guard_cells, variant.guard_values = tensor_slot_guards(self._tensor_slots)
        variant.guard_slots = list(variant.guard_slots) + in_dicts

    def _record_again_or_give_up(self, variant: _Variant, obs: "_Observation", reason: str) -> None:
        """Two recorded calls differ: the step's Python may take another path once more after its warm-up call
        (state created on a second call, a cache filled late), so record once more and compare with ``obs``; give
        up after ``_RECORDING_RETRIES`` of those."""
        if variant.retries < _RECORDING_RETRIES:
            _log.debug("ng.compile: %s: recorded calls differ (%s); recording once more", self.__name__, reason)
            variant.retries += 1
            variant.recording = obs
            return
        self._give_up(variant, reason)

    def _build_cuda(self, variant: _Variant, first: "_Observation", obs: "_Observation") -> None:
        """``_build`` for a CUDA step (``cuda_plan``): compare the recordings, build, verify against both calls."""
        reason = _cuda_plan.compare_recordings(first.rec.launches, obs.rec.launches, first.input_arrays,
                                               obs.input_arrays)
        if reason is not None:
            self._record_again_or_give_up(variant, obs, reason)
            return
        try:
            plan = _cuda_plan.build_plan(obs.rec, obs.input_arrays, obs.out_structure, obs.out_tensors,
                                         obs.end_grads, obs.persistent, [t for t, _ in obs.grads_before])
        except _plan.NotCapturable as exc:
            self._give_up(variant, str(exc))
            return
        if obs.verify and first.verify:
            reason = None
            if not all(_cuda_plan._bits_equal(a, b) for a, b in zip(first.inputs_before, obs.inputs_before)):
                reason = self._verify_cuda(plan, first)
                if reason is not None:
                    self._verify_cuda(plan, obs)  # puts the state back as the eager step left it
                    reason += " (replaying the first recorded call, with other inputs)"
            if reason is None:
                reason = self._verify_cuda(plan, obs)
            if reason is not None:
                self._give_up(variant, reason)
                return
        else:
            reason = _cuda_plan.undo_unverified(plan)
            if reason is not None:
                self._give_up(variant, reason)
                return
        referenced = plan.persistent_ids
        variant.guard_bufs = [(t, t._buf) for t, _ in obs.bufs_before.values()
                              if type(t._buf) is DeviceArray and id(t._buf.storage) in referenced]
        variant.guard_slots = obs.slots_before
        self._tensor_guards(variant)
        before = {id(t): g for t, g in obs.grads_before}
        variant.guard_grads = [(t, g if before.get(id(t)) is not None else None) for t, g in plan.end_grads
                               if before.get(id(t)) is None or id(before[id(t)]._buf.storage) in referenced]
        plan.end_grads = [(t, g) for t, g in plan.end_grads if g is not before.get(id(t), _MISSING)]
        plan.prepare_fast()
        variant.plan = plan
        variant.input_grads = [k for k, _ in obs.input_grads]
        variant.recording = None
        variant.stage = 3
        self.captures += 1
        _log.debug("ng.compile: captured %s on CUDA: %d launches", self.__name__, len(plan.kernel_names))

    def _verify_cuda(self, plan, obs: "_Observation") -> Optional[str]:
        expected_grads = [obs.grad_values.get(id(t)) for t, _ in plan.end_grads]
        return _cuda_plan.verify(plan, obs.before, obs.after, obs.inputs_before, obs.out_values, expected_grads,
                                 obs.end_grads, obs.python_state, obs.rng_states)

    def _verify_both(self, plan, first: "_Observation", obs: "_Observation") -> Optional[str]:
        """Replay against the first recorded call, then the second (the state ends as the second left it).

        The first call had other inputs (usually): a value computed outside the kernels from an argument (an
        index array converted in NumPy, say) is stale in the plan and shows up there, integers included.
        """
        if not all(np.array_equal(a, b) for a, b in zip(first.inputs_before, obs.inputs_before)):
            reason = self._verify(plan, first)
            if reason is not None:
                # the first call's replay left the state as that call did: replaying the second one puts it back
                # as the eager step left it (verify restores the second call's state when its replay differs)
                self._verify(plan, obs)
                return f"{reason} (replaying the first recorded call, with other inputs)"
        reason = self._verify(plan, obs)
        if reason is None:
            reason = _plan.checked_guard_positions(plan)
        return reason

    def _fuse(self, plan, verify: bool, first: "_Observation", obs: "_Observation") -> Optional[str]:
        """Runs of kernel launches become one generated @njit function each, and what will replay is checked.

        Returns why the step cannot replay at all, or None: when the generated step differs, the launch loop
        replays instead, but only if it reproduces the recorded calls (the failed check poisoned the
        temporaries; one that no launch writes would stay poisoned).  With ``verify``, only what will replay is
        checked: the generated step, or the launch loop when nothing was generated (checking the loop first as
        well cost a third of a capture from one call)."""
        loop_steps = plan.steps
        try:
            plan.steps, plan.sources, plan.table_addresses = codegen.fuse_steps(loop_steps, plan.arena)
        except Exception as exc:  # noqa: BLE001 - a step that does not compile replays as a Python loop
            _log.debug("ng.compile: %s: generated step did not compile (%s: %s); replaying launch by launch",
                       self.__name__, type(exc).__name__, exc)
            plan.steps, plan.sources, plan.table_addresses = loop_steps, [], {}
        if not verify:
            return None
        reason = self._verify_both(plan, first, obs)
        if reason is None or not plan.sources:
            return reason
        _log.debug("ng.compile: %s: the generated step differs from the launch loop (%s); replaying launch by "
                   "launch", self.__name__, reason)
        plan.steps, plan.sources, plan.table_addresses = loop_steps, [], {}
        again = self._verify_both(plan, first, obs)
        if again is not None:
            return f"{reason} (and the launch loop, checked again: {again})"
        return None

    # ------------------------------------------------------------ inspection
    @property
    def compiled_variants(self) -> int:
        """How many captured variants compiled a step of their own: a batch size replaying another size's generated
        function is not one.  (``cache_size_limit`` counts these, and the variants still being captured or running
        eagerly.)

        >>> import numgrad as ng
        >>> w = ng.ones(1)
        >>> step = ng.compile(lambda x: (x * w).sum())
        >>> for n in (4, 4, 4, 4, 3, 3):
        ...     _ = step(ng.ones(n))
        >>> step.captures, step.compiled_variants
        (2, 1)
        """
        return sum(1 for v in self._variants.values() if (v.plan is not None or v.aot is not None)
                   and not v.shares_code)

    def explain(self) -> str:
        """The captured plans (one per guard key), how each was captured, and the reasons of eager fallbacks, as text
        (``ng.explain(compiled)`` shows the same).

        >>> import numgrad as ng
        >>> w = ng.ones(3)
        >>> step = ng.compile(lambda x: (x * w).sum())
        >>> for _ in range(4):
        ...     _ = step(ng.ones(3))
        >>> print(step.explain().splitlines()[0])
        ng.compile(<lambda>): 1 variant, 1 replays, 0 recaptures, 3 eager calls
        """
        name = getattr(self, "__name__", "function")
        parts = [f"ng.compile({name}): {len(self._variants)} variant{'s' if len(self._variants) != 1 else ''}, "
                 f"{self.replays} replays, {self.recaptures} recaptures, {self.eager_calls} eager calls"]
        for k, variant in enumerate(self._variants.values()):
            shapes = ", ".join(str(tuple(s)) for s in variant.shapes) or "no tensor arguments"
            if variant.aot is not None:
                parts.append(f"variant {k}: arguments {shapes}; a module's grad-mode call, captured as a forward and "
                             "a backward (outputs with one CompiledFunctionBackward node) from a warm-up call and "
                             "two recorded calls")
                parts.append("forward " + variant.aot.forward.describe())
                parts.append("backward " + variant.aot.backward.describe())
            elif variant.plan is not None:
                if variant.from_one_call:
                    how = ("captured from its first call (dynamic shapes: it launches what a captured variant of "
                           "other shapes launches")
                    how += "; it replays that variant's generated step)" if variant.shares_code else ")"
                else:
                    how = "captured from a warm-up call and two recorded calls"
                parts.append(f"variant {k}: arguments {shapes}; {how}")
                parts.append(variant.plan.describe())
            elif variant.reason is not None:
                parts.append(f"variant {k}: arguments {shapes}; runs eagerly (exactly the eager code: its autograd "
                             f"graph, backward and optimizer steps): {variant.reason}")
            else:
                parts.append(f"variant {k}: arguments {shapes}; not captured yet (stage {variant.stage} of 3)")
        return "\n".join(parts)


class _OutputWatch:
    """While a step runs eagerly to be captured: whether it wrote to ``sys.stdout`` (a ``print`` in the step or in a
    module hook), which a replay (the captured kernels only) would not do.  ``sys.stderr`` is not watched: Python
    shows a warning there once per place anyway, and a warning in a step's first call must not keep it eager.

    >>> with _OutputWatch() as watch:
    ...     print("hello")
    hello
    >>> watch.wrote
    True
    """

    def __init__(self):
        self.wrote = False
        self._saved = None

    def __enter__(self) -> "_OutputWatch":
        self._saved = sys.stdout
        if sys.stdout is not None:
            sys.stdout = _WatchedStream(sys.stdout, self)
        return self

    def __exit__(self, *exc) -> None:
        sys.stdout = self._saved

    @staticmethod
    def reason() -> str:
        return ("the step prints (writes to sys.stdout), which a replay would not do (it runs only the captured "
                "kernels): print outside the compiled step, or from a hook that is removed while compiling")


class _WatchedStream:
    """A stream that notes writes and passes everything to the stream it wraps."""

    def __init__(self, stream, watch: _OutputWatch):
        self._stream = stream
        self._watch = watch

    def write(self, text):
        if text:
            self._watch.wrote = True
        return self._stream.write(text)

    def writelines(self, lines):
        self._watch.wrote = True
        return self._stream.writelines(lines)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _note_bindings(obs: _Observation, state) -> None:
    """What the state reachable from the step is bound to before a recorded call (its buffers, leaf gradients,
    module and optimizer slots, optimizer state dicts and parameter groups), for ``_rebinding`` after it."""
    obs.bufs_before = {id(t): (t, t._buf) for t in state.tensors.values()}
    obs.grads_before = [(t, t.grad) for t in state.tensors.values() if t._requires_grad and t._grad_fn is None]
    obs.slots_before = list(state.module_slots) + state.state_slots
    # the optimizers' and schedulers' Python state, which the updates a replay calls again read and change (Adam's
    # step count, an ``_update`` override counting its calls or appending to a list): verification puts it back
    obs.python_state = OptimizerPythonState(state.optimizers, state.schedulers)
    obs.opt_state_before = obs.python_state.dicts_before


def _global_random_states() -> tuple:
    """Python's ``random`` and NumPy's global generator as they are now (a step drawing from them, for a random
    branch or a NumPy noise array, gets other numbers on every call; numgrad's own generator is recorded)."""
    _, key, pos, has_gauss, gauss = np.random.get_state()
    return random.getstate(), key.tobytes(), pos, has_gauss, gauss


def _group_numbers(optimizers: list) -> list:
    """(optimizer, group index, group, its Python numbers) of every parameter group, before a recorded call."""
    return [(opt, i, group, {k: v for k, v in group.items() if isinstance(v, _plan._PYTHON_NUMBERS)})
            for opt in optimizers for i, group in enumerate(opt.param_groups)]


def _unexplained_rate_change(before: list, rec) -> Optional[str]:
    """Why a recorded call cannot be replayed because it changed a parameter group's number (a learning rate)
    other than through a scheduler's ``step()`` (which replay calls again), or None."""
    stepped = {id(launch.scheduler.optimizer) for launch in rec.launches if isinstance(launch, SchedulerStep)}
    for opt, i, group, numbers in before:
        if id(opt) in stepped:
            continue
        for key in set(numbers) | {k for k, v in group.items() if isinstance(v, _plan._PYTHON_NUMBERS)}:
            if key not in numbers or key not in group or not _plan._same_leaf(group[key], numbers[key]):
                return (f"the step changes {type(opt).__name__}.param_groups[{i}][{key!r}] itself, which a replay "
                        "would not do (only a learning-rate scheduler's step() is replayed): change it outside the "
                        "compiled step")
    return None


def _rebinding(bufs_before: dict, slots_before: list, opt_state_before: list) -> Optional[str]:
    """Why the step rebinds state instead of updating it in place (the replay could not follow), or None."""
    for t, buf in bufs_before.values():
        if t._buf is not buf and buf is not None:
            return (f"the step replaces the memory of a tensor of shape {tuple(t.shape)} (`.data =` or a new state "
                    "tensor) instead of writing it in place")
    for registry, key, t in slots_before:
        if registry.get(key) is not t:
            return f"the step replaces module parameter, buffer or submodule '{key}'"
    for d, copy in opt_state_before:
        for k, v in copy.items():
            if isinstance(v, Tensor) and d.get(k) is not v:
                return f"the step replaces optimizer state '{k}'"
    return None


class OptimizedModule(Module):
    """What ``ng.compile(module)`` returns: the module, with its call compiled (PyTorch's ``OptimizedModule``).

    ``_orig_mod`` is the original module (a submodule, so ``state_dict`` keys start with ``_orig_mod.`` as
    PyTorch's do); attributes not found on the wrapper are looked up on it.

    >>> import numgrad as ng
    >>> m = ng.compile(ng.nn.Linear(2, 1))
    >>> type(m._orig_mod).__name__
    'Linear'
    """

    def __init__(self, mod: Module, compiled: CompiledFunction):
        super().__init__()
        self._orig_mod = mod
        object.__setattr__(self, "_compiled_call", compiled)

    def forward(self, *args, **kwargs):
        return self._compiled_call(*args, **kwargs)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["_orig_mod"], name)


def compile(model: Optional[Callable] = None, *, fullgraph: bool = False, dynamic: Optional[bool] = None,
            backend: Any = "inductor", mode: Optional[str] = None, options: Optional[dict] = None,
            name: Optional[str] = None, disable: bool = False, recompile_limit: Optional[int] = None,
            isolate_recompiles: bool = False, shapes_spec: Any = None):
    """Capture a function's (or a module's) kernel launches once and replay them (PyTorch's ``torch.compile``).

    ``model`` may contain a whole training step: forward, ``loss.backward()``, ``optimizer.step()``,
    ``zero_grad()`` and in-place updates under ``no_grad``.  Results are bit-identical to eager
    (the same kernels in the same order).  Used as ``@ng.compile`` or ``@ng.compile(fullgraph=True)``
    too.  ``backend`` may be ``"inductor"`` (PyTorch's default name) or ``"numgrad"`` (both capture) or
    ``"eager"`` (no capture); ``mode`` accepts PyTorch's names (they all capture the same way);
    ``options`` takes ``cache_size_limit`` (default 8: variants compiling a step of their own, see
    ``CompiledFunction.compiled_variants``; batch sizes replaying another size's step do not count) and
    ``verify`` (default True: check one replay against the eager step before using the plan).
    ``recompile_limit`` is PyTorch's name of ``cache_size_limit``; ``name`` names the step in ``explain``
    and the logs; every ``ng.compile`` call keeps its own variants (as PyTorch's
    ``isolate_recompiles=True``, whatever it is given); ``shapes_spec`` is not supported.

    >>> import numgrad as ng
    >>> model = ng.nn.Linear(4, 2)
    >>> opt = ng.optim.SGD(model.parameters(), lr=0.1)
    >>> @ng.compile
    ... def step(x, y):
    ...     opt.zero_grad()
    ...     loss = ((model(x) - y) ** 2).mean()
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> x, y = ng.ones(8, 4), ng.zeros(8, 2)
    >>> losses = [step(x, y) for _ in range(5)]
    >>> step.replays
    2
    """
    if model is None:
        def decorate(fn):
            return compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode, options=options,
                           name=name, disable=disable, recompile_limit=recompile_limit,
                           isolate_recompiles=isolate_recompiles, shapes_spec=shapes_spec)

        return decorate
    if shapes_spec is not None:
        raise NotImplementedError("ng.compile(shapes_spec=...): numgrad has no symbolic shape specs; each batch size "
                                  "is a variant of its own (see dynamic=)")
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same time.")
    if mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(m for m in _MODES if m)}")
    if backend not in _BACKENDS:
        raise RuntimeError(f"ng.compile: backend={backend!r} is not supported; numgrad captures with "
                           f"{_BACKENDS[0]!r} (the default) or 'numgrad', and runs eagerly with 'eager'")
    settings = {"cache_size_limit": 8, "verify": True, "fuse": True}
    for key, value in (options or {}).items():
        if key not in _OPTIONS:
            raise RuntimeError(f"Unexpected optimization option {key}, known options are {sorted(_OPTIONS)}")
        if not isinstance(value, _OPTIONS[key]):
            raise TypeError(f"ng.compile option {key} must be a {_OPTIONS[key].__name__}, got {type(value).__name__}")
        settings[key] = value
    if recompile_limit is not None:
        if int(recompile_limit) < 1:
            raise ValueError(f"ng.compile: recompile_limit must be at least 1, got {recompile_limit}")
        settings["cache_size_limit"] = int(recompile_limit)
    if not callable(model):
        raise RuntimeError(f"ng.compile expects a callable or a Module, got {type(model).__name__}")
    if disable or backend == "eager":
        return model
    module = model if isinstance(model, Module) else None
    compiled = CompiledFunction(model.__call__ if module is not None else model, fullgraph, dynamic, **settings)
    if name is not None:
        compiled.__name__ = name
    if module is None:
        return compiled
    compiled._module = module
    return OptimizedModule(module, compiled)


def _compile_module_call(module: Module, **options) -> Callable:
    """``Module.compile(**options)``: the module's ``_call_impl`` (forward with its hooks) compiled as
    ``ng.compile(module)`` compiles its call (a grad-mode call is captured as a forward and a backward)."""
    compiled = compile(module._call_impl, **options)
    if isinstance(compiled, CompiledFunction):
        compiled._module = module
    return compiled


register_module_compiler(_compile_module_call)
register_explainer(CompiledFunction, CompiledFunction.explain)
register_explainer(OptimizedModule, lambda m: m._compiled_call.explain())
