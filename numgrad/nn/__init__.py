"""Neural-network building blocks (``numgrad.nn.functional`` for now)."""
from . import functional  # noqa: F401
