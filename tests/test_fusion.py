"""Fusion: lazy regions, fused backward, laziness invisible to the user, the kernel cache."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numgrad as ng
from tests.helpers import assert_close


@pytest.fixture
def unfused():
    ng.set_fusion(False)
    yield
    ng.set_fusion(True)


def w1(m, x, w, b):
    return (m.tanh(x * w + b) * m.sigmoid(x) ** 2).sum()


def test_w1_is_one_region_and_matches_torch():
    ng.manual_seed(0)
    x, w = ng.randn(50, requires_grad=True), ng.randn(50, requires_grad=True)
    b = ng.randn(1, requires_grad=True)
    inner = ng.tanh(x * w + b) * ng.sigmoid(x) ** 2
    assert inner._is_lazy
    assert "6 ops -> 1 kernel" in str(ng.explain(inner))
    y = inner.sum()
    y.backward()
    tx, tw, tb = (torch.tensor(t.detach().numpy(), requires_grad=True) for t in (x, w, b))
    ty = w1(torch, tx, tw, tb)
    ty.backward()
    assert_close(y, ty, rtol=1e-5)
    for n, t in ((x, tx), (w, tw), (b, tb)):
        assert_close(n.grad, t.grad, rtol=1e-5, atol=1e-6)


def test_realization_is_invisible(unfused=None):
    x = ng.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = (x * 2).exp()
    assert y.grad_fn.name() == "ExpBackward0" and y.shape == (3,) and y.dtype == ng.float32
    assert repr(y).startswith("tensor([7.3891e+00, 1.8316e-02, 4.0343e+02]")
    assert y.tolist() == pytest.approx(np.exp([2.0, -4.0, 6.0]).tolist(), rel=1e-6)
    assert not y._is_lazy


def test_long_loop_is_cut_into_cached_blocks():
    x = ng.ones(4)
    for _ in range(5):  # warm up the block kernel
        x = x * 1.0001
    before = ng.kernels.cache_info()["modules"]
    y = ng.ones(4)
    for _ in range(1000):
        y = y * 1.0001
        assert y._lazy is None or y._lazy.size <= ng.fusion.state.MAX_REGION
    assert_close(y, np.full(4, 1.0001 ** 1000, dtype=np.float32), rtol=1e-4)
    # one kernel per block size reached, not one per step
    assert ng.kernels.cache_info()["modules"] - before <= 3



def test_region_plans_are_reused_only_for_the_same_structure():
    """A realized region's Expr is cached by structure: equal structures share it with new inputs, and
    every difference the Expr depends on (a repeated buffer, scalar dtype, a special exponent) keeps apart."""
    from numgrad.fusion import lazy

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(5).astype(np.float32) for _ in range(2))
    x, y = ng.tensor(a), ng.tensor(b)
    cases = [
        (lambda: x * y + 2.0, a * b + 2.0),
        (lambda: y * x + 3.0, b * a + 3.0),  # same structure, other inputs and scalar
        (lambda: x * x + 2.0, a * a + 2.0),  # one buffer used twice
        (lambda: x * y + 2, a * b + 2),  # an int scalar
        (lambda: (x * y) ** 2, (a * b) ** 2),
        (lambda: (x * y) ** 3, (a * b) ** 3),
        (lambda: (x * y) ** 2.5, np.abs(a * b) ** 2.5 * np.where(a * b < 0, np.nan, 1)),
        (lambda: (x * y) ** 2.5, np.abs(a * b) ** 2.5 * np.where(a * b < 0, np.nan, 1)),
    ]
    for _ in range(2):  # the second round runs every case from the plan cache
        for build, expected in cases:
            np.testing.assert_allclose(build().numpy(), expected.astype(np.float32), rtol=1e-5, equal_nan=True)
    key_same, _ = lazy._region_signature((x * y + 2.0)._lazy)
    key_other, _ = lazy._region_signature((y * x + 5.0)._lazy)
    key_twice, inputs = lazy._region_signature((x * x + 2.0)._lazy)
    assert key_same == key_other and key_same != key_twice
    assert len([v for v in inputs if isinstance(v, np.ndarray)]) == 1

def test_fused_equals_unfused_on_mixed_dtypes():
    a = ng.tensor([1, 2, 3])
    f = ng.tensor([0.5, 1.5, 2.5])
    exprs = [lambda: (a * f + 1) // 2, lambda: (a > 1) * f, lambda: ng.where(f > 1, a, f) % 2,
             lambda: (a + True) * 2, lambda: -(a // 2) + (f ** 2)]
    fused = [e().tolist() for e in exprs]
    ng.set_fusion(False)
    try:
        assert [e().tolist() for e in exprs] == fused
        assert [e().dtype for e in exprs] == [e().dtype for e in exprs]
    finally:
        ng.set_fusion(True)


def test_inplace_after_lazy_use_keeps_eager_semantics():
    x = ng.tensor([1.0, 2.0])
    y = x * 2  # pending, reads x
    x.add_(10)
    assert y.tolist() == [2.0, 4.0]
    z = x * 1
    x.numpy()[0] = -1  # writing through numpy() after the op was recorded
    assert z.tolist() == [11.0, 12.0]


def test_double_backward_through_fused_regions_matches_torch():
    ng.manual_seed(3)
    x = ng.randn(5, dtype=ng.float64, requires_grad=True)
    (g,) = ng.autograd.grad(w1(ng, x, x, 0.5), x, create_graph=True)
    (h,) = ng.autograd.grad(g.sum(), x)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    (tg,) = torch.autograd.grad(w1(torch, tx, tx, 0.5), tx, create_graph=True)
    (th,) = torch.autograd.grad(tg.sum(), tx)
    assert_close(g, tg, rtol=1e-10)
    assert_close(h, th, rtol=1e-9)


def test_intermediate_with_two_consumers_and_hooks_stay_correct():
    x = ng.tensor([0.5, -1.0, 2.0], requires_grad=True)
    seen = []
    a = x.sin()
    a.register_hook(lambda g: seen.append(g.tolist()))
    y = (a * a + a.exp()).sum()
    y.backward()
    tx = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    ta = tx.sin()
    (ta * ta + ta.exp()).sum().backward()
    assert_close(x.grad, tx.grad, rtol=1e-6)
    assert len(seen) == 1


# ------------------------------------------------------------------ random DAGs
UNARY = ["exp", "tanh", "sigmoid", "sin", "neg", "abs", "square", "relu", "silu", "softplus"]
BINARY = ["add", "sub", "mul", "div", "maximum"]
SHAPES = [(3, 4), (4,), (3, 1), (1,), ()]


@st.composite
def dags(draw):
    n_inputs = draw(st.integers(2, 3))
    shapes = [draw(st.sampled_from(SHAPES)) for _ in range(n_inputs)]
    steps = []
    for i in range(draw(st.integers(1, 7))):
        if draw(st.booleans()):
            steps.append(("u", draw(st.sampled_from(UNARY)), draw(st.integers(0, n_inputs + i - 1))))
        else:
            steps.append(("b", draw(st.sampled_from(BINARY)), draw(st.integers(0, n_inputs + i - 1)),
                          draw(st.integers(0, n_inputs + i - 1))))
    return shapes, steps


def _run_dag(m, values, steps):
    vals = list(values)
    F = m.nn.functional
    for step in steps:
        if step[0] == "u":
            name, a = step[1], vals[step[2]]
            fn = getattr(F, name) if name in ("silu", "softplus", "relu") else getattr(m, name)
            vals.append(fn(a))
        else:
            name, a, b = step[1], vals[step[2]], vals[step[3]]
            vals.append(getattr(m, name)(a, b / (1 + b * b) + 2.0 if name == "div" else b))
    return vals[-1]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.integers(0, 2**16))
def test_random_dags_fused_unfused_and_torch_agree(dag, seed):
    shapes, steps = dag
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    results = []
    for fused in (True, False):
        ng.set_fusion(fused)
        try:
            xs = [ng.tensor(a, requires_grad=True) for a in arrays]
            out = _run_dag(ng, xs, steps)
            (out * out).sum().backward() if out.requires_grad else None
            results.append((out.detach().numpy().copy(), [None if x.grad is None else x.grad.numpy() for x in xs]))
        finally:
            ng.set_fusion(True)
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = _run_dag(torch, ts, steps)
    (tout * tout).sum().backward()
    for value, grads in results:
        np.testing.assert_allclose(value, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
        for g, t in zip(grads, ts):
            if t.grad is None:
                assert g is None or np.all(g == 0)
            else:
                np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-9, atol=1e-11)


# ------------------------------------------------------------------ kernel cache
_SCRIPT = textwrap.dedent("""
    import json, warnings
    warnings.simplefilter("always")
    import numgrad as ng
    x = ng.linspace(-1, 1, 7, requires_grad=True)
    y = (ng.tanh(x * 1.5 + 0.25) * ng.sigmoid(x) ** 2).sum()
    y.backward()
    info = ng.kernels.cache_info()
    print(json.dumps({"y": y.item(), "g": x.grad.tolist(), "compiled": info["compiled"],
                      "disk_hits": info["disk_hits"], "dir": info["cache_dir"]}))
""")


def _run(cache_dir, extra_env=None):
    env = dict(os.environ, NUMGRAD_CACHE_DIR=str(cache_dir), **(extra_env or {}))
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.mark.slow
def test_second_process_compiles_nothing_and_corruption_is_recovered(tmp_path):
    first, _ = _run(tmp_path)
    assert first["compiled"] > 0
    second, _ = _run(tmp_path)
    assert second["compiled"] == 0 and second["disk_hits"] > 0
    assert second["y"] == first["y"] and second["g"] == first["g"]
    # truncate every generated source and every Numba cache file: both must be rebuilt
    for root, _, files in os.walk(tmp_path):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "r+b") as f:
                f.truncate(max(0, os.path.getsize(path) // 2))
    third, _ = _run(tmp_path)
    assert third["y"] == first["y"] and third["g"] == first["g"]


def test_generated_module_code_is_kept_beside_its_source_and_checked(tmp_path, monkeypatch):
    from numgrad.kernels import cache

    path = str(tmp_path / "k_0123.py")
    text = "VALUE = 6 * 7\n"
    code = cache._module_code(path, text)
    (copy,) = [p for p in tmp_path.iterdir() if p.suffix == ".code"]
    assert copy.name.startswith("k_0123.") and code.co_filename == path

    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled although a good copy exists")

    monkeypatch.setattr(cache, "compile", no_compiling, raising=False)
    namespace = {}
    exec(cache._module_code(path, text), namespace)
    assert namespace["VALUE"] == 42
    monkeypatch.undo()
    # a flipped byte fails the checksum: compiled again and the copy rewritten
    blob = bytearray(copy.read_bytes())
    blob[-1] ^= 0xFF
    copy.write_bytes(bytes(blob))
    namespace = {}
    exec(cache._module_code(path, text), namespace)
    assert namespace["VALUE"] == 42
    assert copy.read_bytes() != bytes(blob)


@pytest.mark.slow
def test_concurrent_writers_share_a_cache(tmp_path):
    env = dict(os.environ, NUMGRAD_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", _SCRIPT], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    values = {json.loads(o[0].strip().splitlines()[-1])["y"] for o in outs}
    assert len(values) == 1
    after, _ = _run(tmp_path)
    assert after["compiled"] == 0


@pytest.mark.slow
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_cache_dir_falls_back_with_one_warning(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        out, err = _run(ro)
        assert err.count("is not writable") == 1
        assert out["dir"] != str(ro)
    finally:
        ro.chmod(stat.S_IRWXU)


@pytest.mark.slow
def test_unwritable_cache_dir_falls_back_with_one_warning(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out, err = _run(blocker / "sub")
    assert err.count("is not writable") == 1
    assert out["compiled"] > 0


# ------------------------------------------------------------ user elementwise ops
def _softclip(x):
    return x / (1.0 + abs(x))


def _softclip_grad(x, out, g):
    return g / ((1.0 + abs(x)) * (1.0 + abs(x)))


def _scaled_exp(a, b):
    return a * np.exp(b)


def _scaled_exp_grad(a, b, out, g):
    return g * np.exp(b), g * out


softclip = ng.elementwise(_softclip, grad=_softclip_grad)
scaled_exp = ng.elementwise(_scaled_exp, grad=_scaled_exp_grad)


def test_user_elementwise_op_fuses_and_differentiates():
    x = ng.tensor([1.0, -3.0, 0.5], dtype=ng.float64, requires_grad=True)
    y = softclip(x * 2 + 1).exp()
    assert "4 ops -> 1 kernel" in str(ng.explain(y))
    y.sum().backward()
    tx = torch.tensor([1.0, -3.0, 0.5], dtype=torch.float64, requires_grad=True)
    t = tx * 2 + 1
    (t / (1 + t.abs())).exp().sum().backward()
    assert_close(x.grad, tx.grad, rtol=1e-12)
    assert ng.autograd.gradcheck(lambda a: softclip(a).sum(), (x,))


def test_user_elementwise_op_with_two_inputs_and_broadcasting():
    a = ng.tensor([[1.0], [2.0]], dtype=ng.float64, requires_grad=True)
    b = ng.tensor([0.1, -0.2, 0.3], dtype=ng.float64, requires_grad=True)
    assert ng.autograd.gradcheck(lambda p, q: scaled_exp(p, q).sum(), (a, b))
    assert scaled_exp(a, b).shape == (2, 3) and scaled_exp(a, b).grad_fn.name() == "_scaled_expBackward0"


def test_user_elementwise_op_errors():
    with pytest.raises(TypeError, match="defined with `def`"):
        ng.elementwise(lambda v: v)
    with pytest.raises(TypeError, match="must take 3 arguments"):
        ng.elementwise(_softclip, grad=_scaled_exp)
    with pytest.raises(TypeError, match="takes 2 tensor argument"):
        scaled_exp(ng.ones(2))


def test_fused_backward_accumulates_into_existing_grad_in_place():
    x = ng.tensor([0.5, -1.0, 2.0], requires_grad=True)
    w = ng.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w1(ng, x, w, 1.0).backward()
    buffer = x.grad.numpy()
    w1(ng, x, w, 1.0).backward()
    assert x.grad.numpy() is buffer  # same memory: added in place by the fused kernel
    tx = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    tw = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for _ in range(2):
        w1(torch, tx, tw, 1.0).backward()
    assert_close(x.grad, tx.grad, rtol=1e-6)
    assert_close(w.grad, tw.grad, rtol=1e-6)


def test_repeated_region_reuses_its_derived_gradient_plan():
    from numgrad.fusion import backward

    def grads(seed):
        rng = np.random.default_rng(seed)
        arrays = [rng.standard_normal(5) for _ in range(3)]
        xs = [ng.tensor(a, dtype=ng.float64, requires_grad=True) for a in arrays]
        w1(ng, *xs).backward()
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        w1(torch, *ts).backward()
        return [x.grad for x in xs], [t.grad for t in ts]

    grads(0)
    plans = len(backward._plans)
    for seed in (1, 2):  # same structure, new values: served from the cached plan
        ours, theirs = grads(seed)
        for a, b in zip(ours, theirs):
            assert_close(a, b, rtol=1e-12)
    assert len(backward._plans) == plans


def test_collect_lists_every_region_node_after_all_its_consumers():
    """``fusion.backward.run`` derives gradients in the order ``collect`` returns: a node must come after
    every region node that consumes it, also where a value feeds several consumers (diamonds)."""
    from numgrad.autograd.engine import _discover
    from numgrad.fusion import backward

    x = ng.randn(4, requires_grad=True)
    a = ng.tanh(x)  # consumed by b, c and d: its gradient is complete only after all three
    b = a * 2.0
    c = ng.sigmoid(a) + b
    d = c * a + ng.exp(b)
    y = d * d
    deps, _ = _discover([y.grad_fn])
    region = backward.collect(y.grad_fn, dict(deps), set())
    assert len(region) >= 8 and region[0] is y.grad_fn
    position = {node: i for i, node in enumerate(region)}
    for node in region:
        for edge in node._next:
            if edge is not None and edge[0] in position:
                assert position[edge[0]] > position[node], (edge[0].name(), node.name())
    assert a.grad_fn in position
    y.sum().backward()  # and the region's fused gradient is right
    t = torch.tensor(x.detach().numpy().astype(np.float64), requires_grad=True)
    ta = torch.tanh(t)
    tb = ta * 2.0
    td = (torch.sigmoid(ta) + tb) * ta + torch.exp(tb)
    (td * td).sum().backward()
    assert_close(x.grad, t.grad, rtol=1e-4)


def test_what_depends_only_on_scalar_inputs_is_computed_once_before_the_loop():
    # a fused formula of one-element tensors (their values reach the kernel as scalars): its branches (clamps,
    # softplus's threshold, the range checks inside fm.log) stayed in the element loop, where LLVM unswitched the
    # loop once per branch, and compiling it took minutes
    from numgrad.ir.expr import E, var
    from numgrad.kernels.cpu import elementwise as cpu_elementwise

    p = E.clamp(var(0), 1e-7, 1.0 - 1e-7)
    root = var(1) * E.log1p(E.exp(E.log(p) - E.log1p(-p)))
    source = cpu_elementwise._source_16([root], ("s", "a"), ("", ""), 1, 1, "float32", None)
    serial = source[source.index("def serial"):source.index("def parallel")]
    before_loop, loop = serial.split("for i0 in", 1)
    assert "fm.log1p" in before_loop and "fm.log" in before_loop and "fm.exp" in before_loop
    assert loop.count("fm.") == 0
    a, b = ng.full((1,), 0.5), ng.full((1,), 0.3)
    ca, cb = a.clamp(min=1e-7, max=1 - 1e-7), b.clamp(min=1e-7, max=1 - 1e-7)
    la, lb = ca.log() - (-ca).log1p(), cb.log() - (-cb).log1p()
    got = a * (ng.nn.functional.softplus(-lb) - ng.nn.functional.softplus(-la))
    t = {k: torch.tensor([v]) for k, v in (("a", 0.5), ("b", 0.3))}
    softplus = torch.nn.functional.softplus
    want = t["a"] * (softplus(-torch.logit(t["b"])) - softplus(-torch.logit(t["a"])))
    assert_close(got, want, rtol=1e-5, atol=1e-6)
