"""Building blocks shared by architectures: one concept per file, each an ``nn.Module``."""

from .clustering import KMeans, kmeans
from .features import LogMagnitudeFeatures, NormKind, build_norm
from .heads import EmbeddingHead, MaskHead
from .norms import BatchNormFreq, CumulativeLayerNorm, GlobalLayerNorm, InstanceNorm, ShiftAndScale
from .recurrent import RecurrentStack
from .stft import ISTFT, STFT, LogMagnitude, Magnitude

__all__ = [
    "STFT", "ISTFT", "Magnitude", "LogMagnitude",
    "BatchNormFreq", "InstanceNorm", "ShiftAndScale", "GlobalLayerNorm", "CumulativeLayerNorm",
    "RecurrentStack", "MaskHead", "EmbeddingHead",
    "KMeans", "kmeans", "LogMagnitudeFeatures", "NormKind", "build_norm",
]
