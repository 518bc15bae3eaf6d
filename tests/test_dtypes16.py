"""float16 and bfloat16 against torch: bit-exact conversions, creation, printing, casts, indexing, fused
elementwise ops, sum/mean, matmul and their gradients; dtype names, promotion, finfo/iinfo; clear errors for
what 16-bit floats and complex dtypes do not support."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng

PAIRS = [(ng.float16, torch.float16), (ng.bfloat16, torch.bfloat16)]
IDS = ["float16", "bfloat16"]


def _words(t: torch.Tensor) -> np.ndarray:
    return t.view(torch.int16).numpy().view(np.uint16)


def _to_torch(x: ng.Tensor) -> torch.Tensor:
    """A numgrad tensor as torch (16-bit floats through float32, which is exact)."""
    tdt = dict((a.name, b) for a, b in PAIRS).get(x.dtype.name)
    data = torch.from_numpy(np.array(x.detach().float().numpy()))
    return data.to(tdt) if tdt is not None else torch.from_numpy(np.array(x.detach().numpy()))


def _same_bits(x: ng.Tensor, t: torch.Tensor) -> None:
    assert str(x.dtype).split(".")[1] == str(t.dtype).split(".")[1]
    np.testing.assert_array_equal(_words(_to_torch(x)), _words(t))


@pytest.mark.parametrize("dt,tdt", PAIRS, ids=IDS)
def test_every_16bit_pattern_widens_like_torch(dt, tdt):
    words = np.arange(65536, dtype=np.uint16)
    as_torch = torch.from_numpy(words.view(np.int16)).view(tdt)
    ours = ng.tensor(as_torch.float().numpy()).to(dt)       # float32 -> 16 bits: exact for these values
    want = as_torch.float().numpy()
    got = ours.float().numpy()
    nan = np.isnan(want)
    np.testing.assert_array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))
    assert np.isnan(got[nan]).all()
    np.testing.assert_array_equal(ours.double().numpy()[~nan], want[~nan].astype(np.float64))


@pytest.mark.parametrize("dt,tdt", PAIRS, ids=IDS)
def test_rounding_to_16_bits_matches_torch(dt, tdt):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(4000).astype(np.float32) * s for s in (1e-7, 1e-3, 1, 3e2, 7e4)]
                       + [np.array([np.inf, -np.inf, 0.0, -0.0, 65504, 65519.99, 65520, 3e-8, 3e38], np.float32)])
    h = np.float16(1).view(np.uint16)
    mids = (np.arange(h, h + 300, dtype=np.uint16).view(np.float16).astype(np.float32)[:-1] + 2 ** -12)
    x = np.concatenate([x, mids])  # float16 ties: round to even
    _same_bits(ng.tensor(x).to(dt), torch.tensor(x).to(tdt))
    _same_bits(ng.tensor(x.astype(np.float64)).to(dt), torch.tensor(x.astype(np.float64)).to(tdt))
    ints = np.array([0, 1, -7, 2049, 70000], dtype=np.int64)
    _same_bits(ng.tensor(ints).to(dt), torch.tensor(ints).to(tdt))
    back = ng.tensor([1.7, -2.5, 300.4]).to(dt)
    assert back.long().tolist() == torch.tensor([1.7, -2.5, 300.4]).to(tdt).long().tolist()
    assert back.bool().tolist() == [True, True, True] and back.to(ng.int8).dtype == ng.int8


@pytest.mark.parametrize("dt,tdt", PAIRS, ids=IDS)
def test_creation_printing_and_values(dt, tdt):
    data = [[1.0, 2.5, -3.3], [1e-3, 0.0, 7.0]]
    x = ng.tensor(data, dtype=dt)
    assert x.dtype is dt and x.element_size() == 2 and x.is_floating_point()
    assert repr(x) == repr(torch.tensor(data, dtype=tdt)).replace("torch.", "numgrad.")
    assert x.tolist() == torch.tensor(data, dtype=tdt).tolist()
    assert x[0, 2].item() == torch.tensor(data, dtype=tdt)[0, 2].item()
    for made, ref in [(ng.full((3,), 1.1, dtype=dt), torch.full((3,), 1.1, dtype=tdt)),
                      (ng.ones(2, dtype=dt), torch.ones(2, dtype=tdt)),
                      (ng.arange(5, dtype=dt) / 3, torch.arange(5, dtype=tdt) / 3),
                      (ng.zeros_like(x), torch.zeros_like(torch.tensor(data, dtype=tdt)))]:
        _same_bits(made, ref)
    # torch's 16-bit linspace steps in 16-bit arithmetic; numgrad rounds float64 values once: within an ulp
    ng.testing.assert_close(ng.linspace(0, 1, 7, dtype=dt), ng.tensor(torch.linspace(0, 1, 7).numpy(), dtype=dt),
                            rtol=ng.finfo(dt).eps, atol=0.0)
    r = ng.randn(1000, dtype=dt)
    assert r.dtype is dt and 0.8 < float(r.float().std()) < 1.2
    assert x.type() == torch.tensor(data, dtype=tdt).type().replace("torch.", "numgrad.")


@pytest.mark.parametrize("dt,tdt", PAIRS, ids=IDS)
def test_views_and_indexing_with_gradients(dt, tdt):
    base = np.arange(24, dtype=np.float32).reshape(4, 6) / 7
    x = ng.tensor(base, dtype=dt, requires_grad=True)
    t = torch.tensor(base, dtype=tdt, requires_grad=True)
    idx = [2, 0, 2, 3]  # a repeated index: its gradient adds up
    mask = base[:, 0] > 1
    outs = [x[1:, ::2].t(), x[idx], x[ng.tensor(mask)], x.reshape(-1)[5:9], x.index_select(1, ng.tensor([4, 1])),
            x.gather(1, ng.tensor([[0, 5], [1, 1], [2, 0], [3, 3]])), ng.cat([x[0], x[1]]), ng.stack([x[2], x[3]])]
    refs = [t[1:, ::2].t(), t[idx], t[torch.tensor(mask)], t.reshape(-1)[5:9], t.index_select(1, torch.tensor([4, 1])),
            t.gather(1, torch.tensor([[0, 5], [1, 1], [2, 0], [3, 3]])), torch.cat([t[0], t[1]]),
            torch.stack([t[2], t[3]])]
    weights = np.random.default_rng(0).standard_normal(200).astype(np.float32)
    loss_ng, loss_t = 0, 0
    for o, r in zip(outs, refs):
        _same_bits(o, r)
        w = weights[:o.numel()].reshape(o.shape)
        loss_ng = loss_ng + (o * ng.tensor(w, dtype=dt)).sum()
        loss_t = loss_t + (r * torch.tensor(w, dtype=tdt)).sum()
    loss_ng.backward()
    loss_t.backward()
    assert x.grad.dtype is dt
    ng.testing.assert_close(x.grad.float(), ng.tensor(t.grad.float().numpy()), rtol=2e-2, atol=2e-2)
    y = ng.zeros(5, dtype=dt)
    y[1:3] = 2.5
    y[ng.tensor([4])] = ng.tensor([-1.25], dtype=dt)
    assert y.tolist() == [0.0, 2.5, 2.5, 0.0, -1.25]


@pytest.mark.parametrize("fusion", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("dt,tdt", PAIRS, ids=IDS)
def test_elementwise_chain_and_gradients(dt, tdt, fusion):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    previous = ng.is_fusion_enabled()
    ng.set_fusion(fusion)
    try:
        x, w = ng.tensor(a, dtype=dt, requires_grad=True), ng.tensor(b, dtype=dt, requires_grad=True)
        out = (ng.tanh(x * w + 1) * ng.sigmoid(x) ** 2 - x.exp() / 4).relu()
        out.sum().backward()
    finally:
        ng.set_fusion(previous)
    tx, tw = torch.tensor(a, dtype=tdt, requires_grad=True), torch.tensor(b, dtype=tdt, requires_grad=True)
    ref = (torch.tanh(tx * tw + 1) * torch.sigmoid(tx) ** 2 - tx.exp() / 4).relu()
    ref.sum().backward()
    assert out.dtype is dt and x.grad.dtype is dt and w.grad.dtype is dt
    # numgrad rounds once (the chain is computed in float32), torch eager after every op: within a few 16-bit ulps
    tol = dict(rtol=1e-2, atol=1e-2) if dt is ng.float16 else dict(rtol=5e-2, atol=5e-2)
    for got, want in ((out, ref), (x.grad, tx.grad), (w.grad, tw.grad)):
        ng.testing.assert_close(got.float(), ng.tensor(want.detach().float().numpy()), **tol)
    # a single op rounds exactly like torch
    _same_bits(ng.tensor(a, dtype=dt) * 3.3, torch.tensor(a, dtype=tdt) * 3.3)
    _same_bits(ng.tensor(a, dtype=dt) - ng.tensor(b, dtype=dt), torch.tensor(a, dtype=tdt) - torch.tensor(b, dtype=tdt))
    # numgrad's fast math may divide through a reciprocal (float32 ulps), so a quotient can round one 16-bit ulp off
    quotient = ng.tensor(a, dtype=dt) / ng.tensor(b, dtype=dt)
    ng.testing.assert_close(quotient, ng.tensor((torch.tensor(a, dtype=tdt) / torch.tensor(b, dtype=tdt)).float()
                                                .numpy(), dtype=dt), rtol=ng.finfo(dt).eps, atol=0.0)
    assert (ng.tensor(a, dtype=dt) > 0.5).tolist() == (torch.tensor(a, dtype=tdt) > 0.5).tolist()


@pytest.mark.parametrize("dt,tdt", PAIRS, ids=IDS)
def test_inplace_ops_and_promotion(dt, tdt):
    x = ng.tensor([1.0, 2.0, 3.0], dtype=dt)
    x.add_(0.1).mul_(ng.tensor([1.0, 2.0, 3.0]))  # a float32 operand is rounded into the 16-bit tensor
    t = torch.tensor([1.0, 2.0, 3.0], dtype=tdt)
    t.add_(0.1).mul_(torch.tensor([1.0, 2.0, 3.0]))
    _same_bits(x, t)
    other = ng.float16 if dt is ng.bfloat16 else ng.bfloat16
    cases = [(ng.ones(2, dtype=dt) + 1.5, torch.ones(2, dtype=tdt) + 1.5),
             (ng.ones(2, dtype=dt) + ng.ones(2), torch.ones(2, dtype=tdt) + torch.ones(2)),
             (ng.ones(2, dtype=dt) + ng.ones(2, dtype=other), None),
             (ng.ones(2, dtype=dt) * ng.tensor(2.0, dtype=ng.float64), torch.ones(2, dtype=tdt) * torch.tensor(2.0,
                                                                                                            dtype=torch.float64)),
             (ng.ones(2, dtype=ng.int64) + ng.ones(2, dtype=dt), torch.ones(2, dtype=torch.int64) + torch.ones(2, dtype=tdt))]
    for got, want in cases:
        if want is None:
            assert got.dtype is ng.float32  # float16 with bfloat16: float32, as in torch
        else:
            assert got.dtype.name == str(want.dtype).split(".")[1]
            np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())
    assert ng.result_type(ng.ones(2, dtype=dt), ng.ones(2, dtype=ng.float64)) is ng.float64


@pytest.mark.parametrize("dt,tdt", PAIRS, ids=IDS)
def test_sum_mean_matmul_with_gradients(dt, tdt):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((6, 40)).astype(np.float32), rng.standard_normal((40, 3)).astype(np.float32)
    x, m = ng.tensor(a, dtype=dt, requires_grad=True), ng.tensor(b, dtype=dt, requires_grad=True)
    tx, tm = torch.tensor(a, dtype=tdt, requires_grad=True), torch.tensor(b, dtype=tdt, requires_grad=True)
    results = [x.sum(), x.mean(), x.sum(1), x.mean(0, keepdim=True), (x * 2).sum(), x @ m, (x @ m).mean()]
    refs = [tx.sum(), tx.mean(), tx.sum(1), tx.mean(0, keepdim=True), (tx * 2).sum(), tx @ tm, (tx @ tm).mean()]
    eps = ng.finfo(dt).eps
    for got, want in zip(results, refs):
        assert got.dtype is dt and got.shape == tuple(want.shape)
        # both accumulate in float32 and round once; summation orders differ by float32 rounding only
        ng.testing.assert_close(got.float(), ng.tensor(want.detach().float().numpy()), rtol=eps, atol=eps)
    assert x.sum(dtype=ng.float32).dtype is ng.float32
    loss = sum(r.float().sum() for r in results)
    loss.backward()
    (sum(r.float().sum() for r in refs)).backward()
    for g, tg in ((x.grad, tx.grad), (m.grad, tm.grad)):
        assert g.dtype is dt
        ng.testing.assert_close(g.float(), ng.tensor(tg.float().numpy()), rtol=2 * eps, atol=2 * eps)


@pytest.mark.parametrize("dt,tdt", PAIRS, ids=IDS)
def test_reductions_along_dims_softmax_and_losses_in_float32(dt, tdt):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 7)).astype(np.float32)
    target = rng.integers(0, 7, size=4)
    x = ng.tensor(a, dtype=dt, requires_grad=True)
    t = torch.tensor(a, dtype=tdt, requires_grad=True)
    import numgrad.nn.functional as F
    import torch.nn.functional as TF
    results = [x.max(1).values, x.min(0).values, x.var(1), x.std(0), x.cumsum(1), x.softmax(1), x.log_softmax(0),
               x.logsumexp(1), x.norm(), x.amax(0), F.cross_entropy(x, ng.tensor(target))]
    refs = [t.max(1).values, t.min(0).values, t.var(1), t.std(0), t.cumsum(1), t.softmax(1), t.log_softmax(0),
            t.logsumexp(1), t.norm(), t.amax(0), TF.cross_entropy(t, torch.tensor(target))]
    tol = dict(rtol=4 * ng.finfo(dt).eps, atol=4 * ng.finfo(dt).eps)
    for got, want in zip(results, refs):
        assert got.dtype is dt and got.shape == tuple(want.shape), (got.dtype, want.dtype)
        ng.testing.assert_close(got.float(), ng.tensor(want.detach().float().numpy()), **tol)
    assert x.argmax(1).tolist() == t.argmax(1).tolist() and x.max(0).indices.tolist() == t.max(0).indices.tolist()
    sum(r.float().sum() for r in results).backward()
    sum(r.float().sum() for r in refs).backward()
    assert x.grad.dtype is dt
    ng.testing.assert_close(x.grad.float(), ng.tensor(t.grad.float().numpy()), rtol=0.05, atol=0.05)


def test_dtype_names_finfo_iinfo_and_type():
    pairs = [("float", "float32"), ("double", "float64"), ("half", "float16"), ("long", "int64"), ("int", "int32"),
             ("short", "int16"), ("bool", "bool"), ("uint8", "uint8"), ("int8", "int8"), ("bfloat16", "bfloat16")]
    for alias, name in pairs:
        assert getattr(ng, alias) is getattr(ng, name if name != "bool" else "bool")
        assert str(getattr(torch, alias)) == f"torch.{name}"
    for d, td in [(ng.float16, torch.float16), (ng.bfloat16, torch.bfloat16), (ng.float32, torch.float32),
                  (ng.float64, torch.float64)]:
        ours, theirs = ng.finfo(d), torch.finfo(td)
        for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
            assert getattr(ours, field) == pytest.approx(getattr(theirs, field), rel=1e-6), (d, field)
    for d, td in [(ng.int8, torch.int8), (ng.uint8, torch.uint8), (ng.int16, torch.int16), (ng.int64, torch.int64)]:
        assert (ng.iinfo(d).min, ng.iinfo(d).max, ng.iinfo(d).bits) == (torch.iinfo(td).min, torch.iinfo(td).max,
                                                                         torch.iinfo(td).bits)
    with pytest.raises(TypeError, match="requires a floating point input type"):
        ng.finfo(ng.int32)
    with pytest.raises(TypeError, match="requires an integer input type"):
        ng.iinfo(ng.float32)
    for d, td in [(ng.uint8, torch.uint8), (ng.bool, torch.bool), (ng.int8, torch.int8), (ng.float16, torch.float16)]:
        assert (d.is_signed, d.is_floating_point, d.is_complex, d.itemsize) == (
            td.is_signed, td.is_floating_point, td.is_complex, td.itemsize)
    t, tt = ng.ones(2), torch.ones(2)
    for method in ("half", "bfloat16", "double", "long", "int", "short", "char", "byte", "bool", "float"):
        assert getattr(t, method)().type() == getattr(tt, method)().type().replace("torch.", "numgrad."), method
    assert t.type(ng.float64).dtype is ng.float64 and t.type("torch.IntTensor").dtype is ng.int32
    assert ng.ones(2, dtype="torch.half").dtype is ng.float16


def test_unsupported_16bit_ops_and_complex_give_clear_errors():
    from numgrad.kernels.cpu.backend import CPU

    x = ng.ones(2, 3, dtype=ng.bfloat16)
    # kernels without 16-bit loads refuse the words instead of misreading them as integers
    with pytest.raises(RuntimeError, match=r"\"reduction over dims\" not implemented for 'BFloat16'.*\.float\(\)"):
        CPU.reduce_array(x._data, (1,), "max", x._data.dtype)
    with pytest.raises(RuntimeError, match=r"\"max_pool2d\" not implemented for 'Half'.*\.float\(\)"):
        CPU.max_pool2d_forward(np.ones((1, 1, 4, 4), np.float16), (2, 2, 2, 2, 0, 0, 1, 1), (2, 2))
    with pytest.raises(RuntimeError, match=r"layer_norm\(\): expected a float32 or float64 input, got "
                                           r"numgrad.float16 .*convert with \.float\(\)"):
        ng.nn.functional.layer_norm(ng.ones(2, 3, dtype=ng.float16), (3,))
    with pytest.raises(TypeError, match="Got unsupported ScalarType BFloat16"):
        x.numpy()
    assert ng.ones(2, dtype=ng.float16).numpy().dtype == np.float16  # NumPy has float16
    with pytest.raises(AttributeError, match="numgrad has no complex dtypes: numgrad.complex64 is not supported"):
        ng.complex64  # noqa: B018
    with pytest.raises(TypeError, match="numgrad does not support complex dtypes"):
        ng.zeros(2, dtype=np.complex64)
    with pytest.raises(TypeError, match="numgrad does not support complex dtypes"):
        ng.tensor(np.array([1 + 2j]))
    with pytest.raises(TypeError, match="numgrad does not support complex dtypes"):
        ng.ones(2).to("cfloat")


def test_save_load_and_devices(tmp_path):
    for dt in (ng.float16, ng.bfloat16):
        x = ng.tensor([1.5, -2.25, 3e4], dtype=dt, requires_grad=True)
        ng.save({"x": x}, tmp_path / f"{dt.name}.ng")
        y = ng.load(tmp_path / f"{dt.name}.ng")["x"]
        assert y.dtype is dt and y.tolist() == x.tolist() and y.requires_grad
    if ng.cuda.is_available():
        # float16 on the GPU: computed in float32 too, so it matches the CPU's fused result to a 16-bit ulp
        a = np.linspace(-2, 2, 6, dtype=np.float32)
        outs = []
        for device in ("cpu", "cuda"):
            x = ng.tensor(a, dtype=ng.float16, device=device, requires_grad=True)
            (ng.tanh(x * 0.1 + 1) * x).sum().backward()
            outs.append(x.grad.cpu())
        assert outs[1].dtype is ng.float16
        ng.testing.assert_close(outs[1], outs[0], rtol=ng.finfo(ng.float16).eps, atol=0.0)  # tanh's ulps may differ
        with pytest.raises(TypeError, match="bfloat16 tensors are CPU-only in numgrad"):
            ng.ones(2, dtype=ng.bfloat16).cuda()
        with pytest.raises(TypeError, match="bfloat16 tensors are CPU-only in numgrad"):
            ng.ones(2, device="cuda").to(ng.bfloat16)


def test_torch_checkpoints_carry_16bit_floats(tmp_path):
    ref = {"w": torch.tensor([1.5, -2.25, 3.3e38, 1e-3], dtype=torch.bfloat16),
           "h": torch.tensor([1.5, 3.3], dtype=torch.float16),
           "v": torch.arange(6, dtype=torch.bfloat16).reshape(2, 3)[:, 1:]}
    torch.save(ref, tmp_path / "ref.pt")
    ours = ng.load(tmp_path / "ref.pt")
    for k in ref:
        assert ours[k].dtype.name == str(ref[k].dtype).split(".")[1] and ours[k].tolist() == ref[k].tolist()
    ng.save(ours, tmp_path / "back.pt", format="torch")
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    assert all(back[k].dtype == ref[k].dtype and torch.equal(back[k], ref[k]) for k in ref)
    with pytest.raises(TypeError, match="cannot store the bfloat16 tensor 'w'"):
        ng.save({"w": ours["w"]}, tmp_path / "w.safetensors", format="safetensors")


def test_dlpack_exchange_of_16bit_floats():
    half = torch.from_dlpack(ng.tensor([1.5, -2.0], dtype=ng.float16))
    assert half.dtype == torch.float16 and half.tolist() == [1.5, -2.0]
    assert ng.from_dlpack(torch.tensor([0.5], dtype=torch.float16)).dtype is ng.float16
    with pytest.raises(BufferError, match="cannot export bfloat16 tensors through DLPack"):
        torch.from_dlpack(ng.ones(2, dtype=ng.bfloat16))
    with pytest.raises(TypeError, match="cannot import through DLPack \\(bfloat16 is one\\)"):
        ng.from_dlpack(torch.ones(2, dtype=torch.bfloat16))


@pytest.mark.parametrize("dt,tdt", PAIRS, ids=IDS)
def test_padding_values_and_inplace_writes_into_views(dt, tdt):
    import numgrad.nn.functional as F
    import torch.nn.functional as TF

    _same_bits(F.pad(ng.ones(2, 2, dtype=dt), (1, 1), value=1.5), TF.pad(torch.ones(2, 2, dtype=tdt), (1, 1), value=1.5))
    x = ng.tensor([1.0, 2.0, 3.0, 4.0], dtype=dt, requires_grad=True)
    t = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=tdt, requires_grad=True)
    y, u = x * 2, t * 2
    y[1:3].mul_(3)
    u[1:3].mul_(3)
    y.t()[::2].add_(0.5)  # a view of a view, written in place
    u.t()[::2].add_(0.5)
    (y * y).sum().backward()
    (u * u).sum().backward()
    _same_bits(y.detach(), u.detach())
    _same_bits(x.grad, t.grad)
