"""nn.Module hooks and the remaining torch.nn.Module methods, against PyTorch with the same weights, and their
interplay with ``ng.compile`` (a hook is Python inside the step: captured when it only does tensor math, eager when
it changes Python state or prints, never a stale plan after a hook is registered or removed)."""
from __future__ import annotations

import copy
import pickle
import re
import warnings

import numpy as np
import pytest
import torch

import numgrad as ng
import numgrad.nn as nn
from numgrad.nn.modules import module as ng_module
from torch.nn.modules import module as torch_module

RNG = np.random.default_rng(7)


def _pair(*layers):
    """The same small model in numgrad and torch (float64, same weights)."""
    t_model = torch.nn.Sequential(*[getattr(torch.nn, name)(*a) for name, a in layers]).double()
    ng_model = nn.Sequential(*[getattr(nn, name)(*a) for name, a in layers]).double()
    ng_model.load_state_dict({k: v.detach().numpy() for k, v in t_model.state_dict().items()})
    return ng_model, t_model


def _np(t):
    return None if t is None else t.detach().numpy()


def _same(a, b, exact=False):
    """numgrad and torch values (tensors, or tuples of tensors/None) agree."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y, exact)
        return
    if a is None or b is None:
        assert a is None and b is None
        return
    if exact:
        np.testing.assert_array_equal(_np(a), _np(b))
    else:
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-10, atol=1e-12)


def _both(fn):
    """``fn(lib, nn_module_namespace, register_global)`` run for numgrad and torch."""
    return fn(ng, ng_module), fn(torch, torch_module)


# ------------------------------------------------------------------ forward hooks
def test_forward_hook_order_and_replaced_inputs_outputs_match_torch():
    x_np = RNG.standard_normal((4, 3))

    def run(lib, mod):
        model = ng_model if lib is ng else t_model
        log = []
        handles = [
            mod.register_module_forward_pre_hook(lambda m, a: log.append(("global pre", type(m).__name__))),
            mod.register_module_forward_hook(lambda m, a, o: log.append(("global hook", type(m).__name__))),
        ]
        lin = model[0]
        handles.append(lin.register_forward_pre_hook(lambda m, a: (log.append("pre"), a[0] * 2)[1]))  # not a tuple
        handles.append(lin.register_forward_pre_hook(lambda m, a: log.append("pre first"), prepend=True))
        handles.append(lin.register_forward_pre_hook(
            lambda m, a, kw: (log.append(("pre kw", sorted(kw))), ((a[0] + 1,), kw))[1], with_kwargs=True))
        handles.append(lin.register_forward_hook(lambda m, a, o: (log.append("hook"), o * 3)[1]))
        handles.append(lin.register_forward_hook(
            lambda m, a, kw, o: (log.append(("hook kw", type(a).__name__)), o - a[0].sum())[1], with_kwargs=True))
        handles.append(lin.register_forward_hook(lambda m, a, o: log.append("hook first"), prepend=True))
        out = model(lib.tensor(x_np))
        for h in handles:
            h.remove()
        plain = model(lib.tensor(x_np))
        return log, out, plain

    ng_model, t_model = _pair(("Linear", (3, 5)), ("Tanh", ()), ("Linear", (5, 2)))
    (ng_log, ng_out, ng_plain), (t_log, t_out, t_plain) = _both(run)
    assert ng_log == t_log
    assert ng_log[:5] == [("global pre", "Sequential"), ("global pre", "Linear"), "pre first", "pre",
                          ("pre kw", [])]
    _same(ng_out, t_out)
    _same(ng_plain, t_plain)  # the hooks are gone
    assert not ng_model[0]._slow_call and not ng_model._slow_call


def test_forward_hooks_with_kwargs_see_and_replace_keyword_arguments():
    class Scale(nn.Module):
        def forward(self, x, *, factor=1.0):
            return x * factor

    m = Scale()
    seen = []
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"factor": kwargs["factor"] * 10}), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(dict(kwargs)), with_kwargs=True)
    np.testing.assert_array_equal(m(ng.ones(2), factor=2.0).numpy(), [20.0, 20.0])
    assert seen == [{"factor": 20.0}]


def test_pre_hook_with_kwargs_returning_the_wrong_thing_raises_torchs_error():
    def run(lib, mod):
        m = (nn if lib is ng else torch.nn).Identity()
        m.register_forward_pre_hook(lambda mod, a, kw: a, with_kwargs=True)
        with pytest.raises(RuntimeError) as info:
            m(lib.ones(2))
        return str(info.value)

    ng_msg, t_msg = _both(run)
    assert ng_msg.split(", but got")[0] == t_msg.split(", but got")[0] == (
        "forward pre-hook must return None or a tuple of (new_args, new_kwargs)")


def test_always_call_hooks_run_when_forward_raises():
    def run(lib, mod):
        class Broken((nn if lib is ng else torch.nn).Module):
            def forward(self, x):
                raise ValueError("broken forward")

        log = []
        m = Broken()
        m.register_forward_hook(lambda mod, a, o: log.append(("always", o)), always_call=True)
        m.register_forward_hook(lambda mod, a, o: log.append("not always"))
        m.register_forward_hook(lambda mod, a, o: 1 / 0, always_call=True)
        g = mod.register_module_forward_hook(lambda mod, a, o: log.append("global always"), always_call=True)
        with pytest.raises(ValueError, match="broken forward"), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m(lib.ones(1))
        g.remove()
        return log, [str(w.message) for w in caught]

    (ng_log, ng_warn), (t_log, t_warn) = _both(run)
    assert ng_log == t_log == ["global always", ("always", None)]
    assert ng_warn == t_warn == ["module forward hook with ``always_call=True`` raised an exception that was "
                                 "silenced as another error was raised in forward: division by zero"]


def test_handles_remove_once_and_work_as_context_managers():
    m = nn.Identity()
    calls = []
    with m.register_forward_hook(lambda mod, a, o: calls.append(1)) as handle:
        m(ng.ones(1))
        assert m._slow_call
    m(ng.ones(1))
    handle.remove()  # a second remove is harmless
    assert calls == [1] and not m._slow_call and not m._forward_hooks
    assert id(m) not in nn.modules.module_hooks._modules_with_call_hooks  # Module.__call__'s global check
    h1 = m.register_forward_hook(lambda mod, a, o: None, with_kwargs=True, always_call=True)
    assert h1.id in m._forward_hooks_with_kwargs and h1.id in m._forward_hooks_always_called
    h1.remove()
    assert not m._forward_hooks_with_kwargs and not m._forward_hooks_always_called
    with ng_module.register_module_forward_pre_hook(lambda mod, a: None):
        assert nn.Identity()._slow_call  # the class attribute: every module runs the global hook
    assert not nn.Identity()._slow_call


def test_hooks_on_a_module_class_without_hash():
    class Unhashable(nn.Identity):
        def __eq__(self, other):
            return isinstance(other, Unhashable)

    m = Unhashable()
    with m.register_forward_hook(lambda mod, a, o: o + 1):
        np.testing.assert_array_equal(m(ng.zeros(1)).numpy(), [1.0])
    np.testing.assert_array_equal(m(ng.zeros(1)).numpy(), [0.0])


def test_register_backward_hook_points_to_the_full_one():
    with pytest.raises(NotImplementedError, match="use register_full_backward_hook"):
        nn.Linear(1, 1).register_backward_hook(lambda m, gi, go: None)
    with pytest.raises(NotImplementedError, match="use register_module_full_backward_hook"):
        ng_module.register_module_backward_hook(lambda m, gi, go: None)


def test_module_has_torchs_hook_and_module_methods():
    missing = {n for n in dir(torch.nn.Module) if not n.startswith("__")} - set(dir(nn.Module))
    # devices numgrad has no backend for, torch's TorchScript/DataParallel internals and its class flags
    assert missing <= {"T_destination", "_maybe_warn_non_full_backward_hook", "_replicate_for_data_parallel",
                       "_slow_forward", "call_super_init", "dump_patches", "ipu", "mtia", "xpu"}


# ------------------------------------------------------------------ backward hooks
class _TwoInputs:
    """forward(x, scale, y, flag): x and y tensors, scale a float, flag a bool; returns two outputs."""

    @staticmethod
    def make(lib):
        base = nn.Module if lib is ng else torch.nn.Module

        class TwoInputs(base):
            def forward(self, x, scale, y, flag):
                return (x * y * scale).tanh(), (x - y) * 2.0

        return TwoInputs()


@pytest.mark.parametrize("y_requires_grad", [True, False])
def test_full_backward_hooks_match_torch(y_requires_grad):
    x_np, y_np = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3))
    up0, up1 = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3))

    def run(lib, mod):
        m = _TwoInputs.make(lib)
        log = []

        def pre(mod_, grad_output):
            log.append(("pre", grad_output))
            return (grad_output[0] * 2.0, grad_output[1])

        def hook(mod_, grad_input, grad_output):
            log.append(("hook", grad_input, grad_output))
            return tuple(None if g is None else g * 10.0 for g in grad_input)

        def global_hook(mod_, grad_input, grad_output):
            log.append(("global hook", grad_input, grad_output))

        m.register_full_backward_pre_hook(pre)
        m.register_full_backward_hook(hook)
        g = mod.register_module_full_backward_hook(global_hook)
        x = lib.tensor(x_np, requires_grad=True)
        y = lib.tensor(y_np, requires_grad=y_requires_grad)
        a, b = m(x, 0.5, y, True)
        g.remove()
        (a * lib.tensor(up0)).sum().add((b * lib.tensor(up1)).sum()).backward()
        return log, x.grad, y.grad

    (ng_log, ng_gx, ng_gy), (t_log, t_gx, t_gy) = _both(run)
    assert [e[0] for e in ng_log] == [e[0] for e in t_log] == ["pre", "global hook", "hook"]
    for n_entry, t_entry in zip(ng_log, t_log):
        for n_val, t_val in zip(n_entry[1:], t_entry[1:]):
            _same(n_val, t_val)
    assert ng_log[1][1][1] is None and ng_log[1][1][3] is None  # the float and the bool
    _same(ng_gx, t_gx)
    _same(ng_gy, t_gy)


def test_backward_hooks_see_none_for_an_unused_output_and_zeros_for_an_input_without_grad():
    def run(lib, mod):
        base = nn.Module if lib is ng else torch.nn.Module

        class Two(base):
            def forward(self, a, b):
                return a * b, a * 3.0

        seen = []
        m = Two()
        m.register_full_backward_pre_hook(lambda mod_, go: seen.append(("pre", go)))
        m.register_full_backward_hook(lambda mod_, gi, go: seen.append(("hook", gi, go)))
        a = lib.tensor([0.5, 1.0], dtype=lib.float64, requires_grad=True)
        first, _ = m(a, lib.tensor([2.0, 4.0], dtype=lib.float64))
        first.sum().backward()
        return seen, a.grad

    (ng_seen, ng_grad), (t_seen, t_grad) = _both(run)
    assert [e[0] for e in ng_seen] == [e[0] for e in t_seen] == ["pre", "hook"]
    _same(ng_seen[0][1], t_seen[0][1])
    assert ng_seen[0][1][1] is None
    _same(ng_seen[1][1], t_seen[1][1])
    _same(ng_seen[1][2], t_seen[1][2])
    _same(ng_grad, t_grad)


def test_set_materialize_grads_matches_torch():
    def run(lib):
        seen = []

        class Pair(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, materialize):
                ctx.set_materialize_grads(materialize)
                return x * 1, x * 2

            @staticmethod
            def backward(ctx, ga, gb):
                seen.append(gb)
                return ga, None

        for materialize in (True, False):
            x = lib.ones(2, requires_grad=True)
            Pair.apply(x, materialize)[0].sum().backward()
        return seen

    ng_seen, t_seen = run(ng), run(torch)
    _same(tuple(ng_seen), tuple(t_seen))
    assert ng_seen[1] is None


def test_backward_hook_errors_match_torch():
    def run(lib, mod, which):
        m = (nn if lib is ng else torch.nn).Linear(2, 2).double()
        if which == "hook":
            m.register_full_backward_hook(lambda mod_, gi, go: (gi[0], gi[0]))
        else:
            m.register_full_backward_pre_hook(lambda mod_, go: (go[0], go[0]))
        x = lib.ones(1, 2, dtype=lib.float64, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            m(x).sum().backward()
        return str(info.value)

    for which in ("hook", "pre"):
        assert run(ng, ng_module, which) == run(torch, torch_module, which)


def test_backward_hook_when_no_input_requires_grad_fires_with_nones_and_warns():
    def run(lib, mod):
        m = (nn if lib is ng else torch.nn).Linear(2, 1).double()
        seen = []
        m.register_full_backward_hook(lambda mod_, gi, go: seen.append((gi, go)))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m(lib.ones(3, 2, dtype=lib.float64)).sum().backward()
        return seen, [str(w.message)[:60] for w in caught], m.weight.grad

    (ng_seen, ng_warn, ng_g), (t_seen, t_warn, t_g) = _both(run)
    assert ng_warn == t_warn and len(ng_warn) == 1
    assert len(ng_seen) == len(t_seen) == 1
    _same(ng_seen[0][0], t_seen[0][0])
    _same(ng_seen[0][1], t_seen[0][1])
    _same(ng_g, t_g)


def test_backward_hooks_in_a_model_match_torch_gradients():
    ng_model, t_model = _pair(("Linear", (3, 4)), ("ReLU", ()), ("Linear", (4, 1)))
    x_np = RNG.standard_normal((5, 3))

    def run(lib, mod):
        model = ng_model if lib is ng else t_model
        log = []
        h1 = model[2].register_full_backward_hook(lambda m, gi, go: log.append(("out layer", gi, go)))
        h2 = model[0].register_full_backward_pre_hook(lambda m, go: (go[0].clamp(-0.1, 0.1),))
        x = lib.tensor(x_np, requires_grad=True)
        model(x).pow(2).sum().backward()
        h1.remove()
        h2.remove()
        return log, x.grad, model[0].weight.grad

    (ng_log, ng_gx, ng_gw), (t_log, t_gx, t_gw) = _both(run)
    assert len(ng_log) == len(t_log) == 1
    _same(ng_log[0][1], t_log[0][1])
    _same(ng_log[0][2], t_log[0][2])
    _same(ng_gx, t_gx)
    _same(ng_gw, t_gw)
    assert ng_model[0]._backward_pre_hooks == {} and not ng_model[0]._slow_call


# ------------------------------------------------------------------ other Module methods
def test_get_buffer_and_set_submodule_match_torch():
    def run(lib):
        tnn = nn if lib is ng else torch.nn
        model = tnn.Sequential(tnn.Linear(2, 2), tnn.BatchNorm1d(2))
        out = [model.get_buffer("1.running_mean").shape]
        for bad in ("1.weight", "1.nothing", "2.running_mean"):
            with pytest.raises(AttributeError) as info:
                model.get_buffer(bad)
            out.append(str(info.value))
        model.set_submodule("0", tnn.ReLU())
        out.append(type(model[0]).__name__)
        for target, value, strict, err in (("", tnn.ReLU(), False, ValueError), ("0", 3, False, ValueError),
                                           ("1.weight", tnn.ReLU(), False, AttributeError),
                                           ("new", tnn.ReLU(), True, AttributeError)):
            with pytest.raises(err) as info:
                model.set_submodule(target, value, strict=strict)
            out.append(str(info.value).replace("torch.nn", "numgrad.nn").replace("torch", "numgrad"))
        model.set_submodule("new", tnn.Tanh())
        out.append(type(model.new).__name__)
        return out

    ng_out, t_out = run(ng), run(torch)
    assert tuple(ng_out[0]) == tuple(t_out[0])
    assert ng_out[1:] == t_out[1:]


def _counter_class(lib):
    base = nn.Module if lib is ng else torch.nn.Module

    class Counter(base):
        def __init__(self):
            super().__init__()
            self.lin = (nn if lib is ng else torch.nn).Linear(2, 1)
            self.calls = 3

        def get_extra_state(self):
            return {"calls": self.calls}

        def set_extra_state(self, state):
            self.calls = state["calls"]

    return Counter


def test_extra_state_round_trip_and_missing_extra_state_error():
    def run(lib):
        Counter = _counter_class(lib)
        outer = (nn if lib is ng else torch.nn).Sequential(Counter())
        sd = outer.state_dict()
        keys = list(sd)
        meta = dict(sd._metadata)
        other = (nn if lib is ng else torch.nn).Sequential(Counter())
        other[0].calls = 0
        other.load_state_dict(sd)
        del sd["0._extra_state"]
        with pytest.raises(RuntimeError) as info:
            other.load_state_dict(sd)
        plain = (nn if lib is ng else torch.nn).Sequential((nn if lib is ng else torch.nn).Linear(2, 1))
        with pytest.raises(RuntimeError) as info2:
            plain.load_state_dict({"0.weight": np.zeros((1, 2)) if lib is ng else torch.zeros(1, 2),
                                   "0.bias": np.zeros(1) if lib is ng else torch.zeros(1),
                                   "0._extra_state": 5})
        return keys, meta, other[0].calls, str(info.value), str(info2.value)

    ng_out, t_out = run(ng), run(torch)
    assert ng_out[0] == t_out[0] == ["0._extra_state", "0.lin.weight", "0.lin.bias"]
    assert ng_out[1] == t_out[1]
    assert ng_out[2] == t_out[2] == 3
    assert ng_out[3] == t_out[3]
    assert ng_out[4] == t_out[4]


def test_state_dict_metadata_matches_torch():
    def run(lib):
        tnn = nn if lib is ng else torch.nn
        model = tnn.Sequential(tnn.Linear(2, 2), tnn.Sequential(tnn.BatchNorm1d(2), tnn.InstanceNorm1d(2)))
        return dict(model.state_dict()._metadata), dict(model.state_dict(prefix="m.")._metadata)

    assert run(ng) == run(torch)


def test_state_dict_and_load_state_dict_hooks_match_torch():
    def run(lib):
        tnn = nn if lib is ng else torch.nn
        model = tnn.Sequential(tnn.Linear(2, 2), tnn.Linear(2, 1))
        log = []
        model[0].register_state_dict_pre_hook(lambda m, prefix, keep_vars: log.append(("pre", prefix, keep_vars)))
        model.register_state_dict_post_hook(lambda m, sd, prefix, meta: log.append(("post", prefix, sorted(sd),
                                                                                    dict(meta))))
        model[1].register_state_dict_post_hook(lambda m, sd, prefix, meta: sd.pop(prefix + "bias") and None)
        sd = model.state_dict(keep_vars=True)
        assert (sd["0.weight"] is model[0].weight) and "1.bias" not in sd

        def rename(m, state, prefix, meta, strict, missing, unexpected, errors):
            log.append(("load pre", prefix, sorted(state)))
            if prefix + "w" in state:
                state[prefix + "weight"] = state.pop(prefix + "w")

        def post(m, keys):
            log.append(("load post", type(m).__name__, list(keys.missing_keys), list(keys.unexpected_keys)))
            if prefix_missing := [k for k in keys.missing_keys if k.endswith("bias")]:
                for k in prefix_missing:
                    keys.missing_keys.remove(k)

        model[0].register_load_state_dict_pre_hook(rename)
        model[1].register_load_state_dict_post_hook(post)
        model.register_load_state_dict_post_hook(post)
        values = {"0.w": np.ones((2, 2)), "0.bias": np.ones(2), "1.weight": np.full((1, 2), 2.0)}
        if lib is torch:
            values = {k: torch.tensor(v, dtype=torch.float32) for k, v in values.items()}
        result = model.load_state_dict(values)
        bad = model[1].register_load_state_dict_post_hook(lambda m, keys: 1)
        with pytest.raises(AssertionError) as info:
            model.load_state_dict(values)
        bad.remove()
        with pytest.raises(RuntimeError) as info2:
            model[1].register_state_dict_post_hook(lambda m, sd, prefix, meta: sd)
            model.state_dict()
        return log, repr(result), _np(model[0].weight).tolist(), _np(model[1].weight).tolist(), str(info.value), \
            str(info2.value)

    ng_out, t_out = run(ng), run(torch)
    assert ng_out[0] == t_out[0]
    assert ng_out[1:] == t_out[1:]


def test_load_state_dict_assign_matches_torch():
    def run(lib):
        tnn = nn if lib is ng else torch.nn
        model = tnn.Sequential(tnn.Linear(2, 2), tnn.BatchNorm1d(2))
        model[0].bias.requires_grad_(False)
        source = tnn.Sequential(tnn.Linear(2, 2), tnn.BatchNorm1d(2)).double()
        sd = source.state_dict()
        model.load_state_dict(sd, assign=True)
        w, b, rm = model[0].weight, model[0].bias, model[1].running_mean
        shares = (np.shares_memory(w.detach().numpy(), sd["0.weight"].numpy()) if lib is ng
                  else w.data_ptr() == sd["0.weight"].data_ptr())
        return (type(w).__name__, str(w.dtype).split(".")[-1], w.requires_grad, b.requires_grad,
                str(rm.dtype).split(".")[-1], shares, rm is not sd["1.running_mean"])

    assert run(ng) == run(torch) == ("Parameter", "float64", True, False, "float64", True, False)


def test_size_mismatch_loads_nothing_but_a_missing_key_error_comes_after_loading():
    lin = nn.Linear(2, 1)
    before = lin.weight.detach().numpy().copy()
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        lin.load_state_dict({"weight": np.ones((3, 3)), "bias": np.ones(1)})
    np.testing.assert_array_equal(lin.weight.detach().numpy(), before)
    with pytest.raises(RuntimeError, match=re.escape('Missing key(s) in state_dict: "bias".')):
        lin.load_state_dict({"weight": np.ones((1, 2))})
    np.testing.assert_array_equal(lin.weight.detach().numpy(), 1.0)  # as torch: loaded, then the strict error


def test_half_bfloat16_type_to_empty_and_share_memory():
    def run(lib):
        tnn = nn if lib is ng else torch.nn
        model = tnn.Sequential(tnn.Linear(2, 2), tnn.BatchNorm1d(2))
        w = model[0].weight
        out = [str(model.half()[0].weight.dtype), str(model[1].num_batches_tracked.dtype), model[0].weight is w]
        out.append(str(model.bfloat16()[0].weight.dtype))
        out.append(str(model.type(lib.float64)[1].num_batches_tracked.dtype))  # integer buffers too
        out.append(str(model[0].weight.dtype))
        empty = model.to_empty(device="cpu")
        out += [empty is model, tuple(model[0].weight.shape), str(model[0].weight.dtype), model[0].weight is w]
        return [s.replace("torch.", "").replace("numgrad.", "") if isinstance(s, str) else s for s in out]

    assert run(ng) == run(torch)
    with pytest.raises(NotImplementedError, match="numgrad tensors cannot be moved to shared memory"):
        nn.Linear(1, 1).share_memory()


def test_pickle_and_deepcopy_keep_hooks_but_not_the_compiled_call():
    m = nn.Linear(2, 1)
    m.register_forward_hook(_double_output)
    m.compile()
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert clone._compiled_call_impl is None and clone._slow_call
        np.testing.assert_allclose(clone(ng.ones(1, 2)).detach().numpy(), 2 * m.forward(ng.ones(1, 2)).detach().numpy())


def _double_output(module, args, output):
    return output * 2


# ------------------------------------------------------------------ Module.compile and ng.compile
def test_module_compile_replays_hooks_included_and_matches_eager():
    lin = nn.Linear(3, 2)
    lin.register_forward_hook(lambda m, a, o: o.tanh())
    x = ng.tensor(RNG.standard_normal((4, 3)).astype(np.float32))
    with ng.no_grad():
        eager = lin(x).numpy()
        lin.compile()
        outs = [lin(x).numpy() for _ in range(5)]
    compiled = lin._compiled_call_impl
    assert compiled.replays == 2 and compiled.fallback_reason is None
    for out in outs:
        np.testing.assert_array_equal(out, eager)
    # grad mode: captured as a forward and a backward; gradients as eager's
    xg = ng.tensor(x.numpy(), requires_grad=True)
    lin(xg).sum().backward()
    grads = []
    for _ in range(4):
        xg = ng.tensor(x.numpy(), requires_grad=True)
        lin.zero_grad()
        lin(xg).sum().backward()
        grads.append((xg.grad.numpy(), lin.weight.grad.numpy()))
    assert compiled.replays > 2
    eager_lin = copy.deepcopy(lin)  # no compiled call
    xe = ng.tensor(x.numpy(), requires_grad=True)
    eager_lin.zero_grad()
    eager_lin(xe).sum().backward()
    np.testing.assert_array_equal(grads[-1][0], xe.grad.numpy())
    np.testing.assert_array_equal(grads[-1][1], eager_lin.weight.grad.numpy())


def _train_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    return step


def _models_and_data():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    twin = copy.deepcopy(model)
    x = ng.tensor(RNG.standard_normal((6, 3)).astype(np.float32))
    y = ng.tensor(RNG.standard_normal((6, 1)).astype(np.float32))
    return model, twin, x, y


def test_a_tensor_math_forward_and_backward_hook_is_captured_and_replays_bitwise_equal_to_eager():
    model, twin, x, y = _models_and_data()
    for m in (model, twin):
        m[1].register_forward_hook(lambda mod, a, o: o * 0.5 + 0.1)
        m[2].register_full_backward_hook(lambda mod, gi, go: (gi[0] * 0.25,))
    step = ng.compile(_train_step(model, ng.optim.SGD(model.parameters(), lr=0.1)))
    eager = _train_step(twin, ng.optim.SGD(twin.parameters(), lr=0.1))
    for _ in range(6):
        assert step(x, y).item() == eager(x, y).item()
    assert step.replays == 3 and step.fallback_reason is None
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), twin[0].weight.detach().numpy())


def test_a_hook_that_changes_python_state_or_prints_runs_eagerly(capsys):
    model, _, x, y = _models_and_data()
    step = ng.compile(_train_step(model, ng.optim.SGD(model.parameters(), lr=0.1)))
    for _ in range(4):
        step(x, y)
    assert step.replays == 1
    seen = []
    handle = model[0].register_forward_hook(lambda m, a, o: seen.append(1))
    for _ in range(4):
        step(x, y)
    assert len(seen) == 4 and step.replays == 1  # every call ran the hook
    assert "the step changes Python state (the length of a list)" in step.fallback_reason
    handle.remove()
    for _ in range(2):
        step(x, y)
    assert step.replays == 3  # the plan captured without the hook replays again
    with nn.modules.module.register_module_forward_hook(lambda m, a, o: print("out", tuple(o.shape))):
        for _ in range(4):
            step(x, y)
    assert capsys.readouterr().out.count("out (6, 4)") == 8 and step.replays == 3  # the Linear and the Tanh
    assert step.fallback_reason.startswith("the step prints")
    step(x, y)
    assert step.replays == 4


def test_registering_a_hook_after_capture_never_replays_a_stale_plan():
    model, twin, x, y = _models_and_data()
    step = ng.compile(_train_step(model, ng.optim.SGD(model.parameters(), lr=0.1)))
    eager = _train_step(twin, ng.optim.SGD(twin.parameters(), lr=0.1))
    for _ in range(4):
        assert step(x, y).item() == eager(x, y).item()
    assert step.replays == 1 and step._hot is not None  # the next call would take the hot path
    h1 = model[2].register_forward_hook(lambda m, a, o: o * 3.0)
    h2 = twin[2].register_forward_hook(lambda m, a, o: o * 3.0)
    for _ in range(5):  # the first call after registering already sees the hook
        assert step(x, y).item() == eager(x, y).item()
    assert step.replays == 3
    h1.remove()
    h2.remove()
    # another hook object doing other math in the same slot: a new guard, not the other hook's plan
    model[2].register_forward_hook(lambda m, a, o: o * -1.0)
    twin[2].register_forward_hook(lambda m, a, o: o * -1.0)
    for _ in range(5):
        assert step(x, y).item() == eager(x, y).item()
    # a global hook counts too
    with ng_module.register_module_forward_pre_hook(lambda m, a: tuple(t * 2.0 for t in a)):
        for _ in range(4):
            assert step(x, y).item() == eager(x, y).item()
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), twin[0].weight.detach().numpy())


def test_a_compiled_modules_grad_mode_call_with_a_backward_hook_runs_eagerly():
    lin = nn.Linear(2, 2)
    calls = []
    lin.register_full_backward_hook(lambda m, gi, go: calls.append(1) and None)
    compiled = ng.compile(lin)
    for _ in range(4):
        compiled(ng.ones(3, 2, requires_grad=True)).sum().backward()
    assert len(calls) == 4
    assert "has a full backward hook or pre-hook" in compiled._compiled_call.fallback_reason


def test_a_deepcopied_model_accumulates_into_its_own_parameters():
    lin = nn.Linear(3, 2)
    lin(ng.ones(1, 3)).sum().backward()
    twin = copy.deepcopy(lin)
    twin.zero_grad()
    twin(ng.ones(1, 3)).sum().backward()
    np.testing.assert_array_equal(twin.weight.grad.numpy(), 1.0)
    np.testing.assert_array_equal(lin.weight.grad.numpy(), 1.0)  # the original's gradient is its own


def test_docstring_examples_run():
    import doctest
    import importlib

    for name in ("numgrad.nn.modules.module_hooks", "numgrad.nn.modules.module", "numgrad.autograd.tensor_methods",
                 "numgrad.autograd.function", "numgrad.utils.hooks"):
        module = importlib.import_module(name)
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0, name


def _doubler(module, *rest):
    """Doubles a forward hook's output or a forward pre-hook's arguments."""
    value = rest[-1]
    return tuple(v * 2.0 for v in value) if isinstance(value, tuple) else value * 2.0


def test_the_same_hook_moved_to_another_module_or_kind_is_a_new_guard():
    model, twin, x, y = _models_and_data()
    step = ng.compile(_train_step(model, ng.optim.SGD(model.parameters(), lr=0.1)))
    eager = _train_step(twin, ng.optim.SGD(twin.parameters(), lr=0.1))
    placements = [
        lambda m: m[0].register_forward_hook(_doubler),
        lambda m: m[2].register_forward_hook(_doubler),
        lambda m: m[2].register_forward_pre_hook(_doubler),
        lambda m: ng_module.register_module_forward_hook(_doubler) if m is model else None,
        lambda m: ng_module.register_module_forward_pre_hook(_doubler) if m is model else None,
    ]
    for place in placements:
        handles = [place(model), place(twin)]
        for _ in range(4):
            assert step(x, y).item() == eager(x, y).item()
        for h in handles:
            if h is not None:
                h.remove()
    assert step.replays >= 5
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), twin[0].weight.detach().numpy())


def _scaler(scale):
    return lambda module, args, output: output * scale


def test_a_new_hook_where_a_freed_one_was_is_a_new_guard():
    # the guard is the handles' ids, never reused: a new hook function may get a freed one's id (its address)
    model, twin, x, y = _models_and_data()
    step = ng.compile(_train_step(model, ng.optim.SGD(model.parameters(), lr=0.1)))
    eager = _train_step(twin, ng.optim.SGD(twin.parameters(), lr=0.1))
    ids = []
    for scale in (2.0, 3.0, 0.5):
        hook = _scaler(scale)
        ids.append(id(hook))
        handles = [model[2].register_forward_hook(hook), twin[2].register_forward_hook(_scaler(scale))]
        del hook
        for _ in range(4):
            assert step(x, y).item() == eager(x, y).item()
        for h in handles:
            h.remove()
        for _ in range(2):  # walked again without the hook: the old one is freed
            assert step(x, y).item() == eager(x, y).item()
    assert step.replays >= 6
