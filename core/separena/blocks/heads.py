"""Output heads: masks and embeddings per time-frequency bin."""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor, nn

from ..errors import SeparenaError

__all__ = ["MaskHead", "EmbeddingHead", "mask_activation", "MaskActivation", "EmbeddingActivation",
           "MASK_ACTIVATIONS", "EMBEDDING_ACTIVATIONS"]

MaskActivation = Literal["sigmoid", "softmax", "relu"]
"""How mask scores become masks (see :func:`mask_activation`)."""

EmbeddingActivation = Literal["sigmoid", "tanh", "none"]
"""The nonlinearity of :class:`EmbeddingHead` before unit normalisation."""

MASK_ACTIVATIONS: tuple[str, ...] = get_args(MaskActivation)
EMBEDDING_ACTIVATIONS: tuple[str, ...] = get_args(EmbeddingActivation)


def mask_activation(scores: Tensor, kind: MaskActivation, source_dim: int = 1) -> Tensor:
    """Turn mask scores into masks: ``sigmoid`` (each in [0, 1]), ``softmax`` over the source
    dimension (masks sum to 1) or ``relu`` (non-negative, unbounded)."""
    if kind == "softmax":
        return torch.softmax(scores, dim=source_dim)
    if kind == "sigmoid":
        return torch.sigmoid(scores)
    if kind == "relu":
        return torch.relu(scores)
    raise SeparenaError(f"mask activation: expected one of {', '.join(MASK_ACTIVATIONS)}, got {kind!r}")


class MaskHead(nn.Module):
    """Linear layer to one mask per source and TF bin.

    Args:
        input_size: features per frame.
        n_freq: frequency bins of the mask.
        n_src: number of sources.
        activation: ``"sigmoid"`` (each mask in [0, 1]), ``"softmax"`` (masks sum to 1
            over sources) or ``"relu"`` (non-negative, unbounded).

    Shapes:
        ``[batch, frames, input_size]`` -> ``[batch, n_src, frames, n_freq]``.
    """

    def __init__(self, input_size: int, n_freq: int, n_src: int,
                 activation: MaskActivation = "sigmoid") -> None:
        super().__init__()
        if activation not in MASK_ACTIVATIONS:
            raise SeparenaError(f"activation: expected sigmoid, softmax or relu, got {activation!r}")
        self.n_freq, self.n_src, self.activation = n_freq, n_src, activation
        self.linear = nn.Linear(input_size, n_freq * n_src)

    def forward(self, x: Tensor) -> Tensor:
        batch, frames, _ = x.shape
        logits = self.linear(x).reshape(batch, frames, self.n_src, self.n_freq)
        logits = logits.permute(0, 2, 1, 3)  # [B, T, S, F] -> [B, S, T, F]
        return mask_activation(logits, self.activation, source_dim=1)


class EmbeddingHead(nn.Module):
    """Linear layer to a unit-norm embedding per TF bin (deep clustering).

    Args:
        input_size: features per frame.
        n_freq: frequency bins.
        embedding_dim: dimensions per TF bin.
        activation: nonlinearity before normalisation: ``"sigmoid"``, ``"tanh"`` or ``"none"``.

    Shapes:
        ``[batch, frames, input_size]`` -> ``[batch, frames, n_freq, embedding_dim]``, each
        vector of unit L2 norm.
    """

    def __init__(self, input_size: int, n_freq: int, embedding_dim: int = 20,
                 activation: EmbeddingActivation = "sigmoid") -> None:
        super().__init__()
        if activation not in EMBEDDING_ACTIVATIONS:
            raise SeparenaError(f"activation: expected sigmoid, tanh or none, got {activation!r}")
        self.n_freq, self.embedding_dim, self.activation = n_freq, embedding_dim, activation
        self.linear = nn.Linear(input_size, n_freq * embedding_dim)

    def forward(self, x: Tensor) -> Tensor:
        batch, frames, _ = x.shape
        emb = self.linear(x).reshape(batch, frames, self.n_freq, self.embedding_dim)
        if self.activation == "sigmoid":
            emb = torch.sigmoid(emb)
        elif self.activation == "tanh":
            emb = torch.tanh(emb)
        # emb / max(|emb|, 1e-8) as a product with the inverse norm: same values as
        # F.normalize, about 2x faster forward + backward (no full-size division in backward).
        return emb * torch.rsqrt(emb.square().sum(-1, keepdim=True).clamp_min(1e-16))
