"""numgrad's version, in a module of its own so the kernel cache can stamp generated source with it
without importing the package root.

>>> from numgrad._version import __version__
>>> __version__.count(".") >= 1
True
"""
__version__ = "0.1.0"
