"""``profile``: the records, tables, HTML and Chrome traces built from the events of ``numgrad._profiler_hooks``.

>>> import numgrad as ng
>>> with ng.profiler.profile() as prof:
...     (ng.ones(4) * 2).numpy()
>>> [r["kind"] for r in prof.to_records(bandwidth=False)]
['kernel']
"""
from __future__ import annotations

import html
import json
import time
from typing import Optional

from .._profiler_hooks import _start_profiling, _stop_profiling, _type_name
from .bandwidth import memory_bandwidth

_perf = time.perf_counter
_SORT_KEYS = ("total_time", "self_time", "run_time", "compile_time", "calls", "bytes", "gbps", "name")


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
