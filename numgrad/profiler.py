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
the autograd engine's ``run_backward`` is on the call stack, else ``forward``.

Cost: with profiling off every hook is one attribute check
(``numgrad.profiler._ACTIVE``). With profiling on, a launch costs a few
microseconds more (measured: see ``benchmarks/RESULTS.md``), which is below 1%
of a 1 ms kernel. The profiler keeps one global event list: profile from one
thread at a time.
"""
from __future__ import annotations

import html
import json
import os
import statistics
import sys
import time
from typing import Any, Callable, Optional

_ACTIVE = False  # read by the hooks in cache.py, function.py, lazy.py, backward.py, elementwise.py
_bypass: Any = None  # the object whose next hooked call is the profiler's own re-call

_perf = time.perf_counter
_events: list = []  # events of every open profile (nested profiles slice it)
_stack: list = []  # open op scopes (innermost last)
_open_profiles = [0]
_annotation: Any = None  # what the next map/reduce launch computes (set by run_map / run_reduce)
_bw_depth = [0]  # open backward scopes
_kernel_names: dict = {}
_op_names: dict = {}
_backward_codes: set = set()

_SORT_KEYS = ("total_time", "self_time", "run_time", "compile_time", "calls", "bytes", "gbps", "name")


# --------------------------------------------------------------------------- hook API (called by core)
def _outer(key) -> bool:
    """False exactly once after the profiler re-calls a hooked function for ``key``."""
    global _bypass
    if _bypass is key:
        _bypass = None
        return False
    return True


def _annotate(roots, n_out: int, shape, reducer: Optional[str] = None) -> None:
    """run_map/run_reduce: the expression, number of outputs and shape of the next launch."""
    global _annotation
    _annotation = (roots, n_out, shape, reducer)


class _Event:
    __slots__ = ("kind", "name", "variant", "ops", "op", "phase", "start", "total", "compile", "compile_kind",
                 "shapes", "dtypes", "bytes_read", "bytes_written", "parent", "out_shape", "child_time",
                 "exact_bytes")

    def __init__(self, kind, name, phase, parent):
        self.kind = kind
        self.name = name
        self.variant = ""
        self.ops = ()
        self.op = parent.name if parent is not None else ""
        self.phase = phase
        self.start = 0.0
        self.total = 0.0
        self.compile = 0.0
        self.compile_kind = ""
        self.shapes = ()
        self.dtypes = ()
        self.bytes_read = 0
        self.bytes_written = 0
        self.parent = parent
        self.out_shape = None
        self.child_time = 0.0
        self.exact_bytes = False


def _in_backward() -> bool:
    if _bw_depth[0]:
        return True
    f = sys._getframe(2)
    depth = 0
    while f is not None and depth < 40:
        if f.f_code in _backward_codes:
            return True
        f = f.f_back
        depth += 1
    return False


def _op(name: str, phase: Optional[str], fn: Callable, args: tuple, kwargs: dict, key, ops=None):
    """Run ``fn(*args, **kwargs)`` (a hooked function, re-called past its hook) as a timed op scope."""
    global _bypass
    parent = _stack[-1] if _stack else None
    backward = phase == "backward"
    if not backward:
        backward = parent.phase == "backward" if parent is not None else _in_backward()
    ev = _Event("op", name, "backward" if backward else "forward", parent)
    if ops:
        ev.ops = tuple(ops)
    _events.append(ev)
    _stack.append(ev)
    if backward:
        _bw_depth[0] += 1
    _bypass = key
    t0 = _perf()
    ev.start = t0
    try:
        return fn(*args, **kwargs)
    finally:
        ev.total = _perf() - t0
        if _bypass is key:
            _bypass = None
        if backward:
            _bw_depth[0] -= 1
        _stack.pop()
        if parent is not None:
            parent.child_time += ev.total


def _kernel_name(dispatcher) -> tuple:
    key = id(dispatcher)
    hit = _kernel_names.get(key)
    if hit is None or hit[0] is not dispatcher:
        py = getattr(dispatcher, "py_func", None)
        module = getattr(py, "__module__", "") or ""
        short = module.rsplit(".", 1)[-1]
        prefix, _, digest = short.partition("_")
        func = getattr(py, "__name__", "kernel")
        parallel = bool(getattr(dispatcher, "targetoptions", {}).get("parallel"))
        name = f"{prefix}_{digest[:8]}.{func}" if digest else f"{short}.{func}"
        hit = _kernel_names[key] = (dispatcher, name, "parallel" if parallel else "serial")
    return hit[1], hit[2]


def _op_names_of(roots, reducer) -> tuple:
    key = (roots, reducer)
    names = _op_names.get(key)
    if names is None:
        from .ir import expr as ex

        names = [n.op for n in ex.postorder(list(roots)) if n.op not in ("var", "const")
                 and not n.op.startswith("cast_")]
        if reducer:
            names.append(reducer)
        names = _op_names[key] = tuple(names)
    return names


_type_names: dict = {}


def _type_name(d) -> str:
    name = _type_names.get(d)
    if name is None:
        name = _type_names[d] = d.__name__ if isinstance(d, type) else d.name
    return name


def _touched(a) -> int:
    """Bytes of memory an array view covers (broadcast dims, stride 0, count once)."""
    strides = a.strides
    if 0 not in strides:
        return a.nbytes
    n = a.itemsize
    for size, stride in zip(a.shape, strides):
        if stride:
            n *= size
    return n


def _launch(kernel, args: tuple):
    """Time one generated-kernel launch, splitting compile / cache-load time from run time."""
    global _bypass, _annotation
    import numpy as np

    ann = _annotation
    _annotation = None
    dispatcher = kernel.dispatcher
    parent = _stack[-1] if _stack else None
    ev = _Event("kernel", "", parent.phase if parent is not None else
                "backward" if _in_backward() else "forward", parent)
    ev.name, ev.variant = _kernel_name(dispatcher)
    shapes, dtypes, arrays = [], [], []
    for a in args:
        if type(a) is np.ndarray or isinstance(a, np.ndarray):
            shapes.append(a.shape)
            dtypes.append(a.dtype)  # the dtype object: `.name` costs microseconds, resolved in to_records
            arrays.append(_touched(a))
        else:
            shapes.append(())
            dtypes.append(type(a))
    ev.shapes, ev.dtypes = tuple(shapes), tuple(dtypes)
    if ann is not None:
        roots, n_out, shape, reducer = ann
        ev.ops = _op_names_of(tuple(roots), reducer)
        ev.out_shape = tuple(shape)
        ev.bytes_written = sum(arrays[:n_out])
        ev.bytes_read = sum(arrays[n_out:])
        ev.exact_bytes = True
    else:
        ev.bytes_read = sum(arrays)
    # compile / disk-load happen inside dispatcher.compile, which Numba's dispatch calls through the
    # instance attribute: time it with a per-call wrapper and classify with the cache hit/miss counters
    box = [0.0, ""]
    original = dispatcher.compile

    def timed_compile(sig):
        hits = sum(getattr(dispatcher, "_cache_hits", {}).values())
        misses = sum(getattr(dispatcher, "_cache_misses", {}).values())
        t = _perf()
        try:
            return original(sig)
        finally:
            box[0] += _perf() - t
            if sum(getattr(dispatcher, "_cache_misses", {}).values()) > misses:
                box[1] = "compile"
            elif sum(getattr(dispatcher, "_cache_hits", {}).values()) > hits and box[1] != "compile":
                box[1] = "load"

    dispatcher.compile = timed_compile
    _bypass = kernel
    t0 = _perf()
    try:
        result = kernel(*args)
    finally:
        t1 = _perf()
        try:
            del dispatcher.compile
        except AttributeError:
            pass
        if _bypass is kernel:
            _bypass = None
    if isinstance(result, np.ndarray):
        ev.bytes_written += _touched(result)
    ev.start = t0
    ev.total = t1 - t0
    ev.compile = box[0]
    ev.compile_kind = box[1] if box[0] else ""
    if parent is not None:
        parent.child_time += ev.total
    _events.append(ev)
    return result


# --------------------------------------------------------------------------- bandwidth
_TRIAD_SOURCE = '''
import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True, parallel=True)
def triad(a, b, c, s):
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]
'''
_bandwidth_cache: dict = {}


def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo where available)."""
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model


def _machine_key() -> str:
    import platform

    import numba

    return f"{platform.node()}|{cpu_model()}|cpus={os.cpu_count()}|threads={numba.get_num_threads()}"


def memory_bandwidth(refresh: bool = False) -> float:
    """The machine's memory bandwidth in bytes/s: the floor for elementwise work.

    Measured once per machine (and thread count) with a parallel float32 triad
    kernel ``a[i] = b[i] + s*c[i]`` over 1e7 elements (12 bytes/element, best
    of 7 runs) and cached in ``bandwidth.json`` in numgrad's kernel cache
    directory. ``NUMGRAD_BANDWIDTH_GBPS`` overrides the measurement.

    >>> import numgrad as ng
    >>> ng.profiler.memory_bandwidth() > 1e8
    True
    """
    global _ACTIVE
    env = os.environ.get("NUMGRAD_BANDWIDTH_GBPS")
    if env:
        try:
            return float(env) * 1e9
        except ValueError:
            raise ValueError(f"NUMGRAD_BANDWIDTH_GBPS must be a number of GB/s, got {env!r}") from None
    key = _machine_key()
    if not refresh and key in _bandwidth_cache:
        return _bandwidth_cache[key]
    from .kernels import cache

    path = os.path.join(cache.cache_dir(), "bandwidth.json")
    stored: dict = {}
    try:
        with open(path, encoding="utf-8") as f:
            stored = json.load(f)
    except (OSError, ValueError):
        stored = {}
    entry = stored.get(key) if isinstance(stored, dict) else None
    if not refresh and isinstance(entry, dict) and entry.get("bytes_per_s", 0) > 0:
        _bandwidth_cache[key] = float(entry["bytes_per_s"])
        return _bandwidth_cache[key]
    import numpy as np

    was = _ACTIVE
    _ACTIVE = False  # the measurement is not part of the user's profile
    try:
        kernel = cache.load_module(_TRIAD_SOURCE, prefix="triad").triad
        n = 10_000_000
        a = np.zeros(n, np.float32)
        b = np.ones(n, np.float32)
        c = np.ones(n, np.float32)
        s = np.float32(0.5)
        kernel(a, b, c, s)  # compile / load and first-touch outside the timing
        best = float("inf")
        for _ in range(7):
            t0 = _perf()
            kernel(a, b, c, s)
            best = min(best, _perf() - t0)
    finally:
        _ACTIVE = was
    bw = 12 * n / best
    _bandwidth_cache[key] = bw
    if not isinstance(stored, dict):
        stored = {}
    stored[key] = {"bytes_per_s": bw, "elements": n, "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(stored, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache dir: measure again next process
    return bw


# --------------------------------------------------------------------------- profile
def _start_profiling() -> int:
    global _ACTIVE
    if not _backward_codes:
        from .autograd import engine

        _backward_codes.add(engine.run_backward.__code__)
    _open_profiles[0] += 1
    _ACTIVE = True
    return len(_events)


def _stop_profiling(start: int) -> list:
    global _ACTIVE, _annotation
    events = _events[start:]
    _open_profiles[0] -= 1
    if _open_profiles[0] == 0:
        _ACTIVE = False
        _annotation = None
        _events.clear()
        _stack.clear()
        _bw_depth[0] = 0
    return events


def _fmt_time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def _fmt_bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


class profile:
    """Record every kernel launch and op inside a ``with`` block.

    >>> import numgrad as ng
    >>> x = ng.randn(100, requires_grad=True)
    >>> with ng.profiler.profile() as prof:
    ...     ng.sigmoid(x * 3).sum().backward()
    >>> "kernel" in prof.table(bandwidth=False)
    True

    ``prof.table()`` (text), ``prof`` in Jupyter (HTML table),
    ``prof.export_chrome_trace(path)`` (Perfetto / chrome://tracing),
    ``prof.to_records()`` and ``prof.to_pandas()``.
    """

    def __init__(self, bandwidth: bool = True):
        self.bandwidth = bandwidth  # compute GB/s shares against the measured machine bandwidth
        self._events: list = []
        self._start_index: Optional[int] = None
        self._t0 = 0.0
        self.wall_time = 0.0

    def __enter__(self) -> "profile":
        self._start_index = _start_profiling()
        self._t0 = _perf()
        return self

    def __exit__(self, *exc) -> None:
        self.wall_time = _perf() - self._t0
        self._events = _stop_profiling(self._start_index)
        self._start_index = None

    # ------------------------------------------------------------------ records
    def _bandwidth(self, bandwidth: Optional[bool]) -> Optional[float]:
        use = self.bandwidth if bandwidth is None else bandwidth
        return memory_bandwidth() if use else None

    @property
    def events(self) -> list:
        if self._start_index is not None:
            raise RuntimeError("the profile is still recording: read its results after the `with` block")
        return self._events

    def to_records(self, bandwidth: Optional[bool] = None) -> list:
        """One dict per kernel launch or op, in start order.

        Keys: kind ('kernel' or 'op'), name, variant, ops (fused op names),
        op (enclosing op), phase, device, shapes, dtypes, out_shape, start_s
        (since the profile started), total_s (inclusive), self_s (minus nested
        records), compile_s, load_s, run_s, bytes_read, bytes_written, gbps,
        bandwidth_fraction (achieved / machine bandwidth; None with
        ``bandwidth=False``), exact_bytes.

        >>> import numgrad as ng
        >>> with ng.profiler.profile() as p:
        ...     _ = (ng.ones(8) * 2).numpy()
        >>> p.to_records(bandwidth=False)[-1]["ops"]
        ['mul']
        """
        bw = self._bandwidth(bandwidth)
        out = []
        for ev in sorted(self.events, key=lambda e: e.start):
            compile_s = ev.compile if ev.compile_kind == "compile" else 0.0
            load_s = ev.compile if ev.compile_kind == "load" else 0.0
            if ev.kind == "kernel":
                run_s = max(ev.total - ev.compile, 0.0)
                self_s = ev.total
            else:
                run_s = ev.total
                self_s = max(ev.total - ev.child_time, 0.0)
            moved = ev.bytes_read + ev.bytes_written
            gbps = moved / run_s / 1e9 if ev.kind == "kernel" and run_s > 0 and moved else None
            out.append({
                "kind": ev.kind, "name": ev.name, "variant": ev.variant, "ops": list(ev.ops), "op": ev.op,
                "phase": ev.phase, "device": "cpu", "shapes": [list(s) for s in ev.shapes],
                "dtypes": [_type_name(d) for d in ev.dtypes], "out_shape": list(ev.out_shape) if ev.out_shape is not None else None,
                "start_s": ev.start - self._t0, "total_s": ev.total, "self_s": self_s, "compile_s": compile_s,
                "load_s": load_s, "run_s": run_s, "bytes_read": ev.bytes_read, "bytes_written": ev.bytes_written,
                "gbps": gbps, "bandwidth_fraction": (gbps * 1e9 / bw) if gbps is not None and bw else None,
                "exact_bytes": ev.exact_bytes,
            })
        return out

    def to_pandas(self, bandwidth: Optional[bool] = None):
        """``to_records()`` as a pandas DataFrame (needs pandas).

        >>> import numgrad as ng
        >>> with ng.profiler.profile() as p:
        ...     _ = (ng.ones(4) + 1).numpy()
        >>> try:
        ...     df = p.to_pandas(bandwidth=False)
        ... except ImportError:
        ...     pass
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("profile.to_pandas() needs pandas: `pip install pandas` (or `pip install "
                              "numgrad[profile]`); prof.to_records() gives the same data as a list of dicts") from None
        return pd.DataFrame(self.to_records(bandwidth))

    def summary(self, sort_by: str = "total_time", group_by_kernel: bool = True,
                bandwidth: Optional[bool] = None) -> list:
        """Rows of the table as dicts (grouped by kernel/op name and phase by default)."""
        if sort_by not in _SORT_KEYS:
            raise ValueError(f"sort_by must be one of {', '.join(_SORT_KEYS)}; got {sort_by!r}")
        bw = self._bandwidth(bandwidth)
        records = self.to_records(bandwidth=False)
        if not group_by_kernel:
            rows = [dict(r, calls=1) for r in records]
        else:
            groups: dict = {}
            for r in records:
                key = (r["kind"], r["name"], r["phase"])
                g = groups.get(key)
                if g is None:
                    g = groups[key] = dict(r, calls=0, total_s=0.0, self_s=0.0, compile_s=0.0, load_s=0.0,
                                           run_s=0.0, bytes_read=0, bytes_written=0)
                g["calls"] += 1
                for k in ("total_s", "self_s", "compile_s", "load_s", "run_s", "bytes_read", "bytes_written"):
                    g[k] += r[k]
                if r["kind"] == "op" and r["op"] and r["op"] not in g["op"].split(","):
                    g["op"] = ",".join(filter(None, (g["op"], r["op"])))
            rows = list(groups.values())
        for r in rows:
            moved = r["bytes_read"] + r["bytes_written"]
            r["gbps"] = moved / r["run_s"] / 1e9 if r["kind"] == "kernel" and r["run_s"] > 0 and moved else None
            r["bandwidth_fraction"] = r["gbps"] * 1e9 / bw if r["gbps"] is not None and bw else None
        keyf = {
            "total_time": lambda r: -r["self_s"], "self_time": lambda r: -r["self_s"],
            "run_time": lambda r: -r["run_s"], "compile_time": lambda r: -(r["compile_s"] + r["load_s"]),
            "calls": lambda r: -r["calls"], "bytes": lambda r: -(r["bytes_read"] + r["bytes_written"]),
            "gbps": lambda r: -(r["gbps"] or 0.0), "name": lambda r: r["name"],
        }[sort_by]
        return sorted(rows, key=keyf)

    def _table_rows(self, sort_by, group_by_kernel, bandwidth, limit):
        rows = self.summary(sort_by, group_by_kernel, bandwidth)
        total_self = sum(r["self_s"] for r in rows) or 1.0
        headers = ["kind", "name", "phase", "calls", "time", "%", "compile", "load", "run/call", "bytes",
                   "GB/s", "%BW", "ops / inside"]
        body = []
        for r in rows[:limit] if limit else rows:
            ops = "+".join(r["ops"]) if r["ops"] else ""
            where = f"in {r['op']}" if r["op"] else ""
            body.append([
                r["kind"], r["name"], r["phase"], str(r["calls"]), _fmt_time(r["self_s"]),
                f"{100 * r['self_s'] / total_self:.1f}",
                _fmt_time(r["compile_s"]) if r["compile_s"] else "",
                _fmt_time(r["load_s"]) if r["load_s"] else "",
                _fmt_time(r["run_s"] / r["calls"]) if r["calls"] else "",
                _fmt_bytes(r["bytes_read"] + r["bytes_written"]) if r["kind"] == "kernel" else "",
                f"{r['gbps']:.1f}" if r["gbps"] is not None else "",
                f"{100 * r['bandwidth_fraction']:.0f}" if r["bandwidth_fraction"] is not None else "",
                " ".join(filter(None, (ops, where))),
            ])
        return headers, body, rows

    def table(self, sort_by: str = "total_time", group_by_kernel: bool = True, bandwidth: Optional[bool] = None,
              limit: Optional[int] = None, max_ops_width: int = 60) -> str:
        """Aligned text table: one row per kernel (or op) and phase, most expensive first.

        ``time`` is self time (an op's time minus the kernels and ops inside
        it), so the column adds up to the profiled total; ``compile``/``load``
        are Numba compiling or loading from the disk cache during the call;
        ``%BW`` is achieved bandwidth over the machine's measured bandwidth.

        >>> import numgrad as ng
        >>> with ng.profiler.profile() as p:
        ...     _ = (ng.ones(8) * 2).numpy()
        >>> "map_" in p.table(bandwidth=False)
        True
        """
        headers, body, rows = self._table_rows(sort_by, group_by_kernel, bandwidth, limit)
        for line in body:
            if len(line[-1]) > max_ops_width:
                line[-1] = line[-1][: max_ops_width - 3] + "..."
        widths = [max([len(h)] + [len(line[i]) for line in body]) for i, h in enumerate(headers)]
        left = {0, 1, 2, len(headers) - 1}

        def fmt(cells):
            return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        out = [fmt(headers), "-" * len(fmt(headers))]
        out.extend(fmt(line) for line in body)
        kernels = [r for r in rows if r["kind"] == "kernel"]
        out.append("")
        out.append(self._footer(kernels, rows))
        return "\n".join(out)

    def _footer(self, kernels, rows) -> str:
        kernel_time = sum(r["total_s"] for r in kernels)
        compile_time = sum(r["compile_s"] + r["load_s"] for r in rows if r["kind"] == "kernel")
        n = sum(r["calls"] for r in kernels)
        return (f"{n} kernel launches, {_fmt_time(kernel_time)} in generated kernels "
                f"({_fmt_time(compile_time)} compiling/loading); wall time {_fmt_time(self.wall_time)}")

    def __repr__(self) -> str:
        if self._start_index is not None:
            return "<numgrad.profiler.profile (recording)>"
        return self.table(bandwidth=False, limit=30)

    def _repr_html_(self) -> str:
        if self._start_index is not None:
            return "<p>numgrad profile (recording)</p>"
        headers, body, rows = self._table_rows("total_time", True, None, 50)
        style = ("border-collapse:collapse;font-family:monospace;font-size:12px")
        cells = "".join(f"<th style='padding:2px 6px;border-bottom:1px solid #888'>{html.escape(h)}</th>"
                        for h in headers)
        parts = [f"<table style='{style}'><thead><tr>{cells}</tr></thead><tbody>"]
        for line, r in zip(body, rows):
            bg = "#eef5ff" if r["kind"] == "kernel" else "#fff"
            if r["compile_s"] or r["load_s"]:
                bg = "#fff4e0"
            tds = "".join(
                f"<td style='padding:2px 6px;text-align:{'left' if i in (0, 1, 2, len(line) - 1) else 'right'}'>"
                f"{html.escape(c)}</td>" for i, c in enumerate(line))
            parts.append(f"<tr style='background:{bg}'>{tds}</tr>")
        kernels = [r for r in rows if r["kind"] == "kernel"]
        parts.append(f"</tbody></table><p style='font-family:monospace;font-size:12px'>"
                     f"{html.escape(self._footer(kernels, rows))}; orange rows compiled or loaded kernels</p>")
        return "".join(parts)

    def export_chrome_trace(self, path: str) -> str:
        """Write a Chrome trace JSON file (open it in https://ui.perfetto.dev or chrome://tracing).

        >>> import numgrad as ng, os, tempfile
        >>> with ng.profiler.profile() as p:
        ...     _ = (ng.ones(8) * 2).numpy()
        >>> path = p.export_chrome_trace(os.path.join(tempfile.mkdtemp(), "trace.json"))
        >>> os.path.getsize(path) > 0
        True
        """
        events = [{"name": "process_name", "ph": "M", "pid": 0, "tid": 0, "args": {"name": "numgrad"}},
                  {"name": "thread_name", "ph": "M", "pid": 0, "tid": 0, "args": {"name": "host"}}]
        for r in self.to_records(bandwidth=False):
            ts = r["start_s"] * 1e6
            args = {k: r[k] for k in ("phase", "ops", "op", "shapes", "dtypes", "bytes_read", "bytes_written",
                                       "gbps", "variant") if r[k] not in (None, "", [])}
            events.append({"name": r["name"], "cat": f"{r['kind']},{r['phase']}", "ph": "X", "ts": ts,
                           "dur": r["total_s"] * 1e6, "pid": 0, "tid": 0, "args": args})
            if r["compile_s"] or r["load_s"]:
                what = "compile" if r["compile_s"] else "cache load"
                events.append({"name": f"{what}: {r['name']}", "cat": what, "ph": "X", "ts": ts,
                               "dur": (r["compile_s"] + r["load_s"]) * 1e6, "pid": 0, "tid": 0, "args": {}})
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)
        return path


# --------------------------------------------------------------------------- compare
_NUMPY_EXTRAS = {
    "sigmoid": lambda x: 1.0 / (1.0 + __import__("numpy").exp(-x)),
    "relu": lambda x: __import__("numpy").maximum(x, 0),
    "rsqrt": lambda x: 1.0 / __import__("numpy").sqrt(x),
    "clamp": lambda x, min=None, max=None: __import__("numpy").clip(x, min, max),
    "pow": lambda x, y: __import__("numpy").power(x, y),
}


class _NumpyNamespace:
    """Stands in for the ``numgrad`` module when ``compare`` runs ``fn`` on NumPy arrays."""

    def __getattr__(self, name):
        import numpy as np

        if name in _NUMPY_EXTRAS:
            return _NUMPY_EXTRAS[name]
        try:
            return getattr(np, name)
        except AttributeError:
            raise AttributeError(f"no NumPy function named {name!r} to stand in for numgrad.{name}; pass "
                                 "reference= to compare()") from None


def _auto_reference(fn: Callable) -> Optional[Callable]:
    """``fn`` with the globals that name the numgrad module bound to a NumPy stand-in."""
    import types

    import numgrad

    code_globals = getattr(fn, "__globals__", None)
    if code_globals is None:
        return None
    names = [k for k, v in code_globals.items() if v is numgrad]
    if not names:
        return fn  # fn uses operators/methods only
    g = dict(code_globals)
    for k in names:
        g[k] = _NumpyNamespace()
    return types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)


def _materialize(result) -> None:
    from .tensor import Tensor

    if isinstance(result, Tensor):
        result.numpy()
    elif isinstance(result, (tuple, list)):
        for r in result:
            _materialize(r)


def _holds_tensor(result) -> bool:
    from .tensor import Tensor

    if isinstance(result, (tuple, list)):
        return any(_holds_tensor(r) for r in result)
    return isinstance(result, Tensor)


def _to_numpy_args(args) -> tuple:
    from .tensor import Tensor

    return tuple(a.detach().numpy().copy() if isinstance(a, Tensor) else a for a in args)


def _time_runs(run: Callable, repeats: int) -> float:
    run()  # compile / warm up
    times = []
    for _ in range(repeats):
        t0 = _perf()
        run()
        times.append(_perf() - t0)
    return statistics.median(times)


def _groups(prof: profile) -> dict:
    """Self time per (phase, group): generated kernels of elementwise work and each op's own time."""
    out: dict = {}
    for r in prof.to_records(bandwidth=False):
        if r["kind"] == "kernel":
            label = "elementwise kernels" if r["name"].startswith(("map_", "mapreduce_")) else r["name"]
        elif r["name"] in ("FusedRegion", "FusedBackward"):
            label = "fusion host overhead"
        else:
            label = r["name"] + " (op)"
        key = (r["phase"], label)
        t, n = out.get(key, (0.0, 0))
        out[key] = (t + r["self_s"], n + (1 if r["kind"] == "kernel" else 0))
    return out


class Comparison:
    """Result of :func:`compare`: total and per-kernel-group times, speedups, ``plot()``."""

    def __init__(self, totals: dict, groups: dict, kernels: list, notes: list):
        self.totals = totals  # mode -> median seconds (None when the mode could not run)
        self.groups = groups  # (phase, group) -> {mode: (seconds, kernel launches)}
        self.kernels = kernels  # fused kernels: dicts from profile.summary()
        self.notes = notes

    @property
    def speedups(self) -> dict:
        """Total time of each other mode divided by the fused time (>1: fused is faster)."""
        fused = self.totals.get("fused")
        return {f"fused_vs_{m}": (t / fused if t and fused else None) for m, t in self.totals.items() if m != "fused"}

    def group_speedups(self) -> list:
        """Per (phase, kernel group): fused and unfused time and the unfused/fused ratio."""
        rows = []
        for (phase, label), modes in sorted(self.groups.items()):
            f = modes.get("fused", (0.0, 0))
            u = modes.get("unfused", (0.0, 0))
            rows.append({"phase": phase, "group": label, "fused_s": f[0], "fused_launches": f[1],
                         "unfused_s": u[0], "unfused_launches": u[1],
                         "speedup": (u[0] / f[0]) if f[0] > 0 and u[0] > 0 else None})
        return rows

    def table(self) -> str:
        lines = ["mode        median time   fused speedup"]
        fused = self.totals.get("fused")
        for mode, t in self.totals.items():
            if t is None:
                lines.append(f"{mode:10s}  {'n/a':>11s}")
                continue
            lines.append(f"{mode:10s}  {_fmt_time(t):>11s}   {t / fused if fused else float('nan'):.2f}x")
        lines.append("")
        lines.append(f"{'phase':9s} {'kernel group':28s} {'fused':>10s} {'n':>4s} {'unfused':>10s} {'n':>4s} {'speedup':>8s}")
        for r in self.group_speedups():
            sp = f"{r['speedup']:.2f}x" if r["speedup"] else ""
            lines.append(f"{r['phase']:9s} {r['group'][:28]:28s} {_fmt_time(r['fused_s']):>10s} "
                         f"{r['fused_launches']:4d} {_fmt_time(r['unfused_s']):>10s} {r['unfused_launches']:4d} {sp:>8s}")
        if self.kernels:
            lines.append("")
            lines.append("fused kernels:")
            for k in self.kernels:
                lines.append(f"  {k['phase']:8s} {k['name']:28s} {_fmt_time(k['run_s'] / max(k['calls'], 1)):>10s}"
                             f"  {'+'.join(k['ops'])[:70]}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    __repr__ = table

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.table()) + "</pre>"

    def plot(self, ax=None):
        """Bar chart of total time per mode and per kernel group (needs matplotlib); returns the Figure.

        >>> import numgrad as ng
        >>> x = ng.randn(1000)
        >>> c = ng.profiler.compare(lambda x: (x * 2 + 1).sum(), x, repeats=2)
        >>> try:
        ...     fig = c.plot()
        ... except ImportError:
        ...     pass
        """
        try:
            import matplotlib

            if ax is None and "matplotlib.pyplot" not in sys.modules:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("Comparison.plot() needs matplotlib: `pip install matplotlib`; "
                              "Comparison.table() prints the same numbers") from None
        modes = [m for m, t in self.totals.items() if t is not None]
        if ax is None:
            fig, (ax_total, ax_groups) = plt.subplots(1, 2, figsize=(11, 3.8),
                                                      gridspec_kw={"width_ratios": [1, 2.2]})
        else:
            fig, ax_total, ax_groups = ax.figure, ax, None
        colors = {"fused": "#1f77b4", "unfused": "#ff7f0e", "numpy": "#2ca02c"}
        vals = [self.totals[m] * 1e3 for m in modes]
        ax_total.bar(modes, vals, color=[colors.get(m, "#777") for m in modes])
        ax_total.set_ylabel("median time (ms)")
        ax_total.set_title("total")
        for i, v in enumerate(vals):
            ax_total.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
        if ax_groups is not None:
            rows = self.group_speedups()
            labels = [f"{r['phase'][:3]}: {r['group'][:22]}" for r in rows]
            idx = range(len(rows))
            w = 0.4
            ax_groups.bar([i - w / 2 for i in idx], [r["fused_s"] * 1e3 for r in rows], w, label="fused",
                          color=colors["fused"])
            ax_groups.bar([i + w / 2 for i in idx], [r["unfused_s"] * 1e3 for r in rows], w, label="unfused",
                          color=colors["unfused"])
            ax_groups.set_xticks(list(idx))
            ax_groups.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
            ax_groups.set_ylabel("self time (ms)")
            ax_groups.set_title("per kernel group (one profiled run)")
            ax_groups.legend(fontsize=8)
        fig.tight_layout()
        return fig


def compare(fn: Callable, *args, repeats: int = 5, reference: Optional[Callable] = None,
            numpy: bool = True) -> Comparison:
    """Time ``fn(*args)`` fused, unfused (``set_fusion(False)``) and as a NumPy reference.

    Totals are medians of ``repeats`` unprofiled runs after one warm-up run
    (so compiling is excluded); the per-kernel-group breakdown comes from one
    profiled run per mode. Groups: ``elementwise kernels`` (all generated
    map/mapreduce kernels of a phase), each other generated kernel, each op's
    own time (``Matmul (op)``...), and the fusion machinery's host overhead.
    Fused and unfused runs launch different kernels, so speedups are per
    group and phase, not per individual kernel.

    NumPy reference: ``reference(*numpy_args)`` when given (``Tensor`` args
    are converted with ``.numpy()``); otherwise, with ``numpy=True``, ``fn``
    itself is run on NumPy arrays with every global name bound to the
    ``numgrad`` module (e.g. ``ng``) replaced by a NumPy stand-in
    (``ng.tanh`` -> ``np.tanh``; ``sigmoid``, ``relu``, ``rsqrt``, ``clamp``
    filled in). That works for forward code written with operators and
    functions NumPy also has; it cannot run ``.backward()``, ``requires_grad``
    or ``numgrad.nn``: the reference is then skipped with a note -- pass
    ``reference=`` (for example a hand-written NumPy gradient).

    >>> import numgrad as ng
    >>> x, w = ng.randn(10000), ng.randn(10000)
    >>> c = ng.profiler.compare(lambda x, w: (ng.tanh(x * w) ** 2).sum(), x, w, repeats=3)
    >>> sorted(c.speedups)
    ['fused_vs_numpy', 'fused_vs_unfused']
    """
    from .fusion import state
    from .fusion.state import set_fusion

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if _ACTIVE:
        raise RuntimeError("compare() profiles by itself: call it outside a `with profile()` block")
    notes: list = []
    totals: dict = {}
    groups: dict = {}
    kernels: list = []
    was = state._enabled
    try:
        for mode, fused in (("fused", True), ("unfused", False)):
            set_fusion(fused)

            def run():
                _materialize(fn(*args))

            totals[mode] = _time_runs(run, repeats)
            with profile(bandwidth=False) as prof:
                run()
            for key, val in _groups(prof).items():
                groups.setdefault(key, {})[mode] = val
            if fused:
                kernels = [r for r in prof.summary(bandwidth=False) if r["kind"] == "kernel"]
    finally:
        set_fusion(was)
    ref = reference
    if ref is None and numpy:
        ref = _auto_reference(fn)
    if ref is not None:
        np_args = _to_numpy_args(args)
        try:
            if reference is None and _holds_tensor(ref(*np_args)):
                raise TypeError("fn returned a numgrad Tensor on NumPy inputs: it calls numgrad through a name "
                                "other than a module alias (e.g. `from numgrad import tanh`), so this would "
                                "not time NumPy")
            totals["numpy"] = _time_runs(lambda: ref(*np_args), repeats)
        except Exception as exc:  # noqa: BLE001 - the automatic reference is best effort; say why it failed
            totals["numpy"] = None
            hint = "" if reference is not None else " (automatic NumPy stand-in; pass reference= to supply one)"
            notes.append(f"NumPy reference failed: {type(exc).__name__}: {str(exc)[:300]}{hint}")
    return Comparison(totals, groups, kernels, notes)


__all__ = ["profile", "compare", "Comparison", "memory_bandwidth"]
