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

numgrad's own ``@njit(cache=True)`` kernels (``kernels/cpu/*.py``) are cached
by Numba beside their source (``__pycache__``) or in the user's cache.  When
numgrad is installed read-only and HOME is not writable either, Numba finds no
place ("no locator available") and would refuse to even define them; the
locator registered here (``NumgradCacheLocator``) then keeps their machine code
under ``<cache dir>/numba/``.  A Numba cache entry of numgrad's (its own
kernels' or a generated module's) that cannot be read or written - a
truncated file, a directory at its path - is a cache miss: it is deleted with
one warning and written again (``_load_overload_or_miss``).  Those entries load
without parsing the bitcode Numba keeps for linking them into other functions
until something does (``lazy_linking``: about 3 ms less per kernel a process
loads).

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
import shutil
import sys
import tempfile
import threading
import time
import types
import warnings

import numba
import numpy
from numba.core import caching as _numba_caching

from .._version import __version__
from .. import _profiler_hooks as _profiler  # hook in _GuardedKernel.__call__
from . import lazy_linking
from .variants import register_twins

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
            _cache_dir = _private_tempdir("NUMGRAD_CACHE=0")
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
        fallback = _private_tempdir(f"{path!r} is not writable ({exc.strerror})")
        warnings.warn(
            f"numgrad: kernel cache directory {path!r} is not writable ({exc.strerror}); "
            f"kernels are cached in {fallback!r} for this process only. "
            "Set NUMGRAD_CACHE_DIR to a writable directory to keep them.",
            RuntimeWarning,
            stacklevel=3,
        )
        return fallback


def _private_tempdir(why: str) -> str:
    """A per-process directory for generated kernels; a clear error when not even that can be made."""
    try:
        return tempfile.mkdtemp(prefix="numgrad-")
    except OSError as exc:
        raise RuntimeError(
            f"numgrad needs a writable directory for its generated kernels: {why}, and no temporary directory "
            f"can be created in {tempfile.gettempdir()!r} ({exc.strerror}). Set NUMGRAD_CACHE_DIR (or TMPDIR) "
            "to a writable directory."
        ) from None


_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# numba >= 0.61 dropped the leading underscore of its locator classes
_UserWideLocator = getattr(_numba_caching, "UserWideCacheLocator", None) or _numba_caching._UserWideCacheLocator


class NumgradCacheLocator(_UserWideLocator):
    """Numba cache locator for numgrad's own source files: ``<numgrad cache dir>/numba/<source dir>_<hash>``.

    Numba tries it after its own ``NUMBA_CACHE_DIR`` and in-tree
    (``__pycache__``) locators, so it only matters where those fail (a
    read-only install); it answers for numgrad's files only and leaves user
    code to Numba's rules.  ``cache_dir()`` is always writable (it falls back
    to a per-process temporary directory with one warning).

    >>> from numba.core.caching import CacheImpl
    >>> NumgradCacheLocator in CacheImpl._locator_classes
    True
    """

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(cache_dir(), "numba", self.get_suitable_cache_subpath(py_file))

    @classmethod
    def from_function(cls, py_func, py_file):
        if not os.path.abspath(py_file).startswith(_PACKAGE_ROOT + os.sep):
            return None
        return super().from_function(py_func, py_file)


def install_cache_locator(locator_classes: list) -> None:
    """Put ``NumgradCacheLocator`` into a Numba ``CacheImpl._locator_classes`` list, right after the in-tree locator.

    The list is changed in place, so every CacheImpl subclass sharing it (CPU
    functions, generated ufuncs, numba-cuda's kernels when given its list) sees it.

    >>> classes = [type("InTreeCacheLocator", (), {}), type("UserWideCacheLocator", (), {})]
    >>> install_cache_locator(classes); [c.__name__ for c in classes]
    ['InTreeCacheLocator', 'NumgradCacheLocator', 'UserWideCacheLocator']
    """
    if NumgradCacheLocator in locator_classes:
        return
    position = len(locator_classes)
    for i, cls in enumerate(locator_classes):
        if cls.__name__.lstrip("_") == "InTreeCacheLocator":
            position = i + 1
    locator_classes.insert(position, NumgradCacheLocator)


install_cache_locator(_numba_caching.CacheImpl._locator_classes)


def install_cuda_cache_locator() -> None:
    """The same for numba-cuda's ``@cuda.jit(cache=True)`` kernels (numba-cuda keeps its own locator list).

    Called when ``numba.cuda`` is first loaded (``kernels.cuda.numba_cuda``),
    before numgrad's CUDA kernel modules are imported and decorated.
    """
    try:
        from numba.cuda.core import caching as cuda_caching
    except ImportError:  # older numba-cuda, or numba's own deprecated target: Numba's list covers it
        return
    install_cache_locator(cuda_caching.CacheImpl._locator_classes)


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
        path = _module_path(f"{prefix}_{digest}.py")
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
        twins = getattr(mod, "serial", None), getattr(mod, "parallel", None)
        if all(type(k) is _GuardedKernel for k in twins):  # a generated map, reduction or map-sum kernel
            register_twins(twins[0].dispatcher, twins[1].dispatcher)
        _modules[name] = mod
        return mod


def _module_path(filename: str) -> str:
    """Where generated module ``filename`` lives: the cache directory, unless something there blocks the name.

    A directory (or another non-file) sitting at the module's path would make
    every write fail (``IsADirectoryError``), in every run; it is removed like
    a corrupted file would be overwritten.  If it cannot be removed, the
    module goes to a per-process directory, with one warning.
    """
    path = os.path.join(cache_dir(), filename)
    if _clear_non_file(path):
        return path
    global _private_dir
    if _private_dir is None:
        _private_dir = tempfile.mkdtemp(prefix="numgrad-")
        warnings.warn(f"numgrad: {path!r} is a directory that cannot be removed; generated kernels are kept in "
                      f"{_private_dir!r} for this process only. Remove it to cache them again.",
                      RuntimeWarning, stacklevel=4)
    return os.path.join(_private_dir, filename)


_private_dir = None


def _clear_non_file(path: str) -> bool:
    """Remove whatever non-regular file sits at ``path`` (a directory, a FIFO...); True if ``path`` is now free
    or a file."""
    if not os.path.lexists(path) or (os.path.isfile(path) and not os.path.islink(path)):
        return True
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError:
        return False
    return True


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
            return _recover(self, args, exc)

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
        return _recover(kernel, args, exc)


def _recover(kernel, args, exc):
    """After Numba's cache failed to load or save (``exc``): purge the bad entries, warn once, call again.

    A save can fail after the compiled code was already registered, so the
    entries are purged even when a second call would succeed: otherwise every
    process would compile again and fail to save again, silently.
    """
    cleared = _purge_numba_cache(kernel.dispatcher, exc)
    warnings.warn(f"numgrad: discarded a broken kernel cache entry ({type(exc).__name__}: {exc}); "
                  "recompiling", RuntimeWarning, stacklevel=4)
    if cleared:
        # the bad entries are gone: compile (or reuse what the failed save registered) and write the cache
        # again, so the next process gets a disk hit
        try:
            result = kernel.dispatcher(*args)
            for cres in list(kernel.dispatcher.overloads.values()):
                kernel.dispatcher._cache.save_overload(cres.signature.args, cres)
            return result
        except Exception as again:  # noqa: BLE001 - only cache-load failures are handled
            if not _raised_by_cache_loader(again):
                raise
            _purge_numba_cache(kernel.dispatcher, again)
    _disable_numba_cache(kernel.dispatcher)
    return kernel.dispatcher(*args)


def _raised_by_cache_loader(exc) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(os.path.join("numba", "core", "caching.py")):
            return True
        tb = tb.tb_next
    return False


def _purge_numba_cache(dispatcher, exc: BaseException) -> bool:
    """Delete ``dispatcher``'s Numba cache entries and the cache path ``exc`` names; True when all are gone.

    Numba's own files are ``<name>.nbi`` (the index) and ``<name>.<n>.nbc``
    (machine code).  A directory at one of those paths is removed too: Numba
    can neither read nor replace it, so it would fail in every process.  The
    failing entry may belong to another function (one the dispatcher calls, in
    the same cache directory), so the paths in ``exc`` are purged as well.
    """
    return _purge_cache_files(getattr(dispatcher, "_cache", None), exc)


def _purge_cache_files(impl, exc: BaseException) -> bool:
    """``_purge_numba_cache`` for a Numba ``Cache`` object (a dispatcher's ``_cache``)."""
    paths = []
    for bad in (getattr(exc, "filename", None), getattr(exc, "filename2", None)):
        if isinstance(bad, str) and bad.endswith((".nbi", ".nbc")):
            paths.append(bad)
    cache_path = getattr(impl, "cache_path", None)
    index_name = getattr(getattr(impl, "_cache_file", None), "_index_name", None)
    if cache_path and index_name:
        stem = index_name[: -len(".nbi")]
        try:
            entries = os.listdir(cache_path)
        except OSError:
            entries = []
        paths.extend(os.path.join(cache_path, e) for e in entries if e.startswith(stem))
    cleared = True
    for path in paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
        except OSError:
            cleared = False
    return cleared


# Numba's disk cache for numgrad's own functions: a damaged entry (a truncated or garbage index or data
# file left by a killed process, a directory sitting at its path) is a cache miss, not the user's error.
# Numba would raise from its unpickler or from open() in every process; the entry is deleted (so the next
# save writes a good one) with one warning, and loading goes on as a miss.  Other code keeps Numba's rules.
_numba_load_overload = _numba_caching.Cache.load_overload
_numba_save_overload = _numba_caching.Cache.save_overload


def _is_numgrad_cache(cache) -> bool:
    py_file = getattr(getattr(getattr(cache, "_impl", None), "locator", None), "_py_file", None)
    if not isinstance(py_file, str):
        return False
    py_file = os.path.abspath(py_file)
    return py_file.startswith(_PACKAGE_ROOT + os.sep) or os.path.dirname(py_file) in (_cache_dir, _private_dir)


def _load_overload_or_miss(self, sig, target_context):
    numgrads = _is_numgrad_cache(self)
    try:
        # numgrad's entries load without parsing their linking copy (``lazy_linking``)
        with lazy_linking.deferred_linking(numgrads):
            return _numba_load_overload(self, sig, target_context)
    except Exception as exc:  # noqa: BLE001 - only numgrad's own cache entries are handled
        if not numgrads:
            raise
        _purge_cache_files(self, exc)
        _warn_discarded(exc)
        return None


def _save_overload_or_skip(self, sig, data):
    try:
        return _numba_save_overload(self, sig, data)
    except Exception as exc:  # noqa: BLE001 - only numgrad's own cache entries are handled
        if not _is_numgrad_cache(self):
            raise
        cleared = _purge_cache_files(self, exc)
        _warn_discarded(exc)
    if cleared:
        try:
            return _numba_save_overload(self, sig, data)
        except Exception:  # noqa: BLE001 - still unwritable: keep the compiled code in memory only
            pass
    self.disable()


def _warn_discarded(exc) -> None:
    warnings.warn(f"numgrad: discarded a broken kernel cache entry ({type(exc).__name__}: {exc}); "
                  "recompiling", RuntimeWarning, stacklevel=2)


_numba_caching.Cache.load_overload = _load_overload_or_miss
_numba_caching.Cache.save_overload = _save_overload_or_skip
lazy_linking.install()


def _disable_numba_cache(dispatcher) -> None:
    from numba.core.caching import NullCache

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
            _clear_non_file(code_path)  # a directory there would block the copy in every run
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
                    shutil.rmtree(full, ignore_errors=True)
                else:
                    try:
                        os.unlink(full)
                    except OSError:
                        pass
