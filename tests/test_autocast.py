"""Automatic mixed precision (``ng.autocast``) against ``torch.autocast`` on the CPU.

- every op of numgrad's CPU table (``numgrad.ops.autocast_policy.POLICY_LISTS``) runs under both autocasts with
  float32 and with bfloat16 inputs, and the output dtypes must be torch's: the table and torch cannot drift
  apart silently (``test_every_op_torch_autocasts_on_the_cpu_is_in_the_table`` checks the other direction: every
  op torch registers for CPU autocast that numgrad has is in the table);
- lower-precision products and convolutions are compared with torch BIT FOR BIT: numgrad rounds the inputs to
  bfloat16, computes in float32 and rounds the result once, which is what torch's CPU bfloat16 kernels do;
- a small MLP + conv + cross_entropy step (values and float32 gradients) against torch with the same weights, to
  bfloat16 tolerance (the backward kernels sum in other orders);
- a float16 loop with ``GradScaler``; ``ng.compile`` of a step containing ``autocast``;
- nesting, ``enabled=False``, the decorator, thread-locality, the state functions, misuse (types and texts).
Shapes are tiny: the file runs in seconds.
"""
from __future__ import annotations

import functools
import re
import threading
import warnings

import numpy as np
import pytest
import torch

import numgrad as ng
import numgrad.nn.functional as F
from numgrad.ops import autocast_policy as policy

torch_F = torch.nn.functional


class Lib:
    """One library's names (numgrad's or torch's) and a converter of NumPy arrays to its tensors."""

    def __init__(self, module, float_dtype):
        self.t, self.F, self.linalg = module, module.nn.functional, module.linalg
        self.float_dtype = float_dtype
        self.torch = module is torch

    def T(self, array) -> object:
        """A floating-point tensor of the sample's input dtype."""
        x = torch.from_numpy(np.array(array, np.float32)) if self.torch else ng.tensor(np.array(array, np.float32))
        return x.to(self.float_dtype)

    def I(self, array) -> object:
        return torch.tensor(array, dtype=torch.int64) if self.torch else ng.tensor(array, dtype=ng.int64)


def _rand(*shape, seed=0):
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape).astype(np.float32)


def _spd(n=3):
    a = _rand(n, n, seed=7)
    return a @ a.T + n * np.eye(n, dtype=np.float32)


_L = np.linalg.cholesky(_spd().astype(np.float64)).astype(np.float32)
_UNIFORM = np.random.default_rng(3).uniform(0.1, 0.9, (3, 4)).astype(np.float32)
_SIGN = np.where(_rand(3, 4, seed=5) > 0, 1.0, -1.0).astype(np.float32)
_LOGP = (lambda z: z - np.log(np.exp(z).sum(-1, keepdims=True)))(_rand(5, 2, 4))


def _lu_solve(L):
    lu, pivots = L.linalg.lu_factor(L.T(_spd()))
    return L.t.lu_solve(L.T(_rand(3, 2)), lu, pivots)


def _orgqr(L, which):
    a, tau = L.t.geqrf(L.T(_rand(3, 3)))
    return L.t.orgqr(a, tau) if which == "orgqr" else L.t.ormqr(a, tau, L.T(_rand(3, 2)))


# one sample per op of the CPU table: lib -> the op's output (a tensor or a tuple of them)
SAMPLES = {
    "linear": lambda L: L.F.linear(L.T(_rand(3, 4)), L.T(_rand(5, 4)), L.T(_rand(5))),
    "matmul": lambda L: L.t.matmul(L.T(_rand(3, 4)), L.T(_rand(4, 2))),
    "mm": lambda L: L.t.mm(L.T(_rand(3, 4)), L.T(_rand(4, 2))),
    "bmm": lambda L: L.t.bmm(L.T(_rand(2, 3, 4)), L.T(_rand(2, 4, 2))),
    "addmm": lambda L: L.t.addmm(L.T(_rand(3, 2)), L.T(_rand(3, 4)), L.T(_rand(4, 2))),
    "addbmm": lambda L: L.t.addbmm(L.T(_rand(3, 2)), L.T(_rand(2, 3, 4)), L.T(_rand(2, 4, 2))),
    "baddbmm": lambda L: L.t.baddbmm(L.T(_rand(2, 3, 2)), L.T(_rand(2, 3, 4)), L.T(_rand(2, 4, 2))),
    "linalg.vecdot": lambda L: L.linalg.vecdot(L.T(_rand(3, 4)), L.T(_rand(3, 4, seed=1))),
    "conv1d": lambda L: L.F.conv1d(L.T(_rand(1, 2, 5)), L.T(_rand(3, 2, 3)), L.T(_rand(3))),
    "conv2d": lambda L: L.F.conv2d(L.T(_rand(1, 2, 5, 5)), L.T(_rand(3, 2, 3, 3))),
    "conv3d": lambda L: L.F.conv3d(L.T(_rand(1, 2, 4, 4, 4)), L.T(_rand(3, 2, 3, 3, 3))),
    "conv_transpose1d": lambda L: L.F.conv_transpose1d(L.T(_rand(1, 2, 5)), L.T(_rand(2, 3, 3))),
    "conv_transpose2d": lambda L: L.F.conv_transpose2d(L.T(_rand(1, 2, 4, 4)), L.T(_rand(2, 3, 3, 3))),
    "conv_transpose3d": lambda L: L.F.conv_transpose3d(L.T(_rand(1, 2, 3, 3, 3)), L.T(_rand(2, 3, 2, 2, 2))),
    "prelu": lambda L: L.F.prelu(L.T(_rand(1, 3, 4)), L.T(_rand(3))),
    "scaled_dot_product_attention": lambda L: L.F.scaled_dot_product_attention(
        L.T(_rand(1, 2, 3, 4)), L.T(_rand(1, 2, 3, 4, seed=1)), L.T(_rand(1, 2, 3, 4, seed=2))),
    "mse_loss": lambda L: L.F.mse_loss(L.T(_rand(3, 4)), L.T(_rand(3, 4, seed=1))),
    "l1_loss": lambda L: L.F.l1_loss(L.T(_rand(3, 4)), L.T(_rand(3, 4, seed=1))),
    "smooth_l1_loss": lambda L: L.F.smooth_l1_loss(L.T(_rand(3, 4)), L.T(_rand(3, 4, seed=1))),
    "huber_loss": lambda L: L.F.huber_loss(L.T(_rand(3, 4)), L.T(_rand(3, 4, seed=1))),
    "nll_loss": lambda L: L.F.nll_loss(L.T(_rand(3, 4)), L.I([0, 1, 3])),
    "cross_entropy": lambda L: L.F.cross_entropy(L.T(_rand(3, 4)), L.I([0, 1, 3])),
    "kl_div": lambda L: L.F.kl_div(L.T(_rand(3, 4)), L.T(_UNIFORM), reduction="batchmean"),
    "poisson_nll_loss": lambda L: L.F.poisson_nll_loss(L.T(_rand(3, 4)), L.T(_UNIFORM)),
    "cosine_embedding_loss": lambda L: L.F.cosine_embedding_loss(L.T(_rand(3, 4)), L.T(_rand(3, 4, seed=1)),
                                                                 L.T([1.0, -1.0, 1.0])),
    "hinge_embedding_loss": lambda L: L.F.hinge_embedding_loss(L.T(_rand(3, 4)), L.T(_SIGN)),
    "margin_ranking_loss": lambda L: L.F.margin_ranking_loss(L.T(_rand(3)), L.T(_rand(3, seed=1)),
                                                             L.T([1.0, -1.0, 1.0])),
    "soft_margin_loss": lambda L: L.F.soft_margin_loss(L.T(_rand(3, 4)), L.T(_SIGN)),
    "triplet_margin_loss": lambda L: L.F.triplet_margin_loss(L.T(_rand(3, 4)), L.T(_rand(3, 4, seed=1)),
                                                             L.T(_rand(3, 4, seed=2))),
    "multi_margin_loss": lambda L: L.F.multi_margin_loss(L.T(_rand(3, 4)), L.I([0, 1, 3])),
    "multilabel_margin_loss": lambda L: L.F.multilabel_margin_loss(
        L.T(_rand(3, 4)), L.I([[0, 1, -1, 0], [2, -1, 0, 0], [3, 0, -1, 0]])),
    "binary_cross_entropy": lambda L: L.F.binary_cross_entropy(L.T(_UNIFORM), L.T(_UNIFORM[::-1])),
    "binary_cross_entropy_with_logits": lambda L: L.F.binary_cross_entropy_with_logits(L.T(_rand(3, 4)),
                                                                                       L.T(_UNIFORM)),
    "ctc_loss": lambda L: L.F.ctc_loss(L.T(_LOGP), L.I([[1, 2], [3, 1]]), L.I([5, 5]), L.I([2, 2])),
    "prod": lambda L: L.t.prod(L.T(_rand(3, 4))),
    "quantile": lambda L: L.t.quantile(L.T(_rand(3, 4)), 0.3),
    "nanquantile": lambda L: L.t.nanquantile(L.T(_rand(3, 4)), 0.3),
    "cdist": lambda L: L.t.cdist(L.T(_rand(3, 4)), L.T(_rand(2, 4))),
    "trace": lambda L: L.t.trace(L.T(_rand(3, 3))),
    "inverse": lambda L: L.t.inverse(L.T(_spd())),
    "pinverse": lambda L: L.t.pinverse(L.T(_spd())),
    "cholesky": lambda L: L.t.cholesky(L.T(_spd())),
    "cholesky_inverse": lambda L: L.t.cholesky_inverse(L.T(_L)),
    "cholesky_solve": lambda L: L.t.cholesky_solve(L.T(_rand(3, 2)), L.T(_L)),
    "avg_pool3d": lambda L: L.F.avg_pool3d(L.T(_rand(1, 1, 4, 4, 4)), 2),
    "max_pool3d": lambda L: L.F.max_pool3d(L.T(_rand(1, 1, 4, 4, 4)), 2),
    "adaptive_avg_pool3d": lambda L: L.F.adaptive_avg_pool3d(L.T(_rand(1, 1, 4, 4, 4)), 2),
    "adaptive_max_pool3d": lambda L: L.F.adaptive_max_pool3d(L.T(_rand(1, 1, 4, 4, 4)), 2),
    "max_unpool2d": lambda L: L.F.max_unpool2d(L.T(_rand(1, 1, 2, 2)), L.I([[[[0, 2], [8, 10]]]]), 2),
    "max_unpool3d": lambda L: L.F.max_unpool3d(L.T(_rand(1, 1, 1, 1, 1)), L.I([[[[[0]]]]]), 2),
    "grid_sample": lambda L: L.F.grid_sample(L.T(_rand(1, 1, 3, 3)), L.T(np.tanh(_rand(1, 2, 2, 2))),
                                             align_corners=False),
    "fractional_max_pool2d": lambda L: L.F.fractional_max_pool2d(
        L.T(_rand(1, 1, 5, 5)), 2, output_size=2, _random_samples=L.T(_UNIFORM[:1, :2].reshape(1, 1, 2))),
    "fractional_max_pool3d": lambda L: L.F.fractional_max_pool3d(
        L.T(_rand(1, 1, 5, 5, 5)), 2, output_size=2, _random_samples=L.T(_UNIFORM[:1, :3].reshape(1, 1, 3))),
    "linalg.solve": lambda L: L.linalg.solve(L.T(_spd()), L.T(_rand(3, 2))),
    "linalg.cholesky": lambda L: L.linalg.cholesky(L.T(_spd())),
    "linalg.cholesky_ex": lambda L: L.linalg.cholesky_ex(L.T(_spd())),
    "linalg.svdvals": lambda L: L.linalg.svdvals(L.T(_spd())),
    "linalg.eigvalsh": lambda L: L.linalg.eigvalsh(L.T(_spd())),
    "linalg.eigh": lambda L: L.linalg.eigh(L.T(_spd())),
    "linalg.qr": lambda L: L.linalg.qr(L.T(_rand(3, 3))),
    "linalg.svd": lambda L: L.linalg.svd(L.T(_spd())),
    "linalg.lstsq": lambda L: L.linalg.lstsq(L.T(_spd()), L.T(_rand(3, 2))).solution,
    "linalg.cond": lambda L: L.linalg.cond(L.T(_spd())),
    "linalg.matrix_rank": lambda L: L.linalg.matrix_rank(L.T(_spd())),
    "linalg.householder_product": lambda L: L.linalg.householder_product(L.T(_rand(3, 2)), L.T([0.5, 0.2])),
    "lu_solve": _lu_solve,
    "geqrf": lambda L: L.t.geqrf(L.T(_rand(3, 3))),
    "orgqr": lambda L: _orgqr(L, "orgqr"),
    "ormqr": lambda L: _orgqr(L, "ormqr"),
    "qr": lambda L: L.t.qr(L.T(_rand(3, 3))),
    "svd": lambda L: L.t.svd(L.T(_spd())),
    "triangular_solve": lambda L: L.t.triangular_solve(L.T(_rand(3, 2)), L.T(np.triu(_spd()))),
    "cat": lambda L: L.t.cat([L.T(_rand(2, 3)), L.T(_rand(2, 3, seed=1))]),
    "stack": lambda L: L.t.stack([L.T(_rand(2, 3)), L.T(_rand(2, 3, seed=1))]),
    "index_copy": lambda L: L.t.index_copy(L.T(_rand(3, 4)), 0, L.I([0, 2]), L.T(_rand(2, 4))),
    # numgrad's float32_math entries: torch runs them on the dtype they get
    "batch_norm": lambda L: L.F.batch_norm(L.T(_rand(2, 4, 3)), None, None, training=True),
    "instance_norm": lambda L: L.F.instance_norm(L.T(_rand(2, 4, 3))),
    "layer_norm": lambda L: L.F.layer_norm(L.T(_rand(3, 4)), (4,), L.T(_rand(4)), L.T(_rand(4, seed=1))),
    "group_norm": lambda L: L.F.group_norm(L.T(_rand(2, 4, 3)), 2),
    "rms_norm": lambda L: L.F.rms_norm(L.T(_rand(3, 4)), (4,)),
    "max_pool1d": lambda L: L.F.max_pool1d(L.T(_rand(1, 2, 6)), 2),
    "max_pool2d": lambda L: L.F.max_pool2d(L.T(_rand(1, 1, 4, 4)), 2),
    "avg_pool1d": lambda L: L.F.avg_pool1d(L.T(_rand(1, 2, 6)), 2),
    "avg_pool2d": lambda L: L.F.avg_pool2d(L.T(_rand(1, 1, 4, 4)), 2),
    "adaptive_avg_pool1d": lambda L: L.F.adaptive_avg_pool1d(L.T(_rand(1, 2, 6)), 3),
    "adaptive_avg_pool2d": lambda L: L.F.adaptive_avg_pool2d(L.T(_rand(1, 1, 4, 4)), 2),
    "adaptive_max_pool1d": lambda L: L.F.adaptive_max_pool1d(L.T(_rand(1, 2, 6)), 3),
    "adaptive_max_pool2d": lambda L: L.F.adaptive_max_pool2d(L.T(_rand(1, 1, 4, 4)), 2),
    "lp_pool1d": lambda L: L.F.lp_pool1d(L.T(_rand(1, 2, 6)), 2, 2),
    "lp_pool2d": lambda L: L.F.lp_pool2d(L.T(_rand(1, 1, 4, 4)), 2, 2),
    "dropout": lambda L: L.F.dropout(L.T(_rand(3, 4)), 0.5),
    "dropout1d": lambda L: L.F.dropout1d(L.T(_rand(2, 3, 4)), 0.5),
    "dropout2d": lambda L: L.F.dropout2d(L.T(_rand(2, 3, 2, 2)), 0.5),
    "dropout3d": lambda L: L.F.dropout3d(L.T(_rand(2, 3, 2, 2, 2)), 0.5),
    "embedding": lambda L: L.F.embedding(L.I([0, 2]), L.T(_rand(4, 3))),
    "embedding_bag": lambda L: L.F.embedding_bag(L.I([0, 1, 2]), L.T(_rand(4, 3)), L.I([0])),
    "interpolate": lambda L: L.F.interpolate(L.T(_rand(1, 1, 3, 3)), scale_factor=2, mode="bilinear"),
    "recurrent_layer": lambda L: L.t.nn.GRU(4, 3)(L.T(_rand(2, 1, 4)))[0],  # (LSTM: see the known gap below)
    "lstm_cell": lambda L: L.t.nn.LSTMCell(4, 3)(L.T(_rand(1, 4)))[0],
    "gru_cell": lambda L: L.t.nn.GRUCell(4, 3)(L.T(_rand(1, 4))),
    "rnn_tanh_cell": lambda L: L.t.nn.RNNCell(4, 3)(L.T(_rand(1, 4))),
    "rnn_relu_cell": lambda L: L.t.nn.RNNCell(4, 3, nonlinearity="relu")(L.T(_rand(1, 4))),
    "mv": lambda L: L.t.mv(L.T(_rand(3, 4)), L.T(_rand(4))),
    "dot": lambda L: L.t.dot(L.T(_rand(4)), L.T(_rand(4, seed=1))),
    "vdot": lambda L: L.t.vdot(L.T(_rand(4)), L.T(_rand(4, seed=1))),
    "bilinear": lambda L: L.F.bilinear(L.T(_rand(2, 3)), L.T(_rand(2, 4)), L.T(_rand(2, 3, 4))),
}


def _dtype_names(out) -> list:
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [str(o.dtype).split(".")[-1] for o in outs if hasattr(o, "dtype")]


CPU_TABLE = [(name, pol) for pol, names in policy.POLICY_LISTS["cpu"].items() for name in names]


@pytest.mark.parametrize("input_dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name,policy_name", CPU_TABLE, ids=[n for n, _ in CPU_TABLE])
def test_cpu_table_output_dtypes_match_torch_autocast(name, policy_name, input_dtype):
    sample = SAMPLES[name]  # a KeyError here: a new table entry needs a sample
    torch_lib = Lib(torch, getattr(torch, input_dtype))
    ng_lib = Lib(ng, getattr(ng, input_dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        try:
            expected = sample(torch_lib)
        except RuntimeError as e:  # torch has no kernel for these inputs (bfloat16 linalg): nothing to compare
            pytest.skip(f"torch: {e}")
    with ng.autocast("cpu", dtype=ng.bfloat16):
        got = sample(ng_lib)
    assert _dtype_names(got) == _dtype_names(expected), (name, policy_name)


def _table_callables():
    """Where each table name lives in numgrad (``linalg.x``: numgrad.linalg; else numgrad, then F)."""
    found = {}
    for name in policy.POLICIES:
        if name.startswith("linalg."):
            found[name] = getattr(ng.linalg, name[len("linalg."):])
        else:
            found[name] = getattr(F, name, None) or getattr(ng, name, None) or getattr(F.rnn, name)
    return found


def test_every_table_entry_is_a_decorated_op_and_every_decorated_op_is_in_the_table():
    for name, fn in _table_callables().items():
        assert getattr(fn, "autocast_name", None) == name, f"{name}: its function is not marked @autocast_op"
    with pytest.raises(KeyError, match="not in numgrad.ops.autocast_policy.POLICY_LISTS"):
        policy.autocast_op(lambda x: x, name="not_an_op")


# ops torch autocasts on the CPU that numgrad has but does not list: none may be missing silently
NOT_LISTED = {"polar": "numgrad has no complex dtypes (polar raises)",
              "view_as_complex": "numgrad has no complex dtypes (view_as_complex raises)"}
_TORCH_RENAMES = {"cross_entropy_loss": "cross_entropy", "grid_sampler": "grid_sample"}


def test_every_op_torch_autocasts_on_the_cpu_is_in_the_table():
    missing = sorted(name for name, fn in _torch_autocast_ops("AutocastCPU") if fn is not None
                     and name not in NOT_LISTED
                     # (linalg.inv is numgrad's inverse: listed under the name its function carries)
                     and "cpu" not in policy.POLICIES.get(getattr(fn, "autocast_name", None) or name, {}))
    assert not missing, f"torch autocasts these on the CPU; add them to POLICY_LISTS['cpu']: {missing}"


# ops torch autocasts on CUDA that numgrad has but its CUDA table does not list yet: elementwise ops and
# reductions whose entry points are generated or on hot paths (a known gap, listed so that it cannot grow silently)
CUDA_NOT_LISTED_YET = {"acos", "asin", "atan2", "cosh", "cumprod", "cumsum", "erfinv", "exp", "expm1", "index_put",
                       "log", "log10", "log1p", "log2", "norm", "pow", "reciprocal", "rsqrt", "scatter_add", "sinh",
                       "softplus", "sum", "tan"}


@functools.lru_cache(maxsize=None)
def _torch_autocast_registrations() -> dict:
    """op -> torch's dispatcher dump, for the ops with an autocast kernel (one pass over torch's ops)."""
    dumps = {}
    for op in torch._C._dispatch_get_all_op_names():
        dump = torch._C._dispatch_dump(op)
        if "autocast_mode.cpp" in dump:
            dumps[op] = dump
    return dumps


def _torch_autocast_ops(dispatch_key: str):
    """(numgrad name, numgrad function or None) of every op torch registers an autocast kernel for."""
    for op, dump in _torch_autocast_registrations().items():
        if not re.search(dispatch_key + r": registered at [^\n]*autocast_mode\.cpp", dump):
            continue
        base = op.replace("aten::", "").split(".")[0]
        base = _TORCH_RENAMES.get(base, base)
        if base.startswith("linalg_"):
            yield "linalg." + base[len("linalg_"):], getattr(ng.linalg, base[len("linalg_"):], None)
        else:
            yield base, getattr(ng, base, None) or getattr(F, base, None)


def test_every_op_torch_autocasts_on_cuda_is_in_the_cuda_table_or_a_listed_gap():
    missing = {name for name, fn in _torch_autocast_ops("AutocastCUDA") if fn is not None
               and "cuda" not in policy.POLICIES.get(getattr(fn, "autocast_name", None) or name, {})}
    assert missing == CUDA_NOT_LISTED_YET


def test_cuda_only_policies_apply_as_torch_describes():
    """The CUDA policies PyTorch's CPU table does not use, run through the policy code on CPU tensors."""
    half = ng.tensor(_rand(2, 3)).half()
    with ng.autocast("cpu", dtype=ng.float16):
        out = policy._apply_policy("softmax", policy.FP32_SET_OPT_DTYPE, F.softmax, (half, 1), {}, "cpu")
        assert out.dtype == ng.float32  # dtype=float32 appended
        out = policy._apply_policy("softmax", policy.FP32_SET_OPT_DTYPE, F.softmax, (half, 1),
                                   {"dtype": ng.float64}, "cpu")
        assert out.dtype == ng.float64  # a dtype the caller chose is kept
        out = policy._apply_policy("addcmul", policy.PROMOTE, ng.addcmul, (half, half, ng.tensor(_rand(2, 3))), {},
                                   "cpu")
        assert out.dtype == ng.float32
        out = policy._apply_policy("einsum", policy.LOWER_PRECISION_FP, ng.einsum,
                                   ("ij,kj->ik", ng.tensor(_rand(2, 3)), ng.tensor(_rand(4, 3))), {}, "cpu")
        assert out.dtype == ng.float16


@pytest.mark.skipif(not ng.cuda.is_available(), reason="needs a GPU")
def test_cuda_autocast_float16():
    x, w = ng.tensor(_rand(3, 4)).cuda(), ng.tensor(_rand(5, 4)).cuda().requires_grad_()
    with ng.autocast("cuda"):
        y = F.linear(x, w)
        assert y.dtype == ng.float16
        assert F.softmax(y, 1).dtype == ng.float32 and F.mse_loss(y, y.detach().float()).dtype == ng.float32
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            F.binary_cross_entropy(ng.sigmoid(y), ng.ones(3, 5, device="cuda"))
    y.float().sum().backward()
    assert w.grad.dtype == ng.float32


def test_promote_takes_the_widest_floating_input_and_leaves_float64_and_integers():
    a16, a32 = ng.ones(2).bfloat16(), ng.ones(2)
    with ng.autocast("cpu"):
        assert ng.cat([a16, a16]).dtype == ng.bfloat16
        assert ng.cat([a16, a32]).dtype == ng.float32
        assert ng.stack([a16, a32.double()]).dtype == ng.float64  # float64 is not cast; cat promotes as usual
        assert ng.cat([ng.ones(2, dtype=ng.int64), ng.ones(2, dtype=ng.int64)]).dtype == ng.int64
        assert ng.mm(ng.ones(2, 2).double(), ng.ones(2, 2).double()).dtype == ng.float64
        assert F.embedding(ng.tensor([0, 1]), ng.ones(3, 2)).dtype == ng.float32  # not listed: untouched
    with torch.autocast("cpu"):
        t16, t32 = torch.ones(2).bfloat16(), torch.ones(2)
        assert torch.cat([t16, t32]).dtype == torch.float32 and torch.stack([t16, t32.double()]).dtype == torch.float64


# --------------------------------------------------------------------------- values against torch
def _pair(array, requires_grad=False):
    return (ng.tensor(array, requires_grad=requires_grad),
            torch.tensor(array, requires_grad=requires_grad))


def _bits(t) -> np.ndarray:
    return (t.detach().float().numpy() if isinstance(t, torch.Tensor) else t.detach().float().numpy()).view(np.uint32)


@pytest.mark.parametrize("op", ["matmul", "linear", "addmm", "bmm", "conv2d", "conv1d"])
def test_lower_precision_outputs_are_torch_bits(op):
    """Bit for bit: both round the inputs to bfloat16, accumulate the products in float32 and round once."""
    x, w, b = _rand(4, 16), _rand(16, 8, seed=1), _rand(8, seed=2)
    cases = {
        "matmul": lambda m, f: m.matmul(m.tensor(x), m.tensor(w)),
        "linear": lambda m, f: f.linear(m.tensor(x), m.tensor(np.ascontiguousarray(w.T)), m.tensor(b)),
        "addmm": lambda m, f: m.addmm(m.tensor(_rand(4, 8, seed=3)), m.tensor(x), m.tensor(w)),
        "bmm": lambda m, f: m.bmm(m.tensor(x.reshape(2, 2, 16)), m.tensor(np.stack([w, w]))),
        "conv2d": lambda m, f: f.conv2d(m.tensor(x.reshape(1, 2, 4, 8)), m.tensor(_rand(3, 2, 3, 3, seed=4))),
        "conv1d": lambda m, f: f.conv1d(m.tensor(x.reshape(1, 4, 16)), m.tensor(_rand(3, 4, 3, seed=5))),
    }
    with torch.autocast("cpu"):
        expected = cases[op](torch, torch_F)
    with ng.autocast("cpu"):
        got = cases[op](ng, F)
    assert got.dtype == ng.bfloat16 and expected.dtype == torch.bfloat16
    np.testing.assert_array_equal(_bits(got), _bits(expected))


def _step(lib, F_, params, x, y, backward_inside):
    """conv -> relu -> flatten -> linear -> relu -> linear -> cross_entropy, under the library's autocast."""
    conv_w, conv_b, w1, b1, w2, b2 = params
    with lib.autocast("cpu", dtype=lib.bfloat16):
        h = F_.relu(F_.conv2d(x, conv_w, conv_b, padding=1))
        h = F_.relu(F_.linear(h.flatten(1), w1, b1))
        logits = F_.linear(h, w2, b2)
        loss = F_.cross_entropy(logits, y)
        if backward_inside:  # not recommended by torch, but scripts do it
            loss.backward()
    if not backward_inside:
        loss.backward()
    return h, logits, loss


@pytest.mark.parametrize("backward_inside", [False, True], ids=["backward_after", "backward_inside"])
def test_mlp_conv_cross_entropy_step_matches_torch_values_and_float32_gradients(backward_inside):
    """To bfloat16 tolerance (on the machines this was written on they came out bit-equal; a BLAS that sums in
    another order would not)."""
    arrays = [_rand(3, 2, 3, 3) * 0.3, _rand(3) * 0.1, _rand(8, 48) * 0.2, _rand(8) * 0.1, _rand(4, 8) * 0.3,
              _rand(4) * 0.1]
    pairs = [_pair(a, requires_grad=True) for a in arrays]
    xs = _rand(2, 2, 4, 4)
    labels = [0, 3]
    h_ng, logits_ng, loss_ng = _step(ng, F, [p[0] for p in pairs], ng.tensor(xs), ng.tensor(labels),
                                     backward_inside)
    h_t, logits_t, loss_t = _step(torch, torch_F, [p[1] for p in pairs], torch.tensor(xs), torch.tensor(labels),
                                  backward_inside)
    assert (h_ng.dtype, logits_ng.dtype, loss_ng.dtype) == (ng.bfloat16, ng.bfloat16, ng.float32)
    assert (h_t.dtype, logits_t.dtype, loss_t.dtype) == (torch.bfloat16, torch.bfloat16, torch.float32)
    # bfloat16 has 8 significant bits: one rounding step is 2**-8 relative
    np.testing.assert_allclose(logits_ng.detach().float().numpy(), logits_t.detach().float().numpy(), rtol=2 ** -7,
                               atol=2 ** -8)
    np.testing.assert_allclose(loss_ng.item(), loss_t.item(), rtol=2 ** -7)
    for (p_ng, p_t) in pairs:
        assert p_ng.grad.dtype == ng.float32 and p_t.grad.dtype == torch.float32
        scale = max(float(np.abs(p_t.grad.numpy()).max()), 1e-3)
        np.testing.assert_allclose(p_ng.grad.numpy(), p_t.grad.numpy(), rtol=0, atol=scale * 2 ** -5)


def test_gradient_accumulation_inside_one_context_reuses_the_cached_weight_cast():
    """Two micro-batches in one ``autocast`` share the weight's cached cast: both backwards pass through it."""
    w0, xs = _rand(2, 3), [_rand(4, 3, seed=1), _rand(4, 3, seed=2)]
    grads = []
    for lib, F_ in ((ng, F), (torch, torch_F)):
        w = lib.tensor(w0, requires_grad=True)
        with lib.autocast("cpu"):
            for x in xs:
                F_.mse_loss(F_.linear(lib.tensor(x), w), lib.zeros(4, 2)).backward()
        grads.append(w.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=0, atol=2 ** -7 * float(np.abs(grads[1]).max()))


def test_grad_scaler_float16_loop_matches_torch():
    """The usual loop: forward under autocast(float16), scaler.scale(loss).backward(), step, update."""
    w0, b0, x, target = _rand(3, 4) * 0.5, _rand(3) * 0.1, _rand(5, 4), _rand(5, 3)
    results = []
    for lib, F_, opt_mod in ((ng, F, ng.optim), (torch, torch_F, torch.optim)):
        w, b = lib.tensor(w0, requires_grad=True), lib.tensor(b0, requires_grad=True)
        opt = opt_mod.SGD([w, b], lr=0.1)
        scaler = lib.amp.GradScaler("cpu", init_scale=2.0 ** 10)
        for _ in range(3):
            opt.zero_grad()
            with lib.autocast("cpu", dtype=lib.float16):
                out = F_.linear(lib.tensor(x), w, b)
                loss = F_.mse_loss(out, lib.tensor(target))
            assert out.dtype == lib.float16 and loss.dtype == lib.float32
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        results.append((w.detach().numpy().copy(), b.detach().numpy().copy(), scaler.get_scale()))
    (w_ng, b_ng, s_ng), (w_t, b_t, s_t) = results
    assert s_ng == s_t
    np.testing.assert_allclose(w_ng, w_t, rtol=0, atol=2e-3)
    np.testing.assert_allclose(b_ng, b_t, rtol=0, atol=2e-3)


def test_compiled_step_with_autocast_replays_like_eager():
    """A training step with an ``autocast`` block inside: captured and replayed, bit-identical to eager."""
    x, y = ng.tensor(_rand(3, 6)), ng.tensor([0, 1, 3])

    def build():
        ng.manual_seed(0)
        model = ng.nn.Sequential(ng.nn.Linear(6, 8), ng.nn.ReLU(), ng.nn.Linear(8, 4))
        opt = ng.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            with ng.autocast("cpu"):
                logits = model(x)
                loss = F.cross_entropy(logits, y)
            loss.backward()
            opt.step()
            return loss.detach(), logits.detach()

        return model, step

    eager_model, eager_step = build()
    eager = [eager_step(x, y)[0].item() for _ in range(5)]
    model, step = build()
    compiled = ng.compile(step)
    got = [compiled(x, y)[0].item() for _ in range(5)]
    assert compiled.fallback_reason is None  # captured and replayed (calls 4 and 5), not run eagerly
    assert got == eager
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    # an autocast around the call is part of the guard key: a new variant, not the captured one replayed
    with ng.autocast("cpu", dtype=ng.float16):
        assert compiled(x, y)[1].dtype == ng.float16
    assert len(compiled._variants) == 2


# --------------------------------------------------------------------------- the context and its state
def test_nesting_enabled_false_and_dtype_are_restored():
    a = ng.ones(2, 2)
    assert not ng.is_autocast_enabled("cpu")
    with ng.autocast("cpu") as context:
        assert isinstance(context, ng.autocast)  # __enter__ returns the context, as torch's
        assert ng.is_autocast_enabled("cpu") and ng.get_autocast_dtype("cpu") == ng.bfloat16
        with ng.autocast("cpu", enabled=False):
            assert not ng.is_autocast_enabled("cpu")
            assert (a @ a).dtype == ng.float32
        with ng.autocast("cpu", dtype=ng.float16):
            assert (a @ a).dtype == ng.float16
        assert (a @ a).dtype == ng.bfloat16 and ng.get_autocast_dtype("cpu") == ng.bfloat16
    assert not ng.is_autocast_enabled("cpu") and (a @ a).dtype == ng.float32
    assert ng.is_autocast_enabled() is False  # no argument: "cuda", as torch


def test_decorator_form():
    @ng.autocast("cpu")
    def product(x):
        return x @ x

    assert product(ng.ones(2, 2)).dtype == ng.bfloat16
    assert (ng.ones(2, 2) @ ng.ones(2, 2)).dtype == ng.float32
    assert ng.amp.autocast is ng.autocast


def test_state_is_per_thread():
    seen = {}

    def other():
        seen["enabled"] = ng.is_autocast_enabled("cpu")
        seen["dtype"] = (ng.ones(2, 2) @ ng.ones(2, 2)).dtype

    with ng.autocast("cpu"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert (ng.ones(2, 2) @ ng.ones(2, 2)).dtype == ng.bfloat16
    assert seen == {"enabled": False, "dtype": ng.float32}


def test_weight_casts_are_cached_until_the_weight_changes_or_the_context_exits():
    w = ng.ones(2, 2, requires_grad=True)
    with ng.autocast("cpu"):
        first = F.linear(ng.ones(1, 2), w)
        assert len(policy._state.cache) == 1
        with ng.no_grad():
            w.mul_(2)  # a write bumps the version: the next use casts the new values
        second = F.linear(ng.ones(1, 2), w)
    assert policy._state.cache == {}
    assert first.tolist() == [[2.0, 2.0]] and second.tolist() == [[4.0, 4.0]]
    with ng.autocast("cpu", cache_enabled=False):
        assert not ng.is_autocast_cache_enabled()
        F.linear(ng.ones(1, 2), w)
        assert policy._state.cache == {}
    assert ng.is_autocast_cache_enabled()


def test_state_functions_match_torch_names():
    for name in ("is_autocast_enabled", "set_autocast_enabled", "get_autocast_dtype", "set_autocast_dtype",
                 "is_autocast_cache_enabled", "set_autocast_cache_enabled", "clear_autocast_cache",
                 "autocast_increment_nesting", "autocast_decrement_nesting"):
        assert hasattr(torch, name) and callable(getattr(ng, name)), name
    assert (ng.get_autocast_dtype("cpu"), ng.get_autocast_dtype("cuda")) == (ng.bfloat16, ng.float16)
    ng.set_autocast_enabled("cpu", True)
    try:
        assert (ng.ones(1, 1) @ ng.ones(1, 1)).dtype == ng.bfloat16
    finally:
        ng.set_autocast_enabled("cpu", False)
    assert ng.amp.is_autocast_available("cpu")
    assert ng.amp.is_autocast_available("cuda") == ng.cuda.is_available()
    with pytest.warns(DeprecationWarning, match=re.escape(
            "torch.get_autocast_cpu_dtype() is deprecated. Please use torch.get_autocast_dtype('cpu') instead.")):
        assert ng.get_autocast_cpu_dtype() == ng.bfloat16
    with pytest.warns(DeprecationWarning, match="is_autocast_cpu_enabled"), ng.autocast("cpu"):
        assert ng.is_autocast_cpu_enabled()
    with pytest.warns(DeprecationWarning, match="get_autocast_gpu_dtype"):
        assert ng.get_autocast_gpu_dtype() == ng.float16
    for name in ("set_autocast_cpu_enabled", "set_autocast_cpu_dtype", "set_autocast_gpu_dtype"):
        assert hasattr(torch, name) and callable(getattr(ng, name))


def test_misuse_errors_and_warnings_as_torch():
    with pytest.raises(ValueError, match=re.escape("Expected `device_type` of type `str`, got: `<class 'int'>`")):
        ng.autocast(0)
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'foo'"):
        ng.autocast("foo")
    with pytest.raises(RuntimeError, match="is_autocast_enabled: numgrad's autocast supports the device types"):
        ng.is_autocast_enabled("foo")
    for dtype in (ng.float64, ng.float32):
        with pytest.warns(UserWarning, match="In CPU autocast, but the target dtype is not supported. Disabling"):
            context = ng.autocast("cpu", dtype=dtype)
        with context:
            assert not ng.is_autocast_enabled("cpu")
            assert (ng.ones(1, 1) @ ng.ones(1, 1)).dtype == ng.float32
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.autocast("cpu", dtype=torch.float64):
            pass
    assert "In CPU autocast, but the target dtype is not supported. Disabling autocast." in str(caught[0].message)
    if not ng.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available or torch_xla is imported. Disabling autocast."):
            with ng.autocast("cuda"):
                assert not ng.is_autocast_enabled("cuda")
    # promote of float16 with bfloat16 autocast: torch's prioritize refuses it
    with ng.autocast("cpu"):
        with pytest.raises(RuntimeError, match=r"cat: autocast cannot promote numgrad.float16 with the autocast "
                                               r"dtype numgrad.bfloat16"):
            ng.cat([ng.ones(1).half(), ng.ones(1).bfloat16()])
    # CUDA bans binary_cross_entropy under autocast (torch's text); checked on the policy (no GPU needed)
    with pytest.raises(RuntimeError, match="binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast"):
        policy._apply_policy("binary_cross_entropy", policy.BANNED, F.binary_cross_entropy, (), {}, "cuda")
