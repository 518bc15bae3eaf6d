"""``numgrad.utils.tensorboard``: PyTorch's ``torch.utils.tensorboard`` (``SummaryWriter``) for numgrad.

Needs the ``tensorboard`` package (``pip install tensorboard``, or the ``numgrad-engine[tensorboard]`` extra);
event files are written with TensorBoard's own protobufs and event writer, as PyTorch writes them.

>>> import tempfile
>>> from numgrad.utils.tensorboard import SummaryWriter
>>> with SummaryWriter(tempfile.mkdtemp()) as writer:
...     writer.add_scalar("loss", 0.5, 0)
"""
from __future__ import annotations

try:
    import tensorboard
    from packaging.version import Version  # a dependency of tensorboard
except ImportError as error:
    # PyTorch's message, plus what to install
    raise ImportError("TensorBoard logging requires TensorBoard version 1.15 or above "
                      "(pip install tensorboard, or numgrad-engine[tensorboard])") from error

if not hasattr(tensorboard, "__version__") or Version(tensorboard.__version__) < Version("1.15"):
    raise ImportError("TensorBoard logging requires TensorBoard version 1.15 or above")

del Version
del tensorboard

from tensorboard.summary.writer.record_writer import RecordWriter  # noqa: E402

from .writer import FileWriter, SummaryWriter  # noqa: E402

__all__ = ["FileWriter", "RecordWriter", "SummaryWriter"]
