"""Oracle masks: ideal binary, ratio (Wiener-like) and phase-sensitive masks from the references.

An oracle computes the mask that a mask model tries to estimate, from the true sources, and
applies it exactly as a mask model does: to the mixture STFT, keeping the mixture phase,
then inverse STFT. Its score is what a perfect mask estimator on the same STFT would reach.

References:
    Wang, "On ideal binary mask as the computational goal of auditory scene analysis", in
    Speech Separation by Humans and Machines, 2005 (IBM).
    Narayanan & Wang, "Ideal ratio mask estimation using deep neural networks for robust speech
    recognition", ICASSP 2013 (IRM).
    Liutkus & Badeau, "Generalized Wiener filtering with fractional power spectrograms",
    ICASSP 2015 (the ``power`` of the ratio mask).
    Erdogan et al., "Phase-sensitive and recognition-boosted speech separation using deep
    recurrent neural networks", ICASSP 2015 (PSM).
    Vincent et al., "Oracle estimators for the benchmarking of source separation algorithms",
    Signal Processing 87(8), 2007.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

from separena import SeparenaError, Separator, SeparatorOutput
from separena.blocks import ISTFT, STFT
from separena.model import check_mix, check_references

__all__ = [
    "ideal_binary_mask", "ideal_ratio_mask", "phase_sensitive_mask", "IdealMask",
    "oracle_ibm", "oracle_irm", "oracle_psm",
]

EPS = 1e-8  # keeps silent bins at mask 0 instead of 0 / 0

MaskFn = Callable[[Tensor, Tensor], Tensor]  # (sources [B, S, T, F], mix [B, T, F]) -> [B, S, T, F]


def _with_residual(sources: Tensor, mix: Tensor) -> Tensor:
    """``[B, S + 1, T, F]``: the sources and what of the mixture none of them explains (noise
    of a noisy mixture; rounding, about 1e-7 of it, where the mixture is their sum), so that a
    bin that noise dominates is not given whole to a source."""
    return torch.cat([sources, (mix - sources.sum(dim=1)).unsqueeze(1)], dim=1)


def ideal_binary_mask(sources: Tensor, mix: Tensor) -> Tensor:
    """1 for the loudest source of each bin, 0 for the others (ties go to the first source);
    0 for every source where the residual (:func:`_with_residual`) is louder than each."""
    magnitude = _with_residual(sources, mix).abs()
    loudest = magnitude.argmax(dim=1, keepdim=True)  # [B, 1, T, F]
    return torch.zeros_like(magnitude).scatter_(1, loudest, 1.0)[:, :-1]


def ideal_ratio_mask(sources: Tensor, mix: Tensor, power: float = 1.0) -> Tensor:
    """``|S|^p / sum |S|^p`` over the sources and the residual (:func:`_with_residual`): masks
    sum to 1 wherever any source is non-silent and the mixture is their sum."""
    weight = _with_residual(sources, mix).abs().pow(power)
    return (weight / (weight.sum(dim=1, keepdim=True) + EPS))[:, :-1]


def phase_sensitive_mask(sources: Tensor, mix: Tensor) -> Tensor:
    """``|S| / |X| cos(angle S - angle X) = Re(S conj X) / |X|^2``, truncated to [0, 1]."""
    projection = (sources * mix.unsqueeze(1).conj()).real  # [B, S, T, F]
    return (projection / (mix.abs().square().unsqueeze(1) + EPS)).clamp(0.0, 1.0)


class IdealMask(Separator):
    """Mask the mixture STFT with a mask computed from the reference sources, then iSTFT.

    Args:
        mask_fn: ``(sources, mix) -> masks`` on complex spectrograms (see Shapes).
        n_src: number of sources.
        sample_rate: Hz.
        n_fft: STFT size (samples).
        hop_length: STFT hop (samples).

    Shapes:
        mix ``[batch, time]`` and references ``[batch, n_src, time]`` -> estimates
        ``[batch, n_src, time]`` and masks ``[batch, n_src, frames, freq]``.
        ``mask_fn``: sources ``[batch, n_src, frames, freq]`` and mix ``[batch, frames, freq]``
        (both complex) -> real masks ``[batch, n_src, frames, freq]``.
    """

    needs_references = True

    def __init__(self, mask_fn: MaskFn, n_src: int, sample_rate: int, n_fft: int, hop_length: int) -> None:
        super().__init__(n_src=n_src, sample_rate=sample_rate)
        if not 0 < hop_length <= n_fft:
            raise SeparenaError(f"hop_length: expected 0 < hop_length <= n_fft = {n_fft}, got {hop_length}")
        self.mask_fn = mask_fn
        self.stft, self.istft = STFT(n_fft, hop_length), ISTFT(n_fft, hop_length)

    def forward(self, mix: Tensor, references: Tensor) -> SeparatorOutput:
        check_mix(mix)
        check_references(references, mix, self.n_src)
        batch, n_src, length = references.shape
        mix_spec = self.stft(mix)  # [B, T, F]
        src_spec = self.stft(references.reshape(batch * n_src, length))  # [B*S, T, F]
        src_spec = src_spec.reshape(batch, n_src, *mix_spec.shape[1:])  # -> [B, S, T, F]
        masks = self.mask_fn(src_spec, mix_spec)
        masked = masks * mix_spec.unsqueeze(1)  # mixture phase: real masks on the mixture STFT
        wav = self.istft(masked.reshape(batch * n_src, *mix_spec.shape[1:]), length)  # [B*S, time]
        return SeparatorOutput(estimates=wav.reshape(batch, n_src, length), masks=masks)


def oracle_ibm(n_src: int = 2, sample_rate: int = 8000, n_fft: int = 256, hop_length: int = 64) -> IdealMask:
    """Ideal binary mask oracle.

    Args:
        n_src: number of sources.
        sample_rate: sample rate in Hz.
        n_fft: STFT size (samples).
        hop_length: STFT hop (samples).
    """
    return IdealMask(ideal_binary_mask, n_src, sample_rate, n_fft, hop_length)


def oracle_irm(n_src: int = 2, sample_rate: int = 8000, n_fft: int = 256, hop_length: int = 64,
               power: float = 1.0) -> IdealMask:
    """Ideal ratio mask oracle, ``|S|^power / sum |S|^power``.

    Args:
        n_src: number of sources.
        sample_rate: sample rate in Hz.
        n_fft: STFT size (samples).
        hop_length: STFT hop (samples).
        power: exponent of the magnitudes: 1 is the IRM, 2 the Wiener-like mask of power
            spectra (preset ``oracle-wiener``).
    """
    if not power > 0:
        raise SeparenaError(f"power: expected a positive number, got {power!r}")
    return IdealMask(functools.partial(ideal_ratio_mask, power=power), n_src, sample_rate, n_fft, hop_length)


def oracle_psm(n_src: int = 2, sample_rate: int = 8000, n_fft: int = 256, hop_length: int = 64) -> IdealMask:
    """Phase-sensitive mask oracle, truncated to [0, 1].

    Args:
        n_src: number of sources.
        sample_rate: sample rate in Hz.
        n_fft: STFT size (samples).
        hop_length: STFT hop (samples).
    """
    return IdealMask(phase_sensitive_mask, n_src, sample_rate, n_fft, hop_length)
