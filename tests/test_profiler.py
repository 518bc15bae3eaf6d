"""numgrad.profiler: records, phases, bytes, compile vs run, exports, compare; the benchmark suite runs."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

import numgrad as ng
from numgrad import _profiler_hooks as _hooks
from numgrad import profiler

N = 1000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _w1(n=N):
    ng.manual_seed(0)
    x, w, b = (ng.randn(n, requires_grad=True) for _ in range(3))
    return x, w, b


def _step(x, w, b, read_loss=False):
    x.grad = w.grad = b.grad = None
    loss = (ng.tanh(x * w + b) * ng.sigmoid(x) ** 2).sum()
    if read_loss:  # the loss is computed by its own forward kernel (else the backward kernel returns it)
        loss.item()
    loss.backward()


@pytest.fixture(autouse=True)
def _fusion_on():
    ng.set_fusion(True)
    yield
    ng.set_fusion(True)


def _kernels(prof):
    return [r for r in prof.to_records(bandwidth=False) if r["kind"] == "kernel"]


def test_deferred_w1_loss_records_one_kernel_that_also_sums():
    x, w, b = _w1()
    _step(x, w, b)  # compile outside the profile
    with ng.profiler.profile() as prof:
        _step(x, w, b)
    (k,) = _kernels(prof)
    assert k["name"].startswith("mapsum_") and k["phase"] == "backward" and k["op"] == "FusedBackward"
    assert {"mul", "add", "tanh", "sigmoid", "sum"} <= set(k["ops"])
    assert k["bytes_read"] >= 3 * N * 4 and k["bytes_written"] == 3 * N * 4
    assert k["compile_s"] == 0 and k["load_s"] == 0 and k["run_s"] > 0


def test_fused_w1_records_one_forward_and_one_backward_kernel_with_bytes():
    x, w, b = _w1()
    _step(x, w, b, read_loss=True)  # compile outside the profile
    with ng.profiler.profile() as prof:
        _step(x, w, b, read_loss=True)
    ks = _kernels(prof)
    fwd = [k for k in ks if k["phase"] == "forward"]
    bwd = [k for k in ks if k["phase"] == "backward"]
    assert len(fwd) == 1 and len(bwd) == 1, prof.table(bandwidth=False)
    f, g = fwd[0], bwd[0]
    assert f["name"].startswith("mapreduce_") and f["variant"] == "serial"
    assert {"mul", "add", "tanh", "sigmoid", "sum"} <= set(f["ops"])
    assert f["op"] == "Sum" and f["device"] == "cpu" and "float32" in f["dtypes"]
    assert f["bytes_read"] == 3 * N * 4 and f["bytes_written"] == 0 and f["exact_bytes"]
    assert g["name"].startswith("map_") and g["op"] == "FusedBackward"
    assert g["bytes_written"] == 3 * N * 4  # grads of x, w, b
    assert g["bytes_read"] >= 3 * N * 4
    assert all(k["compile_s"] == 0 and k["load_s"] == 0 and k["run_s"] > 0 for k in ks)
    assert all(k["gbps"] > 0 for k in ks)
    ops = {(r["name"], r["phase"]) for r in prof.to_records(bandwidth=False) if r["kind"] == "op"}
    assert ("Sum", "forward") in ops and ("FusedBackward", "backward") in ops
    fb = [r for r in prof.to_records(bandwidth=False) if r["name"] == "FusedBackward"][0]
    assert "TanhBackward0" in fb["ops"] and fb["self_s"] <= fb["total_s"]


def test_unfused_w1_records_one_kernel_per_op_in_both_phases():
    x, w, b = _w1()
    ng.set_fusion(False)
    _step(x, w, b)
    with ng.profiler.profile() as prof:
        _step(x, w, b)
    ks = _kernels(prof)
    fwd_ops = [k["ops"] for k in ks if k["phase"] == "forward" and k["name"].startswith("map_")]
    assert len(fwd_ops) >= 5 and ["tanh"] in fwd_ops and ["sigmoid"] in fwd_ops
    bwd = [k for k in ks if k["phase"] == "backward"]
    assert len(bwd) >= 5  # ElementwiseNode backward kernels, found through the engine's frame
    assert all(k["bytes_written"] > 0 for k in bwd if k["name"].startswith("map_"))


def test_first_launch_splits_compile_or_load_from_run():
    ops = ["exp", "sin", "cos", "tanh", "sigmoid", "abs", "neg", "sqrt", "log1p", "expm1"]
    random.Random().shuffle(ops)  # a structure this process (probably) never compiled
    x = ng.rand(64) + 0.5

    def chain():
        y = x
        for name in ops[:5]:
            y = getattr(ng, name)(y)
        return y.numpy()

    with ng.profiler.profile() as first:
        chain()
    with ng.profiler.profile() as second:
        chain()
    (k1,), (k2,) = _kernels(first), _kernels(second)
    assert k1["name"] == k2["name"]
    assert k1["compile_s"] + k1["load_s"] > 0 and (k1["compile_s"] == 0 or k1["load_s"] == 0)
    assert k1["run_s"] < k1["total_s"]
    assert k2["compile_s"] == 0 and k2["load_s"] == 0


def test_function_ops_are_recorded_forward_and_backward():
    a = ng.randn(8, 16, requires_grad=True)
    m = ng.randn(16, 4, requires_grad=True)
    (a @ m).relu().mean().backward()
    with ng.profiler.profile() as prof:
        (a @ m).relu().mean().backward()
    ops = [(r["name"], r["phase"]) for r in prof.to_records(bandwidth=False) if r["kind"] == "op"]
    assert ("Matmul", "forward") in ops and ("MmBackward0", "backward") in ops
    nested = [r for r in prof.to_records(bandwidth=False) if r["op"] == "MmBackward0"]
    assert nested and all(r["phase"] == "backward" for r in nested)


def test_table_html_trace_and_records(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMGRAD_BANDWIDTH_GBPS", "50")
    x, w, b = _w1()
    _step(x, w, b)
    with ng.profiler.profile() as prof:
        _step(x, w, b)
    text = prof.table()
    names = [k["name"] for k in _kernels(prof)]
    assert all(n in text for n in names) and "%BW" in text and "kernel launches" in text
    recs = prof.to_records()
    assert all(r["bandwidth_fraction"] == pytest.approx(r["gbps"] / 50) for r in recs if r["gbps"])
    flat = prof.table(group_by_kernel=False, sort_by="name")
    assert len(flat.splitlines()) == len(recs) + 4
    with pytest.raises(ValueError, match="sort_by must be one of"):
        prof.table(sort_by="speed")
    assert "<table" in prof._repr_html_() and names[0] in prof._repr_html_()
    path = prof.export_chrome_trace(str(tmp_path / "trace.json"))
    with open(path) as f:
        trace = json.load(f)
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert {e["name"] for e in events} >= set(names)
    assert all(e["dur"] >= 0 and "ts" in e for e in events)


def test_to_pandas_or_clear_import_error():
    with ng.profiler.profile() as prof:
        (ng.ones(4) * 2).numpy()
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas"):
            prof.to_pandas(bandwidth=False)
    else:
        assert len(prof.to_pandas(bandwidth=False)) == len(prof.to_records(bandwidth=False))


def test_profiling_off_records_nothing_and_nested_profiles():
    with ng.profiler.profile() as outer:
        (ng.ones(4) * 2).numpy()
        with ng.profiler.profile() as inner:
            (ng.ones(4) + 3).numpy()
    assert not _hooks._ACTIVE and _hooks._events == [] and _hooks._stack == []
    assert len(_kernels(inner)) == 1 and len(_kernels(outer)) == 2
    (ng.ones(4) * 5).numpy()
    with ng.profiler.profile() as empty:
        pass
    assert empty.to_records(bandwidth=False) == []
    with ng.profiler.profile() as p:
        with pytest.raises(RuntimeError, match="still recording"):
            p.to_records()


def test_memory_bandwidth_is_measured_once_and_cached():
    bw = ng.profiler.memory_bandwidth()
    assert 1e8 < bw < 1e13
    assert ng.profiler.memory_bandwidth() == bw
    assert os.path.exists(os.path.join(ng.kernels.cache.cache_dir(), "bandwidth.json"))


def test_compare_reports_speedups_and_numpy_reference():
    x, w = ng.randn(2000), ng.randn(2000)
    c = ng.profiler.compare(lambda x, w: (ng.tanh(x * w) * ng.sigmoid(x)).sum(), x, w, repeats=2)
    assert set(c.speedups) == {"fused_vs_unfused", "fused_vs_numpy"}
    assert all(v > 0 for v in c.speedups.values())
    rows = c.group_speedups()
    ew = [r for r in rows if r["group"] == "elementwise kernels" and r["phase"] == "forward"][0]
    assert ew["fused_launches"] == 1 and ew["unfused_launches"] >= 3
    assert "fused kernels:" in c.table() and ng.is_fusion_enabled()
    pytest.importorskip("matplotlib")
    fig = c.plot()
    assert len(fig.axes) == 2


def test_compare_with_backward_needs_an_explicit_reference():
    x = ng.randn(500, requires_grad=True)

    def fb(x):
        x.grad = None
        (ng.exp(x) * 2).sum().backward()
        return x.grad

    c = ng.profiler.compare(fb, x, repeats=1)
    assert c.totals["numpy"] is None and "pass reference=" in c.notes[0]
    c = ng.profiler.compare(fb, x, repeats=1, reference=lambda a: 2 * np.exp(a))
    assert c.totals["numpy"] > 0 and not c.notes


def test_benchmark_suite_quick_runs(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with open(out / "results.json") as f:
        res = json.load(f)
    assert res["quick"] and res["w1"] and res["nn"] and "profiler_overhead" in res
    assert res["per_op"]["python_floor_us"] > 0 and res["nn"]["mlp_b128"]["gemm_only_numgrad"] > 0
    assert res["w1_compute_elements_per_s"] > 0 and all(r["hand_fused"] > 0 for r in res["w1"].values())
    compiled = res["ng_compile"]  # bench_compile: every workload timed, every target row filled
    assert all(t["numgrad compiled"] > 0 for t in compiled["times"].values()) and len(compiled["targets"]) >= 9


def test_benchmark_reference_points_compute_what_they_claim():
    """The per-op Python floor is a real autograd, the hand-fused W1 kernel computes W1's loss and gradients,
    and the MLP's BLAS floor makes the step's own products."""
    from benchmarks.bench_fusion import _Scalar
    from benchmarks.bench_nn import _mlp_products

    x = _Scalar(2.0)
    y = x
    for _ in range(50):
        y = y * 1.5
    y = y * x  # x used twice: backward must visit it once, after both uses
    y.backward()
    assert y.data == pytest.approx(2.0 * 1.5 ** 50 * 2.0)
    assert x.grad == pytest.approx(2 * 2.0 * 1.5 ** 50)

    from benchmarks.bench_fusion import _w1_hand_fused_kernels

    rng = np.random.default_rng(0)
    xa, wa, ba = (rng.standard_normal(100).astype(np.float32) for _ in range(3))
    grads = [np.empty(100, np.float32) for _ in range(3)]
    serial, parallel = _w1_hand_fused_kernels()
    total = parallel(xa, wa, ba, *grads)
    serial_grads = [np.empty(100, np.float32) for _ in range(3)]
    assert serial(xa, wa, ba, *serial_grads) == pytest.approx(total, rel=1e-5)
    for a, c in zip(grads, serial_grads):
        np.testing.assert_array_equal(a, c)
    x, w, b = (ng.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    loss = (ng.tanh(x * w + b) * ng.sigmoid(x) ** 2).sum()
    loss.backward()
    assert total == pytest.approx(loss.item(), rel=1e-5)
    for mine, leaf in zip(grads, (x, w, b)):
        np.testing.assert_allclose(mine, leaf.grad.numpy(), rtol=1e-5, atol=1e-6)
    # the same kernel as one custom op: its backward scales by the incoming gradient
    from benchmarks.bench_fusion import _W1AsOneOp, _w1_hand_fused_kernel

    xo, wo, bo = (ng.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    one = _W1AsOneOp.apply(xo, wo, bo, _w1_hand_fused_kernel(100))
    assert one.item() == pytest.approx(loss.item(), rel=1e-5)
    (one * 3.0).backward()
    for mine, leaf in zip((xo, wo, bo), (x, w, b)):
        np.testing.assert_allclose(mine.grad.numpy(), 3.0 * leaf.grad.numpy(), rtol=1e-5, atol=1e-6)

    products = _mlp_products(128)
    assert products[:3] == [(128, 784, 512), (128, 512, 256), (128, 256, 10)]  # forward
    assert (512, 128, 784) in products and (128, 10, 256) in products and len(products) == 8
    # the step's own multiply-adds: forward, weight grads, and input grads of the two upper layers
    assert sum(m * k * n for m, k, n in products) == 128 * (2 * (784 * 512 + 512 * 256 + 256 * 10) + 512 * 256 + 256 * 10)


def test_compare_refuses_to_call_numgrad_time_numpy():
    from numgrad import tanh

    c = ng.profiler.compare(lambda x: tanh(x).sum(), ng.randn(100), repeats=1)
    assert c.totals["numpy"] is None and "returned a numgrad Tensor" in c.notes[0]


def test_record_function_names_a_range_whose_ops_are_its_children():
    x = ng.randn(64, requires_grad=True)

    @ng.profiler.record_function("decorated")
    def inner():
        return (x * 3).sum()

    with ng.profiler.record_function("unprofiled"):  # no profile running: nothing recorded, nothing raised
        inner()
    with ng.profiler.profile() as prof:
        with ng.profiler.record_function("outer_block"):
            inner().backward()
    records = prof.to_records(bandwidth=False)
    by_name = {r["name"]: r for r in records}
    assert "unprofiled" not in by_name and by_name["outer_block"]["phase"] == "forward"
    assert by_name["decorated"]["op"] == "outer_block"
    assert by_name["outer_block"]["total_s"] >= by_name["decorated"]["total_s"] >= 0
    assert by_name["outer_block"]["self_s"] <= by_name["outer_block"]["total_s"]
    with pytest.raises(TypeError, match="record_function\\(\\): argument 'name' must be str, not int"):
        ng.profiler.record_function(3)
