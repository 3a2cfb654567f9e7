"""Building blocks shared by architectures: one concept per file, each an ``nn.Module``.

Also the names of their choices, as ``Literal`` type aliases that builders annotate their
parameters with (``separena info`` lists the allowed values from them): :data:`MaskActivation`,
:data:`EmbeddingActivation`, :data:`RnnType`, :data:`NormKind` and :data:`ChannelNormKind`.
"""

from .attention import PositionalEncoding, TransformerStack, sinusoidal_encoding
from .bandwidth import LimitBandwidth, bandwidth_to_max_bin
from .clustering import KMeans, kmeans, soft_assignments
from .conv import Conv1DBlock, TemporalConvNet
from .dualpath import DualPathBlock, DualPathMasker, DualPathRNN, chunk, dual_path_net, overlap_add
from .features import LogMagnitudeFeatures
from .filterbanks import LearnedDecoder, LearnedEncoder, frame_padding
from .grid import CrossFrameAttention, GridNetBlock, GridPath, TFGridNet, grid_net
from .heads import (
    EMBEDDING_ACTIVATIONS, MASK_ACTIVATIONS, EmbeddingActivation, EmbeddingHead, MaskActivation, MaskHead,
    mask_activation,
)
from .norms import (
    CHANNEL_NORM_KINDS, NORM_KINDS, BatchNormFreq, ChannelNormKind, CumulativeLayerNorm, GlobalLayerNorm,
    InstanceNorm, NormKind, ShiftAndScale, build_norm,
)
from .recurrent import RNN_TYPES, RecurrentStack, RnnType
from .stft import ISTFT, STFT, LogMagnitude, Magnitude
from .trunk import RecurrentTrunk
from .wiener import WienerFilter

__all__ = [
    "STFT", "ISTFT", "Magnitude", "LogMagnitude",
    "BatchNormFreq", "InstanceNorm", "ShiftAndScale", "GlobalLayerNorm", "CumulativeLayerNorm", "build_norm",
    "RecurrentStack", "RecurrentTrunk", "MaskHead", "EmbeddingHead", "mask_activation",
    "KMeans", "kmeans", "soft_assignments", "LogMagnitudeFeatures",
    "LearnedEncoder", "LearnedDecoder", "frame_padding", "Conv1DBlock", "TemporalConvNet",
    "DualPathBlock", "DualPathRNN", "DualPathMasker", "dual_path_net", "chunk", "overlap_add",
    "GridPath", "GridNetBlock", "CrossFrameAttention", "TFGridNet", "grid_net",
    "LimitBandwidth", "bandwidth_to_max_bin", "WienerFilter",
    "PositionalEncoding", "TransformerStack", "sinusoidal_encoding",
    # the choices' names
    "MaskActivation", "EmbeddingActivation", "RnnType", "NormKind", "ChannelNormKind",
    "MASK_ACTIVATIONS", "EMBEDDING_ACTIVATIONS", "RNN_TYPES", "NORM_KINDS", "CHANNEL_NORM_KINDS",
]
