"""Augmentation of training sources: random EQ and band limits, and noise and overall gain of a
mixture (speed is applied by the training stream as it crops, see :mod:`separena.data.stream`;
room reverberation is :mod:`separena.data.reverb`).

Everything here is a pure function of its inputs and the :class:`numpy.random.Generator` it is
given, so a training stream seeded from ``(seed, step)`` stays deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["AugmentConfig", "augment_sources", "noise_and_gain", "random_response"]


@dataclass(frozen=True)
class AugmentConfig:
    """What the default training augmentation does, per source and per batch item.

    - ``speed``: resample each source crop by a factor uniform in ``1 +- speed`` (pitch and
      tempo together).
    - ``eq_prob`` / ``eq_db``: a smooth random EQ, gains uniform in ``+-eq_db`` dB at
      ``eq_bands`` log-spaced frequencies, interpolated on a log-frequency axis.
    - ``lowpass_prob`` / ``lowpass_hz``: a 4th-order (Butterworth magnitude) low-pass with a
      cutoff log-uniform in ``lowpass_hz`` (upper end capped below Nyquist): band-limited
      "telephone" or cheap-microphone sound.
    - ``highpass_prob`` / ``highpass_hz``: a 2nd-order high-pass, cutoff log-uniform.
    - ``noise_prob`` / ``noise_snr_db``: noise (white to pinkish, random tilt) added to the
      mixture only, at an SNR uniform in this range.
    - ``gain_db``: overall gain of mixture and sources uniform in ``+-gain_db`` dB (kept
      below full scale).
    - ``compression``: probability of a dynamic-range compressor on each source
      (:func:`separena.data.channel.compress`; the reference is the compressed source).
    """

    speed: float = 0.10
    eq_prob: float = 0.8
    eq_db: float = 6.0
    eq_bands: int = 6
    lowpass_prob: float = 0.4
    lowpass_hz: tuple[float, float] = (1800.0, 3800.0)
    highpass_prob: float = 0.4
    highpass_hz: tuple[float, float] = (60.0, 400.0)
    noise_prob: float = 0.5
    noise_snr_db: tuple[float, float] = (20.0, 45.0)
    gain_db: float = 6.0
    compression: float = 0.0


def random_response(rng: np.random.Generator, freqs: np.ndarray, sample_rate: int, count: int,
                    cfg: AugmentConfig) -> Tensor:
    """``count`` random magnitude responses ``[count, len(freqs)]`` (EQ x low-pass x high-pass)."""
    nyq = sample_rate / 2
    f = np.maximum(freqs, 1.0)
    anchors = np.log(np.geomspace(80.0, nyq, cfg.eq_bands))
    # linear interpolation on log-frequency as a matrix: response_db = gains @ basis
    basis = np.stack([np.interp(np.log(f), anchors, np.eye(cfg.eq_bands)[k]) for k in range(cfg.eq_bands)])
    use_eq = rng.random(count) < cfg.eq_prob
    gains_db = rng.uniform(-cfg.eq_db, cfg.eq_db, size=(count, cfg.eq_bands)) * use_eq[:, None]
    lp_hi = min(cfg.lowpass_hz[1], 0.95 * nyq)
    lp_lo = min(cfg.lowpass_hz[0], lp_hi)
    use_lp = rng.random(count) < cfg.lowpass_prob
    lp = np.exp(rng.uniform(np.log(lp_lo), np.log(lp_hi), size=count))
    use_hp = rng.random(count) < cfg.highpass_prob
    hp = np.exp(rng.uniform(np.log(cfg.highpass_hz[0]), np.log(cfg.highpass_hz[1]), size=count))
    ft = torch.from_numpy(f.astype(np.float32))[None]
    resp = torch.pow(10.0, torch.from_numpy((gains_db / 20).astype(np.float32)) @ torch.from_numpy(
        basis.astype(np.float32)))
    for use, cutoff, low in ((use_lp, lp, True), (use_hp, hp, False)):
        rows = np.flatnonzero(use)
        if len(rows):
            c = torch.from_numpy(cutoff[rows].astype(np.float32))[:, None]
            ratio = (ft / c) ** 4 if low else (c / ft) ** 2
            resp[rows] = resp[rows] * torch.rsqrt(1 + ratio * ratio)
    return resp


def augment_sources(sources: Tensor, sample_rate: int, rng: np.random.Generator, cfg: AugmentConfig,
                    grid: int = 257) -> Tensor:
    """Filter each source of ``sources [batch, n_src, time]`` (float32) with its own random
    response (zero-phase, applied in the frequency domain). Returns the same shape.

    Responses are drawn on ``grid`` frequencies and interpolated linearly to the FFT bins
    (they are smooth, so this only saves time)."""
    b, s, n = sources.shape
    spec = torch.fft.rfft(sources, dim=-1)
    freqs = np.linspace(0.0, sample_rate / 2, grid)
    resp = random_response(rng, freqs, sample_rate, b * s, cfg).to(sources.device)
    resp = torch.nn.functional.interpolate(resp[None], size=spec.shape[-1], mode="linear", align_corners=True)[0]
    return torch.fft.irfft(spec * resp.reshape(b, s, -1), n=n, dim=-1)


def noise_and_gain(mix: Tensor, sources: Tensor, rng: np.random.Generator,
                    aug: AugmentConfig) -> tuple[Tensor, Tensor]:
    """Low-level noise on the mixture only (``mix [batch, time]``), then a random overall gain
    on mixture and ``sources [batch, n_src, time]`` alike, kept below full scale."""
    b, n = mix.shape
    has_noise = rng.random(b) < aug.noise_prob
    snr = rng.uniform(aug.noise_snr_db[0], aug.noise_snr_db[1], size=b)
    tilt = rng.uniform(-1.0, 1.0, size=b)  # 0 white, < 0 darker (pinkish), > 0 brighter
    gain_db = rng.uniform(-aug.gain_db, aug.gain_db, size=b)
    noise_seed = int(rng.integers(0, 2**62))
    if has_noise.any():
        gen = torch.Generator().manual_seed(noise_seed)
        n_freq = n // 2 + 1
        spec = torch.randn(b, n_freq, 2, generator=gen)
        f = torch.linspace(1.0 / n_freq, 1.0, n_freq, dtype=torch.float64)
        shape = f[None] ** (0.5 * torch.from_numpy(tilt)[:, None])
        # drawn on the CPU's generator (the same noise on any device), shaped where the mixture is
        spec, shape = spec.to(mix.device), shape.float().to(mix.device)
        noise = torch.fft.irfft(torch.view_as_complex(spec) * shape, n=n, dim=-1)
        mix_rms = mix.pow(2).mean(-1).sqrt()
        noise_rms = noise.pow(2).mean(-1).sqrt().clamp_min(1e-12)
        scale = torch.from_numpy(np.where(has_noise, 10 ** (-snr / 20), 0.0).astype(np.float32)).to(mix.device)
        mix = mix + noise * (scale * mix_rms / noise_rms)[:, None]
    g = torch.from_numpy((10 ** (gain_db / 20)).astype(np.float32)).to(mix.device)
    peak = torch.maximum(mix.abs().amax(-1), sources.abs().amax((-2, -1))).clamp_min(1e-8)
    g = torch.minimum(g, 0.99 / peak)
    return mix * g[:, None], sources * g[:, None, None]
