"""TF-GridNet: complex spectral mapping with blocks of a sub-band (intra-frame) BLSTM over
frequency, a temporal (inter-frame) BLSTM over time and a cross-frame multi-head self-attention.

References:
    Wang, Cornell, Choi, Lee, Kim & Watanabe, "TF-GridNet: Integrating full- and sub-band
    modeling for speech separation", IEEE/ACM TASLP 31, 2023. https://arxiv.org/abs/2211.12433
    Wang et al., "TF-GridNet: Making time-frequency domain models great again for monaural
    speaker separation", ICASSP 2023. https://arxiv.org/abs/2209.03952

Written for separena from the papers: the core's grid (``separena.blocks.grid``: ``TFGridNet``,
``GridNetBlock``, ``GridPath``, ``CrossFrameAttention``) with a BLSTM (``RecurrentStack``) in
each path. Differences from the paper: the core STFT's Hann window instead of the square-root
Hann window, and the mixture is scaled to unit standard deviation before the STFT and the
estimates scaled back (as the authors' released recipe does), so the model sees the same input
level for any gain.
"""

from __future__ import annotations

from separena.blocks import RecurrentStack, TFGridNet, grid_net

__all__ = ["tf_gridnet"]


def tf_gridnet(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 128,
    hop_length: int = 64,
    embed_dim: int = 64,
    kernel_size: int = 4,
    stride: int = 1,
    hidden_size: int = 256,
    num_blocks: int = 6,
    num_heads: int = 4,
    attention_dim: int = 8,
) -> TFGridNet:
    """Build a TF-GridNet separator; the defaults are the ``tf-gridnet-paper`` preset, the
    configuration whose size matches the published WSJ0-2mix model (docs/architectures/tf-gridnet.md).

    Args:
        n_src: number of sources.
        sample_rate: sample rate in Hz the model is trained at (the STFT is in samples).
        n_fft: STFT size (128 = 16 ms at 8 kHz); the model has ``n_fft // 2 + 1`` bins.
        hop_length: STFT hop (64 = 8 ms at 8 kHz), at most ``n_fft // 2``.
        embed_dim: embedding features D per TF bin (the 3x3 conv2d embedding's channels).
        kernel_size: neighbouring bins/frames I unfolded into each BLSTM step.
        stride: hop J of that unfolding (at most ``kernel_size``).
        hidden_size: BLSTM units H per direction.
        num_blocks: grid blocks B.
        num_heads: attention heads L (must divide ``embed_dim``).
        attention_dim: query/key features E per bin and head (8 = ceil(512 / 65 bins), the
            authors' rule of about 512 query/key features per frame).
    """
    def blstm(features: int) -> RecurrentStack:
        return RecurrentStack(features, hidden_size)

    return grid_net("tf-gridnet", blstm, n_src=n_src, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
                    embed_dim=embed_dim, kernel_size=kernel_size, stride=stride, num_blocks=num_blocks,
                    num_heads=num_heads, attention_dim=attention_dim)
