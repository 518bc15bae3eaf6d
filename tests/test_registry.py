"""Generic tests over every op in the registry (see op_registry.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
from tests.helpers import assert_close, noncontiguous, tols
from tests.op_registry import all_specs

SPECS = all_specs()
IDS = [s.name for s in SPECS]


def _inputs(sample, dtype, lib, requires_grad=True, transform=None):
    """Build numgrad or torch inputs from a Sample."""
    grad_idx = sample.grad
    out = []
    for i, a in enumerate(sample.args):
        if isinstance(a, np.ndarray):
            arr = a.astype(dtype) if a.dtype.kind == "f" else a
            if transform is not None and arr.ndim > 0:
                arr = transform(arr)
            wants = requires_grad and arr.dtype.kind == "f" and (grad_idx is None or i in grad_idx)
            if lib == "ng":
                t = ng.from_numpy(arr) if not arr.flags.c_contiguous else ng.tensor(arr)
                if not arr.flags.c_contiguous:
                    t = ng.from_numpy(arr)
                t.requires_grad_(wants)
            else:
                t = torch.from_numpy(np.array(arr)).requires_grad_(wants)
            out.append(t)
        else:
            out.append(a)
    return out


def _outputs(res):
    return list(res) if isinstance(res, (tuple, list)) else [res]


def _float_outputs(outs):
    return [o for o in outs if o.dtype.is_floating_point]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_and_grad_vs_torch(spec, dtype):
    if dtype not in spec.dtypes:
        pytest.skip("dtype not supported by this op")
    rng = np.random.default_rng(0)
    rtol, atol = tols(dtype)
    if dtype == "float32":
        rtol, atol = spec.rtol32, spec.atol32
    for sample in spec.samples(rng):
        for transform in (None, noncontiguous) if spec.noncontiguous else (None,):
            xs = _inputs(sample, dtype, "ng", transform=transform)
            ts = _inputs(sample, dtype, "torch", transform=transform)
            outs = _outputs(spec.fn(ng, *xs, **sample.kwargs))
            touts = _outputs(spec.torch_fn(torch, *ts, **sample.kwargs))
            assert len(outs) == len(touts)
            for o, t in zip(outs, touts):
                assert_close(o, t, rtol, atol, msg=f"{spec.name} forward")
                if o.dtype.is_floating_point:
                    assert str(o.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], f"{spec.name} dtype"
            if not spec.differentiable:
                continue
            fo, ft = _float_outputs(outs), [t for t in touts if t.dtype.is_floating_point]
            if not fo or not any(x.requires_grad for x in xs if isinstance(x, ng.Tensor)):
                continue
            seeds = [np.random.default_rng(1).standard_normal(o.shape).astype(dtype) for o in fo]
            total = sum((o * ng.tensor(s)).sum() for o, s in zip(fo, seeds))
            ttotal = sum((t * torch.from_numpy(s)).sum() for t, s in zip(ft, seeds))
            total.backward()
            ttotal.backward()
            for x, t in zip(xs, ts):
                if isinstance(x, ng.Tensor) and x.requires_grad:
                    if t.grad is None:
                        assert x.grad is None or np.all(x.grad.numpy() == 0), f"{spec.name}: torch gives no grad"
                        continue
                    assert x.grad is not None, f"{spec.name}: missing gradient"
                    assert x.grad.shape == x.shape
                    assert_close(x.grad, t.grad, rtol * 10, atol * 10, msg=f"{spec.name} grad")


@pytest.mark.parametrize("spec", [s for s in SPECS if s.differentiable and s.gradcheck],
                         ids=[s.name for s in SPECS if s.differentiable and s.gradcheck])
def test_gradcheck_float64(spec):
    rng = np.random.default_rng(2)
    sample = spec.samples(rng)[0]
    xs = _inputs(sample, "float64", "ng")
    ng.autograd.gradcheck(lambda *a: spec.fn(ng, *a, **sample.kwargs), tuple(xs), eps=1e-6, atol=1e-5, rtol=1e-3)
