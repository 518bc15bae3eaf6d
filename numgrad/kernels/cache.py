"""Generated kernel modules: written once to disk, imported, cached by Numba.

``cache=True`` does not work for functions created by ``exec`` (Numba needs a
source file), so generated source is written to a content-hashed ``.py`` file
under the cache directory and imported as a real module.  The hash covers the
source plus numgrad's, Numba's and NumPy's versions (written into the file
header), so an upgrade never loads stale code.  Writes are atomic (temp file,
then ``os.replace``), so concurrent processes see either nothing or a whole
file; a file whose content does not match its hash is rewritten.  Each
module's compiled Python code is kept beside it (checksummed), because
Python's own bytecode cache may be off (``PYTHONDONTWRITEBYTECODE``).

Environment:
  NUMGRAD_CACHE_DIR  where modules live (default: the user cache dir)
  NUMGRAD_CACHE=0    keep everything in a per-process temporary directory
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import marshal
import os
import sys
import tempfile
import threading
import time
import types
import warnings

import numba
import numpy

from .._version import __version__
from .. import _profiler_hooks as _profiler  # hook in _GuardedKernel.__call__

_lock = threading.Lock()
class _KernelFinder:
    """Makes ``numgrad_kernels.<name>`` importable from the cache directory.

    Numba's disk cache re-imports a kernel's module by name to rebuild its
    environment; with this finder that works in any process, in any order.
    """

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if not fullname.startswith("numgrad_kernels."):
            return None
        file = os.path.join(cache_dir(), fullname.split(".", 1)[1] + ".py")
        if not os.path.exists(file):
            return None
        return importlib.util.spec_from_file_location(fullname, file)


_parent = types.ModuleType("numgrad_kernels")
_parent.__path__ = []
sys.modules.setdefault("numgrad_kernels", _parent)
if not any(isinstance(f, _KernelFinder) for f in sys.meta_path):
    sys.meta_path.append(_KernelFinder())
_modules: dict = {}
_stats = {"compiled": 0, "disk_hits": 0, "memory_hits": 0, "modules_written": 0}
_cache_dir = None


def _versions_header() -> str:
    return f"# numgrad {__version__} numba {numba.__version__} numpy {numpy.__version__}\n"


def _default_dir() -> str:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA", os.path.expanduser("~"))
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
    return os.path.join(base, "numgrad")


def cache_dir() -> str:
    """The directory generated kernels live in (created on first use)."""
    global _cache_dir
    if _cache_dir is None:
        if os.environ.get("NUMGRAD_CACHE", "1") == "0":
            _cache_dir = tempfile.mkdtemp(prefix="numgrad-")
        else:
            wanted = os.environ.get("NUMGRAD_CACHE_DIR") or _default_dir()
            _cache_dir = _usable_dir(wanted)
    return _cache_dir


def _usable_dir(path: str) -> str:
    try:
        os.makedirs(path, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-", delete=True)
        probe.close()
        return path
    except OSError as exc:
        fallback = tempfile.mkdtemp(prefix="numgrad-")
        warnings.warn(
            f"numgrad: kernel cache directory {path!r} is not writable ({exc.strerror}); "
            f"kernels are cached in {fallback!r} for this process only. "
            "Set NUMGRAD_CACHE_DIR to a writable directory to keep them.",
            RuntimeWarning,
            stacklevel=3,
        )
        return fallback


def load_module(source: str, prefix: str = "k"):
    """Import generated ``source`` as a module, writing it to the cache if new.

    The returned module's Numba functions use ``cache=True``, so a second
    process loads their machine code from disk instead of compiling.
    """
    text = _versions_header() + source
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    name = f"numgrad_kernels.{prefix}_{digest}"
    mod = _modules.get(name)
    if mod is not None:
        _stats["memory_hits"] += 1
        return mod
    with _lock:
        mod = _modules.get(name)
        if mod is not None:
            return mod
        path = os.path.join(cache_dir(), f"{prefix}_{digest}.py")
        if not _file_matches(path, text):
            _atomic_write(path, text)
            _stats["modules_written"] += 1
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        # registered before executing: Numba's cache locator looks the module up
        sys.modules[name] = mod
        try:
            exec(_module_code(path, text), vars(mod))
        except BaseException:
            sys.modules.pop(name, None)
            raise
        _guard_dispatchers(mod)
        _modules[name] = mod
        return mod


class _GuardedKernel:
    """Calls a Numba dispatcher; an unreadable disk-cache entry is purged and recompiled.

    Another process may have left a truncated index or data file; Numba would
    raise from its unpickler.  That is not the user's error, so the entry is
    deleted, caching is switched off for this dispatcher, and it compiles.
    """

    __slots__ = ("dispatcher", "__wrapped__")

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.__wrapped__ = dispatcher

    def __call__(self, *args):
        if _profiler._ACTIVE and _profiler._outer(self):  # numgrad.profiler hook (off: one attribute check)
            return _profiler._launch(self, args)
        if _DEBUG:
            return _debug_call(self, args)
        try:
            return self.dispatcher(*args)
        except Exception as exc:  # noqa: BLE001 - only cache-load failures are handled
            if not _raised_by_cache_loader(exc):
                raise
            return _plain_call(self, args)

    def __getattr__(self, name):
        return getattr(self.dispatcher, name)


# NUMGRAD_DEBUG=1: log every kernel compile / disk-cache load with its cost
_DEBUG = os.environ.get("NUMGRAD_DEBUG", "0") not in ("", "0")
_log = logging.getLogger("numgrad")
if _DEBUG and not _log.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("[numgrad] %(message)s"))
    _log.addHandler(_handler)
    _log.setLevel(logging.DEBUG)


def _debug_call(kernel, args):
    stats = kernel.dispatcher.stats
    hits, misses = sum(stats.cache_hits.values()), sum(stats.cache_misses.values())
    n_sigs = len(kernel.dispatcher.signatures)
    t0 = time.perf_counter()
    try:
        return _plain_call(kernel, args)
    finally:
        if len(kernel.dispatcher.signatures) != n_sigs:
            elapsed = (time.perf_counter() - t0) * 1e3
            how = "loaded from the disk cache" if sum(stats.cache_hits.values()) > hits else (
                "compiled" if sum(stats.cache_misses.values()) > misses else "compiled (no cache)")
            name = f"{kernel.dispatcher.py_func.__module__}.{kernel.dispatcher.__name__}"
            _log.debug("%s %s for %s in %.1f ms", how, name, kernel.dispatcher.signatures[-1], elapsed)


def _plain_call(kernel, args):
    try:
        return kernel.dispatcher(*args)
    except Exception as exc:  # noqa: BLE001 - only cache-load failures are handled
        if not _raised_by_cache_loader(exc):
            raise
        _purge_numba_cache(kernel.dispatcher)
        warnings.warn(f"numgrad: discarded an unreadable kernel cache entry ({type(exc).__name__}: {exc}); "
                      "recompiling", RuntimeWarning, stacklevel=3)
        return kernel.dispatcher(*args)


def _raised_by_cache_loader(exc) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(os.path.join("numba", "core", "caching.py")):
            return True
        tb = tb.tb_next
    return False


def _purge_numba_cache(dispatcher) -> None:
    from numba.core.caching import NullCache

    impl = getattr(dispatcher, "_cache", None)
    cache_path = getattr(impl, "cache_path", None)
    index_name = getattr(getattr(impl, "_cache_file", None), "_index_name", None)
    if cache_path and index_name:
        stem = index_name[: -len(".nbi")]
        for entry in os.listdir(cache_path):
            if entry.startswith(stem):
                try:
                    os.unlink(os.path.join(cache_path, entry))
                except OSError:
                    pass
    dispatcher._cache = NullCache()


def _guard_dispatchers(mod) -> None:
    from numba.core.registry import CPUDispatcher

    for name, obj in list(vars(mod).items()):
        if isinstance(obj, CPUDispatcher):
            setattr(mod, name, _GuardedKernel(obj))


def _file_matches(path: str, text: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read() == text
    except (OSError, UnicodeDecodeError):
        return False


def _module_code(path: str, text: str) -> types.CodeType:
    """The code object of generated module ``path`` (source ``text``), from its checked copy on disk when there is one.

    Python's own bytecode cache is off under ``PYTHONDONTWRITEBYTECODE`` (set on
    the build machine), and compiling a generated module's source cost 4-5 ms
    there in every new process, about a quarter of a disk-cache hit.  The copy
    sits beside the source, named after it (the content hash) and the
    interpreter's cache tag, and carries a SHA-256 of its bytes and the
    bytecode magic number: a truncated or altered file, or one written by
    another bytecode version, is compiled again and rewritten.
    """
    tag = sys.implementation.cache_tag
    code_path = f"{path[:-3]}.{tag}.code" if tag else None
    if code_path is not None:
        try:
            with open(code_path, "rb") as f:
                blob = f.read()
            check, data = blob[:32], blob[32:]
            if _code_check(data) == check:
                code = marshal.loads(data)
                if isinstance(code, types.CodeType) and code.co_filename == path:
                    return code
        except (OSError, EOFError, ValueError, TypeError):
            pass
    code = compile(text, path, "exec", dont_inherit=True)
    if code_path is not None:
        data = marshal.dumps(code)
        try:
            _atomic_write(code_path, _code_check(data) + data)
        except OSError:
            pass  # a read-only cache still works, it only compiles each time
    return code


def _code_check(data: bytes) -> bytes:
    return hashlib.sha256(importlib.util.MAGIC_NUMBER + data).digest()


def _atomic_write(path: str, content) -> None:
    """Write ``content`` (str: UTF-8 text, bytes: as is) to ``path`` all at once (temp file, then rename)."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        if isinstance(content, str):
            f = os.fdopen(fd, "w", encoding="utf-8")
        else:
            f = os.fdopen(fd, "wb")
        with f:
            f.write(content)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def cache_info() -> dict:
    """Counts of kernels compiled, loaded from disk and found in memory.

    >>> import numgrad as ng
    >>> sorted(ng.kernels.cache_info())[:3]
    ['cache_dir', 'compiled', 'disk_hits']
    """
    compiled = disk = 0
    for mod in list(_modules.values()):
        for obj in vars(mod).values():
            obj = getattr(obj, "dispatcher", obj)
            stats = getattr(obj, "stats", None)
            if stats is not None and hasattr(stats, "cache_hits"):
                disk += sum(stats.cache_hits.values())
                compiled += sum(stats.cache_misses.values())
    return {
        "compiled": compiled,
        "disk_hits": disk,
        "memory_hits": _stats["memory_hits"],
        "modules": len(_modules),
        "cache_dir": cache_dir(),
    }


def clear_cache() -> None:
    """Forget loaded kernels and delete the generated files of this numgrad version."""
    with _lock:
        for name in list(_modules):
            sys.modules.pop(name, None)
        _modules.clear()
        _stats["memory_hits"] = 0
        directory = cache_dir()
        for entry in os.listdir(directory):
            if entry.endswith((".py", ".code")) or entry == "__pycache__":
                full = os.path.join(directory, entry)
                if os.path.isdir(full):
                    import shutil

                    shutil.rmtree(full, ignore_errors=True)
                else:
                    try:
                        os.unlink(full)
                    except OSError:
                        pass
