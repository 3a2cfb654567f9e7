"""TF-GridNet's grid: complex spectral mapping through blocks of a sequence model over frequency
(each frame), one over time (each bin) and a cross-frame self-attention.

TF-GridNet fills the two paths with BLSTMs, SPMamba with bidirectional Mamba layers; both are
:class:`TFGridNet` separators of :class:`GridNetBlock` s, so they differ only in the sequence
models handed to each :class:`GridPath`.

References:
    Wang, Cornell, Choi, Lee, Kim & Watanabe, "TF-GridNet: Integrating full- and sub-band
    modeling for speech separation", IEEE/ACM TASLP 31, 2023. https://arxiv.org/abs/2211.12433
    Li, Chen & Hu, "SPMamba: State-space model is all you need in speech separation",
    arXiv:2404.02063, 2024.

Tensors are kept channel-last, ``[batch, frames, freq, D]``, so the paper's 1x1 convolutions
are linear layers and its per-channel layer norm is ``nn.LayerNorm(D)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import SeparenaError
from ..model import Separator, SeparatorOutput, check_mix
from .stft import ISTFT, STFT

__all__ = ["GridPath", "CrossFrameAttention", "GridNetBlock", "TFGridNet", "grid_net"]


def _padded(length: int, kernel_size: int, stride: int) -> int:
    """Length padded so that ``unfold(kernel_size, stride)`` covers every step."""
    return math.ceil(max(length - kernel_size, 0) / stride) * stride + kernel_size


class GridPath(nn.Module):
    """Layer norm -> unfold ``I`` neighbours (hop ``J``) -> sequence model -> transposed conv back -> residual.

    Args:
        embed_dim: features D per TF bin.
        kernel_size: neighbours I unfolded into each step of the sequence model.
        stride: hop J of the unfolding.
        sequence: ``[n, steps, D * I] -> [n, steps, sequence.output_size]`` (a BLSTM in TF-GridNet).

    Shapes:
        ``[batch, seq, length, D]`` -> same (the sequence model runs along ``length`` for every ``seq``).
    """

    def __init__(self, embed_dim: int, kernel_size: int, stride: int, sequence: nn.Module) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.norm = nn.LayerNorm(embed_dim)
        self.sequence = sequence
        self.deconv = nn.ConvTranspose1d(sequence.output_size, embed_dim, kernel_size, stride=stride)

    def forward(self, x: Tensor) -> Tensor:
        batch, seq, length, dim = x.shape
        padded = _padded(length, self.kernel_size, self.stride)
        y = nn.functional.pad(self.norm(x), (0, 0, 0, padded - length)).reshape(batch * seq, padded, dim)
        y = y.unfold(1, self.kernel_size, self.stride).flatten(2)  # [B*S, n, D, I] -> [B*S, n, D*I]
        y = self.deconv(self.sequence(y).transpose(1, 2))  # [B*S, H', n] -> [B*S, D, padded]
        return x + y[..., :length].transpose(1, 2).reshape(batch, seq, length, dim)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # Weights saved before the path took any sequence model held its LSTM as ``rnn``.
        for key in [k for k in state_dict if k.startswith(prefix + "rnn.")]:
            state_dict[prefix + "sequence." + key[len(prefix):]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


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
            raise SeparenaError(f"CrossFrameAttention: num_heads; expected a divisor of embed_dim={embed_dim}, "
                                f"got {num_heads!r}")
        if attention_dim < 1:
            raise SeparenaError(f"CrossFrameAttention: attention_dim; expected a positive integer, "
                                f"got {attention_dim!r}")

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
    """Intra-frame path over frequency, inter-frame path over time, cross-frame attention.

    Shapes:
        ``[batch, frames, freq, D]`` -> same.
    """

    def __init__(self, intra: GridPath, inter: GridPath, attention: CrossFrameAttention) -> None:
        super().__init__()
        self.intra, self.inter, self.attention = intra, inter, attention

    def forward(self, x: Tensor) -> Tensor:
        x = self.intra(x)  # along frequency, each frame
        x = self.inter(x.transpose(1, 2)).transpose(1, 2)  # along time, each bin
        return self.attention(x)


class TFGridNet(Separator):
    """Complex spectral mapping: RI of the mixture STFT in, RI of every source out.

    A 3x3 conv2d embeds the mixture's real and imaginary parts into D features per TF bin
    (group norm), the grid blocks run channel-last, a transposed 3x3 conv2d maps to each
    source's real and imaginary parts. The mixture is scaled to unit standard deviation before
    the STFT and the estimates scaled back (as the TF-GridNet authors' released recipe does),
    so the model sees the same input level for any gain.

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


def grid_net(name: str, sequence: Callable[[int], nn.Module], *, n_src: int, sample_rate: int, n_fft: int,
             hop_length: int, embed_dim: int, kernel_size: int, stride: int, num_blocks: int, num_heads: int,
             attention_dim: int) -> TFGridNet:
    """A :class:`TFGridNet` of ``num_blocks`` grid blocks whose every path holds a fresh
    ``sequence(embed_dim * kernel_size)`` (input features per step; the model needs an
    ``output_size``), built in the order TF-GridNet always was (so seeded models stay the same).
    ``name`` (the architecture) starts the one-line errors about bad settings."""
    if num_blocks < 1:
        raise SeparenaError(f"{name}: num_blocks; expected a positive integer, got {num_blocks!r}")
    if kernel_size < 1 or not 1 <= stride <= kernel_size:
        raise SeparenaError(f"{name}: kernel_size, stride; expected 1 <= stride <= kernel_size, "
                            f"got {kernel_size!r}, {stride!r}")
    stft, istft = STFT(n_fft, hop_length), ISTFT(n_fft, hop_length)

    def path() -> GridPath:
        return GridPath(embed_dim, kernel_size, stride, sequence(embed_dim * kernel_size))

    blocks = nn.Sequential(*(GridNetBlock(path(), path(), CrossFrameAttention(embed_dim, stft.n_freq, num_heads,
                                                                                attention_dim))
                             for _ in range(num_blocks)))
    return TFGridNet(n_src, sample_rate, stft, istft, embed_dim, blocks)
