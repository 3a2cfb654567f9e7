"""Building blocks shared by architectures: one concept per file, each an ``nn.Module``."""

from .bandwidth import LimitBandwidth, bandwidth_to_max_bin
from .clustering import KMeans, kmeans, soft_assignments
from .conv import Conv1DBlock, TemporalConvNet
from .dualpath import DualPathBlock, DualPathRNN, chunk, overlap_add
from .features import LogMagnitudeFeatures, NormKind, build_norm
from .filterbanks import LearnedDecoder, LearnedEncoder, frame_padding
from .heads import MASK_ACTIVATIONS, EmbeddingHead, MaskHead, mask_activation
from .norms import BatchNormFreq, CumulativeLayerNorm, GlobalLayerNorm, InstanceNorm, ShiftAndScale
from .recurrent import RecurrentStack
from .stft import ISTFT, STFT, LogMagnitude, Magnitude
from .wiener import WienerFilter

__all__ = [
    "STFT", "ISTFT", "Magnitude", "LogMagnitude",
    "BatchNormFreq", "InstanceNorm", "ShiftAndScale", "GlobalLayerNorm", "CumulativeLayerNorm",
    "RecurrentStack", "MaskHead", "EmbeddingHead", "mask_activation", "MASK_ACTIVATIONS",
    "KMeans", "kmeans", "soft_assignments", "LogMagnitudeFeatures", "NormKind", "build_norm",
    "LearnedEncoder", "LearnedDecoder", "frame_padding", "Conv1DBlock", "TemporalConvNet",
    "DualPathBlock", "DualPathRNN", "chunk", "overlap_add",
    "LimitBandwidth", "bandwidth_to_max_bin", "WienerFilter",
]
