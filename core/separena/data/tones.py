"""Synthetic harmonic-tone mixtures: builds in milliseconds, for tests and smoke runs.

Each source is a harmonic tone with its own random pitch, harmonic weights and amplitude
envelope, so sources overlap in time but are separable by pitch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from . import SeparationData, TensorMixtureSet

__all__ = ["tones_2mix", "ToneStream"]


def _tones(gen: torch.Generator, batch: int, n_src: int, length: int, sample_rate: int) -> Tensor:
    """``[batch, n_src, length]`` harmonic tones."""
    t = torch.arange(length) / sample_rate
    f0 = 100 * 2 ** (torch.rand(batch, n_src, 1, generator=gen) * 3)  # 100-800 Hz
    harmonics = torch.arange(1, 6).view(1, 1, 5)
    weights = torch.rand(batch, n_src, 5, generator=gen) / harmonics
    phase = 2 * math.pi * torch.rand(batch, n_src, 5, generator=gen)
    freqs = (f0 * harmonics).clamp(max=sample_rate / 2 - 1)  # [B, S, H]
    wav = (weights.unsqueeze(-1) * torch.sin(2 * math.pi * freqs.unsqueeze(-1) * t + phase.unsqueeze(-1))).sum(2)
    rate = 0.5 + 3 * torch.rand(batch, n_src, 1, generator=gen)
    envelope = 0.6 + 0.4 * torch.sin(2 * math.pi * rate * t + 6 * torch.rand(batch, n_src, 1, generator=gen))
    wav = wav * envelope
    return 0.1 * wav / wav.square().mean(-1, keepdim=True).sqrt().clamp_min(1e-8)


class ToneStream:
    """Training batches of tone mixtures, a pure function of ``(seed, step)``."""

    def __init__(self, sample_rate: int, n_src: int) -> None:
        self.sample_rate, self.n_src = sample_rate, n_src

    def batch(self, seed: int, step: int, batch_size: int, segment_samples: int) -> tuple[Tensor, Tensor]:
        gen = torch.Generator().manual_seed((seed * 1_000_003 + step) % 2**62)
        sources = _tones(gen, batch_size, self.n_src, segment_samples, self.sample_rate)
        return sources.sum(1), sources


def _fixed_set(seed: int, count: int, seconds: float, sample_rate: int, n_src: int) -> TensorMixtureSet:
    gen = torch.Generator().manual_seed(seed)
    sources = _tones(gen, count, n_src, int(seconds * sample_rate), sample_rate)
    return TensorMixtureSet(list(sources.sum(1)), list(sources))


def tones_2mix(*, seed: int = 0, sample_rate: int = 8000, n_src: int = 2, n_valid: int = 4, n_test: int = 8,
               test_seconds: float = 1.0) -> SeparationData:
    """Build the tone mixtures.

    Args:
        seed: seeds the valid and test sets (training batches are seeded per run).
        sample_rate: Hz.
        n_src: tones per mixture.
        n_valid: validation mixtures.
        n_test: test mixtures.
        test_seconds: length of each evaluation mixture.
    """
    sets = "" if (n_valid, n_test, test_seconds) == (4, 8, 1.0) else f"-v{n_valid}-t{n_test}-{test_seconds:g}s"
    return SeparationData(
        name=f"tones-{n_src}mix@s{seed}-{sample_rate}{sets}",  # the default sets keep the name they always had
        sample_rate=sample_rate,
        n_src=n_src,
        train=ToneStream(sample_rate, n_src),
        valid=_fixed_set(10_000 + seed, n_valid, test_seconds, sample_rate, n_src),
        test=_fixed_set(20_000 + seed, n_test, test_seconds, sample_rate, n_src),
    )
