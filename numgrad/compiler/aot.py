"""A compiled module's grad-mode forward: a captured forward plus a captured backward, joined by ONE graph node.

``model = ng.compile(model)`` followed by an ordinary eager loop (``loss_fn(model(x), y).backward();
opt.step()``) is PyTorch's most common use of ``torch.compile``.  As AOTAutograd does, a capture records
the module's forward and then a backward of its outputs from placeholder output gradients; each becomes a
``plan.Plan``:

- the forward plan's inputs are the call's tensor arguments; its outputs are the module's outputs and the
  buffers the backward reads that the forward made (the *saved* buffers: activations, dropout masks,
  batch statistics, the input itself);
- the backward plan's inputs are the output gradients and those saved buffers; its outputs are the
  gradients of the parameters (and of the arguments that require grad).

A replayed call runs the forward plan and copies the saved buffers out of the plan's arena into memory of
its own (so two forwards before their backwards stay correct), then returns outputs whose ``grad_fn`` is
one ``CompiledFunctionBackward`` node (``ModuleReplay``, an ``autograd.Function``).  When the engine
reaches it, it replays the backward plan and hands the gradients back: the engine accumulates them into
``.grad`` (``AccumulateGrad``: hooks, ``retain_graph`` errors, post-accumulate hooks as for any node).
BatchNorm's statistics and dropout's draws happen once per forward, as eagerly.

While a call is captured, the recorded run (its inputs detached, so the backward stops at them) has its
side effects undone (persistent state and the generator put back) and the call then runs eagerly: the
caller gets eager's result and graph.

>>> import numgrad as ng
>>> ModuleReplay.node_name
'CompiledFunctionBackward'
"""
from __future__ import annotations

import threading
from typing import Any, Optional

import numpy as np

from .. import _pending_readers, creation
from ..autograd.engine import run_backward
from ..autograd.function import AccumulateGrad, Function
from ..autograd.grad_mode import is_grad_enabled
from ..nn.modules.module_hooks import BackwardHookFunction
from ..tensor import Tensor
from . import plan as _plan
from . import trees
from .plan import owner
from .python_state import OptimizerPythonState
from .recorder import Recording

_DOUBLE_BACKWARD = (
    "ng.compile: double backward (create_graph=True, or a backward run in grad mode) through a compiled module's "
    "CompiledFunctionBackward is not supported: its captured backward kernels build no graph. Run that model "
    "uncompiled, or compile it with backend='eager'")


class AotPlans:
    """The captured forward and backward of one guard key (see the module docstring)."""

    __slots__ = ("forward", "backward", "n_outputs", "out_structure", "wrt_inputs", "params", "grad_slots",
                 "read_params", "lock", "flags")

    def __init__(self, forward, backward, n_outputs, out_structure, wrt_inputs, params, grad_slots, read_params,
                 lock):
        self.forward = forward
        self.backward = backward
        self.n_outputs = n_outputs  # the forward plan's first outputs are the module's, the rest saved buffers
        self.out_structure = out_structure
        self.wrt_inputs = wrt_inputs  # positions of the tensor arguments that require grad
        self.params = params  # leaf tensors of the module that require grad
        # per (arguments that require grad + params): the index of its gradient among the backward plan's
        # outputs, or None (no gradient reaches it)
        self.grad_slots = grad_slots
        self.read_params = read_params  # params the backward reads: modified in place before it, it raises
        self.lock = lock
        # (tensor, requires_grad) of every parameter and buffer: which of them get a gradient is baked in
        self.flags: list = []

    def flags_hold(self) -> bool:
        for t, flag in self.flags:
            if t._requires_grad is not flag:
                return False
        return True


class ModuleReplay(Function):
    """``apply(plans, *arguments, *params)``: replay the forward; the node's backward replays the backward."""

    node_name = "CompiledFunctionBackward"

    @staticmethod
    def forward(ctx, plans: AotPlans, *tensors):
        n_in = len(tensors) - len(plans.params)
        inputs = tensors[:n_in]
        fwd = plans.forward
        pending = _pending_readers._pending
        if pending:  # a deferred computation outside the step reads memory the step writes: it runs first
            for key, arr in fwd.persistent_keys:
                if key in pending:
                    _pending_readers.flush_readers(arr)
        fwd.run([t._buf for t in inputs])
        arrays = fwd.output_arrays
        outs = tuple(Tensor(a.copy()) for a in arrays[:plans.n_outputs])
        # the saved buffers: this call's own copies (the next replay overwrites the arena)
        saved = [Tensor(a.copy()) for a in arrays[plans.n_outputs:]]
        ctx.plans = plans
        ctx.n_inputs = n_in
        ctx.save_for_backward(*saved, *plans.read_params)
        ctx.n_saved = len(saved)
        return outs

    @staticmethod
    def backward(ctx, *grads):
        if is_grad_enabled():
            raise RuntimeError(_DOUBLE_BACKWARD)
        plans = ctx.plans
        saved = ctx.saved_tensors[:ctx.n_saved]  # raises if freed, or a read parameter was modified in place
        bwd = plans.backward
        with plans.lock:
            pending = _pending_readers._pending
            if pending:
                for key, arr in bwd.persistent_keys:
                    if key in pending:
                        _pending_readers.flush_readers(arr)
            bwd.run([g._data for g in grads] + [t._buf for t in saved])
            arrays = bwd.output_arrays
            got = [None if k is None else Tensor(arrays[k].copy()) for k in plans.grad_slots]
        n_wrt_in = len(plans.wrt_inputs)
        per_input: list = [None] * ctx.n_inputs
        for j, position in enumerate(plans.wrt_inputs):
            per_input[position] = got[j]
        return (None, *per_input, *got[n_wrt_in:])


class AotObservation:
    """One recorded forward + backward of a module call, and what building and checking its plans needs."""

    def __init__(self):
        self.launches: list = []
        self.derived: dict = {}
        self.python_data: list = []  # the recording's tensors built from Python data (``Recording.python_data``)
        self.split = 0  # launches[:split] are the forward's
        self.input_arrays: list = []
        self.inputs_before: list = []
        self.out_structure: Any = None
        self.out_tensors: list = []
        self.out_values: list = []
        self.saved: list = []  # arrays the backward reads that the forward made (or the arguments)
        self.saved_values: list = []
        self.placeholders: list = []
        self.grad_tensors: list = []  # per wrt: its gradient tensor or None
        self.grad_values: list = []
        self.wrt_inputs: list = []
        self.params: list = []
        self.persistent: dict = {}
        self.before: dict = {}
        self.after: dict = {}
        self.rng_states: tuple = (None, None)
        self.reason: Optional[str] = None


def _launch_owner_ids(launches, derived) -> dict:
    found: dict = {}
    for launch in launches:
        for arr in _plan._launch_arrays(launch, derived):
            if isinstance(arr, np.ndarray):
                own = owner(arr)
                found[id(own)] = own
    return found


def record(fn, args: tuple, kwargs: dict, inputs: list, substitute, state, fullgraph: bool) -> AotObservation:
    """Run ``fn`` once on detached copies of ``inputs``, recorded, then a backward of its outputs from random
    placeholder gradients (recorded too); put back every side effect (persistent state, generator, ``.grad``).

    ``substitute(tensors)`` rebuilds ``(args, kwargs)`` with ``tensors`` in place of the tensor arguments."""
    obs = AotObservation()
    for t in state.tensors.values():
        own = owner(t._data)
        obs.persistent[id(own)] = own
    obs.params = [t for t in state.tensors.values() if t._requires_grad and t._grad_fn is None]
    shadows = []
    for k, t in enumerate(inputs):
        d = t.detach()
        if t._requires_grad:
            d.requires_grad_(True)
            obs.wrt_inputs.append(k)
        shadows.append(d)
    wrt = [shadows[k] for k in obs.wrt_inputs] + obs.params
    obs.input_arrays = [t._buf for t in inputs]
    obs.inputs_before = [a.copy() for a in obs.input_arrays]
    obs.before = {k: (o, o.copy()) for k, o in obs.persistent.items()}
    grads_before = [(t, t.grad) for t in obs.params]
    # the user's hooks on the parameters must not see the placeholder backward
    hooks_before = []
    for t in obs.params:
        acc = t._accumulator()
        hooks_before.append((t, acc, acc._pre_hooks, t._post_acc_hooks))
        acc._pre_hooks, t._post_acc_hooks = None, None
        t.grad = None
    obs.rng_states = (creation._rng.bit_generator.state, None)
    shadow_args, shadow_kwargs = substitute(shadows)
    try:
        with Recording((), fullgraph) as rec:
            result = fn(*shadow_args, **shadow_kwargs)
            out_tensors: list = []
            obs.out_structure = trees.flatten(result, out_tensors)
            for t in out_tensors:
                t._data  # computed inside the recording: the forward plan produces it
            obs.split = len(rec.launches)
            obs.rng_states = (obs.rng_states[0], creation._rng.bit_generator.state)
            obs.after = {k: (o, o.copy()) for k, o in obs.persistent.items()}  # NumPy copies: nothing recorded
            obs.out_tensors = out_tensors
            obs.out_values = [t._buf.copy() for t in out_tensors]
            if any(not isinstance(v, (trees.TensorSlot, type(None), bool, int, float, str))
                   for v in trees.leaves(obs.out_structure)):
                obs.reason = "the module returns something other than tensors and constants"
            elif not out_tensors or any(not t._requires_grad for t in out_tensors):
                obs.reason = "an output of the module does not require grad (a replay would give it a graph)"
            elif any(t.dtype.is_floating_point is False for t in out_tensors):
                obs.reason = "an output of the module is not a floating-point tensor"
            elif _hooked(out_tensors):
                obs.reason = ("a tensor inside the module has a hook or retains its grad, or a module has a full "
                              "backward hook (the captured backward would not call it)")
            else:
                gen = np.random.default_rng(1234)
                obs.placeholders = [Tensor(gen.standard_normal(t._buf.shape).astype(t._buf.dtype))
                                    for t in out_tensors]
                run_backward(out_tensors, obs.placeholders, retain_graph=True, create_graph=False)
                obs.grad_tensors = [t.grad for t in wrt]
                obs.grad_values = [None if g is None else g._data.copy() for g in obs.grad_tensors]
            obs.launches = rec.launches
            obs.derived = rec.derived
            obs.python_data = rec.python_data
        if rec.data_reads and obs.reason is None:
            obs.reason = rec.data_reads[0]
        elif rec.device_arrays and obs.reason is None:
            obs.reason = ("a compiled module's grad-mode call on CUDA is not captured as a forward and a backward; "
                          "compile the whole training step (forward, backward, optimizer step) instead, which is "
                          "captured on CUDA")
    except BaseException:
        _put_back(obs)  # GraphBreak under fullgraph=True, or the module's own error: the state as before
        raise
    finally:
        for t, acc, pre, post in hooks_before:
            acc._pre_hooks, t._post_acc_hooks = pre, post
        for t, g in grads_before:
            t.grad = g
    if obs.reason is None and any(not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
                                  for a, b in zip(obs.input_arrays, obs.inputs_before)):
        obs.reason = "the module writes into a tensor argument in place"
    if obs.reason is not None:
        _put_back(obs)
        return obs
    if any(not _plan._bits_equal(own, copy) for own, copy in obs.after.values()):
        obs.reason = "the module's backward writes persistent state in place"
        _put_back(obs)
        return obs
    # the saved buffers: memory the backward reads that the forward made (or a tensor argument's)
    forward_owners = _launch_owner_ids(obs.launches[:obs.split], obs.derived)
    for t in out_tensors:
        forward_owners[id(owner(t._buf))] = owner(t._buf)
    input_by_owner = {id(owner(a)): a for a in obs.input_arrays}
    seen: set = set()
    for own_id, own in _launch_owner_ids(obs.launches[obs.split:], obs.derived).items():
        if own_id in seen or own_id in obs.persistent:
            continue
        seen.add(own_id)
        if own_id in input_by_owner:
            obs.saved.append(input_by_owner[own_id])
        elif own_id in forward_owners:
            obs.saved.append(own)
    obs.saved_values = [a.copy() for a in obs.saved]
    _put_back(obs)  # the call then runs eagerly: its side effects happen once
    return obs


def _hooked(out_tensors: list) -> bool:
    """Whether a node of the outputs' graph, above the leaves, has a tensor hook or a retain_grad, or calls a module's
    full backward (pre-)hooks (``BackwardHookFunction``)."""
    stack = [t._grad_fn for t in out_tensors if t._grad_fn is not None]
    seen: set = set()
    while stack:
        node = stack.pop()
        if id(node) in seen or isinstance(node, AccumulateGrad):
            continue
        seen.add(id(node))
        if node._pre_hooks or node._retain or getattr(node, "fn", None) is BackwardHookFunction:
            return True
        stack.extend(edge[0] for edge in node._next if edge is not None)
    return False


def _put_back(obs: AotObservation) -> None:
    """Persistent state and the generator as they were before the recorded call."""
    for own, copy in obs.before.values():
        if own.flags.writeable:
            np.copyto(own, copy)
    if obs.rng_states[0] is not None:
        creation._rng.bit_generator.state = obs.rng_states[0]


def build(first: AotObservation, obs: AotObservation, verify: bool, lock: threading.RLock) -> tuple:
    """(AotPlans or None, the reason when None) from two recorded calls; leaves the state as before ``obs``."""
    try:
        reason = _plan.compare_recordings(first.launches, obs.launches, first.derived, obs.derived)
        if reason is None and first.split != obs.split:
            reason = "consecutive calls split forward and backward at different launches"
        if reason is not None:
            return None, reason
        wrt_count = len(obs.wrt_inputs) + len(obs.params)
        if len(obs.grad_tensors) != wrt_count:
            return None, "the recorded backward did not reach the module's parameters"
        try:
            fwd = _plan.build_plan(obs.launches[:obs.split], obs.derived, obs.input_arrays, obs.out_structure,
                                   obs.out_tensors + [Tensor(a) for a in obs.saved], [], set(obs.persistent), [],
                                   obs.python_data)
            grads = [g for g in obs.grad_tensors if g is not None]
            bwd = _plan.build_plan(obs.launches[obs.split:], obs.derived,
                                   [p._buf for p in obs.placeholders] + obs.saved, None, grads, [],
                                   set(obs.persistent), [], obs.python_data)
        except _plan.NotCapturable as exc:
            return None, str(exc)
        python_steps = _plan._PYTHON_STATE_STEPS + (_plan._CollectiveStart,)
        if any(isinstance(fn, python_steps) for fn, _ in fwd.steps + bwd.steps):
            return None, "the module's call runs an optimizer update or a collective"
        if any(isinstance(fn, _plan._CheckedLaunch) and fn.numbers for fn, _ in bwd.steps):
            # the engine is already running that backward: it could not run eagerly instead
            return None, "the module's backward checks a number a kernel returns (not captured)"
        persistent_ids = set(obs.persistent)
        if verify:
            no_optimizers = OptimizerPythonState([], [])  # a module's call runs no optimizer update (checked above)
            no_optimizers.finish()
            reason = _plan.verify(fwd, obs.before, obs.after, obs.inputs_before, obs.out_values + obs.saved_values,
                                  [], persistent_ids, no_optimizers, obs.rng_states)
            if reason is None:
                reason = _plan.checked_guard_positions(fwd)
            if reason is None:
                reason = _plan.verify(bwd, {}, {}, [p._buf for p in obs.placeholders] + obs.saved_values,
                                      [v for v in obs.grad_values if v is not None], [], persistent_ids,
                                      no_optimizers)
            if reason is not None:
                return None, reason
        fwd.prepare_fast()
        bwd.prepare_fast()
        slots, k = [], 0
        for g in obs.grad_tensors:
            slots.append(None if g is None else k)
            k += g is not None
        read_ids = {id(a) for a in bwd.persistent_arrays}
        read_params = [p for p in obs.params if id(owner(p._buf)) in read_ids]
        plans = AotPlans(fwd, bwd, len(obs.out_tensors), obs.out_structure, list(obs.wrt_inputs), list(obs.params),
                         slots, read_params, lock)
        return plans, None
    finally:
        _put_back(obs)
