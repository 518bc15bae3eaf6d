"""Which BLAS library numgrad's gemm calls: Intel MKL when its pip wheel is installed, else SciPy's OpenBLAS.

The gemm kernels (``blas.py``) call two external symbols, ``numgrad_sgemm``
and ``numgrad_dgemm``, with the Fortran BLAS interface (every argument by
pointer, 32-bit integers).  This module binds those names, once, at import,
to the chosen library's ``sgemm_``/``dgemm_`` through LLVM's symbol table
(``llvmlite.binding.add_symbol``).  Compiled kernels hold the symbol name,
not an address, so Numba's on-disk cache stays valid across processes and
across libraries: the same cached kernel calls MKL in one process and
OpenBLAS in the next.  The choice is fixed for the life of a process
(kernels already linked keep the address they resolved).

Choice, from the environment variable ``NUMGRAD_BLAS`` (read at import):

* ``auto`` (default): MKL if the ``mkl`` wheel is installed
  (``pip install numgrad-engine[mkl]``), else OpenBLAS.
* ``mkl``: MKL, and an error at import when it cannot be loaded.
* ``openblas``: the OpenBLAS that SciPy ships (the library Numba's own
  ``np.dot`` calls).

MKL runs sequentially (``MKL_Set_Threading_Layer(SEQUENTIAL)``): numgrad
splits large products over Numba's threads itself (``blas.gemm_parallel``)
for the same reason it keeps OpenBLAS single-threaded (idle BLAS threads
busy-wait and steal the cores Numba's kernels need; ``config.py``), so
``ng.set_num_threads`` governs both libraries and no second thread pool
(Intel OpenMP) is ever loaded.  Its conditional numerical reproducibility
mode is set to ``AUTO``: the same inputs give the same bits on every run on
one machine, wherever the arrays lie in memory.

>>> active_blas() in ("mkl", "openblas")
True
"""
from __future__ import annotations

import ctypes
import glob
import importlib.metadata
import os
import sys

from llvmlite import binding as llvm

__all__ = ["active_blas", "blas_version", "mkl_library_path", "SYMBOLS"]

# the symbols the gemm intrinsic declares, by dtype letter
SYMBOLS = {"s": "numgrad_sgemm", "d": "numgrad_dgemm"}

_MKL_THREADING_SEQUENTIAL = 1
_MKL_INTERFACE_LP64 = 0  # 32-bit integers: the Fortran interface the intrinsic calls
_MKL_CBWR_AUTO = 2
_MKL_DOMAIN_BLAS = 1


def mkl_library_path() -> str | None:
    """Path of the ``mkl`` wheel's single dynamic library (``libmkl_rt``), or None when it is not installed.

    >>> mkl_library_path() is None or "mkl_rt" in mkl_library_path()
    True
    """
    try:
        files = importlib.metadata.files("mkl") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        name = entry.name
        if ("mkl_rt" in name) and (".so" in name or name.endswith((".dll", ".dylib"))):
            path = os.path.normpath(str(entry.locate()))
            if os.path.exists(path):
                return path
    # a RECORD without the library (an unusual install): look where the wheel puts it
    for folder in (os.path.join(sys.prefix, "lib"), os.path.join(sys.prefix, "Library", "bin")):
        found = sorted(glob.glob(os.path.join(folder, "*mkl_rt*")))
        if found:
            return found[0]
    return None


def _load_mkl(path: str) -> tuple:
    """(version string, sgemm address, dgemm address) of MKL, set sequential, LP64 and reproducible."""
    lib = ctypes.CDLL(path)
    # the threading and interface layers must be chosen before any other MKL call
    lib.MKL_Set_Threading_Layer.argtypes = [ctypes.c_int]
    if lib.MKL_Set_Threading_Layer(_MKL_THREADING_SEQUENTIAL) != _MKL_THREADING_SEQUENTIAL:
        # this MKL was already in use (loaded by another library) with threads: one thread for BLAS,
        # as numgrad asks of OpenBLAS (OPENBLAS_NUM_THREADS=1)
        lib.MKL_Domain_Set_Num_Threads.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.MKL_Domain_Set_Num_Threads(1, _MKL_DOMAIN_BLAS)
    lib.MKL_Set_Interface_Layer.argtypes = [ctypes.c_int]
    lib.MKL_Set_Interface_Layer(_MKL_INTERFACE_LP64)
    lib.MKL_CBWR_Set.argtypes = [ctypes.c_int]
    lib.MKL_CBWR_Set(_MKL_CBWR_AUTO)
    buffer = ctypes.create_string_buffer(256)
    lib.MKL_Get_Version_String(buffer, len(buffer))
    version = buffer.value.decode(errors="replace").strip()
    return (version, _function_address(lib, "sgemm"), _function_address(lib, "dgemm"), lib)


def _function_address(lib: ctypes.CDLL, name: str) -> int:
    """Address of a Fortran BLAS function: ``name_`` on Linux, ``name`` or ``NAME`` in Windows DLLs."""
    for symbol in (name + "_", name, name.upper()):
        try:
            return ctypes.cast(getattr(lib, symbol), ctypes.c_void_p).value
        except AttributeError:
            continue
    raise AttributeError(f"{lib._name} has no {name}_ / {name} / {name.upper()} function")


def _scipy_openblas() -> tuple:
    """(description, sgemm address, dgemm address) of SciPy's BLAS (the functions Numba's np.dot calls)."""
    from scipy.linalg import cython_blas

    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    addresses = []
    for name in ("sgemm", "dgemm"):
        capsule = cython_blas.__pyx_capi__[name]
        addresses.append(get_pointer(capsule, get_name(capsule)))
    return ("OpenBLAS (SciPy's)", *addresses)


def _bind() -> tuple:
    """Bind ``SYMBOLS`` to the library ``NUMGRAD_BLAS`` asks for; returns (name, version)."""
    wanted = os.environ.get("NUMGRAD_BLAS", "auto").strip().lower() or "auto"
    if wanted not in ("auto", "mkl", "openblas"):
        raise ValueError(f"NUMGRAD_BLAS={wanted!r}: expected 'auto', 'mkl' or 'openblas'")
    chosen = None
    if wanted in ("auto", "mkl"):
        path = mkl_library_path()
        if path is None and wanted == "mkl":
            raise ImportError("NUMGRAD_BLAS='mkl' but Intel MKL's wheel is not installed: "
                              "pip install 'numgrad-engine[mkl]' (or unset NUMGRAD_BLAS to use OpenBLAS)")
        if path is not None:
            try:
                version, s_addr, d_addr, lib = _load_mkl(path)
                _KEEP.append(lib)  # the library must stay loaded while kernels hold its functions
                chosen = ("mkl", version, s_addr, d_addr)
            except (OSError, AttributeError) as exc:
                if wanted == "mkl":
                    raise ImportError(f"NUMGRAD_BLAS='mkl' but {path} cannot be loaded ({exc}); "
                                      "unset NUMGRAD_BLAS to use OpenBLAS") from exc
    if chosen is None:
        chosen = ("openblas", *_scipy_openblas())
    name, version, s_addr, d_addr = chosen
    llvm.add_symbol(SYMBOLS["s"], s_addr)
    llvm.add_symbol(SYMBOLS["d"], d_addr)
    return name, version


_KEEP: list = []
_ACTIVE = _bind()


def active_blas() -> str:
    """``'mkl'`` or ``'openblas'``: the BLAS library numgrad's matrix products call in this process.

    >>> active_blas() in ("mkl", "openblas")
    True
    """
    return _ACTIVE[0]


def blas_version() -> str:
    """The active BLAS library's own version string.

    >>> isinstance(blas_version(), str)
    True
    """
    return _ACTIVE[1]
