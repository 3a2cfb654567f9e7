"""Short-time Fourier transform blocks: STFT, ISTFT, Magnitude, LogMagnitude."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import SeparenaError
from ..model import check_length
from .streams import FramingState, OverlapAddState, add_frames, take_final

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
        check_length(length, self.min_length, where, f"STFT(n_fft={self.n_fft}, hop_length={self.hop_length})",
                     sample_rate)

    def forward(self, wav: Tensor) -> Tensor:
        self.check_length(wav.shape[-1])
        pad = self.end_padding(wav.shape[-1])
        if pad:
            wav = nn.functional.pad(wav, (0, pad))
        return self._frames(wav)

    def step(self, wav: Tensor, state: FramingState | None) -> tuple[Tensor, FramingState]:
        """The frames of a stream that its samples so far decide (see :mod:`separena.blocks.streams`).

        Frame ``t`` is centred on sample ``t * hop_length`` and is given once its window is
        complete (``t * hop_length + n_fft // 2`` samples, and more than ``n_fft // 2`` for the
        frames the start's reflection reaches); :meth:`flush` gives the rest.

        Shapes:
            new samples ``[batch, n]`` -> complex ``[batch, k, freq]`` (``k`` may be 0).
        """
        hop, half = self.hop_length, self.n_fft // 2
        if state is None:
            state = FramingState(wav.new_zeros(wav.shape[0], 0), start=0, next_frame=0, received=0)
        samples = torch.cat([state.samples, wav], -1)
        received = state.received + wav.shape[-1]
        last = (received - half) // hop if received > half else -1  # the last frame with a complete window
        frames = samples.new_zeros(samples.shape[0], 0, self.n_freq,
                                   dtype=torch.promote_types(samples.dtype, torch.complex64))
        next_frame = state.next_frame
        if last >= next_frame:
            # The STFT of the kept samples: its first frames see a reflection of them, not the
            # samples before, and are skipped (``start`` is a whole number of hops).
            first = next_frame - state.start // hop
            frames = self._frames(samples)[:, first:last - state.start // hop + 1]
            next_frame = last + 1
        # Keep one hop more than the next window needs: the end's reflection reaches one sample further.
        start = max(0, (next_frame * hop - half - 1) // hop * hop)
        return frames, FramingState(samples[:, start - state.start:], start, next_frame, received)

    def flush(self, state: FramingState) -> Tensor:
        """The frames :meth:`step` has not given: those that reach the end of the input, padded
        as :meth:`forward` pads it. Raises as :meth:`forward` does on a stream too short.

        Shapes:
            -> complex ``[batch, k, freq]``.
        """
        spec = self(state.samples)
        return spec[:, state.next_frame - state.start // self.hop_length:]

    def _frames(self, wav: Tensor) -> Tensor:
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

    def step(self, spec: Tensor, state: OverlapAddState | None) -> tuple[Tensor, OverlapAddState]:
        """The samples of a stream that its frames so far decide (see :mod:`separena.blocks.streams`):
        those no later frame reaches, divided by their window envelope as :meth:`forward` does.

        Shapes:
            the next complex frames ``[batch, k, freq]`` -> ``[batch, n]`` samples (``n`` may be 0).
        """
        state = self._add(spec, state)
        return self._take(state, state.frames * self.hop_length)  # frame ``frames`` starts there

    def flush(self, spec: Tensor, state: OverlapAddState | None, length: int) -> Tensor:
        """The last frames ``[batch, k, freq]`` -> the samples up to ``length`` not given yet ``[batch, n]``."""
        samples, _ = self._take(self._add(spec, state), length + self.n_fft // 2)
        return samples

    def _add(self, spec: Tensor, state: OverlapAddState | None) -> OverlapAddState:
        window = _hann(self.n_fft, spec)
        chunks = torch.fft.irfft(spec, n=self.n_fft) * window  # [B, k, n_fft]
        return add_frames(state, chunks, self.hop_length, window.square())

    def _take(self, state: OverlapAddState, until: int) -> tuple[Tensor, OverlapAddState]:
        """Final samples up to padded position ``until``; the centring's first ``n_fft // 2`` are dropped."""
        total, weight, state = take_final(state, until)
        drop = max(self.n_fft // 2 - (state.origin - total.shape[-1]), 0)
        weight = weight[drop:]
        return total[:, drop:] / torch.where(weight > 1e-11, weight, 1.0), state


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
