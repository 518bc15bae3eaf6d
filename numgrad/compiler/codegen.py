"""One generated ``@njit`` function per run of captured kernel launches: replay with no Python per launch.

Numba dispatchers can be called from jitted code with array arguments, so a run of plan steps
(kernel launches, constant fills, scalars read from memory, reduction results written into their
0-d arrays) becomes the body of one function whose arguments are the run's arrays and scalars::

    @njit(cache=True, nogil=True)
    def step(v0, v1, v2, v3):
        _k0(v0, v1, v2)
        v3[()] = _k1(v0, v2)

The same kernels run with the same arguments in the same order, so results stay bit-identical.
Steps that need Python (an optimizer's update, a launch whose returned number is checked) end a
run.  The source goes through numgrad's kernel cache (``kernels.cache.load_module``), so another
process loads the compiled step from disk; it names every kernel's module and, for numgrad's own
kernel files, a hash of their source, so a changed kernel never runs from a stale step.

>>> fusable_step_kinds()
('kernel', 'fill', 'scalars from memory', 'result into 0-d array')
"""
from __future__ import annotations

import hashlib
import sys
from typing import Optional

import numpy as np
from numba.core.registry import CPUDispatcher

from ..kernels import cache
from . import plan as _plan

_file_hashes: dict = {}


def fusable_step_kinds() -> tuple:
    """The kinds of plan steps a generated function can hold."""
    return ("kernel", "fill", "scalars from memory", "result into 0-d array")


def _module_hash(module) -> str:
    path = getattr(module, "__file__", None)
    if not path or module.__name__.startswith("numgrad_kernels."):
        return ""  # generated modules are named by the hash of their source already
    digest = _file_hashes.get(path)
    if digest is None:
        with open(path, "rb") as f:
            digest = _file_hashes[path] = hashlib.sha256(f.read()).hexdigest()[:16]
    return digest


def _kernel_ref(dispatcher) -> Optional[tuple]:
    """(module name, attribute name) under which ``dispatcher`` can be imported, or None."""
    module = sys.modules.get(getattr(dispatcher.py_func, "__module__", ""), None)
    if module is None:
        return None
    for name, value in vars(module).items():
        if value is dispatcher or getattr(value, "dispatcher", None) is dispatcher:
            return module.__name__, name
    return None


def _unpack(fn, args):
    """(dispatcher, args, result target, scalar sources) of a fusable step, or None."""
    sources: list = []
    if isinstance(fn, _plan._ScalarsFromMemory):
        sources = fn.sources
        args = fn.template
        fn = fn.fn
    target = None
    if isinstance(fn, _plan._ResultInto):
        target = fn.target
        fn = fn.dispatcher
    if isinstance(fn, CPUDispatcher):
        return fn, tuple(args), target, sources
    return None


class _Builder:
    def __init__(self):
        self.params: list = []  # values passed to the generated function, in order
        self.by_id: dict = {}
        self.imports: dict = {}  # (module, attr) -> kernel variable
        self.lines: list = []

    def value(self, v) -> str:
        if isinstance(v, np.ndarray):
            name = self.by_id.get(id(v))
            if name is None:
                name = self.by_id[id(v)] = f"v{len(self.params)}"
                self.params.append(v)
            return name
        name = f"v{len(self.params)}"
        self.params.append(v)
        return name

    def kernel(self, dispatcher) -> Optional[str]:
        ref = _kernel_ref(dispatcher)
        if ref is None:
            return None
        if ref not in self.imports:
            self.imports[ref] = f"_k{len(self.imports)}"
        return self.imports[ref]

    def add(self, fn, args) -> bool:
        if fn is np.copyto:
            arr, value = args
            if not isinstance(arr, np.ndarray) or not arr.flags.c_contiguous:
                return False
            a, v = self.value(arr), self.value(value)
            self.lines.append(f"    {a}[()] = {v}" if arr.ndim == 0 else f"    {a}.fill({v})")
            return True
        unpacked = _unpack(fn, args)
        if unpacked is None:
            return False
        dispatcher, call_args, target, sources = unpacked
        k = self.kernel(dispatcher)
        if k is None:
            return False
        names = [self.value(a) for a in call_args]
        for position, src in sources:
            s = self.value(src)
            index = ", ".join("0" for _ in range(src.ndim)) or "()"
            names[position] = f"_s{len(self.lines)}_{position}"
            self.lines.append(f"    {names[position]} = {s}[{index}]")
        call = f"{k}({', '.join(names)})"
        self.lines.append(f"    {self.value(target)}[()] = {call}" if target is not None else f"    {call}")
        return True

    def source(self) -> str:
        head = ["from numba import njit"]
        aliases: dict = {}
        for module, _ in self.imports:
            if module not in aliases:
                aliases[module] = alias = f"_m{len(aliases)}"
                digest = _module_hash(sys.modules[module])
                head.append(f"import {module} as {alias}" + (f"  # source {digest}" if digest else ""))
        for (module, attr), var in self.imports.items():
            # a generated module's kernels are wrapped (kernels.cache._GuardedKernel): jitted code calls the dispatcher
            head.append(f"{var} = getattr({aliases[module]}.{attr}, 'dispatcher', {aliases[module]}.{attr})")
        params = ", ".join(f"v{i}" for i in range(len(self.params)))
        return "\n".join(head) + f"\n\n\n@njit(cache=True, nogil=True)\ndef step({params}):\n" + \
            "\n".join(self.lines) + "\n"


def fuse_steps(steps: list) -> tuple:
    """``steps`` with every run of two or more fusable steps replaced by one generated function, and the
    generated sources (for ``explain``)."""
    out: list = []
    sources: list = []
    run: list = []

    def flush():
        if len(run) < 2:
            out.extend(run)
        else:
            builder = _Builder()
            if all(builder.add(fn, args) for fn, args in run):
                source = builder.source()
                module = cache.load_module(source, prefix="step")
                out.append((module.step, tuple(builder.params)))
                sources.append(source)
            else:
                out.extend(run)
        run.clear()

    for fn, args in steps:
        if fn is np.copyto or _unpack(fn, args) is not None:
            run.append((fn, args))
        else:
            flush()
            out.append((fn, args))
    flush()
    return out, sources
