"""nn.Buffer, the uninitialized parameters and the lazy layers; EmbeddingBag, CTCLoss, grid_sample and
affine_grid: values and gradients against torch, gradcheck in float64, reprs, state_dict keys and errors."""
import copy

import numpy as np
import pytest
import torch

import numgrad as ng
import numgrad.nn.functional as F
from numgrad.autograd import gradcheck

TF = torch.nn.functional
TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-11)}


def _close(a, b, dt):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL[dt])


def _pair(arr, requires_grad=True):
    return torch.tensor(arr, requires_grad=requires_grad), ng.tensor(arr, requires_grad=requires_grad)


# ------------------------------------------------------------------ Buffer and uninitialized tensors
def test_buffer_assignment_registers_with_its_persistence():
    m = ng.nn.Module()
    t = ng.ones(2, requires_grad=True)
    m.a = ng.nn.Buffer(t)
    m.b = ng.nn.Buffer(ng.zeros(1), persistent=False)
    assert [n for n, _ in m.named_buffers()] == ["a", "b"]
    assert list(m.state_dict()) == ["a"]
    assert m.a.requires_grad and m.a.grad_fn is None
    m.a.data.fill_(3.0)
    assert t.tolist() == [3.0, 3.0]  # shares the data, as PyTorch's detach-based Buffer does
    m.a = ng.zeros(2)  # a plain tensor re-assigned to a buffer name stays a buffer
    assert "a" in dict(m.named_buffers())
    assert isinstance(ng.nn.Buffer(), ng.Tensor) and ng.nn.Buffer().shape == (0,)
    with pytest.raises(TypeError, match="expected a Tensor"):
        ng.nn.Buffer([1.0])


def test_uninitialized_parameter_materialize_and_errors():
    p = ng.nn.UninitializedParameter(dtype=ng.float64)
    assert repr(p) == "<UninitializedParameter>" and p.requires_grad
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter"):
        p.shape
    with pytest.raises(ValueError, match="uninitialized parameter in numel"):
        p.numel()
    assert p.size() == (0,)
    q = copy.deepcopy(p)
    assert type(q) is ng.nn.UninitializedParameter and q is not p
    p.materialize((2, 3))
    assert type(p) is ng.nn.Parameter and p.shape == (2, 3) and p.dtype == ng.float64
    b = ng.nn.UninitializedBuffer(persistent=False)
    b.materialize((4,), dtype=ng.float64)
    assert isinstance(b, ng.nn.Buffer) and b.shape == (4,) and b.persistent is False
    assert ng.nn.parameter.is_lazy(ng.nn.UninitializedBuffer()) and not ng.nn.parameter.is_lazy(p)


# ------------------------------------------------------------------ lazy layers
LAZY_REPRS = [
    (lambda nn: nn.LazyLinear(3), "LazyLinear(in_features=0, out_features=3, bias=True)"),
    (lambda nn: nn.LazyConv1d(4, 3), "LazyConv1d(0, 4, kernel_size=(3,), stride=(1,))"),
    (lambda nn: nn.LazyConv2d(4, 3, groups=2), "LazyConv2d(0, 4, kernel_size=(3, 3), stride=(1, 1), groups=2)"),
    (lambda nn: nn.LazyConvTranspose1d(2, 3), "LazyConvTranspose1d(0, 2, kernel_size=(3,), stride=(1,))"),
    (lambda nn: nn.LazyConvTranspose2d(2, 3, stride=2),
     "LazyConvTranspose2d(0, 2, kernel_size=(3, 3), stride=(2, 2))"),
    (lambda nn: nn.LazyBatchNorm1d(), "LazyBatchNorm1d(0, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                                      "track_running_stats=True)"),
    (lambda nn: nn.LazyBatchNorm2d(bias=False), "LazyBatchNorm2d(0, eps=1e-05, momentum=0.1, affine=True, "
                                                "bias=False, track_running_stats=True)"),
    (lambda nn: nn.LazyInstanceNorm1d(), "LazyInstanceNorm1d(0, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                                         "track_running_stats=True)"),
    (lambda nn: nn.LazyInstanceNorm2d(affine=False), "LazyInstanceNorm2d(0, eps=1e-05, momentum=0.1, "
                                                     "affine=False, bias=False, track_running_stats=True)"),
]


@pytest.mark.parametrize("make,text", LAZY_REPRS)
def test_lazy_repr_and_state_dict_keys_match_torch(make, text):
    ours, theirs = make(ng.nn), make(torch.nn)
    assert repr(ours) == repr(theirs) == text
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert all(repr(v) in ("<UninitializedParameter>", "<UninitializedBuffer>") or v.shape == ()
               for v in ours.state_dict().values())


LAZY_CASES = [
    ("LazyLinear", (3,), "Linear", (2, 5)),
    ("LazyConv1d", (4, 3), "Conv1d", (2, 2, 7)),
    ("LazyConv2d", (4, 3), "Conv2d", (2, 2, 6, 6)),
    ("LazyConv2d", (4, 3), "Conv2d", (2, 6, 6)),  # unbatched: in_channels is dim 0
    ("LazyConvTranspose1d", (4, 3), "ConvTranspose1d", (2, 2, 5)),
    ("LazyConvTranspose2d", (4, 3), "ConvTranspose2d", (1, 2, 4, 4)),
    ("LazyBatchNorm1d", (), "BatchNorm1d", (4, 3)),
    ("LazyBatchNorm2d", (), "BatchNorm2d", (2, 3, 4, 4)),
    ("LazyInstanceNorm1d", (), "InstanceNorm1d", (2, 3, 5)),
    ("LazyInstanceNorm2d", (), "InstanceNorm2d", (2, 3, 4, 4)),
]


@pytest.mark.parametrize("lazy,args,concrete,shape", LAZY_CASES)
def test_lazy_layer_becomes_concrete_and_matches_torch(lazy, args, concrete, shape):
    ours, theirs = getattr(ng.nn, lazy)(*args), getattr(torch.nn, lazy)(*args)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    theirs(torch.tensor(x))
    ours(ng.tensor(x))
    assert type(ours) is getattr(ng.nn, concrete)
    # InstanceNorm's repr gained PyTorch's "bias=" on the 3-D branch; compare without it to be merge-order proof
    plain = (lambda r: r.replace(", bias=True", "")) if "Instance" in lazy else (lambda r: r)
    assert plain(repr(ours)) == plain(repr(theirs))
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    tx, nx = _pair(x)
    _close(ours(nx).detach().numpy(), theirs(tx).detach().numpy(), np.float32)


def test_lazy_optimizer_built_before_first_forward_sees_materialized_parameters():
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.LazyLinear(3), torch.nn.Tanh(), torch.nn.LazyLinear(1))
    ours = ng.nn.Sequential(ng.nn.LazyLinear(3), ng.nn.Tanh(), ng.nn.LazyLinear(1))
    t_opt = torch.optim.Adam(theirs.parameters(), lr=0.1)
    n_opt = ng.optim.Adam(ours.parameters(), lr=0.1)
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    theirs(torch.tensor(x))
    ours(ng.tensor(x))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for _ in range(3):
        t_opt.zero_grad()
        n_opt.zero_grad()
        theirs(torch.tensor(x)).pow(2).sum().backward()
        ours(ng.tensor(x)).pow(2).sum().backward()
        t_opt.step()
        n_opt.step()
    assert n_opt.param_groups[0]["params"][0] is ours[0].weight  # the same object, materialized in place
    for (k, a), b in zip(theirs.state_dict().items(), ours.state_dict().values()):
        _close(b.numpy(), a.numpy(), np.float32)


def test_lazy_load_state_dict_materializes_and_dtype_follows_module():
    src = ng.nn.Sequential(ng.nn.Conv2d(3, 4, 3), ng.nn.BatchNorm2d(4))
    dst = ng.nn.Sequential(ng.nn.LazyConv2d(4, 3), ng.nn.LazyBatchNorm2d())
    dst.load_state_dict(src.state_dict())
    assert dst[0].weight.shape == (4, 3, 3, 3) and dst[0].in_channels == 3 and dst[1].num_features == 4
    x = ng.randn(1, 3, 5, 5)
    src.eval(), dst.eval()
    np.testing.assert_array_equal(dst(x).detach().numpy(), src(x).detach().numpy())
    assert type(dst[0]) is ng.nn.Conv2d and type(dst[1]) is ng.nn.BatchNorm2d
    # lazy to lazy: placeholders copy nothing; a float64 module materializes float64 parameters
    lazy = ng.nn.LazyLinear(2)
    lazy.load_state_dict(ng.nn.LazyLinear(2).state_dict())
    lazy.double()
    assert lazy(ng.ones(1, 3, dtype=ng.float64)).dtype == ng.float64 and lazy.weight.dtype == ng.float64
    norm = ng.nn.LazyBatchNorm1d().double()
    assert repr(norm.running_mean) == "<UninitializedBuffer>"
    norm(ng.randn(4, 3, dtype=ng.float64))
    assert norm.running_mean.dtype == ng.float64 and norm.running_mean.shape == (3,)
    # loading an uninitialized state into an initialized module: PyTorch's error
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter"):
        ng.nn.Linear(3, 2).load_state_dict(ng.nn.LazyLinear(2).state_dict())


def test_lazy_errors():
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to LazyConv2d"):
        ng.nn.LazyConv2d(4, 3)(ng.ones(2, 2, 2, 5, 5))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        ng.nn.LazyConv1d(4, 3, groups=2)(ng.ones(1, 3, 5))
    m = ng.nn.LazyLinear(2)
    m.load_state_dict(ng.nn.Linear(3, 2).state_dict())
    with pytest.raises(AssertionError, match="in_features inferred from input: 4 is not equal to in_features from "
                                             "self.weight: 3"):
        m(ng.ones(1, 4))
    with pytest.raises(RuntimeError, match="can't be used with `DataParallel`"):
        ng.nn.LazyLinear(2)._replicate_for_data_parallel()


@pytest.mark.parametrize("lazy,concrete,shape", [("LazyConv3d", "Conv3d", (1, 2, 4, 4, 4)),
                                                 ("LazyConvTranspose3d", "ConvTranspose3d", (1, 2, 3, 3, 3)),
                                                 ("LazyBatchNorm3d", "BatchNorm3d", (2, 2, 3, 3, 3)),
                                                 ("LazyInstanceNorm3d", "InstanceNorm3d", (2, 2, 3, 3, 3))])
def test_lazy_3d(lazy, concrete, shape):
    if not hasattr(ng.nn, concrete):
        pytest.skip(f"numgrad.nn.{concrete} is not in this build (its lazy class appears with it)")
    args = (4, 3) if "Conv" in lazy else ()
    ours, theirs = getattr(ng.nn, lazy)(*args), getattr(torch.nn, lazy)(*args)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    theirs(torch.tensor(x))
    ours(ng.tensor(x))
    assert type(ours) is getattr(ng.nn, concrete)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    _close(ours(ng.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(), np.float32)


# ------------------------------------------------------------------ EmbeddingBag
IDX = np.array([1, 2, 4, 5, 4, 3, 2, 0, 6, 1])
OFFSETS = np.array([0, 2, 2, 5])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("mode,pad,psw", [("sum", None, False), ("sum", 2, True), ("mean", None, False),
                                          ("mean", 2, False), ("max", None, False), ("max", 2, False)])
def test_embedding_bag_values_and_gradients_match_torch(dt, mode, pad, psw):
    rng = np.random.default_rng(0)
    tw, nw = _pair(rng.standard_normal((7, 3)).astype(dt))
    tp, np_ = _pair(rng.standard_normal(IDX.shape).astype(dt)) if psw else (None, None)
    a = TF.embedding_bag(torch.tensor(IDX), tw, torch.tensor(OFFSETS), mode=mode, padding_idx=pad,
                         per_sample_weights=tp)
    b = F.embedding_bag(ng.tensor(IDX), nw, ng.tensor(OFFSETS), mode=mode, padding_idx=pad, per_sample_weights=np_)
    _close(b.detach().numpy(), a.detach().numpy(), dt)
    g = rng.standard_normal(a.shape).astype(dt)
    (a * torch.tensor(g)).sum().backward()
    (b * ng.tensor(g)).sum().backward()
    _close(nw.grad.numpy(), tw.grad.numpy(), dt)
    if psw:
        _close(np_.grad.numpy(), tp.grad.numpy(), dt)


def test_embedding_bag_2d_input_last_offset_and_max_norm_match_torch():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((7, 3)).astype(np.float32)
    tw, nw = torch.tensor(w), ng.tensor(w)
    a = TF.embedding_bag(torch.tensor(IDX.reshape(2, 5)), tw, mode="max")
    _close(F.embedding_bag(ng.tensor(IDX.reshape(2, 5)), nw, mode="max").numpy(), a.numpy(), np.float32)
    last = np.append(OFFSETS, len(IDX))
    a = TF.embedding_bag(torch.tensor(IDX), tw, torch.tensor(last), include_last_offset=True, max_norm=1.0)
    b = F.embedding_bag(ng.tensor(IDX), nw, ng.tensor(last), include_last_offset=True, max_norm=1.0)
    _close(b.numpy(), a.numpy(), np.float32)
    _close(nw.numpy(), tw.numpy(), np.float32)  # the rows used were renormalized in place, as in PyTorch


def test_embedding_bag_scale_grad_by_freq_matches_embedding():
    # the gradient of a sum bag is the embedding's summed over bags; with scale_grad_by_freq each row's
    # gradient is divided by its count in the input (PyTorch's documented rule and F.embedding's; PyTorch's
    # CPU embedding_bag divides some rows by the wrong count)
    tw, nw = _pair(np.random.default_rng(2).standard_normal((7, 3)))
    TF.embedding(torch.tensor(IDX), tw, scale_grad_by_freq=True).sum().backward()
    F.embedding_bag(ng.tensor(IDX), nw, ng.tensor(OFFSETS), mode="sum", scale_grad_by_freq=True).sum().backward()
    _close(nw.grad.numpy(), tw.grad.numpy(), np.float64)


def test_embedding_bag_gradcheck():
    rng = np.random.default_rng(3)
    w = ng.tensor(rng.standard_normal((5, 2)), requires_grad=True)
    psw = ng.tensor(rng.standard_normal(6), requires_grad=True)
    idx, off = ng.tensor([0, 1, 1, 4, 2, 3]), ng.tensor([0, 3, 3])
    assert gradcheck(lambda w, p: F.embedding_bag(idx, w, off, mode="sum", per_sample_weights=p), (w, psw))
    assert gradcheck(lambda w: F.embedding_bag(idx, w, off, mode="mean", padding_idx=1), (w,))
    assert gradcheck(lambda w: F.embedding_bag(idx, w, off, mode="max"), (w,))


def test_embedding_bag_module():
    bag = ng.nn.EmbeddingBag(10, 3, mode="max", padding_idx=2, max_norm=1.0, norm_type=1.0,
                             include_last_offset=True)
    ref = torch.nn.EmbeddingBag(10, 3, mode="max", padding_idx=2, max_norm=1.0, norm_type=1.0,
                                include_last_offset=True)
    assert repr(bag) == repr(ref) == "EmbeddingBag(10, 3, max_norm=1.0, norm_type=1.0, mode='max', padding_idx=2)"
    assert repr(ng.nn.EmbeddingBag(10, 3)) == "EmbeddingBag(10, 3, mode='mean')"
    assert list(bag.state_dict()) == ["weight"] and bag.weight.shape == (10, 3)
    assert np.all(bag.weight.detach().numpy()[2] == 0)
    bag.load_state_dict({"weight": ref.weight.detach().numpy()})
    idx, off = np.array([1, 2, 4, 5, 4]), np.array([0, 2, 5])
    _close(bag(ng.tensor(idx), ng.tensor(off)).detach().numpy(),
           ref(torch.tensor(idx), torch.tensor(off)).detach().numpy(), np.float32)
    pre = ng.nn.EmbeddingBag.from_pretrained(ng.eye(3), mode="sum")
    assert not pre.weight.requires_grad and pre(ng.tensor([[0, 2]])).tolist() == [[1.0, 0.0, 1.0]]


@pytest.mark.parametrize("kwargs,err,text", [
    (dict(input=[1.0, 2.0], offsets=[0]), RuntimeError, "to have one of the following scalar types: Long, Int"),
    (dict(input=[1, 2], offsets=[1]), RuntimeError, r"offsets\[0\] has to be 0"),
    (dict(input=[1, 2], offsets=[0, 3]), RuntimeError, r"offsets\[-1\] can not be greater than input's length 2"),
    (dict(input=[1, 2, 3], offsets=[0, 2, 1]), RuntimeError, "offsets must be non-decreasing"),
    (dict(input=[1, 9], offsets=[0]), IndexError, "index out of range in self"),
    (dict(input=[1, 2], offsets=[0], padding_idx=7), RuntimeError, "padding_idx must be within the number"),
    (dict(input=[1, 2], offsets=[0], mode="mean", per_sample_weights=[1.0, 2.0]), NotImplementedError,
     "per_sample_weights is only supported for mode='sum'"),
    (dict(input=[1, 2], offsets=[0], per_sample_weights=[1.0]), ValueError, "must have the same shape"),
    (dict(input=[1, 2], offsets=[0], mode="prod"), ValueError, "mode has to be one of sum, mean or max"),
    (dict(input=[1, 2], offsets=[0], mode="max", scale_grad_by_freq=True), ValueError, "max mode does not support"),
    (dict(input=[1, 2], offsets=[0], sparse=True), NotImplementedError, "numgrad has no sparse gradients"),
    (dict(input=[1, 2]), ValueError, "offsets has to be a 1D Tensor but got None"),
    (dict(input=[[1, 2]], offsets=[0]), ValueError, "if input is 2D, then offsets has to be None"),
])
def test_embedding_bag_errors(kwargs, err, text):
    kw = {k: ng.tensor(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    with pytest.raises(err, match=text):
        F.embedding_bag(weight=ng.randn(5, 3), **kw)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        ng.nn.EmbeddingBag(5, 3, sparse=True)


# ------------------------------------------------------------------ CTC
CTC_TARGETS = np.array([[1, 2, 2], [3, 1, 0], [4, 4, 4]])
CTC_IN, CTC_TG = np.array([7, 6, 5]), np.array([3, 2, 3])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss_values_and_gradients_match_torch(dt, reduction):
    tx, nx = _pair(np.random.default_rng(0).standard_normal((7, 3, 5)).astype(dt))
    a = TF.ctc_loss(tx.log_softmax(2), torch.tensor(CTC_TARGETS), torch.tensor(CTC_IN), torch.tensor(CTC_TG),
                    reduction=reduction)
    b = F.ctc_loss(nx.log_softmax(2), ng.tensor(CTC_TARGETS), ng.tensor(CTC_IN), ng.tensor(CTC_TG),
                   reduction=reduction)
    _close(b.detach().numpy(), a.detach().numpy(), dt)
    a.sum().backward()
    b.sum().backward()
    _close(nx.grad.numpy(), tx.grad.numpy(), dt)


def test_ctc_loss_gradient_on_log_probs_is_torchs():
    # PyTorch's gradient with respect to log_probs themselves (its exp(lp) term belongs to the log_softmax)
    lp = np.log(np.random.default_rng(1).dirichlet(np.ones(5), size=(7, 3)))
    tl, nl = _pair(lp)
    TF.ctc_loss(tl, torch.tensor(CTC_TARGETS), CTC_IN.tolist(), CTC_TG.tolist()).backward()
    F.ctc_loss(nl, ng.tensor(CTC_TARGETS), CTC_IN.tolist(), CTC_TG.tolist()).backward()
    _close(nl.grad.numpy(), tl.grad.numpy(), np.float64)


def test_ctc_loss_zero_infinity_concatenated_and_unbatched():
    x = np.random.default_rng(2).standard_normal((4, 2, 3))
    targets, lengths = np.array([[1, 1, 1], [1, 2, 0]]), np.array([3, 2])  # sample 0: 4 frames cannot fit 1 1 1
    for zero_infinity in (False, True):
        tx, nx = _pair(x)
        a = TF.ctc_loss(tx.log_softmax(2), torch.tensor(targets), torch.tensor([4, 4]), torch.tensor(lengths),
                        reduction="none", zero_infinity=zero_infinity)
        b = F.ctc_loss(nx.log_softmax(2), ng.tensor(targets), ng.tensor([4, 4]), ng.tensor(lengths),
                       reduction="none", zero_infinity=zero_infinity)
        assert np.isinf(b.detach().numpy()[0]) != zero_infinity
        _close(b.detach().numpy(), a.detach().numpy(), np.float64)
        if zero_infinity:
            a.sum().backward()
            b.sum().backward()
            _close(nx.grad.numpy(), tx.grad.numpy(), np.float64)
    flat = np.array([1, 1, 1, 1, 2])
    a = TF.ctc_loss(torch.tensor(x).log_softmax(2), torch.tensor(flat), [4, 4], [3, 2], zero_infinity=True)
    b = F.ctc_loss(ng.tensor(x).log_softmax(2), ng.tensor(flat), [4, 4], [3, 2], zero_infinity=True)
    _close(b.numpy(), a.numpy(), np.float64)
    a = TF.ctc_loss(torch.tensor(x[:, 1]).log_softmax(1), torch.tensor([1, 2]), torch.tensor(4), torch.tensor(2),
                    reduction="none")
    b = F.ctc_loss(ng.tensor(x[:, 1]).log_softmax(1), ng.tensor([1, 2]), ng.tensor(4), ng.tensor(2),
                   reduction="none")
    assert b.shape == () and abs(b.item() - a.item()) < 1e-12


def test_ctc_loss_gradcheck_and_module():
    x = ng.tensor(np.random.default_rng(3).standard_normal((4, 2, 3)), requires_grad=True)
    tg = ng.tensor([[1, 2], [2, 2]])
    assert gradcheck(lambda x: F.ctc_loss(x.log_softmax(2), tg, [4, 3], [2, 2]), (x,))
    loss = ng.nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    assert repr(loss) == "CTCLoss()" and list(loss.state_dict()) == []
    assert abs(loss(x.log_softmax(2), tg, [4, 3], [2, 2]).item()
               - F.ctc_loss(x.log_softmax(2), tg, [4, 3], [2, 2], reduction="sum").item()) < 1e-12


@pytest.mark.parametrize("kwargs,err,text", [
    (dict(input_lengths=[8, 5]), RuntimeError, "Expected input_lengths to have value at most 7, but got value 8"),
    (dict(target_lengths=[3, 3]), RuntimeError, "Expected tensor to have size at least 3 at dimension 1"),
    (dict(blank=5), RuntimeError, "blank must be in label range"),
    (dict(input_lengths=[5]), RuntimeError, "input_lengths must be of size batch_size"),
    (dict(input_lengths=[5, -1]), RuntimeError, "Expected input_lengths to have value at least 0"),
    (dict(reduction="avg"), ValueError, "avg is not a valid value for reduction"),
    (dict(targets=[[1, 2], [1, 7]]), IndexError, "target 7 of sample 1 is out of range for 5 classes"),
    (dict(targets=[1, 2, 1]), RuntimeError, "Expected tensor to have size 4 at dimension 0, but got size 3"),
])
def test_ctc_loss_errors(kwargs, err, text):
    args = dict(targets=[[1, 2], [1, 1]], input_lengths=[5, 5], target_lengths=[2, 2])
    args.update(kwargs)
    args["targets"] = ng.tensor(args["targets"])
    with pytest.raises(err, match=text):
        F.ctc_loss(ng.randn(7, 2, 5).log_softmax(2), **args)
    with pytest.raises(NotImplementedError, match="\"ctc_loss_cpu\" not implemented for 'Int'"):
        F.ctc_loss(ng.ones(7, 2, 5, dtype=ng.int32), ng.tensor([[1]]), [1, 1], [1, 1])


# ------------------------------------------------------------------ grid_sample, affine_grid
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("mode,padding_mode,align_corners", [
    ("bilinear", "zeros", False), ("bilinear", "border", True), ("bilinear", "reflection", False),
    ("bilinear", "reflection", True), ("nearest", "zeros", True), ("nearest", "reflection", False),
    ("bicubic", "zeros", True), ("bicubic", "reflection", False)])
def test_grid_sample_values_and_gradients_match_torch(dt, mode, padding_mode, align_corners):
    rng = np.random.default_rng(0)
    grid = rng.uniform(-1.4, 1.4, (2, 3, 4, 2))
    grid[0, 0, :2] = [[0.0, 0.0], [1.0, -1.0]]  # pixel centres and edges
    tx, nx = _pair(rng.standard_normal((2, 3, 5, 4)).astype(dt))
    tg, ngr = _pair(grid.astype(dt))
    a = TF.grid_sample(tx, tg, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    b = F.grid_sample(nx, ngr, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    _close(b.detach().numpy(), a.detach().numpy(), dt)
    g = rng.standard_normal(a.shape).astype(dt)
    (a * torch.tensor(g)).sum().backward()
    (b * ng.tensor(g)).sum().backward()
    _close(nx.grad.numpy(), tx.grad.numpy(), dt)
    _close(ngr.grad.numpy(), tg.grad.numpy(), dt)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("mode,padding_mode,align_corners", [
    ("bilinear", "zeros", False), ("bilinear", "reflection", True), ("nearest", "border", False)])
def test_grid_sample_5d_values_and_gradients_match_torch(dt, mode, padding_mode, align_corners):
    rng = np.random.default_rng(4)
    grid = rng.uniform(-1.4, 1.4, (2, 2, 3, 2, 3))
    grid[0, 0, 0, :2] = [[0.0, 0.0, 0.0], [1.0, -1.0, 1.0]]
    tx, nx = _pair(rng.standard_normal((2, 2, 4, 3, 5)).astype(dt))
    tg, ngr = _pair(grid.astype(dt))
    a = TF.grid_sample(tx, tg, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    b = F.grid_sample(nx, ngr, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    assert repr(b.grad_fn).startswith("<GridSampler3DBackward0")
    _close(b.detach().numpy(), a.detach().numpy(), dt)
    g = rng.standard_normal(a.shape).astype(dt)
    (a * torch.tensor(g)).sum().backward()
    (b * ng.tensor(g)).sum().backward()
    _close(nx.grad.numpy(), tx.grad.numpy(), dt)
    _close(ngr.grad.numpy(), tg.grad.numpy(), dt)


def test_grid_sample_and_affine_grid_gradcheck():
    rng = np.random.default_rng(1)
    x = ng.tensor(rng.standard_normal((1, 2, 3, 3)), requires_grad=True)
    # away from pixel boundaries, where bilinear sampling is not differentiable
    grid = ng.tensor(rng.uniform(-0.9, 0.9, (1, 2, 2, 2)) + 0.013, requires_grad=True)
    for mode, padding_mode in (("bilinear", "zeros"), ("bilinear", "reflection"), ("bicubic", "border")):
        assert gradcheck(lambda x, g: F.grid_sample(x, g, mode=mode, padding_mode=padding_mode, align_corners=False),
                         (x, grid))
    x3 = ng.tensor(rng.standard_normal((1, 1, 2, 3, 2)), requires_grad=True)
    grid3 = ng.tensor(rng.uniform(-0.9, 0.9, (1, 1, 2, 2, 3)) + 0.013, requires_grad=True)
    assert gradcheck(lambda x, g: F.grid_sample(x, g, padding_mode="border", align_corners=True), (x3, grid3))
    theta = ng.tensor(rng.standard_normal((1, 2, 3)) * 0.3, requires_grad=True)
    assert gradcheck(lambda t: F.grid_sample(x, F.affine_grid(t, [1, 2, 3, 3], align_corners=True),
                                             align_corners=True), (theta,))


@pytest.mark.parametrize("size", [[2, 3, 4, 5], [2, 3, 4, 5, 3]])
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_matches_torch(size, align_corners):
    theta = np.random.default_rng(2).standard_normal((2, len(size) - 2, len(size) - 1))
    tt, nt = _pair(theta)
    a = TF.affine_grid(tt, size, align_corners=align_corners)
    b = F.affine_grid(nt, size, align_corners=align_corners)
    assert b.shape == tuple(a.shape)
    _close(b.detach().numpy(), a.detach().numpy(), np.float64)
    (a ** 2).sum().backward()
    (b ** 2).sum().backward()
    _close(nt.grad.numpy(), tt.grad.numpy(), np.float64)


def test_grid_errors_and_warnings():
    x, grid = ng.randn(1, 1, 3, 3), ng.zeros(1, 2, 2, 2)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(x, grid)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.affine_grid(ng.zeros(1, 2, 3), [1, 1, 2, 2])
    cases = [
        (lambda: F.grid_sample(x, grid, mode="cubic", align_corners=False), ValueError, "expected mode to be"),
        (lambda: F.grid_sample(x, grid, padding_mode="wrap", align_corners=False), ValueError,
         "expected padding_mode"),
        (lambda: F.grid_sample(x, ng.zeros(2, 2, 2, 2), align_corners=False), RuntimeError, "same batch size"),
        (lambda: F.grid_sample(x, ng.zeros(1, 2, 2, 3), align_corners=False), RuntimeError,
         "expected grid to have size 2 in last dimension"),
        (lambda: F.grid_sample(x, ng.zeros(1, 2, 2), align_corners=False), RuntimeError, "expected 4D or 5D input"),
        (lambda: F.grid_sample(x, grid.double(), align_corners=False), RuntimeError, "same dtype"),
        (lambda: F.grid_sample(ng.zeros(1, 1, 2, 2, 2), ng.zeros(1, 1, 1, 1, 3), mode="bicubic",
                               align_corners=False), RuntimeError, "bicubic interpolation only supports 4D input"),
        (lambda: F.grid_sample(ng.zeros(1, 1, 2, 2, 2), ng.zeros(1, 1, 1, 1, 2), align_corners=False),
         RuntimeError, "expected grid to have size 3 in last dimension"),
        (lambda: F.affine_grid(ng.zeros(1, 2, 3), [1, 1, 2, 2, 2], align_corners=False), ValueError,
         "Expected a batch of 3D affine matrices of shape Nx3x4"),
        (lambda: F.affine_grid(ng.zeros(1, 2, 3), [1, 2, 2], align_corners=False), NotImplementedError,
         "affine_grid only supports 4D and 5D sizes"),
        (lambda: F.affine_grid(ng.zeros(1, 2, 3, dtype=ng.int64), [1, 1, 2, 2], align_corners=False), ValueError,
         "Expected theta to have floating point type"),
        (lambda: F.affine_grid(ng.zeros(1, 2, 3), [1, 1, 0, 2], align_corners=False), ValueError,
         "Expected non-zero, positive output size"),
        (lambda: F.affine_grid(ng.zeros(2, 2, 3), [1, 1, 2, 2], align_corners=False), RuntimeError,
         "theta holds 2 affine matrices"),
    ]
    for call, err, text in cases:
        with pytest.raises(err, match=text):
            call()


@pytest.mark.parametrize("module", [
    "numgrad.nn.parameter", "numgrad.nn.modules.lazy", "numgrad.nn.modules.sparse_more", "numgrad.nn.modules.loss_ctc",
    "numgrad.nn.functional.embedding_bag", "numgrad.nn.functional.ctc", "numgrad.nn.functional.grid",
    "numgrad.kernels.cpu.embedding_bag", "numgrad.kernels.cpu.ctc", "numgrad.kernels.cpu.grid_sample",
])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.skipif(not ng.cuda.is_available(), reason="no GPU and no CUDA simulator")
def test_cuda_tensors_get_a_clear_error_naming_the_op():
    w = ng.randn(5, 3, device="cuda")
    with pytest.raises(NotImplementedError, match="embedding_bag: this numgrad op has no CUDA kernel"):
        F.embedding_bag(ng.tensor([1, 2], device="cuda"), w, ng.tensor([0], device="cuda"))
    with pytest.raises(NotImplementedError, match="ctc_loss: this numgrad op has no CUDA kernel"):
        F.ctc_loss(ng.randn(4, 1, 3, device="cuda"), ng.tensor([[1]]), [4], [1])
    with pytest.raises(NotImplementedError, match="grid_sample: this numgrad op has no CUDA kernel"):
        F.grid_sample(ng.randn(1, 1, 2, 2, device="cuda"), ng.zeros(1, 1, 1, 2, device="cuda"), align_corners=True)
