"""``numgrad.nn.modules``: the layer classes, one module per family with PyTorch's file names.

- ``module``: ``Module``, the base class
- ``container``: ``Sequential``, ``ModuleList``, ``ModuleDict``
- ``linear``: ``Identity``, ``Linear``
- ``conv``: ``Conv2d``
- ``pooling``: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``
- ``flatten``: ``Flatten``, ``Unflatten``
- ``dropout``: ``Dropout``
- ``batchnorm``: ``BatchNorm1d``, ``BatchNorm2d`` (also ``BatchNorm3d``, ``SyncBatchNorm``)
- ``normalization``: ``LayerNorm``
- ``sparse``: ``Embedding``
- ``activation``: ``ReLU``, ``LeakyReLU``, ``GELU``, ``ELU``, ``Softplus``, ``Tanh``, ``Sigmoid``, ``SiLU``,
  ``Softmax``, ``LogSoftmax``
- ``transformer``: ``Transformer``, ``TransformerEncoder``, ``TransformerDecoder`` and their layers
  (``activation``: also ``MultiheadAttention``)
- also ``Conv1d``, ``ConvTranspose1d/2d`` (``conv``), ``Dropout1d/2d/3d`` (``dropout``), ``GroupNorm``
  (``normalization``), ``instancenorm``: ``InstanceNorm1d/2d``, ``upsampling``: ``Upsample``,
  ``pixelshuffle``: ``PixelShuffle``, ``PixelUnshuffle``
- ``loss``: ``CrossEntropyLoss``, ``NLLLoss``, ``MSELoss``, ``L1Loss``, ``BCELoss``, ``BCEWithLogitsLoss``
  (over ``_Loss`` and ``_WeightedLoss``)
- ``utils``: helpers the layers share (``_pair``)
- ``rnn``: ``RNN``, ``LSTM``, ``GRU``, ``RNNCell``, ``LSTMCell``, ``GRUCell`` (over ``RNNBase``, ``RNNCellBase``)
- ``activation_more``, ``loss_more``, ``pooling_more``, ``normalization_more`` (``RMSNorm``), ``linear_more``
  (``Bilinear``), ``padding``, ``fold`` (``Unfold``, ``Fold``), ``container_more`` (``ParameterList``, ``ParameterDict``)

Each layer is a thin ``Module`` over ``numgrad.nn.functional`` with PyTorch's
parameter names, shapes, default initialisation and ``repr``, so a
``state_dict`` moves between the two libraries unchanged.

>>> import numgrad as ng
>>> ng.nn.modules.linear.Linear is ng.nn.Linear
True
"""
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module
from .normalization import LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .sparse import Embedding
from .activation import MultiheadAttention
from .transformer import Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder
from .transformer import TransformerEncoderLayer
from .conv import Conv1d, ConvTranspose1d, ConvTranspose2d
from .dropout import Dropout1d, Dropout2d, Dropout3d
from .instancenorm import InstanceNorm1d, InstanceNorm2d
from .normalization import GroupNorm
from .pixelshuffle import PixelShuffle, PixelUnshuffle
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .activation_more import CELU, GLU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, Mish, PReLU
from .activation_more import ReLU6, RReLU, SELU, CosineSimilarity, PairwiseDistance, Softmin, Softshrink, Softsign
from .activation_more import Tanhshrink, Threshold
from .loss_more import CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, HuberLoss, KLDivLoss
from .loss_more import MarginRankingLoss, MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss, SmoothL1Loss
from .loss_more import SoftMarginLoss, TripletMarginLoss
from .container_more import ParameterDict, ParameterList
from .padding import ConstantPad1d, ConstantPad2d, ConstantPad3d, ReflectionPad1d, ReflectionPad2d
from .padding import ReplicationPad1d, ReplicationPad2d, ZeroPad1d, ZeroPad2d, ZeroPad3d
from .pooling_more import AdaptiveAvgPool1d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d, MaxPool1d
from .normalization_more import RMSNorm
from .linear_more import Bilinear
from .fold import Fold, Unfold
from .activation_more import ChannelShuffle, Softmax2d
from .loss_more import TripletMarginWithDistanceLoss
from .pooling_more import LPPool1d, LPPool2d
from .dropout_more import AlphaDropout, FeatureAlphaDropout
from .loss_more import MultiLabelMarginLoss
from .normalization_more import LocalResponseNorm
from .padding import CircularPad1d, CircularPad2d, CircularPad3d, ReflectionPad3d, ReplicationPad3d

__all__ = [
    "Module",
    "Identity", "Linear",
    "Conv2d",
    "ELU", "GELU", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "SiLU", "Softmax", "Softplus", "Tanh",
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "NLLLoss",
    "ModuleDict", "ModuleList", "Sequential",
    "AdaptiveAvgPool2d", "AvgPool2d", "MaxPool2d",
    "BatchNorm1d", "BatchNorm2d",
    "LayerNorm",
    "Dropout",
    "Embedding",
    "Flatten", "Unflatten",
    "MultiheadAttention",
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer",
    "Conv1d", "ConvTranspose1d", "ConvTranspose2d", "Dropout1d", "Dropout2d", "Dropout3d", "GroupNorm",
    "InstanceNorm1d", "InstanceNorm2d", "PixelShuffle", "PixelUnshuffle", "Upsample", "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
    "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
    "CELU", "GLU", "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh", "LogSigmoid", "Mish", "PReLU", "ReLU6",
    "RReLU", "SELU", "CosineSimilarity", "PairwiseDistance", "Softmin", "Softshrink", "Softsign", "Tanhshrink",
    "Threshold",
    "CosineEmbeddingLoss", "GaussianNLLLoss", "HingeEmbeddingLoss", "HuberLoss", "KLDivLoss", "MarginRankingLoss",
    "MultiLabelSoftMarginLoss", "MultiMarginLoss", "PoissonNLLLoss", "SmoothL1Loss", "SoftMarginLoss",
    "TripletMarginLoss",
    "ParameterDict", "ParameterList", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d",
    "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
    "AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AvgPool1d", "MaxPool1d", "RMSNorm", "Bilinear",
    "Fold", "Unfold",
    "ChannelShuffle", "Softmax2d", "TripletMarginWithDistanceLoss", "LPPool1d", "LPPool2d",
    "AlphaDropout", "FeatureAlphaDropout", "MultiLabelMarginLoss", "LocalResponseNorm", "CircularPad1d",
    "CircularPad2d", "CircularPad3d", "ReflectionPad3d", "ReplicationPad3d",
]
from .lazy import *  # noqa: F401,F403 (LazyLinear, LazyConv*, LazyBatchNorm*, LazyInstanceNorm*; 3-D where their concrete classes exist)
from .lazy import __all__ as _lazy_all
__all__ += [n for n in _lazy_all if n != "LazyModuleMixin"]
from .sparse_more import EmbeddingBag
__all__ += ["EmbeddingBag"]
from .loss_ctc import CTCLoss
__all__ += ["CTCLoss"]

# the 3-D family, max unpooling and fractional max pooling
from .conv import Conv3d, ConvTranspose3d  # noqa: E402
from .batchnorm import BatchNorm3d  # noqa: E402
from .instancenorm import InstanceNorm3d  # noqa: E402
from .pooling_3d import AdaptiveAvgPool3d, AdaptiveMaxPool3d, AvgPool3d, LPPool3d, MaxPool3d  # noqa: E402
from .pooling_3d import MaxUnpool1d, MaxUnpool2d, MaxUnpool3d  # noqa: E402
from .pooling_fractional import FractionalMaxPool2d, FractionalMaxPool3d  # noqa: E402

__all__ += ["Conv3d", "ConvTranspose3d", "BatchNorm3d", "InstanceNorm3d", "AdaptiveAvgPool3d", "AdaptiveMaxPool3d",
            "AvgPool3d", "LPPool3d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "FractionalMaxPool2d",
            "FractionalMaxPool3d"]

from .adaptive import AdaptiveLogSoftmaxWithLoss  # noqa: E402

__all__ += ["AdaptiveLogSoftmaxWithLoss"]

# data-parallel batch norm over numgrad.distributed (statistics of every rank's batch)
from .batchnorm import SyncBatchNorm  # noqa: E402

__all__ += ["SyncBatchNorm"]
