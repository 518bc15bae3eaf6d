"""``SummaryWriter`` and ``FileWriter``: PyTorch's ``torch.utils.tensorboard.writer`` for numgrad values.

Events go through TensorBoard's own ``EventFileWriter`` (a background thread appends records to
``events.out.tfevents.*``), with summaries built from TensorBoard's protobufs exactly as PyTorch builds them, so
``tensorboard --logdir runs`` shows numgrad's runs as it shows PyTorch's.

>>> import tempfile
>>> from numgrad.utils.tensorboard import SummaryWriter
>>> with SummaryWriter(tempfile.mkdtemp()) as writer:
...     for step in range(3):
...         writer.add_scalar("loss", 1.0 / (step + 1), step)
"""
from __future__ import annotations

import io
import os
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from tensorboard.compat import tf
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from ...nn.modules.module import Module
from ...tensor import Tensor
from ._convert_np import make_np
from ._embedding import get_embedding_info, make_mat, make_sprite, make_tsv, write_pbtxt
from ._onnx_graph import _require_onnx, load_onnx_graph, parse
from ._utils import figure_to_image
from .summary import (
    audio,
    custom_scalars,
    histogram,
    histogram_raw,
    hparams,
    image,
    image_boxes,
    mesh,
    pr_curve,
    pr_curve_raw,
    scalar,
    tensor_proto,
    text,
    video,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FileWriter", "SummaryWriter"]

# what the add_* methods accept as data
Numeric = Union[Tensor, np.ndarray, float, int]


class FileWriter:
    """Writes protocol buffers to one event file in ``log_dir`` (TensorBoard's ``EventFileWriter`` underneath).

    Events are queued and written by a background thread: at most ``max_queue`` wait, and the queue is flushed
    every ``flush_secs`` seconds.

    >>> import tempfile
    >>> writer = FileWriter(tempfile.mkdtemp())
    >>> writer.add_summary(scalar("loss", 0.5), global_step=1)
    >>> writer.close()
    """

    def __init__(self, log_dir: Union[str, os.PathLike], max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "") -> None:
        # EventFileWriter joins paths as strings: a pathlib.Path must become one
        self._writer_arguments = (str(log_dir), max_queue, flush_secs, filename_suffix)
        self.event_writer = EventFileWriter(*self._writer_arguments)
        self._closed = False

    def get_logdir(self) -> str:
        """The directory the event file is written in.

        >>> import tempfile; d = tempfile.mkdtemp(); w = FileWriter(d); w.get_logdir() == d
        True
        >>> w.close()
        """
        return self.event_writer.get_logdir()

    def add_event(self, event: Event, step: Optional[int] = None, walltime: Optional[float] = None) -> None:
        """Add an ``Event`` protobuf, stamped with ``walltime`` (default now) and ``step`` if given.

        >>> import tempfile; w = FileWriter(tempfile.mkdtemp())
        >>> w.add_event(Event(summary=scalar("x", 1.0)), step=3); w.close()
        """
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            # NumPy integers and 0-d tensors: protobuf accepts plain ints only
            event.step = int(step)
        self.event_writer.add_event(event)

    def add_summary(self, summary: Summary, global_step: Optional[int] = None,
                    walltime: Optional[float] = None) -> None:
        """Add a ``Summary`` protobuf, wrapped in an ``Event``.

        >>> import tempfile; w = FileWriter(tempfile.mkdtemp())
        >>> w.add_summary(scalar("x", 1.0), 0); w.close()
        """
        self.add_event(event_pb2.Event(summary=summary), global_step, walltime)

    def add_graph(self, graph_profile: Tuple[GraphDef, Any], walltime: Optional[float] = None) -> None:
        """Add a ``(GraphDef, RunMetadata)`` pair: the graph, then its step statistics tagged ``"step1"``.

        >>> import tempfile; from tensorboard.compat.proto.config_pb2 import RunMetadata
        >>> w = FileWriter(tempfile.mkdtemp()); w.add_graph((GraphDef(), RunMetadata())); w.close()
        """
        graph, stepstats = graph_profile
        self.add_event(event_pb2.Event(graph_def=graph.SerializeToString()), None, walltime)
        tagged = event_pb2.TaggedRunMetadata(tag="step1", run_metadata=stepstats.SerializeToString())
        self.add_event(event_pb2.Event(tagged_run_metadata=tagged), None, walltime)

    def add_onnx_graph(self, graph: GraphDef, walltime: Optional[float] = None) -> None:
        """Add a ``GraphDef`` (for example one made from an ONNX model).

        >>> import tempfile; w = FileWriter(tempfile.mkdtemp()); w.add_onnx_graph(GraphDef()); w.close()
        """
        self.add_event(event_pb2.Event(graph_def=graph.SerializeToString()), None, walltime)

    def flush(self) -> None:
        """Write every pending event to disk.

        >>> import tempfile; w = FileWriter(tempfile.mkdtemp()); w.flush(); w.close()
        """
        self.event_writer.flush()

    def close(self) -> None:
        """Flush and close the event file.

        >>> import tempfile; FileWriter(tempfile.mkdtemp()).close()
        """
        self.event_writer.close()
        self._closed = True

    def reopen(self) -> None:
        """After ``close()``, open a new event file in the same directory (nothing if not closed).

        >>> import tempfile; w = FileWriter(tempfile.mkdtemp()); w.close(); w.reopen(); w.close()
        """
        # tensorboard's EventFileWriter lost its reopen (PyTorch's FileWriter.reopen raises AttributeError with
        # tensorboard 2.x): a new EventFileWriter is a new file in the same directory, which is what reopen meant
        if self._closed:
            self.event_writer = EventFileWriter(*self._writer_arguments)
            self._closed = False


def _default_bins() -> List[float]:
    """TensorBoard's default histogram edges: +-1e-12 growing by 10% up to 1e20, and 0 (PyTorch's 'tensorflow')."""
    value = 1e-12
    buckets = []
    neg_buckets = []
    while value < 1e20:
        buckets.append(value)
        neg_buckets.append(-value)
        value *= 1.1
    return neg_buckets[::-1] + [0] + buckets


class SummaryWriter:
    """Writes scalars, histograms, images, text, hyperparameters... to event files in ``log_dir`` for TensorBoard.

    ``torch.utils.tensorboard.SummaryWriter`` with numgrad tensors, NumPy arrays or Python numbers as values. The
    default ``log_dir`` is ``runs/<Mon>DD_HH-MM-SS_<hostname><comment>``, as in PyTorch. ``purge_step`` hides the
    events at or after that step from an earlier, crashed run in the same ``log_dir``. Use it as a context
    manager, or call ``close()``.

    >>> import tempfile
    >>> with SummaryWriter(tempfile.mkdtemp()) as writer:
    ...     writer.add_scalar("loss", 0.5, global_step=0)
    ...     writer.add_histogram("weights", np.random.randn(100), global_step=0)
    """

    def __init__(self, log_dir: Optional[Union[str, os.PathLike]] = None, comment: str = "",
                 purge_step: Optional[int] = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "") -> None:
        if not log_dir:
            import socket
            from datetime import datetime

            current_time = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        # the file writers are dropped on close and made again by the next add_* call
        self.file_writer: Optional[FileWriter] = None
        self.all_writers: Optional[Dict[str, FileWriter]] = None
        self._get_file_writer()
        self.default_bins = _default_bins()

    def _get_file_writer(self) -> FileWriter:
        """The default FileWriter, made again if the writer was closed."""
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                # a file_version event at purge_step, then a START session log: TensorBoard drops the older
                # events of this run at or after that step
                self.file_writer.add_event(Event(step=self.purge_step, file_version="brain.Event:2"))
                self.file_writer.add_event(Event(step=self.purge_step,
                                                 session_log=SessionLog(status=SessionLog.START)))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self) -> Union[str, os.PathLike]:
        """The directory the event files are written in.

        >>> import tempfile; d = tempfile.mkdtemp()
        >>> with SummaryWriter(d) as w: w.get_logdir() == d
        True
        """
        return self.log_dir

    def add_hparams(self, hparam_dict: Dict[str, Any], metric_dict: Dict[str, Any],
                    hparam_domain_discrete: Optional[Dict[str, List[Any]]] = None, run_name: Optional[str] = None,
                    global_step: Optional[int] = None) -> None:
        """Log a set of hyperparameters and the metrics they reached, for TensorBoard's HPARAMS tab.

        They go to a sub-run ``log_dir/run_name`` (default: the current time), with the metrics as scalars there;
        use metric names that ``add_scalar`` does not also use. Values: bool, str, int, float, None or a tensor.

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_hparams({"lr": 0.1, "optimizer": "sgd"}, {"hparam/accuracy": 0.9}, run_name="trial0")
        """
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        experiment, session_start, session_end = hparams(hparam_dict, metric_dict, hparam_domain_discrete)
        if not run_name:
            run_name = str(time.time())
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name)
        with SummaryWriter(log_dir=logdir) as hparams_writer:
            hparams_writer._get_file_writer().add_summary(experiment, global_step)
            hparams_writer._get_file_writer().add_summary(session_start, global_step)
            hparams_writer._get_file_writer().add_summary(session_end, global_step)
            for name, value in metric_dict.items():
                hparams_writer.add_scalar(name, value, global_step)

    def add_scalar(self, tag: str, scalar_value: Numeric, global_step: Optional[int] = None,
                   walltime: Optional[float] = None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """Log one scalar (a number, or a one-element tensor or array) under ``tag`` at ``global_step``.

        ``new_style`` stores it as a tensor of the scalars plugin (faster to load), float64 with
        ``double_precision``; otherwise as a float32 ``simple_value``.

        >>> import tempfile, numgrad as ng
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_scalar("loss", ng.tensor(0.25), 10)
        ...     w.add_scalar("lr", 1e-3, 10, new_style=True, double_precision=True)
        """
        summary = scalar(tag, scalar_value, new_style=new_style, double_precision=double_precision)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: Dict[str, Numeric], global_step: Optional[int] = None,
                    walltime: Optional[float] = None) -> None:
        """Log several scalars on one chart: each goes to its own run ``log_dir/<main_tag>_<tag>`` under
        ``main_tag``.

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_scalars("loss", {"train": 0.5, "test": 0.7}, 0)
        """
        walltime = time.time() if walltime is None else walltime
        main_logdir = self._get_file_writer().get_logdir()
        for tag, scalar_value in tag_scalar_dict.items():
            run_dir = main_logdir + "/" + main_tag.replace("/", "_") + "_" + tag
            assert self.all_writers is not None  # _get_file_writer made them
            if run_dir not in self.all_writers:
                self.all_writers[run_dir] = FileWriter(run_dir, self.max_queue, self.flush_secs,
                                                       self.filename_suffix)
            self.all_writers[run_dir].add_summary(scalar(main_tag, scalar_value), global_step, walltime)

    def add_tensor(self, tag: str, tensor: Tensor, global_step: Optional[int] = None,
                   walltime: Optional[float] = None) -> None:
        """Log a whole tensor (dtype, shape and values) for TensorBoard's tensor plugin.

        >>> import tempfile, numgrad as ng
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_tensor("x", ng.tensor([1.0, 2.0, 3.0]))
        """
        self._get_file_writer().add_summary(tensor_proto(tag, tensor), global_step, walltime)

    def add_histogram(self, tag: str, values: Numeric, global_step: Optional[int] = None,
                      bins: Any = "tensorflow", walltime: Optional[float] = None,
                      max_bins: Optional[int] = None) -> None:
        """Log a histogram of ``values`` (any shape).

        ``bins``: ``"tensorflow"`` (TensorBoard's exponential edges, the default), or anything
        ``numpy.histogram`` takes: a number of bins, edges, or a NumPy rule name ("auto", "fd", "sturges", ...).
        ``max_bins`` merges neighbouring bins down to at most that many.

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_histogram("weights", np.random.randn(1000), 0)
        ...     w.add_histogram("weights_auto", np.random.randn(1000), 0, bins="auto")
        """
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._get_file_writer().add_summary(histogram(tag, values, bins, max_bins=max_bins), global_step, walltime)

    def add_histogram_raw(self, tag: str, min: float, max: float, num: int, sum: float,  # noqa: A002
                          sum_squares: float, bucket_limits: Sequence[float], bucket_counts: Sequence[float],
                          global_step: Optional[int] = None, walltime: Optional[float] = None) -> None:
        """Log a histogram computed elsewhere: ``bucket_limits`` are right edges, one per ``bucket_counts`` entry.

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_histogram_raw("h", min=0.0, max=2.0, num=3, sum=3.0, sum_squares=5.0,
        ...                         bucket_limits=[1.0, 2.0], bucket_counts=[1, 2], global_step=0)
        """
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError("len(bucket_limits) != len(bucket_counts), see the document.")
        summary = histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_image(self, tag: str, img_tensor: Numeric, global_step: Optional[int] = None,
                  walltime: Optional[float] = None, dataformats: str = "CHW") -> None:
        """Log an image (stored as PNG; needs Pillow, which tensorboard installs).

        ``dataformats`` names the axes: CHW (default), HWC, HW, WH, ... with 1, 3 or 4 channels. Floats are taken
        to be in [0, 1], uint8 in [0, 255].

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_image("noise", np.random.rand(3, 16, 16), 0)
        ...     w.add_image("gray", np.random.rand(16, 16), 0, dataformats="HW")
        """
        self._get_file_writer().add_summary(image(tag, img_tensor, dataformats=dataformats), global_step, walltime)

    def add_images(self, tag: str, img_tensor: Numeric, global_step: Optional[int] = None,
                   walltime: Optional[float] = None, dataformats: str = "NCHW") -> None:
        """Log a batch of images as one grid image (8 a row); ``dataformats`` NCHW (default), NHWC, ...

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_images("batch", np.random.rand(4, 1, 8, 8), 0)
        """
        self._get_file_writer().add_summary(image(tag, img_tensor, dataformats=dataformats), global_step, walltime)

    def add_image_with_boxes(self, tag: str, img_tensor: Numeric, box_tensor: Numeric,
                             global_step: Optional[int] = None, walltime: Optional[float] = None,
                             rescale: float = 1, dataformats: str = "CHW",
                             labels: Optional[Union[str, List[str]]] = None) -> None:
        """Log an image with bounding boxes drawn on it: ``box_tensor`` rows are ``[xmin, ymin, xmax, ymax]``,
        ``labels`` one string per box (ignored when the count differs, as in PyTorch).

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_image_with_boxes("det", np.zeros((3, 32, 32)), np.array([[2, 2, 20, 20]]), 0, labels=["cat"])
        """
        if labels is not None:
            if isinstance(labels, str):
                labels = [labels]
            if len(labels) != box_tensor.shape[0]:
                labels = None
        summary = image_boxes(tag, img_tensor, box_tensor, rescale=rescale, dataformats=dataformats, labels=labels)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_figure(self, tag: str, figure: Union["Figure", List["Figure"]], global_step: Optional[int] = None,
                   close: bool = True, walltime: Optional[float] = None) -> None:
        """Log a matplotlib figure (or a list of them, as a grid) as an image; ``close`` closes the figures.

        Needs the ``matplotlib`` package.

        >>> import tempfile, matplotlib.pyplot as plt
        >>> figure = plt.figure(figsize=(2, 2)); _ = plt.plot([0, 1], [1, 0])
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_figure("curve", figure, 0)
        """
        dataformats = "NCHW" if isinstance(figure, list) else "CHW"
        self.add_image(tag, figure_to_image(figure, close), global_step, walltime, dataformats=dataformats)

    def add_video(self, tag: str, vid_tensor: Numeric, global_step: Optional[int] = None,
                  fps: Union[int, float] = 4, walltime: Optional[float] = None) -> None:
        """Log a batch of videos (N, T, C, H, W) as one animated GIF; needs the ``moviepy`` package.

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:  # doctest: +SKIP
        ...     w.add_video("clip", np.random.rand(1, 4, 3, 8, 8), 0, fps=2)
        """
        self._get_file_writer().add_summary(video(tag, vid_tensor, fps), global_step, walltime)

    def add_audio(self, tag: str, snd_tensor: Numeric, global_step: Optional[int] = None,
                  sample_rate: int = 44100, walltime: Optional[float] = None) -> None:
        """Log mono audio: samples in [-1, 1], shape (1, L) or (L,), stored as 16-bit WAV.

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_audio("tone", np.sin(np.linspace(0, 100, 8000))[None], 0, sample_rate=8000)
        """
        self._get_file_writer().add_summary(audio(tag, snd_tensor, sample_rate=sample_rate), global_step, walltime)

    def add_text(self, tag: str, text_string: str, global_step: Optional[int] = None,
                 walltime: Optional[float] = None) -> None:
        """Log a string (TensorBoard renders it as markdown) under ``tag + "/text_summary"``.

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_text("notes", "lr **0.1**, batch 64", 0)
        """
        self._get_file_writer().add_summary(text(tag, text_string), global_step, walltime)

    def add_onnx_graph(self, prototxt: Union[str, os.PathLike, Any]) -> None:
        """Log the graph of an ONNX file (a path or file object), for TensorBoard's GRAPHS tab; needs ``onnx``.

        >>> import io, tempfile, numgrad as ng
        >>> buffer = io.BytesIO(); ng.onnx.export(ng.nn.Linear(3, 2), ng.randn(1, 3), buffer); _ = buffer.seek(0)
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_onnx_graph(buffer)
        """
        self._get_file_writer().add_onnx_graph(load_onnx_graph(prototxt))

    def add_graph(self, model: Module, input_to_model: Any = None, verbose: bool = False,
                  use_strict_trace: bool = True) -> None:
        """Log the graph of ``model`` run on ``input_to_model`` (a tensor or a tuple of tensors), for the GRAPHS tab.

        PyTorch traces the model with TorchScript; numgrad exports it with ``numgrad.onnx.export`` and logs the
        ONNX graph (as ``add_onnx_graph``), so nodes carry ONNX op names (Gemm, Relu, ...) rather than ``aten::``
        ones, and there is no "step1" run metadata. Needs the ``onnx`` package. ``verbose`` prints the nodes;
        ``use_strict_trace`` has no meaning here.

        >>> import tempfile, numgrad as ng
        >>> model = ng.nn.Sequential(ng.nn.Linear(4, 8), ng.nn.ReLU(), ng.nn.Linear(8, 2))
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_graph(model, ng.randn(1, 4))
        """
        from ...onnx import export

        if not isinstance(model, Module):
            raise TypeError(f"add_graph expects a numgrad.nn.Module, got {type(model).__name__}")
        if input_to_model is None:
            raise ValueError("add_graph needs input_to_model (a tensor or a tuple of tensors) to run the model on: "
                             "numgrad records the graph as the model runs")
        onnx = _require_onnx()
        buffer = io.BytesIO()
        export(model, input_to_model if isinstance(input_to_model, tuple) else (input_to_model,), buffer)
        graph = parse(onnx.load_from_string(buffer.getvalue()).graph)
        if verbose:
            print(graph)
        self._get_file_writer().add_onnx_graph(graph)

    @staticmethod
    def _encode(rawstr: str) -> str:
        # percent-escape what would make a tag a path: %, / and \
        return rawstr.replace("%", f"%{ord('%'):02x}").replace("/", f"%{ord('/'):02x}").replace(
            "\\", f"%{ord(chr(92)):02x}")

    def add_embedding(self, mat: Numeric, metadata: Optional[List[Any]] = None,
                      label_img: Optional[Numeric] = None, global_step: Optional[int] = None,
                      tag: str = "default", metadata_header: Optional[List[str]] = None) -> None:
        """Log points (rows of ``mat``, shape (N, D)) for TensorBoard's PROJECTOR tab, with optional labels
        (``metadata``, one per row, or rows of columns named by ``metadata_header``) and images (``label_img``,
        (N, C, H, W)). Files go to ``log_dir/<global_step:05d>/<tag>/``.

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_embedding(np.random.randn(10, 3), metadata=list(range(10)), tag="points")
        """
        mat = make_np(mat)
        if global_step is None:
            global_step = 0
        subdir = f"{str(global_step).zfill(5)}/{self._encode(tag)}"
        save_path = os.path.join(self._get_file_writer().get_logdir(), subdir)
        fs = tf.io.gfile
        if fs.exists(save_path):
            if fs.isdir(save_path):
                print("warning: Embedding dir exists, did you set global_step for add_embedding()?")
            else:
                raise NotADirectoryError(f"Path: `{save_path}` exists, but is a file. Cannot proceed.")
        else:
            fs.makedirs(save_path)
        if metadata is not None:
            if mat.shape[0] != len(metadata):
                raise AssertionError("#labels should equal with #data points")
            make_tsv(metadata, save_path, metadata_header=metadata_header)
        label_images = None
        if label_img is not None:
            label_images = make_np(label_img)
            if mat.shape[0] != label_images.shape[0]:
                raise AssertionError("#images should equal with #data points")
            make_sprite(label_images, save_path)
        if mat.ndim != 2:
            raise AssertionError("mat should be 2D, where mat.size(0) is the number of data points")
        make_mat(mat, save_path)
        # the config is rewritten whole each time: a file system may not append
        if not hasattr(self, "_projector_config"):
            self._projector_config = ProjectorConfig()
        self._projector_config.embeddings.extend([get_embedding_info(metadata, label_images, subdir, global_step,
                                                                     tag)])
        from google.protobuf import text_format

        write_pbtxt(self._get_file_writer().get_logdir(), text_format.MessageToString(self._projector_config))

    def add_pr_curve(self, tag: str, labels: Numeric, predictions: Numeric, global_step: Optional[int] = None,
                     num_thresholds: int = 127, weights: Any = None, walltime: Optional[float] = None) -> None:
        """Log a precision-recall curve of binary ``labels`` against ``predictions`` in [0, 1].

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_pr_curve("pr", np.random.randint(2, size=50), np.random.rand(50), 0)
        """
        labels, predictions = make_np(labels), make_np(predictions)
        summary = pr_curve(tag, labels, predictions, num_thresholds, weights)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_pr_curve_raw(self, tag: str, true_positive_counts: Any, false_positive_counts: Any,
                         true_negative_counts: Any, false_negative_counts: Any, precision: Any, recall: Any,
                         global_step: Optional[int] = None, num_thresholds: int = 127, weights: Any = None,
                         walltime: Optional[float] = None) -> None:
        """Log a precision-recall curve from counts computed elsewhere (one value per threshold in each).

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_pr_curve_raw("pr", [2, 1], [2, 0], [0, 2], [0, 1], [0.5, 1.0], [1.0, 0.5], 0, num_thresholds=2)
        """
        summary = pr_curve_raw(tag, true_positive_counts, false_positive_counts, true_negative_counts,
                               false_negative_counts, precision, recall, num_thresholds, weights)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_custom_scalars_multilinechart(self, tags: List[str], category: str = "default",
                                          title: str = "untitled") -> None:
        """Show the scalars ``tags`` on one chart of the CUSTOM SCALARS tab.

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_custom_scalars_multilinechart(["loss/train", "loss/test"])
        """
        self._get_file_writer().add_summary(custom_scalars({category: {title: ["Multiline", tags]}}))

    def add_custom_scalars_marginchart(self, tags: List[str], category: str = "default",
                                       title: str = "untitled") -> None:
        """Show a value with a margin (three tags: value, lower, upper) on the CUSTOM SCALARS tab.

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_custom_scalars_marginchart(["acc", "acc_low", "acc_high"])
        """
        if len(tags) != 3:
            raise AssertionError(f"Expected 3 tags, got {len(tags)}.")
        self._get_file_writer().add_summary(custom_scalars({category: {title: ["Margin", tags]}}))

    def add_custom_scalars(self, layout: Dict[str, Dict[str, List[Any]]]) -> None:
        """Lay out the CUSTOM SCALARS tab: ``{category: {chart: ["Multiline", tags] or ["Margin", [v, lo, hi]]}}``.
        Call it once per writer.

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_custom_scalars({"loss": {"both": ["Multiline", ["loss/train", "loss/test"]]}})
        """
        self._get_file_writer().add_summary(custom_scalars(layout))

    def add_mesh(self, tag: str, vertices: Numeric, colors: Optional[Numeric] = None,
                 faces: Optional[Numeric] = None, config_dict: Optional[Dict[str, Any]] = None,
                 global_step: Optional[int] = None, walltime: Optional[float] = None) -> None:
        """Log a 3D mesh or point cloud: ``vertices`` (B, N, 3), optional ``colors`` (B, N, 3) and ``faces``
        (B, F, 3), ``config_dict`` three.js settings.

        >>> import tempfile
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     w.add_mesh("cloud", np.random.randn(1, 20, 3), global_step=0)
        """
        summary = mesh(tag, vertices, colors, faces, config_dict)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def flush(self) -> None:
        """Write every pending event of every run of this writer to disk.

        >>> import tempfile
        >>> w = SummaryWriter(tempfile.mkdtemp()); w.add_scalar("x", 1.0, 0); w.flush(); w.close()
        """
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()

    def close(self) -> None:
        """Flush and close the event files (a second close does nothing; a later add_* opens a new file).

        >>> import tempfile
        >>> w = SummaryWriter(tempfile.mkdtemp()); w.close(); w.close()
        """
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()
            writer.close()
        self.file_writer = self.all_writers = None

    def __enter__(self) -> "SummaryWriter":
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()
