"""The autograd engine: article examples, graph API, hooks, grad modes, versions, Function."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from numba import njit

import numgrad as ng
from tests.helpers import assert_close


# ------------------------------------------------------ the three article examples
def test_article_example_1_scalar_chain():
    x = ng.tensor(2.0, requires_grad=True)
    y = x ** 2
    z = 2 * y + 1
    z.backward()
    assert x.grad.item() == 8.0


def test_article_example_2_vector_output():
    ng.manual_seed(0)
    x = ng.rand(3, requires_grad=True)
    y = ng.rand(3, requires_grad=True)
    z = x * y + ng.sum(x)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        z.backward()
    z.backward(ng.ones(3))
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    ty = torch.tensor(y.detach().numpy(), requires_grad=True)
    (tx * ty + torch.sum(tx)).backward(torch.ones(3))
    assert_close(x.grad, tx.grad)
    assert_close(y.grad, ty.grad)


def test_article_example_3_weighted_loss():
    ng.manual_seed(1)
    x = ng.rand(5, requires_grad=True)
    weights = ng.rand(5, requires_grad=True)
    loss = ng.sum(weights * x ** 2)
    loss.backward()
    assert_close(x.grad, 2 * weights.detach() * x.detach(), rtol=1e-6)
    assert_close(weights.grad, x.detach() ** 2, rtol=1e-6)


# ------------------------------------------------------------ graph structure
def test_grad_fn_names_and_next_functions():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).exp().sum()
    assert y.grad_fn.name() == "SumBackward0"
    exp_node = y.grad_fn.next_functions[0][0]
    assert exp_node.name() == "ExpBackward0"
    mul_node = exp_node.next_functions[0][0]
    assert mul_node.name() == "MulBackward0"
    acc = mul_node.next_functions[0][0]
    assert acc.name() == "AccumulateGrad" and acc.variable is x
    assert x.is_leaf and not y.is_leaf and x.grad_fn is None


def test_broadcast_gradients_are_summed_to_input_shapes():
    ng.manual_seed(2)
    a = ng.randn(4, 1, 3, requires_grad=True)
    b = ng.randn(5, 1, requires_grad=True)
    c = ng.randn(3, requires_grad=True)
    ((a * b + c).tanh() * 2).sum().backward()
    ta, tb, tc = (torch.tensor(t.detach().numpy(), requires_grad=True) for t in (a, b, c))
    ((ta * tb + tc).tanh() * 2).sum().backward()
    for n, t in ((a, ta), (b, tb), (c, tc)):
        assert n.grad.shape == n.shape
        assert_close(n.grad, t.grad, rtol=1e-5, atol=1e-6)


def test_gradients_accumulate_and_retain_graph():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_shared_gradient_buffers_are_not_aliased():
    a = ng.tensor([1.0], requires_grad=True)
    b = ng.tensor([1.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.add_(5)  # must not leak into b.grad
    assert b.grad.tolist() == [1.0]
    g = ng.tensor([3.0])
    c = ng.tensor([1.0], requires_grad=True)
    (c * 1).backward(g)
    c.grad.zero_()
    assert g.tolist() == [3.0]


def test_autograd_grad_and_allow_unused():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    u = ng.tensor([1.0], requires_grad=True)
    y = (x ** 3).sum()
    (gx,) = ng.autograd.grad(y, x, retain_graph=True)
    assert gx.tolist() == [3.0, 12.0] and x.grad is None
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        ng.autograd.grad(y, [x, u], retain_graph=True)
    gx2, gu = ng.autograd.grad(y, [x, u], allow_unused=True)
    assert gu is None and gx2.tolist() == [3.0, 12.0]


def test_backward_inputs_only_accumulates_into_given_tensors():
    x = ng.tensor([1.0], requires_grad=True)
    w = ng.tensor([2.0], requires_grad=True)
    (x * w).sum().backward(inputs=[w])
    assert x.grad is None and w.grad.tolist() == [1.0]


def test_hessian_vector_product_matches_torch():
    ng.manual_seed(3)
    x = ng.randn(4, dtype=ng.float64, requires_grad=True)
    v = ng.randn(4, dtype=ng.float64)

    def f(m, t):
        return (m.tanh(t) * m.sigmoid(t) ** 2 + t ** 3 / (1 + t * t)).sum()

    (g,) = ng.autograd.grad(f(ng, x), x, create_graph=True)
    (hv,) = ng.autograd.grad((g * v).sum(), x)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    (tg,) = torch.autograd.grad(f(torch, tx), tx, create_graph=True)
    (thv,) = torch.autograd.grad((tg * torch.from_numpy(v.numpy())).sum(), tx)
    assert_close(hv, thv, rtol=1e-10)


def test_third_derivative():
    x = ng.tensor(0.7, dtype=ng.float64, requires_grad=True)
    y = ng.sin(x) * x
    (d1,) = ng.autograd.grad(y, x, create_graph=True)
    (d2,) = ng.autograd.grad(d1, x, create_graph=True)
    (d3,) = ng.autograd.grad(d2, x)
    xv = 0.7
    assert abs(d3.item() - (-3 * np.sin(xv) - xv * np.cos(xv))) < 1e-12


def test_gradcheck_and_gradgradcheck_pass_and_detect_errors():
    x = ng.randn(3, dtype=ng.float64, requires_grad=True)
    assert ng.autograd.gradcheck(lambda t: (t.exp() * t.sin()).sum(), (x,))
    assert ng.autograd.gradgradcheck(lambda t: (t.exp() * t.sin()).sum(), (x,))

    class WrongGrad(ng.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    with pytest.raises(ng.autograd.gradcheck_module.GradcheckError if hasattr(
            ng.autograd, "gradcheck_module") else RuntimeError, match="Jacobian mismatch"):
        ng.autograd.gradcheck(lambda t: WrongGrad.apply(t).sum(), (x,))


# --------------------------------------------------------------------- hooks
def test_tensor_hooks_on_leaf_and_non_leaf_and_removal():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h = x.register_hook(lambda g: g * 10)
    y = x * 3
    y.register_hook(lambda g: seen.append(g.tolist()))
    y.sum().backward()
    assert seen == [[1.0, 1.0]]
    assert x.grad.tolist() == [30.0, 30.0]
    h.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_retain_grad_on_non_leaf():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    z = (y * y).sum()
    z.backward()
    assert y.grad.tolist() == [4.0, 8.0] and y.retains_grad
    w = x * 5
    (w.sum()).backward()
    assert w.grad is None


# ---------------------------------------------------------------- grad modes
def test_no_grad_enable_grad_set_grad_enabled_and_decorators():
    x = ng.tensor([1.0], requires_grad=True)
    with ng.no_grad():
        assert not (x * 2).requires_grad
        with ng.enable_grad():
            assert (x * 2).requires_grad
    with ng.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert ng.is_grad_enabled()

    @ng.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    ng.set_grad_enabled(False)
    assert not ng.is_grad_enabled()
    ng.set_grad_enabled(True)


def test_grad_mode_is_thread_local():
    results = []

    def worker():
        results.append(ng.is_grad_enabled())

    with ng.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert results == [True]


# ------------------------------------------------------- in-place and versions
def test_modified_saved_tensor_raises_version_error():
    a = ng.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1
    c = b * b
    b.add_(1)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: .*is at version 1; expected version 0"):
        c.sum().backward()


def test_inplace_on_non_leaf_is_recorded():
    a = ng.tensor([1.0, 2.0], requires_grad=True)
    b = a * 2
    b.mul_(a)  # b = 2a * a
    b.sum().backward()
    assert a.grad.tolist() == [4.0, 8.0]
    ta = torch.tensor([1.0, 2.0], requires_grad=True)
    tb = ta * 2
    tb.mul_(ta)
    tb.sum().backward()
    assert_close(a.grad, ta.grad)


def test_inplace_on_leaf_requiring_grad_raises_but_not_under_no_grad():
    w = ng.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        w.add_(1)
    with ng.no_grad():
        w -= 0.5
    assert w.tolist() == [0.5]


# ---------------------------------------------------------- custom Function
@njit(cache=True)
def _cube_kernel(x, out):
    for i in range(x.size):
        out[i] = x[i] * x[i] * x[i]


class Cube(ng.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        arr = x.detach().numpy()  # as in PyTorch, numpy() needs detach() on a tensor that requires grad
        out = np.empty_like(arr)
        _cube_kernel(arr.reshape(-1), out.reshape(-1))
        return ng.from_numpy(out)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g


def test_custom_function_with_user_njit_kernel():
    x = ng.tensor([1.0, 2.0, -1.0], dtype=ng.float64, requires_grad=True)
    y = Cube.apply(x)
    assert y.grad_fn.name() == "CubeBackward"
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 12.0, 3.0]
    assert ng.autograd.gradcheck(lambda t: Cube.apply(t).sum(), (x,))
    assert ng.autograd.gradgradcheck(lambda t: Cube.apply(t).sum(), (x,))


def test_custom_function_needs_input_grad_and_non_tensor_args():
    seen = {}

    class Scale(ng.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, factor):
            seen["needs"] = ctx.needs_input_grad
            ctx.factor = factor
            return x * y * factor

        @staticmethod
        def backward(ctx, g):
            return g * ctx.factor, None, None

    x = ng.tensor([1.0], requires_grad=True)
    y = ng.tensor([2.0])
    Scale.apply(x, y, 3.0).sum().backward()
    assert seen["needs"] == (True, False, False)
    assert x.grad.tolist() == [3.0]


def test_custom_function_returning_arrays_and_numbers_gets_tensors():
    """forward and backward may return NumPy arrays, numbers or lists; they become tensors (gradients in
    the input's dtype)."""
    class Double(ng.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return 2.0 * x.detach().numpy()

        @staticmethod
        def backward(ctx, g):
            return np.full(g.shape, 2.0) * g.numpy()

    class Total(ng.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return float(x.detach().numpy().sum())

        @staticmethod
        def backward(ctx, g):
            return [g.item(), g.item()]  # a list of numbers

    x = ng.tensor([1.0, 2.0], requires_grad=True)
    y = Double.apply(x)
    assert isinstance(y, ng.Tensor) and y.tolist() == [2.0, 4.0]
    y.sum().backward()
    assert x.grad.dtype == ng.float32 and x.grad.tolist() == [2.0, 2.0]
    x.grad = None
    Total.apply(x).backward()
    assert x.grad.dtype == ng.float32 and x.grad.tolist() == [1.0, 1.0]


# ------------------------------------------------------------- scale and memory
def test_100k_op_chain_backward_without_recursion():
    x = ng.tensor([1.0], dtype=ng.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.000001
    y.sum().backward()
    assert abs(x.grad.item() - 1.000001 ** 100_000) < 1e-9


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_training_loop_1000_steps_without_memory_growth():
    ng.manual_seed(0)
    x = ng.randn(64, 8)
    target = (x * 0.5).sum(dim=1)
    w = ng.zeros(8, requires_grad=True)
    b = ng.zeros(1, requires_grad=True)
    rss = []
    for step in range(1000):
        pred = (x * w).sum(dim=1) + b
        loss = ((pred - target) ** 2).mean()
        w.grad = None
        b.grad = None
        loss.backward()
        with ng.no_grad():
            w -= 0.05 * w.grad
            b -= 0.05 * b.grad
        if step in (200, 999):
            rss.append(_rss_bytes())
    assert loss.item() < 1e-4
    assert rss[1] - rss[0] < 8 * 2**20, f"resident memory grew by {(rss[1] - rss[0]) / 2**20:.1f} MiB"


def test_next_functions_format_matches_pytorch():
    def shape(m, node):
        return [None if fn is None else fn.name().replace("torch::autograd::", "") for fn, _ in node.next_functions]

    for m in (ng, torch):
        x = m.ones(2, requires_grad=True)
        y = m.ones(2)
        got = [shape(m, (x * 2).grad_fn), shape(m, (x * y).grad_fn), shape(m, x.sum(0).grad_fn),
               shape(m, (x @ x).grad_fn)]
        if m is ng:
            ours = got
        else:
            theirs = got
    assert ours == theirs


def test_assigning_grad_checks_type_and_size_as_torch():
    for lib in (ng, torch):
        a = lib.ones(2, requires_grad=True)
        with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None but got grad of type float"):
            a.grad = 0.
        with pytest.raises(RuntimeError, match=r"attempting to assign a gradient of size '\[3\]' to a tensor of size "
                                               r"'\[2\]'. Please ensure that the gradient and the tensor are the same"):
            a.grad = lib.ones(3)
        a.grad = lib.full((2,), 3.0)
        assert a.grad.tolist() == [3.0, 3.0]
        a.grad = None
        assert a.grad is None


@pytest.mark.parametrize("old_accumulators", ["alive", "freed"])
def test_leaf_gradients_accumulate_as_soon_as_ready_whether_or_not_the_accumulators_outlived_the_last_backward(
        old_accumulators):
    """A leaf's AccumulateGrad runs as soon as its gradient is complete (as in PyTorch), not by its creation time:
    it lives as long as something references it, so ordering by creation would make the order in which ``.grad``
    slots are written (and the kernels an accumulating backward launches, which ``ng.compile`` compares between
    calls) depend on when the garbage collector ran."""
    def run(lib, keep):
        lib.manual_seed(0)
        first, last = lib.nn.Linear(4, 5), lib.nn.Linear(5, 3)
        names = {id(p): f"{layer}.{n}" for layer, m in (("first", first), ("last", last))
                 for n, p in m.named_parameters()}
        order, kept = [], []
        for p in (*first.parameters(), *last.parameters()):
            p.register_post_accumulate_grad_hook(lambda p: order.append(names[id(p)]))
        for _ in range(2):
            h = lib.tanh(first(lib.ones(2, 4)))
            h.register_hook(lambda g: order.append("tanh"))
            last(h).pow(2).sum().backward()
            if keep:  # holding an accumulator keeps the one the next forward pass uses
                kept.extend((p * 1).grad_fn.next_functions[0][0] for p in (*first.parameters(), *last.parameters()))
        return order

    keep = old_accumulators == "alive"
    order = run(ng, keep)
    assert order == run(ng, not keep)
    # as torch's, except that within one Linear numgrad writes the weight's gradient first (one AddmmBackward0 hands
    # out all three gradients, where PyTorch's weight gradient passes a TBackward0 first)
    layer_of = lambda order: [name.split(".")[0] for name in order]
    assert layer_of(order) == layer_of(run(torch, keep)) == ["last", "last", "tanh", "first", "first"] * 2
