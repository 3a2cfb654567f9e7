"""Short-time Fourier transform blocks: STFT, ISTFT, Magnitude, LogMagnitude."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import SeparenaError

__all__ = ["STFT", "ISTFT", "Magnitude", "LogMagnitude"]


def _check_stft(where: str, n_fft: int, hop_length: int) -> None:
    """Accept only the hops that :class:`ISTFT` inverts exactly: ``1 <= hop <= n_fft // 2``.

    Beyond half the window, samples between two frame centres are covered only by the Hann
    window's near-zero tails, and the inverse divides rounding errors by their squares.
    """
    if not isinstance(n_fft, int) or n_fft < 2:
        raise SeparenaError(f"{where}: n_fft; expected an integer >= 2, got {n_fft!r}")
    if not isinstance(hop_length, int) or not 1 <= hop_length <= n_fft // 2:
        raise SeparenaError(f"{where}: hop_length; expected 1..{n_fft // 2} (at most half of n_fft={n_fft}, "
                            f"which the inverse reconstructs exactly), got {hop_length!r}")


def _hann(n_fft: int, like: Tensor) -> Tensor:
    """The periodic Hann window in ``like``'s real dtype and device, made per call (n_fft
    values: negligible next to the transform): a float32 window cast to float64 by
    ``module.double()`` was off by 6e-8, which every float64 spectrogram inherited."""
    dtype = like.real.dtype if like.is_complex() else like.dtype
    return torch.hann_window(n_fft, dtype=dtype, device=like.device)


class STFT(nn.Module):
    """Complex STFT with a Hann window, centred frames.

    Args:
        n_fft: FFT size (samples); gives ``n_fft // 2 + 1`` frequency bins.
        hop_length: hop between frames (samples), ``1 .. n_fft // 2``; :class:`ISTFT` inverts
            every such hop exactly (to float rounding, any input length).

    The frames are centred (reflect padding by ``n_fft // 2``), so inputs need at least
    :attr:`min_length` ``= n_fft // 2 + 1`` samples. When more than ``n_fft // 4`` samples
    follow the last frame's centre (only possible for ``hop_length > n_fft // 4``), the end
    is zero-padded to a whole number of hops: one more frame covers those samples, which the
    last frame alone sees only through its window's tail (down to ``(pi / n_fft) ** 4`` in
    power, which turned float32 rounding into errors of 4e-4 at n_fft=256, hop 128).

    Shapes:
        ``[batch, time]`` -> complex ``[batch, frames, freq]`` with
        ``frames = (time + end_padding(time)) // hop_length + 1``.
    """

    def __init__(self, n_fft: int = 256, hop_length: int = 64) -> None:
        super().__init__()
        _check_stft("STFT", n_fft, hop_length)
        self.n_fft, self.hop_length = n_fft, hop_length

    @property
    def n_freq(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def min_length(self) -> int:
        """Shortest input in samples: torch's reflect padding needs more than ``n_fft // 2``."""
        return self.n_fft // 2 + 1

    def end_padding(self, length: int) -> int:
        """Zeros appended to ``length`` samples before framing (see the class docstring)."""
        rest = length % self.hop_length
        return self.hop_length - rest if rest > self.n_fft // 4 else 0

    def check_length(self, length: int, sample_rate: int | None = None, where: str = "STFT") -> None:
        """Raise one clear :class:`SeparenaError` for inputs shorter than :attr:`min_length`.

        Args:
            length: input length in samples.
            sample_rate: Hz, if known: the message then also gives seconds.
            where: the message's prefix (the model's name, say).
        """
        if length >= self.min_length:
            return
        need, got = f"{self.min_length} samples", f"{length} sample{'s' * (length != 1)}"
        if sample_rate:
            need += f" ({self.min_length / sample_rate:.4g} s at {sample_rate} Hz)"
            got += f" ({length / sample_rate:.4g} s)"
        raise SeparenaError(f"{where}: input too short for STFT(n_fft={self.n_fft}, hop_length={self.hop_length}); "
                            f"expected at least {need}, got {got}")

    def forward(self, wav: Tensor) -> Tensor:
        self.check_length(wav.shape[-1])
        pad = self.end_padding(wav.shape[-1])
        if pad:
            wav = nn.functional.pad(wav, (0, pad))
        spec = torch.stft(wav, self.n_fft, self.hop_length, window=_hann(self.n_fft, wav), center=True,
                          return_complex=True)  # [B, F, T]
        return spec.transpose(-1, -2)  # [B, F, T] -> [B, T, F]


class ISTFT(nn.Module):
    """Inverse of :class:`STFT` (overlap-add with window-envelope normalisation).

    ``ISTFT(n, h)(STFT(n, h)(x), x.shape[-1]) == x`` to float rounding for every hop the
    STFT accepts (``1 .. n_fft // 2``) and every length; frames from the STFT's end padding
    are cut off by ``length``.

    Shapes:
        complex ``[batch, frames, freq]`` and ``length`` -> ``[batch, length]``.
    """

    def __init__(self, n_fft: int = 256, hop_length: int = 64) -> None:
        super().__init__()
        _check_stft("ISTFT", n_fft, hop_length)
        self.n_fft, self.hop_length = n_fft, hop_length

    def forward(self, spec: Tensor, length: int) -> Tensor:
        return torch.istft(spec.transpose(-1, -2), self.n_fft, self.hop_length, window=_hann(self.n_fft, spec),
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
