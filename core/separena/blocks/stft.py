"""Short-time Fourier transform blocks: STFT, ISTFT, Magnitude, LogMagnitude."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["STFT", "ISTFT", "Magnitude", "LogMagnitude"]


class STFT(nn.Module):
    """Complex STFT with a Hann window, centred frames.

    Args:
        n_fft: FFT size (samples); gives ``n_fft // 2 + 1`` frequency bins.
        hop_length: hop between frames (samples). ``n_fft // 4`` or less reconstructs perfectly.

    Shapes:
        ``[batch, time]`` -> complex ``[batch, frames, freq]`` with
        ``frames = time // hop_length + 1``.
    """

    def __init__(self, n_fft: int = 256, hop_length: int = 64) -> None:
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        # A buffer, not a parameter: moves with .to(device) and is saved in the state dict.
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    @property
    def n_freq(self) -> int:
        return self.n_fft // 2 + 1

    def forward(self, wav: Tensor) -> Tensor:
        spec = torch.stft(wav, self.n_fft, self.hop_length, window=self.window, center=True,
                          return_complex=True)  # [B, F, T]
        return spec.transpose(-1, -2)  # [B, F, T] -> [B, T, F]


class ISTFT(nn.Module):
    """Inverse of :class:`STFT` (overlap-add with window-envelope normalisation).

    Shapes:
        complex ``[batch, frames, freq]`` and ``length`` -> ``[batch, length]``.
    """

    def __init__(self, n_fft: int = 256, hop_length: int = 64) -> None:
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, spec: Tensor, length: int) -> Tensor:
        return torch.istft(spec.transpose(-1, -2), self.n_fft, self.hop_length, window=self.window,
                           center=True, length=length)


class Magnitude(nn.Module):
    """Magnitude of a complex spectrogram, with an epsilon that keeps gradients finite at 0.

    Shapes:
        complex ``[...]`` -> real ``[...]``.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, spec: Tensor) -> Tensor:
        return torch.sqrt(spec.real.square() + spec.imag.square() + self.eps)


class LogMagnitude(nn.Module):
    """Amplitude to decibels, ``20 log10(max(x, amin))``: a floor of ``20 log10(amin)`` dB.

    Args:
        amin: amplitude floor (1e-4 gives -80 dB), so silence maps to a finite value.

    Shapes:
        ``[...]`` -> ``[...]``.
    """

    def __init__(self, amin: float = 1e-4) -> None:
        super().__init__()
        self.amin = amin

    def forward(self, magnitude: Tensor) -> Tensor:
        return (20.0 / math.log(10.0)) * torch.log(magnitude.clamp_min(self.amin))
