"""Image helpers of PyTorch's ``torch.utils.tensorboard._utils``: figures to arrays, batches to grids, layouts to HWC."""
from __future__ import annotations

from typing import Any, List, Union

import numpy as np

__all__ = ["figure_to_image", "make_grid", "convert_to_HWC"]


def figure_to_image(figures: Union[Any, List[Any]], close: bool = True) -> np.ndarray:
    """Render a matplotlib figure (CHW uint8 array) or a list of figures (NCHW) with the Agg backend.

    Needs the ``matplotlib`` package.

    >>> import matplotlib.pyplot as plt
    >>> figure_to_image(plt.figure(figsize=(1, 1), dpi=10)).shape
    (3, 10, 10)
    """
    try:
        import matplotlib.backends.backend_agg as plt_backend_agg
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("add_figure needs the matplotlib package: pip install matplotlib") from error

    def render_to_rgb(figure: Any) -> np.ndarray:
        canvas = plt_backend_agg.FigureCanvasAgg(figure)
        canvas.draw()
        data = np.frombuffer(canvas.buffer_rgba(), dtype=np.uint8)
        width, height = figure.canvas.get_width_height()
        image_hwc = data.reshape([height, width, 4])[:, :, 0:3]
        image_chw = np.moveaxis(image_hwc, source=2, destination=0)
        if close:
            plt.close(figure)
        return image_chw

    if isinstance(figures, list):
        return np.stack([render_to_rgb(figure) for figure in figures])
    return render_to_rgb(figures)


def _prepare_video(video: np.ndarray) -> np.ndarray:
    """A batch of videos (N, T, C, H, W) as one video (T, H', W', C): each frame a grid of the batch's frames.

    The batch is padded with black videos to a power of two, as PyTorch does.
    """
    batch, frames, channels, height, width = video.shape
    if video.dtype == np.uint8:
        video = np.float32(video) / 255.0

    def is_power2(num: int) -> bool:
        return num != 0 and ((num & (num - 1)) == 0)

    if not is_power2(video.shape[0]):
        len_addition = int(2 ** video.shape[0].bit_length() - video.shape[0])
        video = np.concatenate((video, np.zeros(shape=(len_addition, frames, channels, height, width))), axis=0)
    n_rows = 2 ** ((batch.bit_length() - 1) // 2)
    n_cols = video.shape[0] // n_rows
    video = np.reshape(video, (n_rows, n_cols, frames, channels, height, width))
    video = np.transpose(video, axes=(2, 0, 4, 1, 5, 3))
    return np.reshape(video, (frames, n_rows * height, n_cols * width, channels))


def make_grid(images: np.ndarray, ncols: int = 8) -> np.ndarray:
    """A batch of images (N, 1 or 3, H, W) tiled into one CHW image, ``ncols`` images a row.

    >>> make_grid(np.zeros((3, 1, 2, 2)), ncols=2).shape
    (3, 4, 4)
    """
    if not isinstance(images, np.ndarray):
        raise AssertionError("plugin error, should pass numpy array here")
    if images.shape[1] == 1:
        images = np.concatenate([images, images, images], 1)
    if images.ndim != 4 or images.shape[1] != 3:
        raise AssertionError("Input should be a 4D numpy array with 3 channels")
    n_images, height, width = images.shape[0], images.shape[2], images.shape[3]
    ncols = min(n_images, ncols)
    nrows = int(np.ceil(float(n_images) / ncols))
    canvas = np.zeros((3, height * nrows, width * ncols), dtype=images.dtype)
    for index in range(n_images):
        y, x = divmod(index, ncols)
        canvas[:, y * height:(y + 1) * height, x * width:(x + 1) * width] = images[index]
    return canvas


def convert_to_HWC(tensor: np.ndarray, input_format: str) -> np.ndarray:  # noqa: N802 - PyTorch's name
    """An image array in ``input_format`` (NCHW, CHW, HWC, HW, ... any order) as one HWC image with 3 or 4 channels.

    A batch becomes a grid (``make_grid``); a single channel is repeated into RGB.

    >>> convert_to_HWC(np.zeros((2, 5)), "WH").shape
    (5, 2, 3)
    """
    if len(set(input_format)) != len(input_format):
        raise AssertionError(f"You can not use the same dimension shorthand twice. input_format: {input_format}")
    if len(tensor.shape) != len(input_format):
        raise AssertionError(f"size of input tensor and input format are different. tensor shape: {tensor.shape}, "
                             f"input_format: {input_format}")
    input_format = input_format.upper()
    if len(input_format) == 4:
        index = [input_format.find(c) for c in "NCHW"]
        return make_grid(tensor.transpose(index)).transpose(1, 2, 0)
    if len(input_format) == 3:
        index = [input_format.find(c) for c in "HWC"]
        tensor_hwc = tensor.transpose(index)
        if tensor_hwc.shape[2] == 1:
            tensor_hwc = np.concatenate([tensor_hwc, tensor_hwc, tensor_hwc], 2)
        return tensor_hwc
    if len(input_format) == 2:
        index = [input_format.find(c) for c in "HW"]
        tensor = tensor.transpose(index)
        return np.stack([tensor, tensor, tensor], 2)
    raise ValueError(f"dataformats {input_format!r} names {len(input_format)} dimensions; an image has 2 (HW), "
                     "3 (CHW, HWC) or, for a batch, 4 (NCHW, NHWC)")
