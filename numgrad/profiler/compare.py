"""``compare``: one function timed fused, unfused and as NumPy, with per-group speedups.

>>> import numgrad as ng
>>> x = ng.randn(1000)
>>> sorted(ng.profiler.compare(lambda x: ng.tanh(x * 2).sum(), x, repeats=1).speedups)
['fused_vs_numpy', 'fused_vs_unfused']
"""
from __future__ import annotations

import html
import statistics
import sys
import time
import types
from typing import Callable, Optional

import numpy as np

from .. import _profiler_hooks as _hooks
from ..fusion import state
from ..fusion.state import set_fusion
from ..tensor import Tensor
from .report import _fmt_time, profile

_perf = time.perf_counter


_NUMPY_EXTRAS = {
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0),
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "clamp": lambda x, min=None, max=None: np.clip(x, min, max),
    "pow": lambda x, y: np.power(x, y),
}


class _NumpyNamespace:
    """Stands in for the ``numgrad`` module when ``compare`` runs ``fn`` on NumPy arrays."""

    def __getattr__(self, name):
        if name in _NUMPY_EXTRAS:
            return _NUMPY_EXTRAS[name]
        try:
            return getattr(np, name)
        except AttributeError:
            raise AttributeError(f"no NumPy function named {name!r} to stand in for numgrad.{name}; pass "
                                 "reference= to compare()") from None


def _auto_reference(fn: Callable) -> Optional[Callable]:
    """``fn`` with the globals that name the numgrad module bound to a NumPy stand-in."""
    code_globals = getattr(fn, "__globals__", None)
    if code_globals is None:
        return None
    # the package is found by name: this module sits below numgrad/__init__.py and cannot import it
    names = [k for k, v in code_globals.items() if isinstance(v, types.ModuleType) and v.__name__ == "numgrad"]
    if not names:
        return fn  # fn uses operators/methods only
    g = dict(code_globals)
    for k in names:
        g[k] = _NumpyNamespace()
    return types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)


def _materialize(result) -> None:
    if isinstance(result, Tensor):
        result._data  # noqa: B018 - computes it without handing the memory to NumPy
    elif isinstance(result, (tuple, list)):
        for r in result:
            _materialize(r)


def _holds_tensor(result) -> bool:
    if isinstance(result, (tuple, list)):
        return any(_holds_tensor(r) for r in result)
    return isinstance(result, Tensor)


def _to_numpy_args(args) -> tuple:
    return tuple(a.detach()._host().copy() if isinstance(a, Tensor) else a for a in args)


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
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if _hooks._ACTIVE:
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
