"""Recorded background noise and noisy mixtures (separena.data.noise): WHAM!'s recipe.

Needs the packages of ``NOISE_PACKAGES`` installed, as ``scripts/setup.sh`` does (the noise
pool decodes in about 15 s and is cached).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from separena.data import real
from separena.data.noise import (
    NOISE, NOISE_PACKAGES, TEST_NOISE, NoiseBank, add_noise, noise_bank, with_background_noise,
)
from separena.data.tones import tones_2mix
from separena.errors import SeparenaError

SR = 8000
RESERVED = (  # as in test_data_real.py: set aside for independent evaluation
    "asterisk-core-sounds-", "asterisk-prompt-it-menardi", "fillets-ng-data", "openttd-openmsx",
    "freedoom", "musescore-general-soundfont", "avldrums.lv2-soundfont",
)


def test_noise_recordings_are_no_speech_and_split_by_recording():
    files = real._catalogue(Path("/"), NOISE)
    voices = {str(f.path) for f in real._catalogue(Path("/"), real.REAL)} | {
        f"{f.path}:{f.member}" for f in real._catalogue(Path("/"), real.REAL) if f.member}
    assert not {str(f.path) for f in files if f.member is None} & voices
    assert not {f"{f.path}:{f.member}" for f in files if f.member} & voices
    assert not [f for f in files if "/voices/" in str(f.path) or "audio/sfx/" not in (f.member or "audio/sfx/")]
    groups = {f.speaker for f in files}
    assert TEST_NOISE < groups and len(groups - TEST_NOISE) >= 20
    assert not [p for p in NOISE_PACKAGES for r in RESERVED if p.startswith(r)]


def _bank(*recordings: np.ndarray) -> NoiseBank:
    lengths = np.array([len(r) for r in recordings])
    return NoiseBank(np.concatenate(recordings).astype(np.float32), np.concatenate([[0], np.cumsum(lengths)[:-1]]),
                     lengths, tuple(f"r{i}" for i in range(len(recordings))), "test-bank")


def test_crops_wrap_around_a_short_recording():
    short = np.arange(1, 6, dtype=np.float32)
    crop = _bank(short).crops(np.random.default_rng(0), 3, 12)
    assert crop.shape == (3, 12)
    for row in crop:  # a rotation of the recording, repeated
        k = int(row[0]) - 1
        np.testing.assert_array_equal(row, np.roll(np.tile(short, 3), -k)[:12])


@settings(max_examples=30, deadline=None)
@given(snr=st.floats(-10, 10), louder=st.floats(0.05, 1.0), seed=st.integers(0, 2**16))
def test_the_louder_source_stands_at_the_drawn_snr_above_the_noise(snr, louder, seed):
    gen = torch.Generator().manual_seed(seed)
    sources = torch.randn(1, 2, 800, generator=gen) * torch.tensor([louder, louder / 3])[None, :, None]
    noise = torch.randn(1, 800, generator=gen) * 0.05
    mix = sources.sum(1)
    added = add_noise(mix, sources, noise, torch.tensor([snr])) - mix
    measured = 10 * torch.log10(sources[0, 0].pow(2).mean() / added.pow(2).mean())
    assert abs(float(measured) - snr) < 1e-3


def test_a_silent_crop_is_not_blown_up():
    sources = torch.full((1, 2, 100), 0.05)
    added = add_noise(sources.sum(1), sources, torch.full((1, 100), 1e-6), torch.tensor([0.0])) - sources.sum(1)
    assert float(added.abs().max()) < 1e-4


@pytest.fixture(scope="module")
def noisy():
    clean = tones_2mix()
    return clean, with_background_noise(clean, seed=3)


def test_noisy_data_keeps_the_sources_and_only_adds_noise(noisy):
    clean, data = noisy
    assert data.name.startswith("tones-2mix-noisy@") and not data.mix_is_sum and not data.train_mix_is_sum
    for split in ("valid", "test"):
        a, b = getattr(clean, split)[1], getattr(data, split)[1]
        torch.testing.assert_close(b.sources, a.sources, rtol=0, atol=0)
        residual = b.mix - a.mix
        assert 0 < float(residual.abs().max())
        torch.testing.assert_close(b.mix, getattr(data, split)[1].mix, rtol=0, atol=0)  # the same draw again
    mix, sources = data.train.batch(0, 5, 4, 1600)
    cmix, csources = clean.train.batch(0, 5, 4, 1600)
    torch.testing.assert_close(sources, csources, rtol=0, atol=0)
    loud = csources.pow(2).mean(-1).amax(1)
    snr = 10 * torch.log10(loud / (mix - cmix).pow(2).mean(-1))
    assert (snr > -6.01).all()  # only a crop quieter than the floor can leave the noise below the range
    assert (snr < 3.01).float().mean() >= 0.75
    moved = data.train.to("cpu").batch(0, 5, 4, 1600)  # the trainer's path on a GPU, here on the CPU
    torch.testing.assert_close(moved[0], mix, rtol=0, atol=0)


def test_test_sets_draw_held_out_noise_and_training_the_rest(noisy):
    _, data = noisy
    assert set(data.test.bank.names) == TEST_NOISE
    assert not set(data.train.bank.names) & TEST_NOISE and data.valid.bank is data.train.bank


def test_the_name_follows_the_snr_range_and_bad_ranges_are_refused(noisy):
    clean, data = noisy
    assert with_background_noise(clean, seed=3).name == data.name
    assert with_background_noise(clean, seed=3, snr_db=(0, 5)).name != data.name
    for bad in ((3, -6), (1,), ("a", 2), (float("nan"), 1)):
        with pytest.raises(SeparenaError, match=r"^background noise: bad noise_snr_db .*expected \[low, high\]"):
            with_background_noise(clean, snr_db=bad)


def test_multi_condition_training_leaves_some_mixtures_clean_and_the_rest_as_they_were(noisy):
    clean, data = noisy
    half = with_background_noise(clean, seed=3, fraction=0.5)
    assert half.name != data.name and half.name.startswith("tones-2mix-noisy@")
    mix, _ = half.train.batch(0, 2, 32, 800)
    full, _ = data.train.batch(0, 2, 32, 800)
    plain, _ = clean.train.batch(0, 2, 32, 800)
    kept = [torch.equal(m, f) for m, f in zip(mix, full)]
    dropped = [torch.equal(m, p) for m, p in zip(mix, plain)]
    assert all(k != d for k, d in zip(kept, dropped)) and 8 <= sum(dropped) <= 24
    torch.testing.assert_close(half.test[2].mix, data.test[2].mix, rtol=0, atol=0)  # evaluation stays noisy
    for bad in (-0.1, 1.5, "half"):
        with pytest.raises(SeparenaError, match=r"^background noise: bad noise_fraction .*expected a share"):
            with_background_noise(clean, fraction=bad)


def test_unknown_split_is_one_line():
    with pytest.raises(SeparenaError, match="unknown split 'dev'; expected 'train' or 'test'"):
        noise_bank("dev")
