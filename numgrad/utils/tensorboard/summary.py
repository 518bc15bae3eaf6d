"""Summary protocol buffers, built as PyTorch's ``torch.utils.tensorboard.summary`` builds them.

Every function returns a ``tensorboard.compat.proto.summary_pb2.Summary`` (or a part of one) made from
TensorBoard's own protobuf classes; ``SummaryWriter`` writes them into event files.

>>> scalar("loss", 0.25).value[0].simple_value
0.25
"""
from __future__ import annotations

import io
import json
import logging
import struct
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from google.protobuf import struct_pb2
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.pr_curve.plugin_data_pb2 import PrCurvePluginData
from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData

from ... import _dtypes
from ...tensor import Tensor
from ._convert_np import make_np
from ._utils import _prepare_video, convert_to_HWC

__all__ = [
    "half_to_int", "int_to_half", "hparams", "scalar", "histogram_raw", "histogram", "make_histogram", "image",
    "image_boxes", "draw_boxes", "make_image", "video", "make_video", "audio", "custom_scalars", "text",
    "tensor_proto", "pr_curve_raw", "pr_curve", "compute_curve", "mesh",
]

logger = logging.getLogger(__name__)

Numeric = Union[Tensor, np.ndarray, float, int]


def half_to_int(f: float) -> int:
    """The int32 whose bits are ``f`` packed as a float32: the ``half_val`` PyTorch writes for float16 values.

    >>> int_to_half(half_to_int(0.5))
    0.5
    """
    return struct.unpack("i", struct.pack("f", f))[0]


def int_to_half(i: int) -> float:
    """The inverse of ``half_to_int``.

    >>> int_to_half(1056964608)
    0.5
    """
    return struct.unpack("f", struct.pack("i", i))[0]


def _array_to_half_val(array: np.ndarray) -> List[int]:
    return [half_to_int(x) for x in array.astype(np.float32).reshape(-1).tolist()]


def _array_to_list(array: np.ndarray) -> List[Any]:
    return array.reshape(-1).tolist()


# numgrad dtype -> (protobuf dtype, protobuf value field, conversion); PyTorch's table (uint8 in uint32_val,
# its last entry for uint8 wins there too), less the dtypes numgrad does not have
_TENSOR_TYPE_MAP = {
    _dtypes.float16: ("DT_HALF", "half_val", _array_to_half_val),
    _dtypes.bfloat16: ("DT_BFLOAT16", "half_val", _array_to_half_val),
    _dtypes.float32: ("DT_FLOAT", "float_val", _array_to_list),
    _dtypes.float64: ("DT_DOUBLE", "double_val", _array_to_list),
    _dtypes.int8: ("DT_INT8", "int_val", _array_to_list),
    _dtypes.uint8: ("DT_UINT8", "uint32_val", _array_to_list),
    _dtypes.int16: ("DT_INT16", "int_val", _array_to_list),
    _dtypes.int32: ("DT_INT32", "int_val", _array_to_list),
    _dtypes.int64: ("DT_INT64", "int64_val", _array_to_list),
    _dtypes.bool_: ("DT_BOOL", "bool_val", _array_to_list),
}


def _calc_scale_factor(array: np.ndarray) -> int:
    """uint8 images are already 0-255; anything else is taken to be in [0, 1]."""
    return 1 if array.dtype == np.uint8 else 255


def _plugin_metadata(plugin_name: str, content: bytes = b"") -> SummaryMetadata:
    return SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=plugin_name, content=content))


def hparams(hparam_dict: Optional[Dict[str, Any]] = None, metric_dict: Optional[Dict[str, Any]] = None,
            hparam_domain_discrete: Optional[Dict[str, List[Any]]] = None) -> Tuple[Summary, Summary, Summary]:
    """The three summaries of TensorBoard's hparams plugin: the experiment, the session start and the session end.

    ``hparam_dict`` values may be bool, str, int, float, None (skipped) or a numgrad tensor (its first element).

    >>> experiment, start, end = hparams({"lr": 0.1}, {"hparam/loss": 1.0})
    >>> experiment.value[0].tag
    '_hparams_/experiment'
    """
    from tensorboard.plugins.hparams.api_pb2 import DataType, Experiment, HParamInfo, MetricInfo, MetricName, Status
    from tensorboard.plugins.hparams.metadata import (
        EXPERIMENT_TAG,
        PLUGIN_DATA_VERSION,
        PLUGIN_NAME,
        SESSION_END_INFO_TAG,
        SESSION_START_INFO_TAG,
    )
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData, SessionEndInfo, SessionStartInfo

    if not isinstance(hparam_dict, dict):
        logger.warning("parameter: hparam_dict should be a dictionary, nothing logged.")
        raise TypeError("parameter: hparam_dict should be a dictionary, nothing logged.")
    if not isinstance(metric_dict, dict):
        logger.warning("parameter: metric_dict should be a dictionary, nothing logged.")
        raise TypeError("parameter: metric_dict should be a dictionary, nothing logged.")
    hparam_domain_discrete = hparam_domain_discrete or {}
    if not isinstance(hparam_domain_discrete, dict):
        raise TypeError("parameter: hparam_domain_discrete should be a dictionary, nothing logged.")
    for k, v in hparam_domain_discrete.items():
        if k not in hparam_dict or not isinstance(v, list) or not all(isinstance(d, type(hparam_dict[k])) for d in v):
            raise TypeError(
                f"parameter: hparam_domain_discrete[{k}] should be a list of same type as hparam_dict[{k}].")

    def discrete_domain(name: str, field: str) -> Optional[struct_pb2.ListValue]:
        if name not in hparam_domain_discrete:
            return None
        return struct_pb2.ListValue(values=[struct_pb2.Value(**{field: d}) for d in hparam_domain_discrete[name]])

    hparam_infos = []
    session_start = SessionStartInfo()
    for k, v in hparam_dict.items():
        if v is None:
            continue
        # bool is an int: PyTorch checks (int, float) first, so True is logged as the number 1.0, and so here
        if isinstance(v, (int, float)):
            session_start.hparams[k].number_value = v
            hparam_infos.append(HParamInfo(name=k, type=DataType.Value("DATA_TYPE_FLOAT64"),
                                           domain_discrete=discrete_domain(k, "number_value")))
        elif isinstance(v, str):
            session_start.hparams[k].string_value = v
            hparam_infos.append(HParamInfo(name=k, type=DataType.Value("DATA_TYPE_STRING"),
                                           domain_discrete=discrete_domain(k, "string_value")))
        elif isinstance(v, Tensor):
            session_start.hparams[k].number_value = float(make_np(v).reshape(-1)[0])
            hparam_infos.append(HParamInfo(name=k, type=DataType.Value("DATA_TYPE_FLOAT64")))
        else:
            raise ValueError("value should be one of int, float, str, bool, or numgrad.Tensor")

    def plugin_summary(tag: str, **data: Any) -> Summary:
        content = HParamsPluginData(version=PLUGIN_DATA_VERSION, **data)
        return Summary(value=[Summary.Value(tag=tag, metadata=_plugin_metadata(PLUGIN_NAME,
                                                                                content.SerializeToString()))])

    experiment = Experiment(hparam_infos=hparam_infos, metric_infos=[MetricInfo(name=MetricName(tag=k))
                                                                     for k in metric_dict])
    return (plugin_summary(EXPERIMENT_TAG, experiment=experiment),
            plugin_summary(SESSION_START_INFO_TAG, session_start_info=session_start),
            plugin_summary(SESSION_END_INFO_TAG,
                           session_end_info=SessionEndInfo(status=Status.Value("STATUS_SUCCESS"))))


def scalar(name: str, tensor: Numeric, collections: Any = None, new_style: bool = False,
           double_precision: bool = False) -> Summary:
    """A summary holding one scalar: ``simple_value`` (float32), or with ``new_style`` a tensor of the scalars plugin
    (float32, or float64 with ``double_precision``).

    >>> scalar("acc", 0.5, new_style=True, double_precision=True).value[0].tensor.double_val
    [0.5]
    """
    array = make_np(tensor).squeeze()
    if array.ndim != 0:
        raise AssertionError(f"Tensor should contain one element (0 dimensions). Was given size: {array.size} and "
                             f"{array.ndim} dimensions.")
    value = float(array)
    if not new_style:
        return Summary(value=[Summary.Value(tag=name, simple_value=value)])
    if double_precision:
        proto = TensorProto(double_val=[value], dtype="DT_DOUBLE")
    else:
        proto = TensorProto(float_val=[value], dtype="DT_FLOAT")
    return Summary(value=[Summary.Value(tag=name, tensor=proto, metadata=_plugin_metadata("scalars"))])


def tensor_proto(tag: str, tensor: Tensor) -> Summary:
    """A summary holding a whole numgrad tensor (its dtype, shape and values), for TensorBoard's tensor plugin.

    >>> import numgrad as ng
    >>> tensor_proto("w", ng.tensor([1, 2])).value[0].tensor.int64_val
    [1, 2]
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"add_tensor expects a numgrad.Tensor, got {type(tensor).__name__}; "
                        "wrap arrays with numgrad.tensor(...)")
    if tensor.numel() * tensor.element_size() >= (1 << 31):
        raise ValueError("tensor is bigger than protocol buffer's hard limit of 2GB in size")
    if tensor.dtype not in _TENSOR_TYPE_MAP:
        raise ValueError(f"{tag} has unsupported tensor dtype {tensor.dtype}")
    dtype, field_name, conversion = _TENSOR_TYPE_MAP[tensor.dtype]
    proto = TensorProto(**{
        "dtype": dtype,
        "tensor_shape": TensorShapeProto(dim=[TensorShapeProto.Dim(size=x) for x in tensor.shape]),
        field_name: conversion(make_np(tensor)),
    })
    return Summary(value=[Summary.Value(tag=tag, metadata=_plugin_metadata("tensor"), tensor=proto)])


def histogram_raw(name: str, min: float, max: float, num: int, sum: float, sum_squares: float,  # noqa: A002
                  bucket_limits: Sequence[float], bucket_counts: Sequence[float]) -> Summary:
    """A histogram summary from counts computed elsewhere (``bucket_limits`` are the buckets' right edges).

    >>> histogram_raw("h", 0, 1, 2, 1, 1, [0.5, 1.0], [1, 1]).value[0].histo.num
    2.0
    """
    hist = HistogramProto(min=min, max=max, num=num, sum=sum, sum_squares=sum_squares,
                          bucket_limit=bucket_limits, bucket=bucket_counts)
    return Summary(value=[Summary.Value(tag=name, histo=hist)])


def histogram(name: str, values: Numeric, bins: Any, max_bins: Optional[int] = None) -> Summary:
    """A histogram summary of ``values`` (any shape) with ``numpy.histogram``'s ``bins`` (edges, a count or a name).

    >>> histogram("h", np.arange(4.0), bins=2).value[0].histo.bucket
    [0.0, 2.0, 2.0]
    """
    array = make_np(values)
    return Summary(value=[Summary.Value(tag=name, histo=make_histogram(array.astype(float), bins, max_bins))])


def make_histogram(values: np.ndarray, bins: Any, max_bins: Optional[int] = None) -> HistogramProto:
    """``values`` as a ``HistogramProto``, trimmed to the buckets from the first to the last non-empty one.

    TensorBoard stores only right edges, so one empty bucket is kept on the left to carry the leftmost edge.

    >>> make_histogram(np.array([0.0, 1.0]), bins=[0, 1, 2, 3]).bucket_limit
    [0.0, 1.0, 2.0]
    """
    if values.size == 0:
        raise ValueError("The input has no element.")
    values = values.reshape(-1)
    counts, limits = np.histogram(values, bins=bins)
    num_bins = len(counts)
    if max_bins is not None and num_bins > max_bins:
        subsampling = num_bins // max_bins
        subsampling_remainder = num_bins % subsampling
        if subsampling_remainder != 0:
            counts = np.pad(counts, pad_width=[[0, subsampling - subsampling_remainder]], mode="constant",
                            constant_values=0)
        counts = counts.reshape(-1, subsampling).sum(axis=-1)
        new_limits = np.empty((counts.size + 1,), limits.dtype)
        new_limits[:-1] = limits[:-1:subsampling]
        new_limits[-1] = limits[-1]
        limits = new_limits
    # the first and the last bucket with a count
    cum_counts = np.cumsum(np.greater(counts, 0))
    start, end = np.searchsorted(cum_counts, [0, cum_counts[-1] - 1], side="right")
    start = int(start)
    end = int(end) + 1
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start:end + 1]
    if counts.size == 0 or limits.size == 0:
        raise ValueError("The histogram is empty, please file a bug report.")
    return HistogramProto(min=values.min(), max=values.max(), num=len(values), sum=values.sum(),
                          sum_squares=values.dot(values), bucket_limit=limits.tolist(), bucket=counts.tolist())


def image(tag: str, tensor: Numeric, rescale: float = 1, dataformats: str = "NCHW") -> Summary:
    """An image summary (PNG) of ``tensor`` laid out as ``dataformats``; a batch becomes a grid.

    Floats are taken to be in [0, 1] and uint8 in [0, 255]; values outside are clipped. Needs Pillow.

    >>> image("img", np.zeros((3, 4, 5)), dataformats="CHW").value[0].image.width
    5
    """
    array = convert_to_HWC(make_np(tensor), dataformats)
    scale_factor = _calc_scale_factor(array)
    array = (array.astype(np.float32) * scale_factor).clip(0, 255).astype(np.uint8)
    return Summary(value=[Summary.Value(tag=tag, image=make_image(array, rescale=rescale))])


def image_boxes(tag: str, tensor_image: Numeric, tensor_boxes: Numeric, rescale: float = 1,
                dataformats: str = "CHW", labels: Optional[List[str]] = None) -> Summary:
    """An image summary with red boxes (rows ``[xmin, ymin, xmax, ymax]``) and optional labels drawn on it.

    >>> image_boxes("det", np.zeros((3, 8, 8)), np.array([[1, 1, 5, 5]])).value[0].image.height
    8
    """
    array = convert_to_HWC(make_np(tensor_image), dataformats)
    boxes = make_np(tensor_boxes)
    array = array.astype(np.float32) * _calc_scale_factor(array)
    proto = make_image(array.clip(0, 255).astype(np.uint8), rescale=rescale, rois=boxes, labels=labels)
    return Summary(value=[Summary.Value(tag=tag, image=proto)])


def _require_pillow(what: str) -> Any:
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(f"{what} needs the Pillow package: pip install pillow") from error
    return Image


def _draw_single_box(image: Any, xmin: float, ymin: float, xmax: float, ymax: float, display_str: Optional[str],
                     color: str = "black", color_text: str = "black", thickness: int = 2) -> Any:
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default()
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = xmin, xmax, ymin, ymax
    draw.line([(left, top), (left, bottom), (right, bottom), (right, top), (left, top)], width=thickness, fill=color)
    if display_str:
        text_bottom = bottom
        _left, _top, _right, _bottom = font.getbbox(display_str)
        text_width, text_height = _right - _left, _bottom - _top
        margin = np.ceil(0.05 * text_height)
        draw.rectangle([(left, text_bottom - text_height - 2 * margin), (left + text_width, text_bottom)], fill=color)
        draw.text((left + margin, text_bottom - text_height - margin), display_str, fill=color_text, font=font)
    return image


def draw_boxes(disp_image: Any, boxes: np.ndarray, labels: Optional[List[str]] = None) -> Any:
    """Draw each box (rows ``[xmin, ymin, xmax, ymax]``) in red on a PIL image, with its label if given.

    >>> from PIL import Image
    >>> draw_boxes(Image.new("RGB", (8, 8)), np.array([[1, 1, 5, 5]])).getpixel((1, 3))
    (255, 0, 0)
    """
    for i in range(boxes.shape[0]):
        disp_image = _draw_single_box(disp_image, boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3],
                                      display_str=None if labels is None else labels[i], color="Red")
    return disp_image


def make_image(tensor: np.ndarray, rescale: float = 1, rois: Optional[np.ndarray] = None,
               labels: Optional[List[str]] = None) -> Summary.Image:
    """A uint8 HWC array as a PNG ``Summary.Image`` (resized by ``rescale``; height and width are the array's).

    >>> make_image(np.zeros((2, 3, 3), np.uint8)).encoded_image_string[:4]
    b'\\x89PNG'
    """
    Image = _require_pillow("add_image")
    height, width, channel = tensor.shape
    scaled_height = int(height * rescale)
    scaled_width = int(width * rescale)
    pil_image = Image.fromarray(tensor)
    if rois is not None:
        pil_image = draw_boxes(pil_image, rois, labels=labels)
    pil_image = pil_image.resize((scaled_width, scaled_height), Image.Resampling.LANCZOS)
    with io.BytesIO() as output:
        pil_image.save(output, format="PNG")
        image_string = output.getvalue()
    return Summary.Image(height=height, width=width, colorspace=channel, encoded_image_string=image_string)


def video(tag: str, tensor: Numeric, fps: Union[int, float] = 4) -> Summary:
    """A video summary (an animated GIF) of ``tensor`` (N, T, C, H, W); needs the ``moviepy`` package.

    >>> video("clip", np.zeros((1, 2, 3, 4, 4)))  # doctest: +SKIP
    """
    array = _prepare_video(make_np(tensor))
    scale_factor = _calc_scale_factor(array)
    array = (array.astype(np.float32) * scale_factor).clip(0, 255).astype(np.uint8)
    return Summary(value=[Summary.Value(tag=tag, image=make_video(array, fps))])


def make_video(tensor: np.ndarray, fps: Union[int, float]) -> Summary.Image:
    """A uint8 (T, H, W, C) array as an animated GIF ``Summary.Image``; needs the ``moviepy`` package.

    >>> make_video(np.zeros((2, 4, 4, 3), np.uint8), fps=4)  # doctest: +SKIP
    """
    try:
        from moviepy import editor as mpy
    except ImportError:
        try:  # moviepy 2 dropped the editor module
            import moviepy as mpy
        except ImportError as error:
            raise ImportError("add_video needs the moviepy package: pip install moviepy") from error
    import tempfile

    _frames, height, width, channels = tensor.shape
    clip = mpy.ImageSequenceClip(list(tensor), fps=fps)
    with tempfile.NamedTemporaryFile(suffix=".gif") as f:
        try:  # the keyword arguments changed between moviepy versions
            clip.write_gif(f.name, logger=None)
        except TypeError:
            clip.write_gif(f.name, verbose=False, progress_bar=False)
        f.seek(0)
        gif_bytes = f.read()
    return Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=gif_bytes)


def audio(tag: str, tensor: Numeric, sample_rate: int = 44100) -> Summary:
    """An audio summary (16-bit mono WAV) of samples in [-1, 1] (louder ones are clipped, with a warning).

    >>> audio("beep", np.zeros(100), sample_rate=8000).value[0].audio.length_frames
    100
    """
    import wave

    array = make_np(tensor).squeeze()
    if abs(array).max() > 1:
        print("warning: audio amplitude out of range, auto clipped.")
        array = array.clip(-1, 1)
    if array.ndim != 1:
        raise AssertionError("input tensor should be 1 dimensional.")
    array = (array * np.iinfo(np.int16).max).astype("<i2")
    with io.BytesIO() as fio:
        with wave.open(fio, "wb") as wave_write:
            wave_write.setnchannels(1)
            wave_write.setsampwidth(2)
            wave_write.setframerate(sample_rate)
            wave_write.writeframes(array.data)
        audio_string = fio.getvalue()
    proto = Summary.Audio(sample_rate=sample_rate, num_channels=1, length_frames=array.shape[-1],
                          encoded_audio_string=audio_string, content_type="audio/wav")
    return Summary(value=[Summary.Value(tag=tag, audio=proto)])


def custom_scalars(layout: Dict[str, Dict[str, List[Any]]]) -> Summary:
    """The layout summary of TensorBoard's custom-scalars plugin: ``{category: {chart: [kind, tags]}}`` where kind is
    ``"Multiline"`` or ``"Margin"`` (three tags: value, lower, upper).

    >>> custom_scalars({"loss": {"both": ["Multiline", ["train", "test"]]}}).value[0].tag
    'custom_scalars__config__'
    """
    categories = []
    for category_name, charts_by_name in layout.items():
        charts = []
        for chart_name, chart_metadata in charts_by_name.items():
            tags = chart_metadata[1]
            if chart_metadata[0] == "Margin":
                if len(tags) != 3:
                    raise AssertionError("len(tags) != 3")
                content = layout_pb2.MarginChartContent(
                    series=[layout_pb2.MarginChartContent.Series(value=tags[0], lower=tags[1], upper=tags[2])])
                charts.append(layout_pb2.Chart(title=chart_name, margin=content))
            else:
                charts.append(layout_pb2.Chart(title=chart_name, multiline=layout_pb2.MultilineChartContent(tag=tags)))
        categories.append(layout_pb2.Category(title=category_name, chart=charts))
    tensor = TensorProto(dtype="DT_STRING", string_val=[layout_pb2.Layout(category=categories).SerializeToString()],
                         tensor_shape=TensorShapeProto())
    return Summary(value=[Summary.Value(tag="custom_scalars__config__", tensor=tensor,
                                        metadata=_plugin_metadata("custom_scalars"))])


def text(tag: str, text: str) -> Summary:
    """A text summary (markdown in TensorBoard) under ``tag + "/text_summary"``, as PyTorch names it.

    >>> text("notes", "hello").value[0].tag
    'notes/text_summary'
    """
    metadata = _plugin_metadata("text", TextPluginData(version=0).SerializeToString())
    tensor = TensorProto(dtype="DT_STRING", string_val=[text.encode(encoding="utf_8")],
                         tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
    return Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=metadata, tensor=tensor)])


def _pr_curve_summary(tag: str, data: np.ndarray, num_thresholds: int) -> Summary:
    content = PrCurvePluginData(version=0, num_thresholds=num_thresholds).SerializeToString()
    tensor = TensorProto(dtype="DT_FLOAT", float_val=data.reshape(-1).tolist(),
                         tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=data.shape[0]),
                                                            TensorShapeProto.Dim(size=data.shape[1])]))
    return Summary(value=[Summary.Value(tag=tag, metadata=_plugin_metadata("pr_curves", content), tensor=tensor)])


def pr_curve_raw(tag: str, tp: Any, fp: Any, tn: Any, fn: Any, precision: Any, recall: Any,
                 num_thresholds: int = 127, weights: Any = None) -> Summary:
    """A precision-recall curve summary from counts computed elsewhere (one value per threshold in each).

    >>> pr_curve_raw("pr", [2, 1], [2, 0], [0, 2], [0, 1], [0.5, 1.0], [1.0, 0.5], num_thresholds=2).value[0].tag
    'pr'
    """
    # more than 127 thresholds breaks the protobuf, PyTorch says
    num_thresholds = min(num_thresholds, 127)
    data = np.stack([make_np(x) if isinstance(x, Tensor) else np.asarray(x)
                     for x in (tp, fp, tn, fn, precision, recall)])
    return _pr_curve_summary(tag, data, num_thresholds)


def pr_curve(tag: str, labels: np.ndarray, predictions: np.ndarray, num_thresholds: int = 127,
             weights: Any = None) -> Summary:
    """A precision-recall curve summary of binary ``labels`` against ``predictions`` in [0, 1].

    >>> pr_curve("pr", np.array([0, 1]), np.array([0.2, 0.9]), num_thresholds=3).value[0].tensor.tensor_shape.dim[1].size
    3
    """
    num_thresholds = min(num_thresholds, 127)
    data = compute_curve(labels, predictions, num_thresholds=num_thresholds, weights=weights)
    return _pr_curve_summary(tag, data, num_thresholds)


def compute_curve(labels: np.ndarray, predictions: np.ndarray, num_thresholds: Optional[int] = None,
                  weights: Any = None) -> np.ndarray:
    """True/false positive/negative counts, precision and recall at ``num_thresholds`` thresholds (6 rows).

    >>> compute_curve(np.array([0, 1]), np.array([0.2, 0.9]), num_thresholds=2)[0].tolist()
    [1.0, 0.0]
    """
    minimum_count = 1e-7
    if weights is None:
        weights = 1.0
    bucket_indices = np.int32(np.floor(predictions * (num_thresholds - 1)))
    float_labels = labels.astype(np.float64)
    histogram_range = (0, num_thresholds - 1)
    tp_buckets, _ = np.histogram(bucket_indices, bins=num_thresholds, range=histogram_range,
                                 weights=float_labels * weights)
    fp_buckets, _ = np.histogram(bucket_indices, bins=num_thresholds, range=histogram_range,
                                 weights=(1.0 - float_labels) * weights)
    # reverse cumulative sums: the counts at or above each threshold
    tp = np.cumsum(tp_buckets[::-1])[::-1]
    fp = np.cumsum(fp_buckets[::-1])[::-1]
    tn = fp[0] - fp
    fn = tp[0] - tp
    precision = tp / np.maximum(minimum_count, tp + fp)
    recall = tp / np.maximum(minimum_count, tp + fn)
    return np.stack((tp, fp, tn, fn, precision, recall))


def _get_tensor_summary(name: str, display_name: Optional[str], description: Optional[str], tensor: Any,
                        content_type: int, components: int, json_config: str) -> Summary.Value:
    from tensorboard.plugins.mesh import metadata

    array = make_np(tensor) if isinstance(tensor, Tensor) else np.asarray(tensor)
    tensor_metadata = metadata.create_summary_metadata(name, display_name, content_type, components, array.shape,
                                                       description, json_config=json_config)
    proto = TensorProto(dtype="DT_FLOAT", float_val=array.reshape(-1).tolist(),
                        tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=array.shape[0]),
                                                           TensorShapeProto.Dim(size=array.shape[1]),
                                                           TensorShapeProto.Dim(size=array.shape[2])]))
    return Summary.Value(tag=metadata.get_instance_name(name, content_type), tensor=proto, metadata=tensor_metadata)


def _get_json_config(config_dict: Optional[Dict[str, Any]]) -> str:
    return "{}" if config_dict is None else json.dumps(config_dict, sort_keys=True)


def mesh(tag: str, vertices: Any, colors: Any, faces: Any, config_dict: Optional[Dict[str, Any]],
         display_name: Optional[str] = None, description: Optional[str] = None) -> Summary:
    """A mesh / point-cloud summary: vertices, and optionally faces and colors, each of shape (B, N, 3).

    >>> [v.tag for v in mesh("m", np.zeros((1, 3, 3)), None, None, None).value]
    ['m_VERTEX']
    """
    from tensorboard.plugins.mesh import metadata
    from tensorboard.plugins.mesh.plugin_data_pb2 import MeshPluginData

    json_config = _get_json_config(config_dict)
    tensors = [(vertices, MeshPluginData.VERTEX), (faces, MeshPluginData.FACE), (colors, MeshPluginData.COLOR)]
    tensors = [entry for entry in tensors if entry[0] is not None]
    components = metadata.get_components_bitmask([content_type for _, content_type in tensors])
    return Summary(value=[_get_tensor_summary(tag, display_name, description, tensor, content_type, components,
                                              json_config) for tensor, content_type in tensors])
