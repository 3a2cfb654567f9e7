"""Learned (free) filterbanks: a strided 1-D convolution encoder and its transposed decoder.

The TasNet family (Luo & Mesgarani, 2018/2019) replaces the STFT by N learned filters of
L samples with a hop of L/2; the decoder is the transposed convolution (overlap-add of
learned synthesis filters). Both pad the signal so that every sample is covered by the same
number of frames, which makes the pair a tight frame when the filters allow it.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from ..errors import SeparenaError
from .streams import FramingState, OverlapAddState, add_frames, take_final

__all__ = ["LearnedEncoder", "LearnedDecoder", "frame_padding"]


def frame_padding(length: int, size: int, hop: int) -> tuple[int, int, int]:
    """Padding that frames ``length`` samples into windows of ``size`` with ``hop``.

    The left pad is ``size - hop`` and the right pad completes the last frame, so each sample
    is covered by ``size / hop`` frames when ``hop`` divides ``size``.

    Returns:
        ``(left, right, n_frames)``.
    """
    left = size - hop
    n_frames = math.ceil(max(length + left - hop, 0) / hop) + 1
    right = (n_frames - 1) * hop + size - left - length
    return left, right, n_frames


def _check_filter(where: str, n_filters: int, filter_length: int, stride: int) -> None:
    if n_filters < 1:
        raise SeparenaError(f"{where}: n_filters; expected a positive integer, got {n_filters!r}")
    if filter_length < 2:
        raise SeparenaError(f"{where}: filter_length; expected an integer >= 2, got {filter_length!r}")
    if not 1 <= stride <= filter_length:
        raise SeparenaError(f"{where}: stride; expected 1..{filter_length}, got {stride!r}")


class LearnedEncoder(nn.Module):
    """Free analysis filterbank: ``n_filters`` learned filters of ``filter_length`` samples.

    Args:
        n_filters: number of filters N (output features per frame).
        filter_length: filter length L in samples.
        stride: hop between frames; ``None`` gives ``filter_length // 2`` (50 % overlap).
        activation: ``"linear"`` (Conv-TasNet's official code, asteroid's default) or ``"relu"``
            (the original TasNet's non-negative representation).

    Shapes:
        ``[batch, time]`` -> ``[batch, frames, n_filters]`` with ``frames`` from
        :func:`frame_padding` (``ceil((time + L - stride) / stride) + 1``).
    """

    def __init__(self, n_filters: int, filter_length: int, stride: int | None = None,
                 activation: Literal["linear", "relu"] = "linear") -> None:
        super().__init__()
        stride = filter_length // 2 if stride is None else stride
        _check_filter("LearnedEncoder", n_filters, filter_length, stride)
        if activation not in ("linear", "relu"):
            raise SeparenaError(f"LearnedEncoder: activation; expected 'linear' or 'relu', got {activation!r}")
        self.n_filters, self.filter_length, self.stride, self.activation = n_filters, filter_length, stride, activation
        self.conv = nn.Conv1d(1, n_filters, filter_length, stride=stride, bias=False)
        nn.init.xavier_normal_(self.conv.weight)

    @torch.no_grad()
    def init_stft(self) -> LearnedEncoder:
        """Initialise the filters as a sine-windowed (sqrt-Hann) real/imaginary Fourier basis.

        The first filters are the cosine and sine of each frequency bin ``k = 0 .. L // 2``, in
        that order, leaving out the all-zero sines (``L`` filters in all, a basis of the frame);
        filters beyond ``L`` keep their random initialisation.
        """
        basis = _fourier_basis(self.filter_length, self.n_filters)
        self.conv.weight[: basis.shape[0], 0] = basis
        return self

    def forward(self, wav: Tensor) -> Tensor:
        left, right, _ = frame_padding(wav.shape[-1], self.filter_length, self.stride)
        return self._frames(nn.functional.pad(wav, (left, right)))

    def step(self, wav: Tensor, state: FramingState | None) -> tuple[Tensor, FramingState]:
        """The frames of a stream whose window its samples so far fill (see
        :mod:`separena.blocks.streams`); the zeros in front are :meth:`forward`'s left padding.

        Shapes:
            new samples ``[batch, n]`` -> ``[batch, k, n_filters]`` (``k`` may be 0).
        """
        if state is None:
            zeros = wav.new_zeros(wav.shape[0], self.filter_length - self.stride)
            state = FramingState(zeros, start=0, next_frame=0, received=0)
        samples = torch.cat([state.samples, wav], -1)
        k = max((samples.shape[-1] - self.filter_length) // self.stride + 1, 0)
        frames = self._frames(samples[:, :(k - 1) * self.stride + self.filter_length] if k else samples[:, :0])
        state = FramingState(samples[:, k * self.stride:], state.start + k * self.stride, state.next_frame + k,
                             state.received + wav.shape[-1])
        return frames, state

    def flush(self, state: FramingState) -> Tensor:
        """The frames :meth:`step` has not given, the last padded with zeros as :meth:`forward` pads.

        Shapes:
            -> ``[batch, k, n_filters]``.
        """
        _, _, n_frames = frame_padding(state.received, self.filter_length, self.stride)
        k = n_frames - state.next_frame
        if k <= 0:
            return self._frames(state.samples[:, :0])
        need = (k - 1) * self.stride + self.filter_length
        return self._frames(nn.functional.pad(state.samples, (0, need - state.samples.shape[-1])))

    def _frames(self, padded: Tensor) -> Tensor:
        """Padded samples ``[batch, time]`` -> ``[batch, frames, n_filters]``."""
        if padded.shape[-1] < self.filter_length:
            return padded.new_zeros(padded.shape[0], 0, self.n_filters)
        frames = self.conv(padded.unsqueeze(1))  # [B, 1, T'] -> [B, N, F]
        if self.activation == "relu":
            frames = torch.relu(frames)
        return frames.transpose(1, 2)  # [B, N, F] -> [B, F, N] (a view; conv maskers transpose it back for free)


class LearnedDecoder(nn.Module):
    """Free synthesis filterbank: transposed convolution (overlap-add of learned filters).

    Args:
        n_filters: number of filters N (input features per frame).
        filter_length: filter length L in samples.
        stride: hop between frames; ``None`` gives ``filter_length // 2``.

    Shapes:
        ``[batch, frames, n_filters]`` and ``length`` -> ``[batch, length]``.
    """

    def __init__(self, n_filters: int, filter_length: int, stride: int | None = None) -> None:
        super().__init__()
        stride = filter_length // 2 if stride is None else stride
        _check_filter("LearnedDecoder", n_filters, filter_length, stride)
        self.n_filters, self.filter_length, self.stride = n_filters, filter_length, stride
        self.conv = nn.ConvTranspose1d(n_filters, 1, filter_length, stride=stride, bias=False)
        nn.init.xavier_normal_(self.conv.weight)

    @torch.no_grad()
    def init_from_encoder(self, encoder: LearnedEncoder) -> LearnedDecoder:
        """Set the synthesis filters to the pseudo-inverse of ``encoder``'s, scaled for the overlap.

        With ``stride`` dividing ``filter_length`` and ``n_filters >= filter_length`` filters of
        full rank, ``decoder(encoder(x), len(x)) == x`` up to float error.
        """
        weight = encoder.conv.weight[:, 0]  # [N, L]
        pinv = torch.linalg.pinv(weight)  # [L, N]
        self.conv.weight[:, 0] = pinv.T * (self.stride / self.filter_length)
        return self

    def forward(self, frames: Tensor, length: int) -> Tensor:
        left, right, n_frames = frame_padding(length, self.filter_length, self.stride)
        if frames.shape[1] != n_frames:
            raise SeparenaError(f"LearnedDecoder: frames for {length} samples; expected {n_frames}, "
                                f"got {frames.shape[1]}")
        wav = self.conv(frames.transpose(1, 2))  # [B, F, N] -> [B, N, F] -> [B, 1, T']
        return wav[:, 0, left: left + length]

    def step(self, frames: Tensor, state: OverlapAddState | None) -> tuple[Tensor, OverlapAddState]:
        """The samples of a stream that no later frame reaches (see :mod:`separena.blocks.streams`).

        Shapes:
            the next frames ``[batch, k, n_filters]`` -> ``[batch, n]`` samples (``n`` may be 0).
        """
        state = self._add(frames, state)
        return self._take(state, state.frames * self.stride)

    def flush(self, frames: Tensor, state: OverlapAddState | None, length: int) -> Tensor:
        """The last frames ``[batch, k, n_filters]`` -> the samples up to ``length`` not given yet ``[batch, n]``."""
        samples, _ = self._take(self._add(frames, state), length + self.filter_length - self.stride)
        return samples

    def _add(self, frames: Tensor, state: OverlapAddState | None) -> OverlapAddState:
        chunks = frames @ self.conv.weight[:, 0]  # [B, k, N] @ [N, L] -> [B, k, L]
        return add_frames(state, chunks, self.stride, None)

    def _take(self, state: OverlapAddState, until: int) -> tuple[Tensor, OverlapAddState]:
        """Final samples up to padded position ``until``, without the encoder's left padding."""
        total, _, state = take_final(state, until)
        drop = max(self.filter_length - self.stride - (state.origin - total.shape[-1]), 0)
        return total[:, drop:], state


def _fourier_basis(filter_length: int, n_filters: int) -> Tensor:
    """``[min(n_filters, L), L]`` windowed cosine/sine filters (non-zero ones only)."""
    n = torch.arange(filter_length, dtype=torch.float64)
    window = torch.sin(math.pi * (n + 0.5) / filter_length)  # sine window: sqrt of a half-sample-shifted Hann
    rows = []
    for k in range(filter_length // 2 + 1):
        phase = 2 * math.pi * k * n / filter_length
        rows.append(torch.cos(phase))
        if 0 < k and 2 * k != filter_length:
            rows.append(torch.sin(phase))
    return (torch.stack(rows)[:n_filters] * window).float()
