"""The ng.compile differential fuzzer (tests/fuzz_compile.py) in CI, and the mismatches it found.

Each seeded program is a random training step run compiled and eagerly on two identical copies of its state;
after every call outputs, parameters, gradients, optimizer state and buffers must be equal bit for bit.
Run hundreds locally with ``python -m tests.fuzz_compile --seeds 0:300`` (and ``--no-fuse``).

The tests below are minimal repros of silent wrong results the fuzzer found (or probing around them found), each
fixed since; the comment above each says what went wrong.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import numgrad as ng
from numgrad import nn
from tests.fuzz_compile import check

# seeds per test in chunks of 15, so pytest-xdist's workers share them: one 60-seed test ran 97 s alone at the end
CHUNKS = [(True, range(start, start + 15)) for start in range(0, 60, 15)] + [(False, range(1000, 1030))]


@pytest.mark.parametrize("fuse, seeds", CHUNKS,
                         ids=[f"{'fuse' if fuse else 'launch-loop'}-{seeds.start}" for fuse, seeds in CHUNKS])
def test_compiled_steps_match_eager_bit_for_bit(fuse, seeds):
    reports, replayed, replays = [], 0, 0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
        for seed in seeds:
            report, outcome = check(seed, fuse=fuse, minimize=False)
            if report:
                reports.append(report)
            replayed += outcome.replays > 0
            replays += outcome.replays
    assert not reports, f"{len(reports)} compiled programs differ from eager:\n\n" + "\n\n".join(reports[:3])
    # a fuzzer whose programs all fall back tests nothing: most of them must replay
    assert replayed >= len(seeds) // 2, f"only {replayed} of {len(seeds)} programs replayed"
    assert replays >= 2 * replayed


# ------------------------------------------------------------------ minimal repros of mismatches (fixed)
def _masked_fill_inplace(x):
    y = x.clone()
    y.masked_fill_(y > 1.0, 1.0)
    return y * 2


UNUSED_WHILE_RECORDING = {
    "masked_fill": lambda x: x.masked_fill(x > 1.0, 1.0) * 2,
    "masked_fill_": _masked_fill_inplace,
    "clamp to a tensor": lambda x: ng.clamp(x, max=ng.tensor(1.0)) * 2,
}


# was: the fill value (the clamp bound) is a tensor from Python data: verification poisons it (NaN), no recorded
# output depended on it (the mask was all False), so the plan is kept and replays the poisoned value (NaN, or no
# clamping)
@pytest.mark.parametrize("fuse", [True, False], ids=["fuse", "launch-loop"])
@pytest.mark.parametrize("op", list(UNUSED_WHILE_RECORDING))
def test_python_data_unused_while_recording(op, fuse):
    step = UNUSED_WHILE_RECORDING[op]

    compiled = ng.compile(step, options={"fuse": fuse})
    for k in range(5):
        x = ng.full((3,), 0.5 if k < 3 else 2.0)  # the mask is all False in the recorded calls, True later
        assert np.array_equal(compiled(x).numpy(), step(x).numpy()), f"call {k}: {compiled.explain()}"


def _hooked_copy(register):
    ng.manual_seed(0)
    lin = nn.Linear(3, 2)
    opt = ng.optim.SGD(lin.parameters(), lr=0.1)
    state = {"scale": [1.0], "seen": []}
    register(lin, opt, state)

    def step(x):
        opt.zero_grad()
        loss = lin(x).sum()
        loss.backward()
        opt.step()
        return loss.detach()
    return step, lin, state


# was: a gradient hook registered outside the step is not reached by the guards: the Python value it reads is baked
# into the replay
def test_a_gradient_hook_reading_a_python_value():
    def register(lin, opt, state):
        lin.weight.register_hook(lambda g: g * state["scale"][0])

    c_step, c_lin, c_state = _hooked_copy(register)
    e_step, e_lin, e_state = _hooked_copy(register)
    compiled = ng.compile(c_step)
    x = ng.ones(4, 3)
    for k in range(6):
        if k == 4:
            c_state["scale"][0] = e_state["scale"][0] = 3.0
        compiled(x)
        e_step(x)
        assert np.array_equal(c_lin.weight.detach().numpy(), e_lin.weight.detach().numpy()), f"call {k}"


# was: a replay runs only the captured kernels: the Python hooks of the step (optimizer step hooks, tensor and
# parameter hooks) are not called, and their side effects are silently missing (torch.compile keeps them)
@pytest.mark.parametrize("kind", ["optimizer post hook", "parameter hook"])
def test_python_hooks_run_on_every_call(kind):
    def register(lin, opt, state):
        if kind == "optimizer post hook":
            opt.register_step_post_hook(lambda o, a, kw: state["seen"].append(1))
        else:
            lin.weight.register_hook(lambda g: state["seen"].append(1))

    step, _, state = _hooked_copy(register)
    compiled = ng.compile(step)
    for _ in range(6):
        compiled(ng.ones(4, 3))
    assert len(state["seen"]) == 6, f"{len(state['seen'])} hook calls in 6 steps ({compiled.replays} replays)"


# was: a parameter's requires_grad is not guarded for a compiled step (only for a compiled module's grad-mode call):
# after freezing, the replay still computes its gradient and the optimizer still updates it
def test_freezing_a_parameter_between_calls():
    def make():
        ng.manual_seed(0)
        a, b = nn.Linear(3, 3), nn.Linear(3, 1)
        opt = ng.optim.SGD([*a.parameters(), *b.parameters()], lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = b(a(x)).sum()
            loss.backward()
            opt.step()
            return loss.detach()
        return step, a

    c_step, c_a = make()
    e_step, e_a = make()
    compiled = ng.compile(c_step)
    x = ng.ones(4, 3)
    for k in range(6):
        if k == 4:
            c_a.weight.requires_grad_(False)
            e_a.weight.requires_grad_(False)
        compiled(x)
        e_step(x)
        assert np.array_equal(c_a.weight.detach().numpy(), e_a.weight.detach().numpy()), f"call {k}"
        assert (c_a.weight.grad is None) == (e_a.weight.grad is None), f"call {k}"


# was: a compiled module's recording calls run a backward from placeholder gradients and undo it for the module's
# own parameters only: a parameter the forward reads from its closure keeps the placeholder gradient
def test_a_compiled_module_reading_a_parameter_it_does_not_register():
    ng.manual_seed(0)
    w = nn.Parameter(ng.randn(3, 2))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            return self.lin(x).mm(w)

    net = ng.compile(Net())
    for k in range(5):
        net(ng.ones(4, 3))  # forward only: no backward, no gradient anywhere
        assert w.grad is None, f"call {k}: w.grad {w.grad.numpy().ravel()[:3]}"


SHIFT = 0.0


# was: a compiled module's grad-mode call (captured as a forward and a backward) does not guard the Python values
# its forward reads: the replay keeps the recorded ones
@pytest.mark.parametrize("what", ["closure list item", "global"])
def test_a_compiled_module_reading_a_python_value(what):
    global SHIFT
    SHIFT = 0.0
    ng.manual_seed(0)
    scale = [1.0]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            return self.lin(x) * scale[0] + SHIFT

    net = Net()
    compiled = ng.compile(net)
    x = ng.ones(4, 3)
    for k in range(7):
        if k == 4:
            if what == "global":
                SHIFT = 1.0
            else:
                scale[0] = 3.0
        got, want = compiled(x), net(x)
        assert np.array_equal(got.detach().numpy(), want.detach().numpy()), f"call {k}"


class _TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 1)

    def forward(self, x):
        return self.b(self.a(x))


def _change_replace_submodule(net, opt, saved):
    net.b = nn.Linear(3, 1)
    opt.param_groups[0]["params"][2:] = list(net.b.parameters())


def _change_load_optimizer_state(net, opt, saved):
    opt.load_state_dict(saved)


def _change_add_param_group(net, opt, saved):
    opt.param_groups[0]["params"][2:] = []
    opt.add_param_group({"params": list(net.b.parameters()), "lr": 0.05})


STATE_CHANGES = {
    "replace a submodule": _change_replace_submodule,  # the new parameters are not in the guards
    "load optimizer state": _change_load_optimizer_state,  # Adam's state tensors are new objects
    "add a param group": _change_add_param_group,  # parameters moved to a new group with another lr
}


# was: state changed between calls that the guards do not see: a replaced submodule's parameters, optimizer state
# loaded from a state_dict, a new param group; the replay keeps updating the captured tensors with the captured
# settings
@pytest.mark.parametrize("change", list(STATE_CHANGES))
def test_state_changed_between_calls(change):
    def make():
        ng.manual_seed(0)
        net = _TwoLayers()
        opt = ng.optim.Adam(net.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = net(x).sum()
            loss.backward()
            opt.step()
            return loss.detach()
        return step, net, opt

    (c_step, c_net, c_opt), (e_step, e_net, e_opt) = make(), make()
    compiled = ng.compile(c_step)
    x = ng.ones(4, 3)
    saved = {}
    for k in range(7):
        if k == 1:
            saved = {id(c_opt): c_opt.state_dict(), id(e_opt): e_opt.state_dict()}
            saved = {key: {"state": {i: {n: (v.clone() if isinstance(v, ng.Tensor) else v) for n, v in s.items()}
                                     for i, s in sd["state"].items()}, "param_groups": sd["param_groups"]}
                     for key, sd in saved.items()}
        if k == 4:
            for net, opt in ((c_net, c_opt), (e_net, e_opt)):
                ng.manual_seed(5)
                STATE_CHANGES[change](net, opt, saved[id(opt)])
        got, want = compiled(x), e_step(x)
        assert np.array_equal(got.numpy(), want.numpy()), f"call {k}"
        for p, q in zip(c_net.parameters(), e_net.parameters()):
            assert np.array_equal(p.detach().numpy(), q.detach().numpy()), f"call {k}"
