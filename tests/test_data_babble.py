"""Babble noise (separena.data.babble): crowds of synthetic talkers as background noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from separena.data import babble
from separena.data.babble import babble_bank
from separena.data.noise import with_background_noise
from separena.data.pool import UTTERANCE_RMS
from separena.data.tones import tones_2mix
from separena.errors import SeparenaError

SR = 8000
SMALL = {"N_SPEAKERS": {"train": 5, "test": 4}, "N_RECORDINGS": {"train": 3, "test": 2}, "RECORDING_SECONDS": 4.0,
         "UTTERANCES": 2, "TALKERS": (2, 4)}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    """Banks of a few short recordings from a few speakers, synthesised into a scratch cache."""
    cache = tmp_path_factory.mktemp("babble")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in SMALL.items():
            mp.setattr(babble, name, value)
        yield mp, cache, babble_bank("train", SR, cache, progress=False), babble_bank("test", SR, cache, progress=False)


def test_recordings_are_continuous_chatter_at_the_pool_level(small):
    _, _, train, test = small
    n = int(SMALL["RECORDING_SECONDS"] * SR)
    assert train.names == ("babble-train-00", "babble-train-01", "babble-train-02") and len(test.names) == 2
    assert (train.lengths == n).all() and train.audio.shape == (3 * n,) and train.audio.dtype == np.float32
    for bank in (train, test):
        recordings = bank.audio.reshape(len(bank.names), n)
        np.testing.assert_allclose(np.sqrt((recordings ** 2).mean(1)), UTTERANCE_RMS, rtol=1e-4)
        frames = recordings[:, : n // 200 * 200].reshape(len(bank.names), -1, 200)  # 25-ms frames
        quiet = 10 * np.log10((frames ** 2).mean(-1) / UTTERANCE_RMS ** 2 + 1e-12) < -30
        assert quiet.mean() < 0.05  # several talkers at once leave almost no pause
    crops = train.crops(np.random.default_rng(0), 4, 2 * n)  # longer than a recording: wraps around
    assert crops.shape == (4, 2 * n)


def test_the_splits_have_their_own_talkers_and_the_bank_is_cached(small):
    mp, cache, train, test = small
    import json

    meta = json.loads((cache / train.source / "meta.json").read_text())
    by_split: dict[str, set] = {}
    for s in meta["speakers"]:
        key = (s["language"], s["variant"], s["pitch"], s["pitch_range"], s["rate"], s["formant"])
        by_split.setdefault(s["split"], set()).add(key)
    assert {k: len(v) for k, v in by_split.items()} == {"babble-train": 5, "babble-test": 4}
    assert not by_split["babble-train"] & by_split["babble-test"]
    again = babble_bank("train", SR, cache, progress=False)  # assembled again from the cached speech
    np.testing.assert_array_equal(again.audio, train.audio)
    assert again.source == train.source == test.source
    assert not np.allclose(train.audio[: len(test.audio)], test.audio)


def test_babble_data_keeps_the_sources_and_sets_the_snr(small):
    _, _, train, test = small
    dry = tones_2mix()
    data = with_background_noise(dry, banks=(train, test), seed=1)
    assert data.name.startswith("tones-2mix-babble@") and not data.mix_is_sum
    for i in range(len(dry.test)):
        ex, base = data.test[i], dry.test[i]
        torch.testing.assert_close(ex.sources, base.sources, rtol=0, atol=0)
        noise = ex.mix - base.mix
        snr = 10 * torch.log10(base.sources.pow(2).mean(-1).max() / noise.pow(2).mean())
        assert -6.01 <= float(snr) <= 3.01
    mix, sources = data.train.batch(0, 2, 3, 1600)
    dmix, dsources = dry.train.batch(0, 2, 3, 1600)
    torch.testing.assert_close(sources, dsources, rtol=0, atol=0)  # the speech of the batch is the base stream's
    assert not torch.allclose(mix, dmix)


def test_bad_noise_kinds_are_one_line_before_anything_is_built():
    from separena.data.speech import espeak_2mix_babble, espeak_2mix_noisy

    with pytest.raises(SeparenaError, match=r"^espeak-2mix-noisy: bad noise_source 'cafe'; expected one of "
                                            r"recorded, babble"):
        espeak_2mix_noisy(noise_source="cafe", cache_dir="/nonexistent")
    with pytest.raises(SeparenaError, match=r"^espeak-2mix-babble: bad parameter noise_source='recorded'; "
                                            r"expected none"):
        espeak_2mix_babble(noise_source="recorded", cache_dir="/nonexistent")
    with pytest.raises(SeparenaError, match="unknown split 'dev'; expected 'train' or 'test'"):
        babble_bank("dev", SR, Path("/nonexistent"))


def test_the_noise_source_leaves_the_augmentations_noise_to_the_speech():
    import inspect

    from separena.data.speech import espeak_2mix, espeak_2mix_noisy

    # espeak_2mix's `noise` (the share of training mixtures with low-level noise) passes through
    assert "noise" in inspect.signature(espeak_2mix).parameters
    assert "noise" not in inspect.signature(espeak_2mix_noisy).parameters
