"""``numgrad.nn.functional``: PyTorch's ``torch.nn.functional``, one module per family.

- ``activation``: softmax, log_softmax, softmin, logsigmoid, and the elementwise
  activations of ``numgrad.ops`` (relu, relu6, leaky_relu, elu, gelu, silu,
  softplus, sigmoid, tanh, hardtanh)
- ``loss``: nll_loss, cross_entropy, mse_loss, l1_loss, smooth_l1_loss,
  huber_loss, binary_cross_entropy, binary_cross_entropy_with_logits
- ``affine``: linear
- ``conv``: conv2d
- ``pooling``: max_pool2d, avg_pool2d, adaptive_avg_pool2d
- ``normalization``: batch_norm, layer_norm
- ``regularization``: dropout
- ``sparse``: embedding, one_hot
- ``attention``: scaled_dot_product_attention, multi_head_attention_forward
- ``vision``: interpolate (upsample), pixel_shuffle, pixel_unshuffle
- also conv1d, conv_transpose1d/2d (``conv``), group_norm, instance_norm (``normalization``),
  dropout1d/2d/3d (``regularization``)
- ``pad`` is ``numgrad.ops.shape.pad``
- ``activation_more``, ``loss_more``, ``pooling_more`` (1-D, adaptive max, lp), ``normalization_more`` (rms_norm),
  ``affine_more`` (bilinear), ``fold`` (unfold, fold): compositions of differentiable tensor ops

Each op is a ``Function`` whose forward and backward call Numba kernels through
``numgrad.kernels.backend`` (picked by where the data lives), or a composition
of differentiable tensor ops; arguments are checked (``_arguments``) with
PyTorch's wording before any kernel sees them.

>>> import numgrad as ng
>>> import numgrad.nn.functional as F
>>> F.softmax(F.linear(ng.ones(1, 2), ng.ones(2, 2)), dim=1)
tensor([[0.5000, 0.5000]])
"""
from ...ops.shape import pad
from .activation import elu, gelu, hardtanh, leaky_relu, log_softmax, logsigmoid, relu, relu6, sigmoid, silu
from .activation import softmax, softmin, softplus, tanh
from .affine import linear
from .conv import conv2d
from .loss import binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss, l1_loss
from .loss import mse_loss, nll_loss, smooth_l1_loss
from .normalization import batch_norm, layer_norm
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .regularization import dropout
from .sparse import embedding, one_hot
from .attention import multi_head_attention_forward, scaled_dot_product_attention
from .conv import conv1d, conv_transpose1d, conv_transpose2d
from .normalization import group_norm, instance_norm
from .regularization import dropout1d, dropout2d, dropout3d
from .vision import interpolate, pixel_shuffle, pixel_unshuffle, upsample
from .activation_more import celu, celu_, cosine_similarity, glu, hardshrink, hardsigmoid, hardswish
from .activation_more import mish, normalize, pairwise_distance, prelu, rrelu
from .activation import elu_, hardtanh_, leaky_relu_, relu_
from .activation_more import rrelu_, selu, selu_, softshrink, softsign, tanhshrink, threshold, threshold_
from .loss_more import cosine_embedding_loss, gaussian_nll_loss, hinge_embedding_loss, kl_div, margin_ranking_loss
from .loss_more import multi_margin_loss, multilabel_soft_margin_loss, poisson_nll_loss, soft_margin_loss
from .loss_more import triplet_margin_loss
from .pooling_more import adaptive_avg_pool1d, adaptive_max_pool1d, adaptive_max_pool1d_with_indices
from .pooling_more import adaptive_max_pool2d, adaptive_max_pool2d_with_indices, avg_pool1d, max_pool1d
from .pooling_more import max_pool1d_with_indices
from .normalization_more import rms_norm
from .affine_more import bilinear
from .fold import fold, unfold
from .activation_more import channel_shuffle
from .loss_more import triplet_margin_with_distance_loss
from .pooling_more import lp_pool1d, lp_pool2d
from .activation_more import gumbel_softmax, native_channel_shuffle
from .dropout_more import alpha_dropout, feature_alpha_dropout
from .loss_more import multilabel_margin_loss
from .normalization_more import local_response_norm
from .pooling_more import max_pool2d_with_indices
from .vision_more import upsample_bilinear, upsample_nearest
from ...ops.misc import pdist

__all__ = [
    # activation
    "elu", "gelu", "hardtanh", "leaky_relu", "log_softmax", "logsigmoid", "relu", "relu6", "sigmoid", "silu",
    "softmax", "softmin", "softplus", "tanh",
    # loss
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "huber_loss", "l1_loss",
    "mse_loss", "nll_loss", "smooth_l1_loss",
    # affine, conv, pooling, normalization, regularization, sparse
    "linear", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "layer_norm", "dropout",
    "embedding", "one_hot",
    "pad",
    "multi_head_attention_forward", "scaled_dot_product_attention",
    "conv1d", "conv_transpose1d", "conv_transpose2d", "group_norm", "instance_norm", "dropout1d", "dropout2d",
    "dropout3d", "interpolate", "pixel_shuffle", "pixel_unshuffle", "upsample",
    # activation_more
    "celu", "celu_", "cosine_similarity", "elu_", "glu", "hardshrink", "hardsigmoid", "hardswish",
    "hardtanh_", "leaky_relu_", "mish", "normalize", "pairwise_distance", "prelu", "relu_", "rrelu", "rrelu_",
    "selu", "selu_", "softshrink", "softsign", "tanhshrink", "threshold", "threshold_",
    # loss_more
    "cosine_embedding_loss", "gaussian_nll_loss", "hinge_embedding_loss", "kl_div", "margin_ranking_loss",
    "multi_margin_loss", "multilabel_soft_margin_loss", "poisson_nll_loss", "soft_margin_loss", "triplet_margin_loss",
    # pooling_more, normalization_more, affine_more
    "adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d",
    "adaptive_max_pool2d_with_indices", "avg_pool1d", "max_pool1d", "max_pool1d_with_indices", "rms_norm", "bilinear",
    "fold", "unfold",
    "channel_shuffle", "triplet_margin_with_distance_loss", "lp_pool1d", "lp_pool2d",
    "gumbel_softmax", "native_channel_shuffle", "alpha_dropout", "feature_alpha_dropout", "multilabel_margin_loss",
    "local_response_norm", "max_pool2d_with_indices", "upsample_bilinear", "upsample_nearest", "pdist",
]
from .embedding_bag import embedding_bag
__all__ += ["embedding_bag"]
from .ctc import ctc_loss
__all__ += ["ctc_loss"]
from .grid import affine_grid, grid_sample
__all__ += ["affine_grid", "grid_sample"]

# the 3-D family (conv_more, pooling_3d), max unpooling and fractional max pooling
from .conv_more import conv3d, conv_transpose3d  # noqa: E402
from .pooling_3d import adaptive_avg_pool3d, adaptive_max_pool3d, adaptive_max_pool3d_with_indices  # noqa: E402
from .pooling_3d import avg_pool3d, lp_pool3d, max_pool3d, max_pool3d_with_indices  # noqa: E402
from .unpooling import max_unpool1d, max_unpool2d, max_unpool3d  # noqa: E402
from .pooling_fractional import fractional_max_pool2d, fractional_max_pool2d_with_indices  # noqa: E402
from .pooling_fractional import fractional_max_pool3d, fractional_max_pool3d_with_indices  # noqa: E402

__all__ += ["conv3d", "conv_transpose3d", "adaptive_avg_pool3d", "adaptive_max_pool3d",
            "adaptive_max_pool3d_with_indices", "avg_pool3d", "lp_pool3d", "max_pool3d", "max_pool3d_with_indices",
            "max_unpool1d", "max_unpool2d", "max_unpool3d", "fractional_max_pool2d",
            "fractional_max_pool2d_with_indices", "fractional_max_pool3d", "fractional_max_pool3d_with_indices"]
