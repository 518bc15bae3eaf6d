"""``torch.version``'s answers for numgrad: its version, and the CUDA version its GPU backend runs with.

>>> import numgrad as ng
>>> ng.version.__version__ == ng.__version__, ng.version.hip, ng.version.debug
(True, None, False)
"""
from __future__ import annotations

from ._version import __version__  # noqa: F401

hip = None  # no ROCm backend
debug = False  # numgrad is never a debug build


def __getattr__(name: str):
    if name == "cuda":
        return _cuda_version()
    raise AttributeError(f"module 'numgrad.version' has no attribute {name!r}")


def _cuda_version():
    """The CUDA runtime's version as "major.minor" when a GPU is usable (numba-cuda installed and a device or
    its simulator present), else None, as ``torch.version.cuda`` is None on a CPU-only build. Asked on first
    read: finding it initializes CUDA, which ``import numgrad`` must not pay."""
    try:
        from numba import cuda
        if not cuda.is_available():
            return None
        major, minor = cuda.runtime.get_version()
    except Exception:  # noqa: BLE001 - no CUDA toolkit, no driver, the simulator's runtime: no version to give
        return None
    return f"{major}.{minor}"
