"""SepFormer: a learned filterbank whose frames are split into overlapping chunks and processed
by dual-path transformer blocks (a transformer within each chunk, then one across chunks).

References:
    Subakan, Ravanelli, Cornell, Bronzi & Zhong, "Attention is all you need in speech
    separation", ICASSP 2021. https://arxiv.org/abs/2010.13154

Written for separena from the paper, composing core blocks (``LearnedEncoder`` /
``LearnedDecoder``, ``chunk`` / ``overlap_add``, ``GlobalLayerNorm``, ``TransformerStack``).
The layer layout around the dual-path network (norm and bias-free linear in front; PReLU,
a linear to ``n_src`` maps, overlap-add, a tanh x sigmoid gate and a bias-free linear to the
encoder's filters after) is DPRNN's, which the paper keeps, so parameter counts compare.
"""

from __future__ import annotations

from torch import Tensor, nn

from separena import MaskSeparator, SeparenaError
from separena.blocks import (
    GlobalLayerNorm, LearnedDecoder, LearnedEncoder, MaskActivation, TransformerStack, chunk, mask_activation,
    overlap_add,
)

__all__ = ["DualPathTransformerBlock", "SepFormerMasker", "sepformer"]


def _gln(norm: GlobalLayerNorm, y: Tensor) -> Tensor:
    """gLN over everything but the batch, per-feature affine: ``[B, A, C, N]`` through ``[B, N, A*C]``."""
    batch, a, c, n = y.shape
    return norm(y.reshape(batch, a * c, n).transpose(1, 2)).transpose(1, 2).reshape(batch, a, c, n)


class DualPathTransformerBlock(nn.Module):
    """Intra-chunk transformer then inter-chunk transformer, each followed by gLN and a residual.

    Args:
        d_model: features per frame.
        num_layers: encoder layers of each of the two transformers.
        num_heads: attention heads.
        ffn_size: feed-forward hidden units.
        dropout: transformer dropout.

    Shapes:
        ``[batch, n_chunks, chunk_size, d_model]`` -> same.
    """

    def __init__(self, d_model: int, num_layers: int, num_heads: int, ffn_size: int, dropout: float) -> None:
        super().__init__()
        self.intra = TransformerStack(d_model, num_layers, num_heads, ffn_size, dropout)
        self.intra_norm = GlobalLayerNorm(d_model)
        self.inter = TransformerStack(d_model, num_layers, num_heads, ffn_size, dropout)
        self.inter_norm = GlobalLayerNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        batch, n_chunks, chunk_size, n = x.shape
        y = self.intra(x.reshape(batch * n_chunks, chunk_size, n))  # along K
        x = x + _gln(self.intra_norm, y.reshape(batch, n_chunks, chunk_size, n))
        y = x.transpose(1, 2).reshape(batch * chunk_size, n_chunks, n)  # [B, L, K, N] -> [B*K, L, N]
        y = _gln(self.inter_norm, self.inter(y).reshape(batch, chunk_size, n_chunks, n))
        return x + y.transpose(1, 2)  # [B, K, L, N] -> [B, L, K, N]


class SepFormerMasker(nn.Module):
    """gLN -> linear -> chunk -> dual-path transformer blocks -> per-source maps -> overlap-add -> gate -> masks.

    Args:
        n_filters: encoder filters N.
        n_src: number of sources.
        d_model: features inside the dual-path network.
        chunk_size: chunk length K in frames (hop ``K // 2``).
        blocks: the dual-path transformer blocks.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.

    Shapes:
        ``[batch, frames, n_filters]`` -> masks ``[batch, n_src, frames, n_filters]``.
    """

    def __init__(self, n_filters: int, n_src: int, d_model: int, chunk_size: int, blocks: nn.Sequential,
                 mask_activation: MaskActivation) -> None:
        super().__init__()
        if mask_activation not in ("sigmoid", "softmax", "relu"):
            raise SeparenaError(f"sepformer: mask_activation; expected sigmoid, softmax or relu, got {mask_activation!r}")
        if chunk_size < 2:
            raise SeparenaError(f"sepformer: chunk_size; expected an integer >= 2, got {chunk_size!r}")
        self.n_src, self.chunk_size, self.hop, self.mask_activation = n_src, chunk_size, chunk_size // 2, mask_activation
        self.norm = GlobalLayerNorm(n_filters)
        self.bottleneck = nn.Linear(n_filters, d_model, bias=False)
        self.blocks = blocks
        self.to_sources = nn.Sequential(nn.PReLU(), nn.Linear(d_model, n_src * d_model))
        self.gate_tanh = nn.Sequential(nn.Linear(d_model, d_model), nn.Tanh())
        self.gate_sigmoid = nn.Sequential(nn.Linear(d_model, d_model), nn.Sigmoid())
        self.to_masks = nn.Linear(d_model, n_filters, bias=False)

    def forward(self, rep: Tensor) -> Tensor:
        batch, frames, _ = rep.shape
        x = self.bottleneck(self.norm(rep.transpose(1, 2)).transpose(1, 2))  # [B, T, N] -> [B, T, D]
        x = self.blocks(chunk(x, self.chunk_size, self.hop))  # [B, L, K, D]
        x = overlap_add(self.to_sources(x), self.hop, frames)  # [B, L, K, S*D] -> [B, T, S*D]
        x = x.reshape(batch, frames, self.n_src, -1)  # [B, T, S, D]
        scores = self.to_masks(self.gate_tanh(x) * self.gate_sigmoid(x)).transpose(1, 2)  # [B, S, T, N]
        return mask_activation(scores, self.mask_activation, source_dim=1)


def sepformer(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 256,
    filter_length: int = 16,
    d_model: int = 256,
    num_heads: int = 8,
    ffn_size: int = 1024,
    num_layers: int = 8,
    num_repeats: int = 2,
    chunk_size: int = 250,
    dropout: float = 0.0,
    mask_activation: MaskActivation = "relu",
) -> MaskSeparator:
    """Build a SepFormer separator; the defaults are the paper's WSJ0-2mix model (25.7 M parameters).

    Args:
        n_src: number of sources.
        sample_rate: sample rate in Hz the model is trained at (filters are in samples).
        n_filters: encoder/decoder filters N (ReLU encoder, as in the paper).
        filter_length: filter length L in samples; the hop is ``L // 2``.
        d_model: features inside the transformers.
        num_heads: attention heads (must divide ``d_model``).
        ffn_size: hidden units of each transformer layer's feed-forward network.
        num_layers: encoder layers of each intra- and each inter-chunk transformer.
        num_repeats: dual-path blocks (intra then inter transformer).
        chunk_size: chunk length K in frames; chunks overlap by 50 %.
        dropout: transformer dropout.
        mask_activation: ``"relu"`` (paper), ``"sigmoid"`` or ``"softmax"`` (over sources).
    """
    if num_repeats < 1:
        raise SeparenaError(f"sepformer: num_repeats; expected a positive integer, got {num_repeats!r}")
    blocks = nn.Sequential(*(DualPathTransformerBlock(d_model, num_layers, num_heads, ffn_size, dropout)
                             for _ in range(num_repeats)))
    masker = SepFormerMasker(n_filters, n_src, d_model, chunk_size, blocks, mask_activation)
    return MaskSeparator(LearnedEncoder(n_filters, filter_length, activation="relu"), masker,
                         LearnedDecoder(n_filters, filter_length), n_src=n_src, sample_rate=sample_rate)
