"""A minimal working plugin: one architecture, built from core blocks."""

from __future__ import annotations

from typing import Literal

from separena import ArchitectureSpec, MaskSeparator, hookimpl
from separena.blocks import ISTFT, STFT, LogMagnitude, Magnitude, MaskHead
from torch import nn


def tiny_masker(n_src: int = 2, sample_rate: int = 8000, n_fft: int = 64, hop_length: int = 16,
                mask_activation: Literal["sigmoid", "softmax", "relu"] = "sigmoid") -> MaskSeparator:
    """A linear mask model.

    Args:
        n_src: sources.
        sample_rate: Hz.
        n_fft: STFT size.
        hop_length: STFT hop.
        mask_activation: mask nonlinearity.
    """
    n_freq = n_fft // 2 + 1
    masker = nn.Sequential(Magnitude(), LogMagnitude(), MaskHead(n_freq, n_freq, n_src, mask_activation))
    return MaskSeparator(STFT(n_fft, hop_length), masker, ISTFT(n_fft, hop_length), n_src, sample_rate)


@hookimpl
def separena_register_architectures():
    return [ArchitectureSpec(name="tiny-masker", build=tiny_masker, family="mask", summary="linear mask",
                             reference="test fixture")]
