"""TF-GridNet: complex spectral mapping with blocks of a sub-band (intra-frame) BLSTM over
frequency, a temporal (inter-frame) BLSTM over time and a cross-frame multi-head self-attention.

References:
    Wang, Cornell, Choi, Lee, Kim & Watanabe, "TF-GridNet: Integrating full- and sub-band
    modeling for speech separation", IEEE/ACM TASLP 31, 2023. https://arxiv.org/abs/2211.12433
    Wang et al., "TF-GridNet: Making time-frequency domain models great again for monaural
    speaker separation", ICASSP 2023. https://arxiv.org/abs/2209.03952

Written for separena from the papers, with the core ``STFT`` / ``ISTFT``. Tensors are kept
channel-last, ``[batch, frames, freq, D]``, so the paper's 1x1 convolutions are linear layers
and its per-channel layer norm is ``nn.LayerNorm(D)``. Differences from the paper: the core
STFT's Hann window instead of the square-root Hann window, and the mixture is scaled to unit
standard deviation before the STFT and the estimates scaled back (as the authors' released
recipe does), so the model sees the same input level for any gain.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from separena import SeparenaError, Separator, SeparatorOutput
from separena.model import check_mix
from separena.blocks import ISTFT, STFT

__all__ = ["GridNetBlock", "CrossFrameAttention", "TFGridNet", "tf_gridnet"]


def _padded(length: int, kernel_size: int, stride: int) -> int:
    """Length padded so that ``unfold(kernel_size, stride)`` covers every step."""
    return math.ceil(max(length - kernel_size, 0) / stride) * stride + kernel_size


class _AxisBLSTM(nn.Module):
    """Layer norm -> unfold ``I`` neighbours (hop ``J``) -> BLSTM -> transposed conv back -> residual.

    Shapes:
        ``[batch, seq, length, D]`` -> same (the BLSTM runs along ``length`` for every ``seq``).
    """

    def __init__(self, embed_dim: int, kernel_size: int, stride: int, hidden_size: int) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.norm = nn.LayerNorm(embed_dim)
        self.rnn = nn.LSTM(embed_dim * kernel_size, hidden_size, batch_first=True, bidirectional=True)
        self.deconv = nn.ConvTranspose1d(2 * hidden_size, embed_dim, kernel_size, stride=stride)

    def forward(self, x: Tensor) -> Tensor:
        batch, seq, length, dim = x.shape
        padded = _padded(length, self.kernel_size, self.stride)
        y = nn.functional.pad(self.norm(x), (0, 0, 0, padded - length)).reshape(batch * seq, padded, dim)
        y = y.unfold(1, self.kernel_size, self.stride).flatten(2)  # [B*S, n, D, I] -> [B*S, n, D*I]
        y = self.deconv(self.rnn(y)[0].transpose(1, 2))  # [B*S, 2H, n] -> [B*S, D, padded]
        return x + y[..., :length].transpose(1, 2).reshape(batch, seq, length, dim)


class CrossFrameAttention(nn.Module):
    """Full-band self-attention across frames: each frame's query/key is all its bins' features.

    Per head, ``Q`` and ``K`` are a 1x1 map to ``attention_dim`` features, PReLU and a layer norm
    over (freq, features), flattened to ``freq * attention_dim``; ``V`` the same with
    ``embed_dim / num_heads`` features. The heads' outputs are concatenated, projected (1x1,
    PReLU, layer norm over (freq, D)) and added to the input.

    Args:
        embed_dim: features D per bin.
        n_freq: frequency bins (the layer norms are over them).
        num_heads: heads L (must divide ``embed_dim``).
        attention_dim: query/key features E per bin and head.

    Shapes:
        ``[batch, frames, freq, D]`` -> same.
    """

    def __init__(self, embed_dim: int, n_freq: int, num_heads: int, attention_dim: int) -> None:
        super().__init__()
        if num_heads < 1 or embed_dim % num_heads:
            raise SeparenaError(f"tf-gridnet: num_heads; expected a divisor of embed_dim={embed_dim}, got {num_heads!r}")
        if attention_dim < 1:
            raise SeparenaError(f"tf-gridnet: attention_dim; expected a positive integer, got {attention_dim!r}")

        def project(size: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(embed_dim, size), nn.PReLU(), nn.LayerNorm((n_freq, size)))

        self.query = nn.ModuleList(project(attention_dim) for _ in range(num_heads))
        self.key = nn.ModuleList(project(attention_dim) for _ in range(num_heads))
        self.value = nn.ModuleList(project(embed_dim // num_heads) for _ in range(num_heads))
        self.out = project(embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        def heads(maps: nn.ModuleList) -> Tensor:  # -> [B, L, T, F*size]
            return torch.stack([m(x).flatten(2) for m in maps], dim=1)

        v = heads(self.value)
        y = nn.functional.scaled_dot_product_attention(heads(self.query), heads(self.key), v)  # [B, L, T, F*D/L]
        batch, n_heads, frames, _ = y.shape
        y = y.reshape(batch, n_heads, frames, x.shape[2], -1).permute(0, 2, 3, 1, 4).flatten(3)  # [B, T, F, D]
        return x + self.out(y)


class GridNetBlock(nn.Module):
    """Intra-frame (sub-band) BLSTM over frequency, inter-frame BLSTM over time, cross-frame attention.

    Shapes:
        ``[batch, frames, freq, D]`` -> same.
    """

    def __init__(self, embed_dim: int, n_freq: int, kernel_size: int, stride: int, hidden_size: int,
                 num_heads: int, attention_dim: int) -> None:
        super().__init__()
        self.intra = _AxisBLSTM(embed_dim, kernel_size, stride, hidden_size)
        self.inter = _AxisBLSTM(embed_dim, kernel_size, stride, hidden_size)
        self.attention = CrossFrameAttention(embed_dim, n_freq, num_heads, attention_dim)

    def forward(self, x: Tensor) -> Tensor:
        x = self.intra(x)  # along frequency, each frame
        x = self.inter(x.transpose(1, 2)).transpose(1, 2)  # along time, each bin
        return self.attention(x)


class TFGridNet(Separator):
    """Complex spectral mapping: RI of the mixture STFT in, RI of every source out.

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        stft, istft: the transform pair.
        embed_dim: features D per TF bin.
        blocks: the grid blocks.

    Shapes:
        mix ``[batch, time]`` -> estimates ``[batch, n_src, time]``.
    """

    def __init__(self, n_src: int, sample_rate: int, stft: STFT, istft: ISTFT, embed_dim: int,
                 blocks: nn.Sequential, eps: float = 1e-8) -> None:
        super().__init__(n_src=n_src, sample_rate=sample_rate)
        self.stft, self.istft, self.eps = stft, istft, eps
        self.embed = nn.Conv2d(2, embed_dim, 3, padding=1)
        self.embed_norm = nn.GroupNorm(1, embed_dim, eps=1e-5)
        self.blocks = blocks
        self.deconv = nn.ConvTranspose2d(embed_dim, 2 * n_src, 3, padding=1)

    def forward(self, mix: Tensor) -> SeparatorOutput:
        check_mix(mix)
        self.stft.check_length(mix.shape[-1], self.sample_rate, type(self).__name__)
        scale = mix.std(dim=-1, keepdim=True) + self.eps  # [B, 1]
        spec = self.stft(mix / scale)  # complex [B, T, F]
        x = self.embed_norm(self.embed(torch.stack([spec.real, spec.imag], dim=1)))  # [B, 2, T, F] -> [B, D, T, F]
        x = self.blocks(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # channel-last through the blocks
        batch, _, frames, n_freq = x.shape
        out = self.deconv(x).reshape(batch * self.n_src, 2, frames, n_freq)  # [B*S, RI, T, F]
        wav = self.istft(torch.complex(out[:, 0], out[:, 1]), mix.shape[-1])  # [B*S, time]
        return SeparatorOutput(estimates=wav.reshape(batch, self.n_src, -1) * scale.unsqueeze(1))


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
    if num_blocks < 1:
        raise SeparenaError(f"tf-gridnet: num_blocks; expected a positive integer, got {num_blocks!r}")
    if kernel_size < 1 or not 1 <= stride <= kernel_size:
        raise SeparenaError(f"tf-gridnet: kernel_size, stride; expected 1 <= stride <= kernel_size, "
                            f"got {kernel_size!r}, {stride!r}")
    stft, istft = STFT(n_fft, hop_length), ISTFT(n_fft, hop_length)
    blocks = nn.Sequential(*(GridNetBlock(embed_dim, stft.n_freq, kernel_size, stride, hidden_size, num_heads,
                                          attention_dim) for _ in range(num_blocks)))
    return TFGridNet(n_src, sample_rate, stft, istft, embed_dim, blocks)
