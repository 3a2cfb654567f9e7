"""Deep clustering and Chimera++: a recurrent trunk that embeds every time-frequency bin.

References:
    Hershey, Chen, Le Roux, Watanabe, "Deep clustering: discriminative embeddings for
    segmentation and separation", ICASSP 2016 (arXiv:1508.04306).
    Wang, Le Roux, Hershey, "Alternative objective functions for deep clustering",
    ICASSP 2018 (Chimera++ and the weighted deep clustering loss).
    Luo, Chen, Hershey, Le Roux, Mesgarani, "Deep clustering and conventional networks for
    music separation: stronger together", ICASSP 2017 (the Chimera network).

Both models share the core :class:`~separena.blocks.RecurrentTrunk` (nussl's recipe:
log-magnitude -> normalization -> recurrent stack) and the core :class:`~separena.blocks.EmbeddingHead`. Deep clustering
clusters the embeddings of each mixture with k-means and uses the clusters as masks (soft by
default, the paper's binary ones with ``soft_beta=None``);
Chimera++ adds a :class:`~separena.blocks.MaskHead` that gives the masks at inference, the
embedding head serving only as a training objective. Masks apply to the mixture STFT and
the mixture phase is reused by the inverse STFT (the core :class:`~separena.MaskSeparator`).
No code is ported from other projects.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from separena import MaskSeparator
from separena.blocks import (
    ISTFT, STFT, EmbeddingActivation, EmbeddingHead, MaskActivation, MaskHead, NormKind, RecurrentTrunk, RnnType,
    kmeans, soft_assignments,
)

__all__ = ["DeepClusteringMasker", "ChimeraMasker", "deep_clustering", "chimera_pp"]

KMEANS_ITERATIONS = 10  # fixed Lloyd iterations at inference (2-4 clusters converge in fewer)


class DeepClusteringMasker(nn.Module):
    """Trunk -> unit-norm embedding per TF bin -> k-means per mixture -> binary or soft masks.

    Bins more than ``threshold_db`` below the loudest bin of their mixture do not move the
    centroids (their embeddings are unreliable) but are still assigned to a cluster. With
    ``soft_beta`` the masks are soft k-means responsibilities instead of one-hot clusters.

    Shapes:
        complex STFT ``[batch, frames, freq]`` -> ``(masks [batch, n_src, frames, freq],
        embedding [batch, frames, freq, embedding_dim])``.
    """

    def __init__(self, trunk: RecurrentTrunk, n_freq: int, n_src: int, embedding_dim: int,
                 embedding_activation: EmbeddingActivation, threshold_db: float,
                 soft_beta: float | None) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = EmbeddingHead(trunk.output_size, n_freq, embedding_dim, embedding_activation)
        self.n_src, self.threshold_db, self.soft_beta = n_src, threshold_db, soft_beta

    def forward(self, spec: Tensor) -> tuple[Tensor, Tensor]:
        embedding = self.head(self.trunk(spec))  # [B, T, F, D]
        batch, frames, n_freq, _ = embedding.shape
        with torch.no_grad():
            level = (10.0 / math.log(10.0)) * torch.log((spec.real.square() + spec.imag.square()).clamp_min(1e-10))
            active = level > level.amax(dim=(1, 2), keepdim=True) - self.threshold_db  # [B, T, F]
            points = embedding.reshape(batch, frames * n_freq, -1)
            labels, centroids = kmeans(points, self.n_src, active.reshape(batch, -1), KMEANS_ITERATIONS)
            if self.soft_beta is None:
                sources = torch.arange(self.n_src, device=labels.device).view(1, -1, 1)
                masks = (labels.unsqueeze(1) == sources).to(embedding.dtype)  # one-hot [B, S, T*F]
            else:
                masks = soft_assignments(points, centroids, self.soft_beta)  # [B, S, T*F]
            masks = masks.reshape(batch, self.n_src, frames, n_freq)  # -> [B, S, T, F]
        return masks, embedding


class ChimeraMasker(nn.Module):
    """Trunk -> (mask head, embedding head); the masks are used at inference.

    Shapes:
        complex STFT ``[batch, frames, freq]`` -> ``(masks [batch, n_src, frames, freq],
        embedding [batch, frames, freq, embedding_dim])``.
    """

    def __init__(self, trunk: RecurrentTrunk, n_freq: int, n_src: int, embedding_dim: int,
                 mask_activation: MaskActivation) -> None:
        super().__init__()
        self.trunk = trunk
        self.embedding_head = EmbeddingHead(trunk.output_size, n_freq, embedding_dim, "sigmoid")
        self.mask_head = MaskHead(trunk.output_size, n_freq, n_src, mask_activation)

    def forward(self, spec: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.trunk(spec)  # [B, T, H]
        return self.mask_head(hidden), self.embedding_head(hidden)

    def step(self, spec: Tensor, state: Any) -> tuple[Tensor, Any]:
        """A stream's next frames -> their masks (the embeddings serve training only), the
        LSTM state carried; causal configurations only."""
        hidden, state = self.trunk.step(spec, state)
        return self.mask_head(hidden), state


def deep_clustering(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 64,
    hidden_size: int = 128,
    num_layers: int = 2,
    bidirectional: bool = True,
    dropout: float = 0.0,
    rnn_type: RnnType = "lstm",
    norm: NormKind = "instance",
    embedding_dim: int = 20,
    embedding_activation: EmbeddingActivation = "sigmoid",
    threshold_db: float = 40.0,
    soft_beta: float | None = 5.0,
) -> MaskSeparator:
    """Build a deep clustering separator (k-means on embeddings -> binary or soft masks).

    Args:
        n_src: number of sources (clusters per mixture).
        sample_rate: sample rate in Hz the model is trained at.
        n_fft: STFT size (samples).
        hop_length: STFT hop (samples).
        hidden_size: recurrent units per direction (the paper: 300).
        num_layers: recurrent layers (the paper: 4).
        bidirectional: BLSTM (True) or one-way LSTM (False); the model stays offline either way:
            k-means clusters the embeddings of the whole input.
        dropout: dropout between recurrent layers and on the trunk output.
        rnn_type: ``"lstm"`` or ``"gru"``.
        norm: feature normalization: ``"batch"``, per-item ``"instance"``, ``"learned"`` or ``"none"``.
        embedding_dim: dimensions of each TF bin's embedding (the paper: 20).
        embedding_activation: nonlinearity before unit normalisation.
        threshold_db: bins this far below the mixture's loudest bin are ignored when fitting
            the k-means centroids.
        soft_beta: soft masks: each bin's softmax over clusters of ``-soft_beta`` x its
            distance to each centroid (soft k-means, as nussl's deep clustering separates,
            with the same 5); None for the paper's binary masks. Soft masks split a bin the
            embeddings place between two clusters instead of giving it whole to one, which
            is worth about 3 dB for an under-trained model (docs/architectures/deep-clustering.md).
    """
    n_freq = n_fft // 2 + 1
    trunk = RecurrentTrunk(n_freq, hidden_size, num_layers, bidirectional, dropout, rnn_type, norm)
    masker = DeepClusteringMasker(trunk, n_freq, n_src, embedding_dim, embedding_activation, threshold_db,
                                  soft_beta)
    return MaskSeparator(STFT(n_fft, hop_length), masker, ISTFT(n_fft, hop_length), n_src=n_src,
                         sample_rate=sample_rate)


def chimera_pp(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 64,
    hidden_size: int = 128,
    num_layers: int = 2,
    bidirectional: bool = True,
    dropout: float = 0.0,
    rnn_type: RnnType = "lstm",
    norm: NormKind = "instance",
    embedding_dim: int = 20,
    mask_activation: MaskActivation = "sigmoid",
) -> MaskSeparator:
    """Build a Chimera++ separator (shared trunk; embedding head for training, mask head for inference).

    Args:
        n_src: number of sources.
        sample_rate: sample rate in Hz the model is trained at.
        n_fft: STFT size (samples).
        hop_length: STFT hop (samples).
        hidden_size: recurrent units per direction.
        num_layers: recurrent layers.
        bidirectional: BLSTM (True) or one-way LSTM (False); the model is causal only with a
            ``norm`` other than ``"instance"`` (statistics over the whole input).
        dropout: dropout between recurrent layers and on the trunk output.
        rnn_type: ``"lstm"`` or ``"gru"``.
        norm: feature normalization: ``"batch"``, per-item ``"instance"``, ``"learned"`` or ``"none"``.
        embedding_dim: dimensions of each TF bin's embedding (sigmoid, then unit norm).
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    n_freq = n_fft // 2 + 1
    trunk = RecurrentTrunk(n_freq, hidden_size, num_layers, bidirectional, dropout, rnn_type, norm)
    masker = ChimeraMasker(trunk, n_freq, n_src, embedding_dim, mask_activation)
    return MaskSeparator(STFT(n_fft, hop_length), masker, ISTFT(n_fft, hop_length), n_src=n_src,
                         sample_rate=sample_rate)
