"""Kernel profiler: what ran, what was fused, what compiling cost, how close to the memory floor.

>>> import numgrad as ng
>>> x = ng.randn(1000, requires_grad=True)
>>> with ng.profiler.profile() as prof:
...     (ng.tanh(x * 2 + 1) ** 2).sum().backward()
>>> any(r["kind"] == "kernel" for r in prof.to_records(bandwidth=False))
True

What is recorded
----------------
* every launch of a *generated* kernel (the single choke point is
  ``numgrad.kernels.cache._GuardedKernel.__call__``): elementwise ``map``
  kernels, fused map-reductions (``mapreduce``), reductions, scans... Each
  record has the kernel name (module prefix + short content hash + variant,
  e.g. ``map_1a2b3c4d.parallel``), the ops fused into it (the op names of
  its expression DAG, for map/mapreduce kernels), the argument shapes and
  dtypes, the phase (forward/backward), the time split into compile (Numba
  compiled it in this call), cache load (Numba loaded it from the disk cache
  in this call) and run, the bytes read and written, achieved GB/s and the
  fraction of the machine's measured memory bandwidth;
* every differentiable op that goes through ``Function.apply`` (forward) or
  ``FunctionNode.apply`` (backward): matmul, conv, reductions, views... Their
  hand-written static kernels are timed at this op level. Op records carry
  inclusive time and *self* time (minus the kernels and ops nested in them),
  so summing self times never counts a kernel twice;
* fused regions: ``FusedRegion`` (a lazy forward region being computed) and
  ``FusedBackward`` (one fused backward kernel for a chain of elementwise
  nodes, ``ops`` lists the graph nodes it replaced).

Phase: ``backward`` inside ``FunctionNode.apply``/``FusedBackward`` or while
the autograd engine runs a backward pass (it brackets ``run_backward`` with
``_profiler_hooks.backward_started``/``backward_finished``), else ``forward``.

Cost: with profiling off every hook is one attribute check
(``numgrad._profiler_hooks._ACTIVE``). With profiling on, a launch costs a few
microseconds more (measured: see ``benchmarks/RESULTS.md``), which is below 1%
of a 1 ms kernel. The profiler keeps one global event list: profile from one
thread at a time.
"""
from __future__ import annotations

from .bandwidth import cpu_model, memory_bandwidth
from .compare import Comparison, compare
from .record_function import record_function
from .report import profile

__all__ = ["profile", "compare", "Comparison", "memory_bandwidth", "cpu_model", "record_function"]
