"""The ``transfer`` test set: real recorded speakers from Debian packages that training never sees.

``real-dev`` shares packages, languages and recording set-ups with the real *training*
speakers of :mod:`separena.data.real`, so it overstates how well a model transfers to
recordings it never met. This set takes its speakers from other packages only
(:data:`TRANSFER_PACKAGES`, none of :data:`separena.data.real.REAL_PACKAGES`), and within them
only voices that cannot be a training speaker (below), and mixes them by the one recipe of
``real-dev`` (:func:`separena.data.pool.clip_mixtures`): 200 fixed two-speaker mixtures of 4 s
at 8 kHz, ``mix = s1 + s2`` exactly. ``espeak-2mix`` reports it as the extra test set
``"transfer"``. See ``docs/data-real.md`` for the packages, speakers and why.

Everything is :mod:`separena.data.real`'s machinery with another :class:`~separena.data.real.Catalogue`:
files found through dpkg's file list of each package, decoded, trimmed and normalised, cached
as ``<cache_dir>/transfer-speech-<hash16>/`` (the pool) and ``<cache_dir>/transfer-<hash16>/tt/``
(the mixtures), deterministic, built in a temporary folder renamed into place.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .disk import MixtureFolder
from .real import Catalogue, RealUtterance, _Rule, build_mixtures, pool_cache as _pool_cache, real_speech_pool
from .real import speaker_catalogue

__all__ = ["transfer_pool", "build_transfer", "transfer_set", "fill_cache", "pool_cache", "transfer_speakers",
           "TRANSFER", "TRANSFER_PACKAGES", "KTUBERLING_LANGUAGES", "KAJONGG_VOICES", "GENERATOR_VERSION",
           "MIXTURES_VERSION"]

GENERATOR_VERSION = "transfer-speech/1"  # of the pool; bump to rebuild it
MIXTURES_VERSION = "transfer/1"  # of the mixtures; bump to rebuild them
SPLIT = "transfer"

# ktuberling-data: words recorded by KDE translators, one folder per language. Only languages
# that no package of the training catalogue has (klettres-data, the other KDE package there,
# and tuxpaint-stamps-default record per language too), so no person can be in both; of the
# four Serbian folders, which hold the same recordings, only `sr`.
KTUBERLING_LANGUAGES: tuple[str, ...] = ("fi", "ga", "gl", "nn", "sl", "sr", "sv", "wa")
# kajongg: four voices calling tiles, each in English (voices/<voice>) and German
# (voices/de/<voice>); the two languages of a voice are one speaker (same name and pitch).
KAJONGG_VOICES: tuple[str, ...] = ("female1", "female2", "male1", "male2")

_RULES = (
    (_Rule("kajongg", rf"^/usr/share/kajongg/voices/(?:de/)?(?P<voice>{'|'.join(KAJONGG_VOICES)})/[^/]+\.ogg$"),
     lambda m: m.group("voice")),
    (_Rule("ktuberling-data",
           rf"^/usr/share/ktuberling/sounds/(?P<lang>{'|'.join(map(re.escape, KTUBERLING_LANGUAGES))})"
           r"/[^/]+\.(?:ogg|opus|wav)$"),
     lambda m: m.group("lang")),
)

TRANSFER = Catalogue("transfer speech", "transfer-speech", _RULES, frozenset(), (SPLIT, SPLIT), GENERATOR_VERSION)
TRANSFER_PACKAGES: tuple[str, ...] = TRANSFER.packages


def transfer_speakers(*, system_root: str | os.PathLike[str] = "/") -> dict[str, dict]:
    """``{speaker: {"package", "split", "files"}}`` of every transfer speaker found (no decoding)."""
    return speaker_catalogue(system_root=system_root, catalogue=TRANSFER)


def pool_cache(sample_rate: int = 8000, cache_dir: str | os.PathLike[str] | None = None, *,
               system_root: str | os.PathLike[str] = "/") -> Path:
    """The cache folder of the transfer pool (``meta.json`` in it once built); decodes nothing."""
    return _pool_cache(sample_rate, cache_dir, system_root=system_root, catalogue=TRANSFER)


def transfer_pool(sample_rate: int = 8000, cache_dir: str | os.PathLike[str] | None = None, *,
                  system_root: str | os.PathLike[str] = "/", workers: int = 2) -> list[RealUtterance]:
    """Every utterance of the transfer speakers, sorted by speaker then file (built once, cached).

    Raises:
        SeparenaError: a package of :data:`TRANSFER_PACKAGES` is not installed (the message
            names it and the apt command that installs it).
    """
    return real_speech_pool(SPLIT, sample_rate, cache_dir, system_root=system_root, workers=workers,
                            catalogue=TRANSFER)


def build_transfer(root: str | os.PathLike[str] | None = None, *, sample_rate: int = 8000, n_mixtures: int = 200,
                   seconds: float = 4.0, seed: int = 0, cache_dir: str | os.PathLike[str] | None = None,
                   system_root: str | os.PathLike[str] = "/", n_src: int = 2) -> Path:
    """Write the transfer mixtures of ``n_src`` speakers as ``<root>/tt/{mix,s1,s2}/<name>.wav``
    (wsj0-2mix layout) and return ``root`` (``None``: ``<cache>/transfer-<hash16>``, built
    once); the recipe of :func:`separena.data.real.build_real_dev`."""
    return build_mixtures(TRANSFER, SPLIT, MIXTURES_VERSION, root, sample_rate=sample_rate, n_mixtures=n_mixtures,
                          seconds=seconds, seed=seed, cache_dir=cache_dir, system_root=system_root, n_src=n_src)


def transfer_set(*, sample_rate: int = 8000, n_mixtures: int = 200, seconds: float = 4.0, seed: int = 0,
                 cache_dir: str | os.PathLike[str] | None = None, root: str | os.PathLike[str] | None = None,
                 system_root: str | os.PathLike[str] = "/", n_src: int = 2) -> MixtureFolder:
    """The transfer mixtures (built when not cached) as a :class:`~separena.data.MixtureSet`."""
    base = build_transfer(root, sample_rate=sample_rate, n_mixtures=n_mixtures, seconds=seconds, seed=seed,
                          cache_dir=cache_dir, system_root=system_root, n_src=n_src)
    return MixtureFolder(base, "tt", int(sample_rate), n_src, mix_from_sources=True)


def fill_cache(sample_rate: int = 8000, cache_dir: str | os.PathLike[str] | None = None, *,
               system_root: str | os.PathLike[str] = "/") -> Path:
    """Build the transfer pool and the default mixtures where not cached; returns the mixtures' folder."""
    return build_transfer(sample_rate=sample_rate, cache_dir=cache_dir, system_root=system_root)
