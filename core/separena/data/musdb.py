"""``musdb18``: MUSDB18 / MUSDB18-HQ from disk, as mono 4-stem mixtures (vocals, bass, drums, other).

Reads the dataset with the ``musdb`` package (imported only when this dataset is used):
``.stem.mp4`` files (MUSDB18; decoding needs ``ffmpeg``) or the WAV folders of MUSDB18-HQ
(``is_wav``). Splits follow musdb's own: ``train`` is the training subset less its 14
validation tracks, ``valid`` those tracks, ``test`` the 50 test tracks. A folder in the same
layout that holds none of musdb's validation tracks (other music) gets a seeded validation
draw from ``train/`` instead (``valid_seed``), with a warning. Mono files are read as they are.

Nothing is downloaded. On first use each track is averaged to mono, resampled to
``sample_rate``, cut into ``chunk_seconds`` pieces (the last, shorter piece of a track is
dropped) and stored as 16-bit PCM under ``<cache>/musdb18-<hash>/`` in the wsj0-2mix layout
(``<split>/s1..s4/``, sources in the order :data:`separena.data.music.SOURCES`). Each mixture
is the sum of its 4 stems. The conversion goes to a temporary folder that is renamed into
place when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from math import gcd
from pathlib import Path

import numpy as np
import torch

from ..errors import SeparenaError
from ..progress import progress_bar
from . import Example, SeparationData
from .cache import atomic_dir, default_cache_dir
from .music import SOURCES
from .disk import CropTrainStream, MixtureFolder, write_mixture_folder

__all__ = ["musdb18", "MUSDB_SPLITS"]

log = logging.getLogger(__name__)

CONVERTER_VERSION = "musdb18/1"
MUSDB_SPLITS = {"train": ("train", "train"), "valid": ("train", "valid"), "test": ("test", None)}  # subset, split
VALID_FRACTION = 14 / 100  # musdb's share of validation tracks in its training subset


def _tracks(root: Path, is_wav: bool, split: str) -> list:
    import musdb

    subset, musdb_split = MUSDB_SPLITS[split]
    return list(musdb.DB(root=str(root), is_wav=is_wav, subsets=subset, split=musdb_split))


def _split_tracks(root: Path, is_wav: bool, valid_seed: int) -> dict[str, list]:
    """Tracks per split: musdb's own split, or, when ``root/train`` holds none of musdb's
    validation tracks (a folder of other music in the same layout), a seeded draw of
    :data:`VALID_FRACTION` of its tracks (at least one) as the validation split."""
    tracks = {split: _tracks(root, is_wav, split) for split in MUSDB_SPLITS}
    if tracks["valid"] or not tracks["train"]:
        return tracks
    train = sorted(tracks["train"], key=lambda t: t.name)
    if len(train) < 2:
        raise SeparenaError(f"musdb18: 1 track in {root / 'train'} and none of musdb's validation tracks; expected "
                            f"at least 2 tracks to draw a validation split from")
    n_valid = min(max(1, round(VALID_FRACTION * len(train))), len(train) - 1)
    chosen = set(random.Random(valid_seed).sample(range(len(train)), n_valid))
    tracks["valid"] = [t for i, t in enumerate(train) if i in chosen]
    tracks["train"] = [t for i, t in enumerate(train) if i not in chosen]
    log.warning("musdb18: none of musdb's validation tracks is in %s; valid = %d of its %d tracks, seeded "
                "(valid_seed=%d): %s", root / "train", n_valid, len(train), valid_seed,
                ", ".join(t.name for t in tracks["valid"]))
    return tracks


def _stems(track, sample_rate: int) -> np.ndarray:
    """``[4, samples]`` float32 mono stems of a track at ``sample_rate``."""
    from scipy.signal import resample_poly

    rate = int(track.rate)
    g = gcd(sample_rate, rate)
    out = []
    for name in SOURCES:
        audio = np.asarray(track.sources[name].audio, dtype=np.float64)
        if audio.ndim == 2:  # [samples, channels] -> mono; a mono file is already [samples]
            audio = audio.mean(axis=1)
        out.append(resample_poly(audio, sample_rate // g, rate // g) if rate != sample_rate else audio)
    length = min(len(x) for x in out)
    return np.stack([x[:length] for x in out]).astype(np.float32)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def musdb18(*, root: str, sample_rate: int = 16000, is_wav: bool | None = None, chunk_seconds: float = 10.0,
            cache_dir: str | None = None, progress: bool = True, valid_seed: int = 0) -> SeparationData:
    """MUSDB18 (or MUSDB18-HQ) under ``root``, converted once to mono 4-stem chunks.

    Args:
        root: the dataset folder holding ``train/`` and ``test/``.
        sample_rate: Hz to resample to (MUSDB is 44.1 kHz).
        is_wav: MUSDB18-HQ WAV folders (True) or ``.stem.mp4`` files (False); ``None`` decides
            from what ``root/test`` holds.
        chunk_seconds: length of each stored piece (training crops are taken inside pieces).
        cache_dir: where converted audio is kept (default ``$SEPARENA_CACHE`` or
            ``~/.cache/separena``).
        progress: show a progress bar while converting.
        valid_seed: seed of the validation draw when ``root/train`` holds none of musdb's
            validation tracks (MUSDB18-HQ layout, other music): then 14 % of its tracks (at least
            one) are drawn as ``valid``, with a warning that says which.

    Raises:
        SeparenaError: ``root`` is not a MUSDB18 folder, the ``musdb`` package is missing, or
            a split has no tracks.
    """
    base = Path(root).expanduser()
    if not (base / "train").is_dir() or not (base / "test").is_dir():
        raise SeparenaError(f"musdb18: root {str(base)!r} is not a MUSDB18 folder; expected "
                            f"<root>/train and <root>/test")
    try:
        import musdb  # noqa: F401
    except ImportError:
        raise SeparenaError("musdb18: the musdb package is not installed; expected `pip install musdb`") from None
    if is_wav is None:
        is_wav = not any(base.glob("test/*.stem.mp4"))
    if not chunk_seconds > 0:
        raise SeparenaError(f"musdb18: bad chunk_seconds; expected > 0, got {chunk_seconds!r}")
    tracks = _split_tracks(base, is_wav, int(valid_seed))
    for split, found in tracks.items():
        if not found:
            kind = "track folders" if is_wav else ".stem.mp4 files"
            raise SeparenaError(f"musdb18: no {split} tracks under {base}; expected {kind} in "
                                f"{base / MUSDB_SPLITS[split][0]} (is_wav={is_wav})")
    content = {"root": str(base.resolve()), "is_wav": is_wav, "sample_rate": int(sample_rate),
               "chunk_seconds": float(chunk_seconds), "converter": CONVERTER_VERSION,
               "tracks": {s: [t.name for t in ts] for s, ts in tracks.items()}}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    final = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / f"musdb18-{digest[:16]}"
    if not (final / "meta.json").is_file():
        _convert(final, tracks, int(sample_rate), float(chunk_seconds), content, progress)
    sets = {split: MixtureFolder(final, split, sample_rate, len(SOURCES), mix_from_sources=True) for split in MUSDB_SPLITS}
    return SeparationData(name=f"musdb18@{digest[:8]}", sample_rate=int(sample_rate), n_src=len(SOURCES),
                          train=CropTrainStream(sets["train"]), valid=sets["valid"], test=sets["test"],
                          source_names=tuple(SOURCES), permutation_invariant=False)


def _convert(final: Path, tracks: dict, sample_rate: int, chunk_seconds: float, content: dict,
             progress: bool) -> None:
    start, chunk = time.perf_counter(), int(round(chunk_seconds * sample_rate))
    with atomic_dir(final) as tmp, progress_bar(progress) as bar:
        task = bar.add_task("musdb18: converting", total=sum(len(t) for t in tracks.values()))
        for split, split_tracks in tracks.items():
            for track in split_tracks:
                stems = torch.from_numpy(_stems(track, sample_rate))
                n_chunks = max(stems.shape[-1] // chunk, 1)
                examples = []
                for k in range(n_chunks):
                    src = stems[:, k * chunk:(k + 1) * chunk]
                    examples.append(Example(f"{_safe(track.name)}-{k:03d}", src.sum(0), src))
                write_mixture_folder(tmp, split, examples, sample_rate)
                bar.update(task, advance=1)
        content = {**content, "sources": list(SOURCES), "seconds": round(time.perf_counter() - start, 1)}
        (tmp / "meta.json").write_text(json.dumps(content, indent=1))
    log.info("musdb18: converted into %s", final)
