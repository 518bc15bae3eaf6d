"""Layer ops on device='cuda' (linear, conv2d, the poolings), checked against the CPU results.

Forward values, first gradients and - through ``create_graph=True`` - the
double-backward Functions, on tiny shapes: the CUDA simulator pays about
0.1 ms per simulated thread.  A small Conv2d/ReLU/MaxPool2d/Flatten/Linear
model moved with ``.to('cuda')`` must give the CPU's loss and gradients.
"""
from __future__ import annotations

import numpy as np
import pytest

import numgrad as ng
from tests.helpers import assert_close

pytestmark = [pytest.mark.skipif(not ng.cuda.is_available(), reason="no GPU and no CUDA simulator"), pytest.mark.gpu,
              pytest.mark.usefixtures("fast_simulated_barriers")]

F = ng.nn.functional
TOL = {"float64": (1e-9, 1e-10), "float32": (1e-4, 1e-5)}


def _seed(shape, dtype, k=1):
    return np.random.default_rng(k).standard_normal(shape).astype(dtype)


def _run(fn, arrays, device, dtype, double=False):
    """Outputs of ``fn`` and the gradients of a random projection of its first output; with ``double``, also
    the gradients (inputs and seed) of a random projection of those gradients (the double-backward Functions)."""
    xs = [ng.tensor(a.astype(dtype), device=device, requires_grad=True) for a in arrays]
    outs = fn(*xs)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    seed = ng.tensor(_seed(outs[0].shape, dtype), device=device, requires_grad=double)
    loss = (outs[0] * seed).sum()
    results = [o.detach() for o in outs]
    if not double:
        loss.backward()
        return results + [x.grad for x in xs]
    grads = ng.autograd.grad(loss, xs, create_graph=True)
    results += [g.detach() for g in grads]
    total = sum((g * ng.tensor(_seed(g.shape, dtype, 2 + i), device=device)).sum() for i, g in enumerate(grads))
    # x and w enter a linear op's gradient linearly: some second derivatives are structurally absent
    seconds = ng.autograd.grad(total, xs + [seed], allow_unused=True)
    return results + [s for s in seconds if s is not None]


def _check(fn, arrays, dtype="float64", double=False):
    cpu = _run(fn, arrays, "cpu", dtype, double)
    gpu = _run(fn, arrays, "cuda", dtype, double)
    assert len(cpu) == len(gpu)
    rtol, atol = TOL[dtype]
    for i, (c, g) in enumerate(zip(cpu, gpu)):
        assert g.device.type == "cuda", f"result {i} left the GPU"
        assert g.dtype == c.dtype and g.shape == c.shape, f"result {i}: {g.dtype} {g.shape} vs {c.dtype} {c.shape}"
        assert_close(g.cpu(), c, rtol, atol, msg=f"result {i} ({dtype})")
    return cpu, gpu


def _normal(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


# ------------------------------------------------------------------ conv2d
CONV_CASES = [
    # (x shape, w shape, bias, kwargs)
    ((2, 3, 5, 5), (4, 3, 3, 3), True, dict(padding=1)),
    ((2, 4, 5, 5), (4, 2, 3, 3), False, dict(stride=2, groups=2)),
    ((2, 2, 5, 5), (3, 2, 2, 3), True, dict(dilation=2, padding=(1, 2))),
    ((1, 2, 5, 4), (2, 1, 3, 2), True, dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
]


@pytest.mark.parametrize("xs, ws, bias, kwargs", CONV_CASES, ids=["pad1", "stride2-groups2", "dilation2-pad12",
                                                                  "mixed-groups2"])
def test_conv2d_matches_cpu(xs, ws, bias, kwargs):
    x, w, b = _normal(xs, ws, (ws[0],))
    fn = (lambda x, w, b: F.conv2d(x, w, b, **kwargs)) if bias else (lambda x, w: F.conv2d(x, w, **kwargs))
    _check(fn, [x, w, b] if bias else [x, w])


def test_conv2d_float32_and_double_backward():
    x, w, b = _normal((2, 4, 4, 4), (2, 2, 3, 3), (2,))
    fn = lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2)  # noqa: E731
    _check(fn, [x, w, b], "float32")
    _check(fn, [x, w, b], double=True)


def test_conv2d_unbatched_and_bias_grad_without_graph():
    x, w, b = _normal((2, 4, 4), (3, 2, 2, 2), (3,))
    _check(lambda x, w, b: F.conv2d(x, w, b), [x, w, b])


# ------------------------------------------------------------------ pooling
@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=2),
                                    dict(kernel_size=(2, 3), stride=2, padding=(1, 1), dilation=(2, 1),
                                         ceil_mode=True)],
                         ids=["overlapping", "k2", "dilated-ceil"])
def test_max_pool2d_matches_cpu_with_indices(kwargs):
    (x,) = _normal((2, 2, 5, 5))
    x[0, 0, 1, 1] = x[0, 0, 1, 2]  # a tie: the first maximum wins on both devices
    cpu, gpu = _check(lambda x: F.max_pool2d(x, return_indices=True, **kwargs), [x])
    assert gpu[1].dtype == ng.int64
    assert np.array_equal(gpu[1].cpu().numpy(), cpu[1].numpy())
    # overlapping windows send several gradients to one input: the gather sums them in the CPU's order
    assert np.array_equal(gpu[2].cpu().numpy(), cpu[2].numpy())


def test_max_pool2d_double_backward_and_nan():
    (x,) = _normal((1, 2, 4, 4))
    _check(lambda x: F.max_pool2d(x, 2, stride=1), [x], double=True)
    x[0, 1, 2, 2] = np.nan
    _check(lambda x: F.max_pool2d(x, 3, stride=1, padding=1), [x], "float32")


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1),
                                    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                         count_include_pad=False),
                                    dict(kernel_size=(2, 3), stride=1, divisor_override=4)],
                         ids=["pad", "ceil-exclude-pad", "divisor"])
def test_avg_pool2d_matches_cpu(kwargs):
    (x,) = _normal((2, 2, 5, 5))
    _check(lambda x: F.avg_pool2d(x, **kwargs), [x])


def test_avg_pool2d_float32_and_double_backward():
    (x,) = _normal((1, 2, 4, 5))
    fn = lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)  # noqa: E731
    _check(fn, [x], "float32")
    _check(fn, [x], double=True)


@pytest.mark.parametrize("size", [(3, 2), 1, (7, None)], ids=["3x2", "global", "upsample"])
def test_adaptive_avg_pool2d_matches_cpu(size):
    (x,) = _normal((2, 2, 5, 4))
    _check(lambda x: F.adaptive_avg_pool2d(x, size), [x], double=size == (3, 2))


# ------------------------------------------------------------------ linear
def test_linear_batched_input_double_backward_and_empty_batch():
    x, w, b = _normal((2, 3, 4), (5, 4), (5,))
    _check(lambda x, w, b: F.linear(x, w, b), [x, w, b], double=True)
    _check(lambda x, w, b: F.linear(x, w, b), [x, w, b], "float32")
    x0, w0, b0 = _normal((0, 4), (3, 4), (3,))
    _check(lambda x, w, b: F.linear(x, w, b), [x0, w0, b0])


def test_layer_ops_refuse_mixed_devices():
    x = ng.randn(1, 2, 4, 4, device="cuda")
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but found at least two "
                                           "devices, cuda:0 and cpu!"):
        F.conv2d(x, ng.randn(3, 2, 3, 3))
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        F.linear(ng.randn(2, 3, device="cuda"), ng.randn(4, 3, device="cuda"), ng.randn(4))


# ------------------------------------------------------------------ a model moved with .to('cuda')
def _model():
    ng.manual_seed(0)
    return ng.nn.Sequential(ng.nn.Conv2d(2, 3, 3, padding=1), ng.nn.ReLU(), ng.nn.MaxPool2d(2), ng.nn.Flatten(),
                            ng.nn.Linear(3 * 2 * 2, 4))


def test_sequential_model_moved_to_cuda_matches_cpu():
    x_np, y_np = _normal((2, 2, 5, 5), (2, 4), seed=5)
    ref = _model()
    loss = F.mse_loss(ref(ng.tensor(x_np, dtype=ng.float32)), ng.tensor(y_np, dtype=ng.float32))
    loss.backward()

    model = _model()
    params = list(model.parameters())
    opt = ng.optim.SGD(model.parameters(), lr=0.1)
    assert model.to("cuda") is model
    moved = list(model.parameters())
    # the same Parameter objects, now on the GPU: an optimizer made before the move keeps working
    assert all(p is q for p, q in zip(params, moved))
    assert all(isinstance(p, ng.nn.Parameter) and p.is_leaf and p.requires_grad and p.device.type == "cuda"
               for p in moved)
    out = model(ng.tensor(x_np, dtype=ng.float32, device="cuda"))
    assert out.device.type == "cuda"
    gpu_loss = F.mse_loss(out, ng.tensor(y_np, dtype=ng.float32, device="cuda"))
    gpu_loss.backward()
    assert_close(gpu_loss.detach().cpu(), loss.detach(), 1e-5, 1e-6)
    for (name, p), q in zip(ref.named_parameters(), model.parameters()):
        assert q.grad.device.type == "cuda", name
        assert_close(q.grad.cpu(), p.grad, 1e-4, 1e-5, msg=name)
    before = [p.detach().cpu().numpy().copy() for p in moved]
    opt.step()
    for p, b, r in zip(moved, before, ref.parameters()):
        assert p.device.type == "cuda"
        assert_close(p.detach().cpu(), b - 0.1 * r.grad.numpy(), 1e-5, 1e-6)
    # and back: gradients travel with their parameters
    model.cpu()
    assert all(p.device.type == "cpu" and p.grad.device.type == "cpu" for p in model.parameters())
    assert all(p is q for p, q in zip(params, model.parameters()))


# ------------------------------------------------------------------ batch norm, layer norm, embedding, dropout
def _on(arr, like, dtype=None):
    """A constant tensor of ``arr`` on the device (and with the dtype) of tensor ``like``."""
    return ng.tensor(arr, dtype=dtype or like.dtype, device=like.device)


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4), (2, 2, 3, 3)], ids=["N-C", "N-C-L", "N-C-H-W"])
def test_batch_norm_train_matches_cpu_and_updates_running_stats_on_device(shape):
    c = shape[1]
    x, w, b = _normal(shape, (c,), (c,))
    x += 3.0  # a mean away from 0: the running statistics move visibly
    stats = {}

    def fn(x, w, b):
        rm = _on(np.linspace(-1, 1, c), x)
        rv = _on(np.linspace(0.5, 2, c), x)
        out = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3)
        stats[x.device.type] = (rm, rv)
        return out

    _check(fn, [x, w, b])
    for c_stat, g_stat in zip(stats["cpu"], stats["cuda"]):
        assert g_stat.device.type == "cuda" and g_stat._version[0] == 1
        assert_close(g_stat.cpu(), c_stat, 1e-12, 1e-12)
    _check(fn, [x, w, b], "float32")
    _check(fn, [x, w, b], double=True)


def test_batch_norm_eval_without_affine_and_without_running_stats():
    x, rm, rv = _normal((4, 3, 2), (3,), (3,))
    rv = np.abs(rv) + 0.5

    def eval_fn(x):
        return F.batch_norm(x, _on(rm, x), _on(rv, x), training=False, eps=1e-3)

    _check(eval_fn, [x])
    _check(eval_fn, [x], double=True)
    _check(eval_fn, [x], "float32")
    # training on batch statistics only, no weight or bias
    _check(lambda x: F.batch_norm(x, None, None, training=True), [x], double=True)
    w, b = _normal((3,), (3,), seed=4)
    _check(lambda x, w, b: F.batch_norm(x, _on(rm, x), _on(rv, x), w, b, training=False), [x, w, b], double=True)


def test_batch_norm_refuses_statistics_on_another_device():
    x = ng.randn(4, 3, device="cuda")
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but found at least two "
                                           "devices, cuda:0 and cpu!.*running_mean"):
        F.batch_norm(x, ng.zeros(3), ng.ones(3), training=True)
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device.*weight"):
        F.layer_norm(x, (3,), ng.ones(3))


@pytest.mark.parametrize("shape, normalized", [((4, 5), (5,)), ((2, 3, 2, 3), (2, 3))], ids=["rows", "2-d"])
def test_layer_norm_matches_cpu(shape, normalized):
    x, w, b = _normal(shape, normalized, normalized)
    fn = lambda x, w, b: F.layer_norm(x, normalized, w, b, eps=1e-4)  # noqa: E731
    _check(fn, [x, w, b])
    _check(fn, [x, w, b], "float32")
    _check(fn, [x, w, b], double=True)
    _check(lambda x: F.layer_norm(x, normalized), [x], double=True)
    _check(lambda x, w: F.layer_norm(x, normalized, w), [x, w])


@pytest.mark.parametrize("padding_idx", [None, 1], ids=["no-padding", "padding1"])
def test_embedding_matches_cpu_with_repeated_indices(padding_idx):
    (w,) = _normal((5, 3))
    idx = np.array([[1, 3, 1], [4, 1, 0]])  # row 1 three times: its gradient sums three rows

    def fn(w):
        return F.embedding(_on(idx, w, ng.int64), w, padding_idx=padding_idx)

    cpu, gpu = _check(fn, [w])
    if padding_idx is not None:
        assert np.all(gpu[1].cpu().numpy()[padding_idx] == 0)
    _check(fn, [w], "float32")
    _check(fn, [w], double=True)
    # int32 indices
    _check(lambda w: F.embedding(_on(idx, w, ng.int32), w, padding_idx=padding_idx), [w])


def test_embedding_errors_on_cuda():
    w = ng.randn(4, 2, device="cuda")
    with pytest.raises(IndexError, match=r"index out of range in self \(embedding: index 7 with num_embeddings=4"):
        F.embedding(ng.tensor([[0, 7], [1, 2]], device="cuda"), w)
    with pytest.raises(IndexError, match="index -1 with num_embeddings=4"):
        F.embedding(ng.tensor([-1], device="cuda"), w)
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device.*indices"):
        F.embedding(ng.tensor([0, 1]), w)


@pytest.mark.parametrize("p", [0.3, 1.0])
def test_dropout_same_seed_gives_the_cpu_mask(p):
    (x,) = _normal((3, 7))

    def fn(x):
        ng.manual_seed(11)  # the mask is drawn from numgrad's generator on both devices
        return F.dropout(x, p)

    cpu, gpu = _check(fn, [x])
    for c, g in zip(cpu, gpu):
        assert np.array_equal(g.cpu().numpy(), c.numpy())
    cpu32, gpu32 = _check(fn, [x], "float32")
    assert np.array_equal(gpu32[0].cpu().numpy(), cpu32[0].numpy())
    _check(fn, [x], double=True)
    y = ng.ones(4, device="cuda")
    assert F.dropout(y, 0.5, training=False) is y


def test_binary_cross_entropy_checks_its_input_on_cuda():
    t = ng.tensor([1.0, 0.0, 1.0], device="cuda")
    for bad in ([0.2, 1.5, 0.3], [0.2, -0.1, 0.3], [0.2, float("nan"), 0.3]):
        with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
            F.binary_cross_entropy(ng.tensor(bad, device="cuda"), t)
    x = ng.tensor([0.0, 1.0, 0.5], device="cuda", requires_grad=True)
    loss = F.binary_cross_entropy(x, t)  # 0 and 1 are allowed: the logs are clamped at -100
    loss.backward()
    assert loss.device.type == "cuda" and x.grad.device.type == "cuda"
    assert_close(loss.detach().cpu(), np.float32((100 + 100 + np.log(2)) / 3), 1e-5, 1e-5)


class _NormNet(ng.nn.Module):
    """BatchNorm2d, BatchNorm1d (cumulative averages: momentum=None), Dropout, Embedding and LayerNorm."""

    def __init__(self):
        super().__init__()
        self.bn2 = ng.nn.BatchNorm2d(2)
        self.lin = ng.nn.Linear(2 * 3 * 3, 4)
        self.bn1 = ng.nn.BatchNorm1d(4, momentum=None)
        self.drop = ng.nn.Dropout(0.25)
        self.emb = ng.nn.Embedding(6, 4, padding_idx=0)
        self.ln = ng.nn.LayerNorm(4)

    def forward(self, x, idx):
        h = self.drop(self.bn1(self.lin(self.bn2(x).flatten(1))))
        e = self.ln(self.emb(idx)).mean(1)
        return (h * e).sum(1)


def _norm_net_steps(device, x_np, idx_np, y_np):
    ng.manual_seed(0)
    model = _NormNet().to(device)
    opt = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, idx, y = (ng.tensor(a, device=device) for a in (x_np, idx_np, y_np))
    losses = []
    for step in range(2):
        ng.manual_seed(100 + step)  # the dropout masks
        opt.zero_grad()
        loss = F.mse_loss(model(x, idx), y)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    model.eval()
    with ng.no_grad():
        losses.append(F.mse_loss(model(x, idx), y))
    return model, losses


def test_norm_modules_moved_to_cuda_train_like_the_cpu():
    rng = np.random.default_rng(9)
    x_np = (rng.standard_normal((4, 2, 3, 3)) + 1.5).astype(np.float32)
    idx_np = np.array([[1, 2, 0], [3, 3, 5], [0, 4, 1], [2, 5, 5]])
    y_np = rng.standard_normal(4).astype(np.float32)
    ref, ref_losses = _norm_net_steps("cpu", x_np, idx_np, y_np)
    model, losses = _norm_net_steps("cuda", x_np, idx_np, y_np)
    for c, g in zip(ref_losses, losses):
        assert g.device.type == "cuda"
        assert_close(g.cpu(), c, 1e-5, 1e-6)
    ref_state, state = ref.state_dict(), model.state_dict()
    assert list(ref_state) == list(state)
    for name, c in ref_state.items():
        g = state[name]
        assert g.device.type == "cuda", f"{name} left the GPU"
        assert_close(g.cpu(), c, 1e-5, 1e-6, msg=name)
    # two training steps moved the running statistics; the batch counters count them on the device
    assert not np.allclose(state["bn2.running_mean"].cpu().numpy(), 0)
    assert state["bn1.num_batches_tracked"].item() == 2 and state["bn2.num_batches_tracked"].item() == 2
    assert np.all(state["emb.weight"].cpu().numpy()[0] == 0)  # the padding row never moved


@pytest.mark.slow
def test_digits_example_trains_on_cuda():
    from numgrad.examples import digits

    # a tiny run: the simulator pays per thread (the convolutions' matmul tiles dominate)
    result = digits.train(epochs=1, batch_size=4, held_out=0.006, out=None, quiet=True, device="cuda",
                          max_batches=2, channels=2, hidden=8)
    assert len(result["losses"]) == 1 and np.isfinite(result["losses"][0])
    assert 0.0 <= result["accuracy"] <= 1.0
    model = result["model"]
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert all(b.device.type == "cuda" for b in model.buffers())
    assert model.features[1].num_batches_tracked.item() == 2
