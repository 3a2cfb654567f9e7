"""Augmentation of training sources: random EQ and band limits, and room reverberation from a
cached bank of shoebox room impulse responses, and noise and overall gain of a mixture (speed
is applied by the training stream as it crops, see :mod:`separena.data.stream`).

Everything here is a pure function of its inputs and the :class:`numpy.random.Generator` it is
given, so a training stream seeded from ``(seed, step)`` stays deterministic.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..progress import progress_bar

__all__ = ["AugmentConfig", "augment_sources", "noise_and_gain", "random_response", "RirBankConfig", "rir_bank",
           "reverberate"]


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


# --------------------------------------------------------------------------------------------
# Room reverberation

RIR_VERSION = "rir-bank/1"  # bump to rebuild every cached bank


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



@dataclass(frozen=True)
class RirBankConfig:
    """Shoebox rooms of the reverberation bank (image-source method, pyroomacoustics).

    Each room holds one microphone and two talkers (one per source of a mixture), all at least
    ``margin`` m from the walls; talkers ``distance`` m from the microphone. RT60 targets are
    uniform in ``rt60``; the image order is capped at ``max_order`` (keeps the build to a few
    seconds; long RT60s come out a little shorter than asked). Each RIR starts 2 samples before
    its direct path and is cut at ``max_seconds`` with a 20-ms fade.
    """

    n_rooms: int = 100
    width: tuple[float, float] = (3.0, 10.0)
    depth: tuple[float, float] = (3.0, 8.0)
    height: tuple[float, float] = (2.4, 4.0)
    rt60: tuple[float, float] = (0.15, 0.6)
    distance: tuple[float, float] = (0.5, 2.5)
    margin: float = 0.4
    max_order: int = 40
    max_seconds: float = 0.5


def _random_room(rng: np.random.Generator, cfg: RirBankConfig, n_talkers: int = 2
                 ) -> tuple[np.ndarray, float, np.ndarray, list[np.ndarray]]:
    """Dimensions, RT60 target, microphone and ``n_talkers`` talker positions of one random room
    (the first two talkers are drawn as for two, so more talkers leave those rooms as they were)."""
    dims = np.array([rng.uniform(*cfg.width), rng.uniform(*cfg.depth), rng.uniform(*cfg.height)])
    rt60 = float(rng.uniform(*cfg.rt60))
    lo, hi = np.full(3, cfg.margin), dims - cfg.margin
    mic = rng.uniform(lo, hi)
    mic[2] = rng.uniform(0.7, min(1.8, hi[2]))
    talkers: list[np.ndarray] = []
    while len(talkers) < n_talkers:  # rejection sampling of a talker at a plausible distance
        p = rng.uniform(lo, hi)
        p[2] = rng.uniform(1.0, min(1.9, hi[2]))
        if cfg.distance[0] <= np.linalg.norm(p - mic) <= cfg.distance[1]:
            talkers.append(p)
    return dims, rt60, mic, talkers


def _simulate(dims: np.ndarray, rt60: float, mic: np.ndarray, talkers: list[np.ndarray], sample_rate: int,
              cfg: RirBankConfig, reflections: bool = True) -> list[np.ndarray]:
    """The raw pyroomacoustics RIR of each talker (float64); ``reflections=False``: the direct
    path alone (image order 0), on the same time axis."""
    import pyroomacoustics as pra

    try:
        e_abs, order = pra.inverse_sabine(rt60, dims)
    except ValueError:  # a room too absorbent for this RT60: take the most reverberant it can be
        e_abs, order = 0.05, cfg.max_order
    room = pra.ShoeBox(dims.tolist(), fs=sample_rate, materials=pra.Material(e_abs),
                       max_order=int(min(order, cfg.max_order)) if reflections else 0, air_absorption=False)
    room.add_microphone(mic.tolist())
    for p in talkers:
        room.add_source(p.tolist())
    room.compute_rir()
    return [np.asarray(room.rir[0][k], np.float64) for k in range(len(talkers))]


def _fade(length: int, sample_rate: int) -> np.ndarray:
    fade = np.ones(length, np.float64)
    nf = max(1, int(0.02 * sample_rate))
    fade[-nf:] = np.linspace(1.0, 0.0, nf)
    return fade


def _room_rirs(rng: np.random.Generator, sample_rate: int, cfg: RirBankConfig) -> np.ndarray:
    """Two RIRs ``[2, cfg.max_seconds * rate]`` (float32) of one random room."""
    length = int(cfg.max_seconds * sample_rate)
    fade = _fade(length, sample_rate)
    out = np.zeros((2, length), np.float32)
    for k, h in enumerate(_simulate(*_random_room(rng, cfg), sample_rate, cfg)):
        h = h[max(0, int(np.argmax(np.abs(h))) - 2):][:length]
        h = h * fade[: len(h)]
        out[k, : len(h)] = h / max(float(np.sqrt((h ** 2).sum())), 1e-12)
    return out


def rir_bank(seed: int, sample_rate: int, cache_dir: str | Path, cfg: RirBankConfig = RirBankConfig(),
             progress: bool = True) -> Tensor:
    """``[n_rooms, 2, time]`` float32 room impulse responses (unit energy, direct path first),
    a pure function of ``(seed, sample_rate, cfg)`` and the pyroomacoustics version; built
    once (a few seconds) and cached as ``<cache_dir>/rir-bank-<hash16>.npy``."""
    try:
        import pyroomacoustics as pra
    except ImportError:
        from ..errors import SeparenaError

        raise SeparenaError("reverb: the Python package pyroomacoustics is not installed; expected it for "
                            "the room impulse responses (pip install pyroomacoustics)") from None

    key = json.dumps({"version": RIR_VERSION, "seed": int(seed), "sample_rate": int(sample_rate),
                      "cfg": asdict(cfg), "pyroomacoustics": pra.__version__, "numpy": np.__version__},
                     sort_keys=True)
    path = Path(cache_dir) / f"rir-bank-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
    if path.is_file():
        bank = np.load(path)
        if bank.shape == (cfg.n_rooms, 2, int(cfg.max_seconds * sample_rate)):
            return torch.from_numpy(bank)
    rooms = []
    with progress_bar(progress, transient=False) as bar:
        task = bar.add_task("reverb: shoebox room impulse responses", total=cfg.n_rooms)
        for r in range(cfg.n_rooms):
            rooms.append(_room_rirs(np.random.default_rng([int(seed), 0x41B, r]), int(sample_rate), cfg))
            bar.advance(task)
    bank = np.stack(rooms)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, bank)
    os.replace(tmp, path)
    return torch.from_numpy(bank)




def reverberate(sources: Tensor, rirs: Tensor) -> Tensor:
    """Convolve ``sources [items, n_src, time]`` with ``rirs [items, n_src, taps]`` (FFT,
    output cut to the input length: the reverberant source, time-aligned with its direct path)."""
    n = sources.shape[-1]
    nfft = 1 << (n + rirs.shape[-1] - 2).bit_length()
    y = torch.fft.irfft(torch.fft.rfft(sources, nfft) * torch.fft.rfft(rirs, nfft), nfft)
    return y[..., :n].contiguous()
