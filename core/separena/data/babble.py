"""Babble: the chatter of a crowd, as background noise (the café part of WHAM!'s noise).

A babble recording is several talkers at once, each speaking without pause, none of them the
mixture's talkers. Here they are synthetic: :data:`N_SPEAKERS` eSpeak NG speakers per split,
drawn from the installed voices (languages, variants, pitch, rate, formants) by their own seed,
so no babble talker of the test recordings is one of the training recordings'. Each recording
(:data:`N_RECORDINGS` per split, :data:`RECORDING_SECONDS` long) sums :data:`TALKERS` (4 to 8)
of its split's speakers, each one's utterances looped in a random order with short pauses, at
equal levels, from a random start. The result is a :class:`~separena.data.noise.NoiseBank`, so
:func:`~separena.data.noise.with_background_noise` adds it as it adds recorded noise
(``banks=(babble_bank("train"), babble_bank("test"))``): WHAM!'s SNR range, training and
``valid`` from the ``train`` recordings, the test sets from the ``test`` ones.

The speakers are synthesised once (about 10 s) and cached as ``<cache_dir>/babble-<hash16>/``
(one WAV per speaker and ``meta.json``); the recordings are assembled from them on load, a pure
function of the cached speech and the seed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import SeparenaError
from ..progress import progress_bar
from .cache import atomic_dir, default_cache_dir
from .noise import NoiseBank
from .pool import UTTERANCE_RMS, load_pool, synthesise_speakers

__all__ = ["babble_bank", "babble_cache", "BABBLE_VERSION", "N_SPEAKERS", "N_RECORDINGS", "TALKERS",
           "RECORDING_SECONDS"]

BABBLE_VERSION = "babble/1"  # of how babble speakers are drawn and recordings assembled
N_SPEAKERS = {"train": 48, "test": 16}  # babble talkers per split, disjoint
N_RECORDINGS = {"train": 24, "test": 8}
TALKERS = (4, 8)  # talkers per recording, inclusive
RECORDING_SECONDS = 30.0
UTTERANCES = 6  # per speaker, of one or two sentences: about 30 s of speech each
GAP_SECONDS = (0.1, 0.6)  # pause after each utterance of a talker's stream
FORMANT_SHIFT = 0.10  # as espeak-2mix's speakers
_SALT = {"train": 0xBAB1, "test": 0xBAB2}


def _key(sample_rate: int, seed: int) -> dict:
    from .espeak import espeak_inventory, text_source

    version, languages, variants = espeak_inventory()
    wordfreq, _ = text_source()
    return {"version": BABBLE_VERSION, "seed": int(seed), "sample_rate": int(sample_rate), "espeak": version,
            "wordfreq": wordfreq, "languages": languages, "variants": variants, "speakers": N_SPEAKERS,
            "utterances": UTTERANCES, "numpy": np.__version__}


def babble_cache(sample_rate: int = 8000, cache_dir: str | os.PathLike[str] | None = None, *, seed: int = 0) -> Path:
    """The cache folder of the babble speakers (``meta.json`` in it once built); synthesises nothing."""
    key = json.dumps(_key(sample_rate, seed), sort_keys=True)
    folder = default_cache_dir() if cache_dir is None else Path(cache_dir)
    return folder / f"babble-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _speakers(sample_rate: int, cache_dir: str | os.PathLike[str] | None, seed: int, workers: int,
              progress: bool) -> tuple[Path, list, dict[str, list[int]]]:
    """``(folder, speakers, utterance lengths)``, synthesising them the first time."""
    from .espeak import Speaker, build_speaker, espeak_inventory, make_speakers, sentences, text_source, vocabulary

    final = babble_cache(sample_rate, cache_dir, seed=seed)
    if not (final / "meta.json").is_file():
        _, languages, variants = espeak_inventory()
        _, text_langs = text_source()
        speakers = []
        for split, n in N_SPEAKERS.items():
            rng = np.random.default_rng([int(seed), _SALT[split]])
            speakers += make_speakers(rng, f"babble-{split}", n, languages, [], variants, FORMANT_SHIFT, text_langs)
        vocabs = {lang: vocabulary(lang) for lang in sorted({s.text_language for s in speakers})}
        jobs = []
        for i, s in enumerate(speakers):
            rng = np.random.default_rng([int(seed), 0xBAB3, i])
            jobs.append((s, [sentences(rng, vocabs[s.text_language], int(rng.integers(1, 3)))
                             for _ in range(UTTERANCES)]))
        with atomic_dir(final) as tmp, progress_bar(progress, transient=False) as bar:
            lengths = synthesise_speakers(bar, "babble: synthesising speakers", jobs, build_speaker, int(sample_rate),
                                          tmp, workers)
            meta = {"key": _key(sample_rate, seed), "speakers": [asdict(s) for s in speakers], "lengths": lengths}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    meta = json.loads((final / "meta.json").read_text())
    return final, [Speaker(**s) for s in meta["speakers"]], meta["lengths"]


def babble_bank(split: str, sample_rate: int = 8000, cache_dir: str | os.PathLike[str] | None = None, *,
                seed: int = 0, workers: int = 2, progress: bool = True) -> NoiseBank:
    """The babble recordings of ``split`` (``"train"`` or ``"test"``), a pure function of
    ``(split, seed, sample_rate)``, the eSpeak NG and wordfreq versions.

    Raises:
        SeparenaError: ``split`` is unknown, or eSpeak NG or the word lists are missing.
    """
    if split not in N_SPEAKERS:
        raise SeparenaError(f"babble: unknown split {split!r}; expected 'train' or 'test'")
    root, speakers, lengths = _speakers(int(sample_rate), cache_dir, seed, workers, progress)
    pool = load_pool(root, f"babble-{split}", speakers, lengths, int(sample_rate))
    n = int(RECORDING_SECONDS * sample_rate)
    recordings = np.zeros((N_RECORDINGS[split], n), np.float32)
    by_speaker = pool.utterances_of()
    for r in range(N_RECORDINGS[split]):
        rng = np.random.default_rng([int(seed), _SALT[split], r])
        size = min(int(rng.integers(TALKERS[0], TALKERS[1] + 1)), len(pool.speakers))
        talkers = rng.choice(len(pool.speakers), size=size, replace=False)
        for t in talkers:
            utterances = by_speaker[t]
            pieces: list[np.ndarray] = []
            while sum(len(p) for p in pieces) < n:  # the talker's utterances looped, shuffled, with pauses
                for u in rng.permutation(utterances):
                    pieces += [pool.crop(int(u), 0, int(pool.lengths[u])),
                               np.zeros(int(rng.uniform(*GAP_SECONDS) * sample_rate), np.float32)]
            stream = np.concatenate(pieces)
            recordings[r] += np.roll(stream, -int(rng.integers(len(stream))))[:n]
        recordings[r] *= UTTERANCE_RMS / max(float(np.sqrt(np.mean(recordings[r] ** 2))), 1e-12)
    lengths_arr = np.full(len(recordings), n, np.int64)
    return NoiseBank(recordings.reshape(-1), np.arange(len(recordings), dtype=np.int64) * n, lengths_arr,
                     tuple(f"babble-{split}-{r:02d}" for r in range(len(recordings))), root.name, kind="babble")
