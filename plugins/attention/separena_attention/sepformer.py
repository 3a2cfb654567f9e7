"""SepFormer: a learned filterbank whose frames are split into overlapping chunks and processed
by dual-path transformer blocks (a transformer within each chunk, then one across chunks).

References:
    Subakan, Ravanelli, Cornell, Bronzi & Zhong, "Attention is all you need in speech
    separation", ICASSP 2021. https://arxiv.org/abs/2010.13154

Written for separena from the paper: the core ``dual_path_net`` (``LearnedEncoder`` /
``LearnedDecoder``, ``DualPathBlock``, ``DualPathMasker``) around ``TransformerStack``. The layer
layout around the dual-path network (norm and a bias-free 1x1 map in front; PReLU, a linear to
``n_src`` maps, overlap-add, a tanh x sigmoid gate and a bias-free linear to the encoder's
filters after) is DPRNN's, which the paper keeps, so parameter counts compare.
"""

from __future__ import annotations

from separena import MaskSeparator
from separena.blocks import MaskActivation, TransformerStack, dual_path_net

__all__ = ["sepformer"]


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
    def transformer() -> TransformerStack:
        return TransformerStack(d_model, num_layers, num_heads, ffn_size, dropout)

    return dual_path_net("sepformer", transformer, n_src=n_src, sample_rate=sample_rate, n_filters=n_filters,
                         filter_length=filter_length, d_model=d_model, num_repeats=num_repeats,
                         chunk_size=chunk_size, mask_activation=mask_activation)
