"""The dataset contract kit over every registered dataset, on tiny parameters.

Datasets that read a user's folder (wsj0-2mix, musdb18) run on a tiny fake folder; generated
ones build into a scratch cache. real-dev reuses the machine's cached real-speech pool, building
it first where it is not cached yet (decoding the Debian packages takes about a minute, once).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from separena import Registry
from separena.data import Example
from separena.data.contract import DatasetCase, parametrize_with_dataset_checks
from separena.data.disk import write_mixture_folder

ESPEAK_TINY = dict(n_train_speakers=4, n_valid_speakers=2, n_test_speakers=2, utterances_per_speaker=1,
                   sentences_min=1, sentences_max=1, n_valid=2, n_test=3, test_seconds=1.0,
                   n_valid_variants=1, n_test_variants=1, n_valid_languages=0, n_test_languages=0,
                   real_dev_set=False, real_fraction=0.0, reverb=0.0)


def _espeak(scratch: Path) -> dict:
    return {**ESPEAK_TINY, "cache_dir": str(scratch / "cache")}


def _espeak_3mix(scratch: Path) -> dict:  # three speakers per split at least
    return {**ESPEAK_TINY, "n_valid_speakers": 3, "n_test_speakers": 3, "cache_dir": str(scratch / "cache")}


def _real_dev(scratch: Path) -> dict:
    from separena.data import real

    pool = real.pool_cache(8000)  # the set-up installs every package it reads
    if not (pool / "meta.json").is_file():
        real.fill_cache(8000, with_real_dev=False)
    cache = scratch / "cache"
    cache.mkdir()
    (cache / pool.name).symlink_to(pool, target_is_directory=True)  # read only: real-dev sets go to cache/
    return dict(sample_rate=8000, n_test=3, n_valid=2, test_seconds=1.0, cache_dir=str(cache))


def _espeak_noisy(scratch: Path) -> dict:
    from separena.data import noise

    pool = noise.noise_cache(8000)  # the set-up installs every package it reads
    if not (pool / "meta.json").is_file():
        noise.noise_bank("train", 8000)
    cache = scratch / "cache"
    cache.mkdir()
    (cache / pool.name).symlink_to(pool, target_is_directory=True)
    return {**ESPEAK_TINY, "cache_dir": str(cache)}


def _espeak_babble(scratch: Path) -> dict:
    from separena.data import babble

    pool = babble.babble_cache(8000)  # synthesised once per machine (about 10 s), then linked read-only
    if not (pool / "meta.json").is_file():
        babble.babble_bank("train", 8000, progress=False)
    cache = scratch / "cache"
    cache.mkdir()
    (cache / pool.name).symlink_to(pool, target_is_directory=True)
    return {**ESPEAK_TINY, "cache_dir": str(cache)}


def _espeak_reverb(scratch: Path) -> dict:
    from separena.data import reverb

    cache = scratch / "cache"
    cache.mkdir(exist_ok=True)
    for split in reverb.ROOMS:  # simulated once per machine (about 30 s), then linked read-only
        name = reverb.room_bank(split, 8000, progress=False).source
        (cache / name).symlink_to(reverb.default_cache_dir() / name)
    return {**ESPEAK_TINY, "cache_dir": str(cache)}


def _espeak_noisy_reverb(scratch: Path) -> dict:
    return {**_espeak_noisy(scratch), **_espeak_reverb(scratch)}


def _wsj0(scratch: Path) -> dict:
    gen = torch.Generator().manual_seed(0)
    root = scratch / "wsj0-2mix"
    for split, count in (("tr", 4), ("cv", 2), ("tt", 3), ("tt-other", 2)):
        examples = []
        for i in range(count):
            src = torch.round((torch.rand(2, 4000 + 300 * i, generator=gen) - 0.5) * 0.2 * 32767) / 32767
            examples.append(Example(f"{split}-{i:03d}", src.sum(0), src))
        write_mixture_folder(root, split, examples, 8000)
    return dict(root=str(root), sample_rate=8000)


def _musdb(scratch: Path) -> dict:
    root = scratch / "musdb18hq"
    for i, (subset, name) in enumerate([("train", f"Band {k} - Song {k}") for k in range(7)]
                                       + [("test", "Band T - Test Song")]):
        rng = np.random.default_rng(i)
        folder = root / subset / name
        folder.mkdir(parents=True)
        stems = {s: 0.1 * rng.standard_normal((int(0.3 * 44100), 2)) for s in ("vocals", "bass", "drums", "other")}
        for s, audio in stems.items():
            sf.write(folder / f"{s}.wav", audio, 44100, subtype="PCM_16")
        sf.write(folder / "mixture.wav", sum(stems.values()), 44100, subtype="PCM_16")
    return dict(root=str(root), sample_rate=8000, chunk_seconds=0.1, cache_dir=str(scratch / "cache"), progress=False)


def _midi(scratch: Path) -> dict:
    return dict(sample_rate=8000, n_train=2, train_seconds=2.0, n_valid=1, n_test=2, eval_seconds=1.5,
                cache_dir=str(scratch / "cache"), progress=False)


CASES = [
    DatasetCase("tones-2mix", dict(sample_rate=8000, n_valid=2, n_test=3), changes={"n_test": 5}),
    DatasetCase("espeak-2mix", _espeak),
    DatasetCase("espeak-3mix", _espeak_3mix),
    DatasetCase("espeak-2mix-noisy", _espeak_noisy, changes={"noise_snr_db": [0.0, 5.0]}),
    DatasetCase("espeak-1mix-noisy", _espeak_noisy, changes={"noise_snr_db": [0.0, 5.0]}),
    DatasetCase("espeak-2mix-babble", _espeak_babble, changes={"noise_snr_db": [0.0, 5.0]}),
    DatasetCase("espeak-2mix-reverb", _espeak_reverb, changes={"reverb_target": "reverberant"}),
    DatasetCase("espeak-2mix-noisy-reverb", _espeak_noisy_reverb, changes={"noise_snr_db": [0.0, 5.0]}),
    DatasetCase("real-dev", _real_dev),
    DatasetCase("wsj0-2mix", _wsj0, changes={"test_split": "tt-other"}),
    DatasetCase("musdb18", _musdb, changes={"valid_seed": 1}),
    DatasetCase("midi-4stem", _midi),
]

test_dataset_contract = parametrize_with_dataset_checks(CASES)


def test_every_registered_dataset_has_a_case() -> None:
    missing = sorted(set(Registry().datasets) - {c.dataset for c in CASES})
    assert not missing, f"datasets without a tiny case in {__file__}: {missing}"
