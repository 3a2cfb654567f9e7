"""SPMamba: TF-GridNet with bidirectional Mamba layers in place of its two BLSTMs (over the
frequencies of each frame and over the frames of each bin); the cross-frame attention stays.

References:
    Li, Chen & Hu, "SPMamba: State-space model is all you need in speech separation",
    arXiv:2404.02063, 2024.

Written for separena from the paper, composing the core's grid (``separena.blocks``:
``TFGridNet``, ``GridNetBlock``, ``GridPath``, ``CrossFrameAttention``, the blocks of the
attention plugin's ``tf-gridnet``) with this plugin's :class:`~separena_mamba.model.MambaStack`,
so SPMamba and TF-GridNet differ only in the sequence model of each path. Differences from the
authors' code: each path's Mamba layers are Vision Mamba's bidirectional layer (a forward and a
backward scan sharing input and output projections, outputs averaged) behind a d -> d linear,
where the authors run separate forward and backward layers and concatenate them; and the core
STFT's Hann window, with the mixture scaled to unit standard deviation, as the core TF-GridNet.
"""

from __future__ import annotations

from separena.blocks import TFGridNet, grid_net

from .model import MambaStack

__all__ = ["spmamba"]


def spmamba(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 64,
    embed_dim: int = 16,
    kernel_size: int = 8,
    stride: int = 1,
    d_model: int = 128,
    num_layers: int = 1,
    d_state: int = 16,
    expand: int = 4,
    num_blocks: int = 6,
    num_heads: int = 4,
    attention_dim: int = 4,
) -> TFGridNet:
    """Build an SPMamba separator; the defaults are the authors' WSJ0-2mix configuration.

    Args:
        n_src: number of sources.
        sample_rate: sample rate in Hz the model is trained at (the STFT is in samples).
        n_fft: STFT size (256 = 32 ms at 8 kHz); the model has ``n_fft // 2 + 1`` bins.
        hop_length: STFT hop (64 = 8 ms at 8 kHz), at most ``n_fft // 2``.
        embed_dim: embedding features D per TF bin.
        kernel_size: neighbouring bins/frames I unfolded into each step of the Mamba layers.
        stride: hop J of that unfolding (at most ``kernel_size``).
        d_model: width of each path's Mamba layers (the authors': ``embed_dim * kernel_size``).
        num_layers: bidirectional Mamba layers per path.
        d_state: state size of each channel's selective scan (Mamba's N).
        expand: inner width ``expand * d_model`` of each layer (Mamba's E; the authors' 4).
        num_blocks: grid blocks B.
        num_heads: attention heads L (must divide ``embed_dim``).
        attention_dim: query/key features E per bin and head (4 = ceil(512 / 129 bins), the
            authors' rule of about 512 query/key features per frame).
    """
    def mamba(features: int) -> MambaStack:
        return MambaStack(features, d_model, num_layers, d_state, expand, bidirectional=True)

    return grid_net("spmamba", mamba, n_src=n_src, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
                    embed_dim=embed_dim, kernel_size=kernel_size, stride=stride, num_blocks=num_blocks,
                    num_heads=num_heads, attention_dim=attention_dim)
