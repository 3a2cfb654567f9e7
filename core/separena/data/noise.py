"""Background noise recorded in Debian packages, and noisy mixtures made with it (WHAM!'s recipe).

WHAM! (Wichern et al., Interspeech 2019) adds recorded background noise to wsj0-2mix: the
sources stay the clean speakers, the mixture is their sum plus noise at a level such that the
louder speaker is -6 to +3 dB above it. This module does the same for any
:class:`~separena.data.SeparationData` (:func:`with_background_noise`), with noise that a
Debian machine installs (no download): the instrumental music tracks and the sound effects of
the games ``hedgewars-data`` and ``warzone2100-data`` (packages whose voices the real speech
pool already uses; their music and effects are not speech). WHAM!'s noise is urban ambience
(cafés, restaurants, bars); this noise is mostly music, so scores here say how a model
separates voices over background music and effects, not over street noise.

A *recording* (one music track, or one game's group of effects joined) is the unit of the
split: :data:`TEST_NOISE` recordings serve only the evaluation sets (test and every extra test
set), the others training and ``valid``. Decoding, trimming, normalising and caching are
:mod:`separena.data.real`'s machinery with another :class:`~separena.data.real.Catalogue`
(cached as ``<cache_dir>/background-noise-<hash16>/``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import SeparenaError
from . import Example, MixtureSet, SeparationData, TrainStream
from .audio import read_wav
from .pool import UTTERANCE_RMS
from .real import Catalogue, _pool_dir, _Rule, pool_cache

__all__ = ["NoiseBank", "NoisyMixtures", "NoisyStream", "noise_bank", "noise_cache", "with_background_noise",
           "add_noise", "NOISE", "NOISE_PACKAGES", "TEST_NOISE", "GENERATOR_VERSION", "SNR_DB"]

GENERATOR_VERSION = "background-noise/1"  # of the noise pool; bump to rebuild it
NOISY_VERSION = "noisy/1"  # of how noise is drawn and added; enters the data set's name
SNR_DB = (-6.0, 3.0)  # WHAM!'s range: the louder source over the noise, in dB
# A crop quieter than this (a pause in a track) is not blown up to the target level: its level
# counts as this much, so the noise of that item is just quieter than drawn.
_QUIETEST_CROP = UTTERANCE_RMS / 10

_WZ_SFX = ("building", "explons", "interfce", "misc", "vehicle", "weapons")
_RULES = (
    (_Rule("hedgewars-data", r"^/usr/share/games/hedgewars/Data/Music/(?P<track>[^/]+)\.ogg$"),
     lambda m: f"music-{m.group('track')}"),
    (_Rule("hedgewars-data", r"^/usr/share/games/hedgewars/Data/Sounds/[^/]+\.ogg$"), lambda m: "effects"),
    (_Rule("warzone2100-data", r"^/usr/share/games/warzone2100/base\.wz$",
           member=rf"^audio/sfx/(?P<g1>{'|'.join(_WZ_SFX)})/[^/]+\.ogg$"),
     lambda m: f"effects-{m.group('group')}"),
)
# Held out for the evaluation sets: six of the 26 tracks, of different styles, and one group of
# effects (22 of the 96 minutes at 8 kHz, trimmed).
TEST_NOISE: frozenset[str] = frozenset({
    "hedgewars-data/music-City", "hedgewars-data/music-Nature", "hedgewars-data/music-Jungle",
    "hedgewars-data/music-Rock", "hedgewars-data/music-oriental", "hedgewars-data/music-underwater",
    "warzone2100-data/effects-vehicle",
})
NOISE = Catalogue("background noise", "background-noise", _RULES, TEST_NOISE, ("train", "test"), GENERATOR_VERSION)
NOISE_PACKAGES: tuple[str, ...] = NOISE.packages


@dataclass(frozen=True)
class NoiseBank:
    """The noise recordings of one split held in memory: recording ``r`` is
    ``audio[offsets[r]:offsets[r] + lengths[r]]`` (float32, active RMS :data:`UTTERANCE_RMS`),
    named ``names[r]``."""

    audio: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    names: tuple[str, ...]
    source: str  # the pool's cache folder name: names its content
    kind: str = "noisy"  # what noisy data is named after: espeak-2mix-<kind>@<hash8>

    def crops(self, rng: np.random.Generator, n_items: int, length: int) -> np.ndarray:
        """``[n_items, length]`` float32: each a random recording (all equally likely) from a
        random start, wrapping around to its beginning where it is shorter than ``length``."""
        rec = rng.integers(0, len(self.lengths), size=n_items)
        start = (rng.random(n_items) * self.lengths[rec]).astype(np.int64)
        pos = (start[:, None] + np.arange(length)[None]) % self.lengths[rec][:, None]
        return self.audio[self.offsets[rec][:, None] + pos]


def noise_bank(split: str, sample_rate: int = 8000, cache_dir: str | os.PathLike[str] | None = None, *,
               system_root: str | os.PathLike[str] = "/", workers: int = 2) -> NoiseBank:
    """The background-noise recordings of ``split`` (``"train"`` or ``"test"``), built once and cached.

    Raises:
        SeparenaError: a package of :data:`NOISE_PACKAGES` is not installed (the message names
            it and the apt command), or ``split`` is unknown.
    """
    if split not in NOISE.splits:
        raise SeparenaError(f"background noise: unknown split {split!r}; expected 'train' or 'test'")
    root = _pool_dir(int(sample_rate), cache_dir, Path(system_root), workers, NOISE)
    meta = json.loads((root / "meta.json").read_text())
    names, waves = [], []
    for name, info in sorted(meta["speakers"].items()):
        if info["split"] == split:
            names.append(name)
            waves.append(read_wav(root / info["file"], int(sample_rate)).numpy())
    lengths = np.array([len(w) for w in waves], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return NoiseBank(np.concatenate(waves).astype(np.float32), offsets, lengths, tuple(names), root.name)


def add_noise(mix: Tensor, sources: Tensor, noise: Tensor, snr_db: Tensor) -> Tensor:
    """``mix + noise`` scaled so that the louder source is ``snr_db`` above the noise (RMS over
    the item, as WHAM! sets it).

    Shapes:
        mix ``[batch, time]``, sources ``[batch, n_src, time]``, noise ``[batch, time]``,
        snr_db ``[batch]`` -> ``[batch, time]``.
    """
    loudest = sources.pow(2).mean(-1).amax(1).sqrt()  # [B]
    level = noise.pow(2).mean(-1).sqrt().clamp_min(_QUIETEST_CROP)
    gain = loudest * 10 ** (-snr_db / 20) / level
    return mix + noise * gain[:, None]


def _snr_range(snr_db: Sequence[float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in snr_db)
    except (TypeError, ValueError):
        low, high = float("nan"), float("nan")
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise SeparenaError(f"background noise: bad noise_snr_db {snr_db!r}; expected [low, high] in dB with "
                            "low <= high, e.g. [-6, 3] (WHAM!)")
    return low, high


class NoisyStream:
    """A training stream with background noise added to each mixture, or to a ``fraction`` of
    them (multi-condition training; the sources stay clean): the noise of batch ``step`` is a
    pure function of ``(seed, step)``, drawn from its own generator, so the speech of the batch
    is the base stream's to the bit."""

    def __init__(self, base: TrainStream, bank: NoiseBank, snr_db: Sequence[float], fraction: float = 1.0) -> None:
        self.base, self.bank, self.snr_db = base, bank, _snr_range(snr_db)
        self.fraction = _fraction(fraction)

    def to(self, device: str | torch.device) -> NoisyStream:
        """This stream building its batches on ``device`` where the base stream can (the noise is
        cropped on the CPU and sent with the batch: a few MB a step)."""
        move = getattr(self.base, "to", None)
        if not callable(move):
            return self
        other = copy.copy(self)
        other.base = move(device)
        return other

    def batch(self, seed: int, step: int, batch_size: int, segment_samples: int) -> tuple[Tensor, Tensor]:
        mix, sources = self.base.batch(seed, step, batch_size, segment_samples)
        rng = np.random.default_rng([int(seed), int(step), 0x401CE])
        noise = torch.from_numpy(self.bank.crops(rng, batch_size, segment_samples)).to(mix.device)
        snr = torch.from_numpy(rng.uniform(*self.snr_db, size=batch_size).astype(np.float32)).to(mix.device)
        if self.fraction < 1.0:  # drawn last: the noise of the items that keep it is as with all
            keep = torch.from_numpy(rng.random(batch_size) < self.fraction).to(mix.device)
            noise = noise * keep[:, None]
        return add_noise(mix, sources, noise, snr).contiguous(), sources


def _fraction(fraction: float) -> float:
    if not (isinstance(fraction, (int, float)) and 0.0 <= float(fraction) <= 1.0):
        raise SeparenaError(f"background noise: bad noise_fraction {fraction!r}; expected a share of the training "
                            "mixtures from 0 to 1")
    return float(fraction)


class NoisyMixtures:
    """A fixed evaluation set with background noise added to each mixture; item ``i``'s noise is
    a pure function of ``(seed, salt, i)`` (``salt`` tells the sets of one data set apart)."""

    def __init__(self, base: MixtureSet, bank: NoiseBank, snr_db: Sequence[float], seed: int, salt: str) -> None:
        self.base, self.bank, self.snr_db, self.seed = base, bank, _snr_range(snr_db), int(seed)
        self.salt = int.from_bytes(hashlib.sha256(salt.encode()).digest()[:4], "little")

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> Example:
        ex = self.base[index]
        rng = np.random.default_rng([self.seed, self.salt, int(index)])
        noise = torch.from_numpy(self.bank.crops(rng, 1, ex.mix.shape[-1]))
        snr = torch.tensor([rng.uniform(*self.snr_db)], dtype=torch.float32)
        mix = add_noise(ex.mix[None], ex.sources[None], noise.to(ex.mix.dtype), snr)[0]
        return Example(ex.name, mix, ex.sources)


def with_background_noise(data: SeparationData, *, snr_db: Sequence[float] = SNR_DB, seed: int = 0,
                          fraction: float = 1.0, banks: tuple[NoiseBank, NoiseBank] | None = None,
                          cache_dir: str | os.PathLike[str] | None = None, workers: int = 2,
                          system_root: str | os.PathLike[str] = "/") -> SeparationData:
    """``data`` with background noise in every mixture, training and evaluation (WHAM!'s recipe),
    or with ``fraction < 1`` in that share of the training mixtures only (multi-condition
    training; the evaluation sets keep noise in every mixture): training and ``valid`` draw it
    from the ``train`` noise recordings, test and every extra test set from the held-out ``test``
    recordings; the sources are unchanged. The recordings are the game music and effects of
    :func:`noise_bank` unless ``banks`` gives others (``(train, test)``, e.g. the babble of
    :func:`separena.data.babble.babble_bank`). ``espeak-2mix@<hash>`` becomes
    ``espeak-2mix-noisy@<hash8>`` (``-<kind>@`` after the banks' kind), the hash covering the
    clean set's name, the noise pool, the range, the fraction (below 1) and how noise is drawn,
    so its scores never pass for the clean set's."""
    low, high = _snr_range(snr_db)
    fraction = _fraction(fraction)
    if banks is None:
        banks = (noise_bank("train", data.sample_rate, cache_dir, system_root=system_root, workers=workers),
                 noise_bank("test", data.sample_rate, cache_dir, system_root=system_root, workers=workers))
    train_bank, test_bank = banks
    signature: list = [data.name, NOISY_VERSION, train_bank.source, low, high, seed]
    tag = hashlib.sha256(json.dumps(signature + ([fraction] if fraction < 1.0 else [])).encode())
    name = f"{data.name.partition('@')[0]}-{train_bank.kind}@{tag.hexdigest()[:8]}"

    def noisy(base: MixtureSet, label: str, bank: NoiseBank) -> NoisyMixtures:
        return NoisyMixtures(base, bank, (low, high), seed, label)

    return replace(
        data, name=name, train=NoisyStream(data.train, train_bank, (low, high), fraction),
        valid=noisy(data.valid, "valid", train_bank), test=noisy(data.test, "test", test_bank),
        extra_tests={k: noisy(v, k, test_bank) for k, v in data.extra_tests.items()},
        mix_is_sum=False, train_mix_is_sum=False)


def noise_cache(sample_rate: int = 8000, cache_dir: str | os.PathLike[str] | None = None, *,
                system_root: str | os.PathLike[str] = "/") -> Path:
    """The cache folder of the noise pool (``meta.json`` in it once built); decodes nothing."""
    return pool_cache(sample_rate, cache_dir, system_root=system_root, catalogue=NOISE)

