"""Spectrogram features for recurrent maskers: nussl's ``log_spectrogram -> normalization``."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import SeparenaError
from .norms import InstanceNorm, NormKind, build_norm

__all__ = ["LogMagnitudeFeatures"]


class LogMagnitudeFeatures(nn.Module):
    """Complex STFT -> magnitude in dB with a floor -> normalisation.

    Computes ``10 log10(max(|X|^2, amin^2))``, which equals ``20 log10(max(|X|, amin))``
    (:class:`~separena.blocks.LogMagnitude` of :class:`~separena.blocks.Magnitude`) without
    the square root, and has a finite gradient everywhere, silence included.

    Args:
        n_freq: frequency bins.
        norm: normalisation, one of :data:`~separena.blocks.NormKind` (see
            :func:`~separena.blocks.build_norm`).
        amin: amplitude floor (1e-4 gives -80 dB).

    Shapes:
        complex ``[batch, frames, n_freq]`` -> real ``[batch, frames, n_freq]``.
    """

    def __init__(self, n_freq: int, norm: NormKind = "instance", amin: float = 1e-4) -> None:
        super().__init__()
        self.amin_power = amin * amin
        self.norm = build_norm(norm, n_freq)

    def forward(self, spec: Tensor) -> Tensor:
        power = spec.real.square() + spec.imag.square()
        return self.norm((10.0 / math.log(10.0)) * torch.log(power.clamp_min(self.amin_power)))

    def step(self, spec: Tensor, state: None) -> tuple[Tensor, None]:
        """The features of a stream's next frames (see :mod:`separena.blocks.streams`): frame by
        frame, so only without instance norm (statistics of the whole input). Batch norm
        streams in eval mode (its running statistics), as the streaming separator runs.

        Shapes:
            complex ``[batch, k, n_freq]`` -> ``[batch, k, n_freq]``.
        """
        if isinstance(self.norm, InstanceNorm):
            raise SeparenaError("LogMagnitudeFeatures: norm 'instance' uses statistics of the whole input, "
                                "so it cannot stream; expected norm 'learned', 'batch' or 'none'")
        return self(spec), None
