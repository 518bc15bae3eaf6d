"""Files of TensorBoard's embedding projector (tensors.tsv, metadata.tsv, sprite.png, projector_config.pbtxt)."""
from __future__ import annotations

import io
import math
from typing import Any, List, Optional, Sequence

import numpy as np
from tensorboard.compat import tf
from tensorboard.plugins.projector.projector_config_pb2 import EmbeddingInfo

from ._utils import make_grid

_HAS_GFILE_JOIN = hasattr(tf.io.gfile, "join")


def _gfile_join(a: str, b: str) -> str:
    # tensorboard's TF stub and real TensorFlow spell join differently (tensorboard issue #6080)
    if _HAS_GFILE_JOIN:
        return tf.io.gfile.join(a, b)
    return tf.io.gfile.get_filesystem(a).join(a, b)


def make_tsv(metadata: List[Any], save_path: str, metadata_header: Optional[Sequence[str]] = None) -> None:
    """Write metadata.tsv: one label per line, or a header line and one tab-separated row per point."""
    if not metadata_header:
        lines = [str(x) for x in metadata]
    else:
        if len(metadata_header) != len(metadata[0]):
            raise AssertionError("len of header must be equal to the number of columns in metadata")
        lines = ["\t".join(str(e) for e in row) for row in [metadata_header] + list(metadata)]
    with tf.io.gfile.GFile(_gfile_join(save_path, "metadata.tsv"), "wb") as f:
        f.write(tf.compat.as_bytes("\n".join(lines) + "\n"))


def make_sprite(label_images: np.ndarray, save_path: str) -> None:
    """Write sprite.png: the (N, C, H, W) label images in a square grid, as the projector wants it."""
    from PIL import Image

    nrow = math.ceil(label_images.shape[0] ** 0.5)
    arranged_chw = make_grid(label_images, ncols=nrow)
    # the projector expects a square sprite: pad the rows up to the width
    square_hwc = np.zeros((arranged_chw.shape[2], arranged_chw.shape[2], 3))
    arranged_hwc = arranged_chw.transpose(1, 2, 0)
    square_hwc[:arranged_hwc.shape[0], :, :] = arranged_hwc
    sprite = Image.fromarray(np.uint8((square_hwc * 255).clip(0, 255)))
    with io.BytesIO() as buf:
        sprite.save(buf, format="PNG")
        png_bytes = buf.getvalue()
    with tf.io.gfile.GFile(_gfile_join(save_path, "sprite.png"), "wb") as f:
        f.write(png_bytes)


def get_embedding_info(metadata: Optional[List[Any]], label_images: Optional[np.ndarray], subdir: str,
                       global_step: int, tag: str) -> EmbeddingInfo:
    """The projector config entry of one embedding."""
    info = EmbeddingInfo()
    info.tensor_name = f"{tag}:{str(global_step).zfill(5)}"
    info.tensor_path = _gfile_join(subdir, "tensors.tsv")
    if metadata is not None:
        info.metadata_path = _gfile_join(subdir, "metadata.tsv")
    if label_images is not None:
        info.sprite.image_path = _gfile_join(subdir, "sprite.png")
        info.sprite.single_image_dim.extend([label_images.shape[3], label_images.shape[2]])
    return info


def write_pbtxt(save_path: str, contents: str) -> None:
    """Write projector_config.pbtxt (the whole config: the file is rewritten for each embedding)."""
    with tf.io.gfile.GFile(_gfile_join(save_path, "projector_config.pbtxt"), "wb") as f:
        f.write(tf.compat.as_bytes(contents))


def make_mat(matrix: np.ndarray, save_path: str) -> None:
    """Write tensors.tsv: one tab-separated row per data point."""
    with tf.io.gfile.GFile(_gfile_join(save_path, "tensors.tsv"), "wb") as f:
        for row in matrix:
            f.write(tf.compat.as_bytes("\t".join(str(value.item()) for value in row) + "\n"))
