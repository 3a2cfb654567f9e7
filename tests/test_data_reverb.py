"""Reverberant mixtures (separena.data.reverb): WHAMR!'s recipe, on small room banks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from separena.data import reverb
from separena.data.reverb import N_TALKERS, RoomBank, place_in_rooms, room_bank, with_reverberation
from separena.data.tones import tones_2mix
from separena.errors import SeparenaError
from separena.metrics import si_sdr

pytest.importorskip("pyroomacoustics")


@pytest.fixture(scope="module")
def small_rooms(tmp_path_factory):
    """Four training rooms and three test rooms (the real banks take half a minute to simulate)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reverb, "ROOMS", {"train": 4, "test": 3})
        cache = tmp_path_factory.mktemp("rooms")
        dry = tones_2mix()
        yield cache, dry, with_reverberation(dry, cache_dir=cache, seed=2, progress=False)


def test_each_room_holds_its_talkers_direct_path_at_the_start_of_its_response(small_rooms):
    cache, _, data = small_rooms
    bank = data.test.bank
    half = (bank.direct.shape[-1] - 1) // 2
    assert bank.reverberant.shape[:2] == (3, N_TALKERS) and bank.direct.shape[:2] == (3, N_TALKERS)
    torch.testing.assert_close(bank.direct.pow(2).sum(-1), torch.ones(3, N_TALKERS))  # unit energy
    peak = bank.direct.abs().argmax(-1)
    assert (peak == half).all()  # the filter's centre, where the direct path arrives
    reverberant_energy = bank.reverberant.pow(2).sum(-1)  # the direct path plus its reflections
    assert (reverberant_energy > 1).all() and (reverberant_energy < 100).all()
    # the direct path is the loudest tap of most responses (a reflection can add up louder)
    assert (bank.reverberant.abs().argmax(-1) == half).float().mean() >= 0.75


def test_rooms_are_built_once_and_the_splits_differ(small_rooms, monkeypatch):
    cache, _, data = small_rooms
    monkeypatch.setattr(reverb, "ROOMS", {"train": 4, "test": 3})
    again = room_bank("test", 8000, cache, seed=2, progress=False)  # read back from the cache
    torch.testing.assert_close(again.reverberant, data.test.bank.reverberant, rtol=0, atol=0)
    assert data.valid.bank is data.train.bank and len(data.train.bank) == 4 and len(data.test.bank) == 3
    assert data.train.bank.source != data.test.bank.source
    assert not torch.isclose(data.train.bank.reverberant[:3], data.test.bank.reverberant, atol=1e-6).all()
    assert data.test.bank.source != room_bank("test", 8000, cache, seed=3, progress=False).source


def _delta_bank(n_rooms: int, taps: int) -> RoomBank:
    h = torch.zeros(n_rooms, N_TALKERS, taps)
    h[..., 0] = 1.0
    return RoomBank(h, h[..., :1].clone(), "delta")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n_src=st.integers(1, N_TALKERS), length=st.integers(8, 400),
       target=st.sampled_from(reverb.TARGETS))
def test_a_room_without_reflections_or_delay_changes_nothing(seed, n_src, length, target):
    gen = torch.Generator().manual_seed(seed)
    sources = torch.randn(3, n_src, length, generator=gen)
    mix = sources.sum(1) + 0.1 * torch.randn(3, length, generator=gen)  # noise on the mixture stays
    out_mix, refs = place_in_rooms(mix, sources, _delta_bank(2, 16), torch.tensor([0, 1, 1]), target)
    torch.testing.assert_close(out_mix, mix, atol=1e-5, rtol=0)
    torch.testing.assert_close(refs, sources, atol=1e-5, rtol=0)


def test_the_mixture_is_the_sum_of_reverberant_talkers_and_the_references_their_direct_paths(small_rooms):
    _, dry, data = small_rooms
    assert data.name.startswith("tones-2mix-reverb@") and not data.mix_is_sum and not data.train_mix_is_sum
    ex, base = data.test[1], dry.test[1]
    room = data.test.room(1)
    wet = reverb.reverberate(base.sources[None], data.test.bank.reverberant[room : room + 1, :2])[0]
    torch.testing.assert_close(ex.mix, wet.sum(0), atol=1e-5, rtol=0)
    half = (data.test.bank.direct.shape[-1] - 1) // 2
    shifted = torch.nn.functional.pad(base.sources, (half, 0))[:, : base.sources.shape[-1]]
    direct = reverb.reverberate(base.sources[None], data.test.bank.direct[room : room + 1, :2])[0]
    torch.testing.assert_close(ex.sources, direct, atol=1e-6, rtol=0)
    assert float(si_sdr(ex.sources, shifted).min()) > 10  # about a scaled copy, delayed (a fraction of a sample more)
    assert float(si_sdr(ex.mix[None].expand(2, -1), ex.sources).mean()) < float(
        si_sdr(base.mix[None].expand(2, -1), base.sources).mean())  # the room makes the task harder
    torch.testing.assert_close(data.test[1].mix, ex.mix, rtol=0, atol=0)  # the same room again


def test_training_batches_keep_the_dry_speech_and_draw_rooms_per_step(small_rooms):
    cache, dry, data = small_rooms
    wet = replace(data, train=reverb.ReverberantStream(dry.train, data.train.bank, "reverberant"))
    mix, refs = wet.train.batch(0, 5, 4, 1600)
    dmix, dsources = dry.train.batch(0, 5, 4, 1600)
    torch.testing.assert_close(mix - refs.sum(1), dmix - dsources.sum(1), atol=1e-5, rtol=0)  # the rest stays
    mix2, direct = data.train.batch(0, 5, 4, 1600)
    torch.testing.assert_close(mix2, mix, rtol=0, atol=0)  # one room draw, whichever the target
    assert not torch.allclose(direct, refs, atol=1e-3)
    other, _ = data.train.batch(0, 6, 4, 1600)
    assert not torch.allclose(other, mix)
    moved = data.train.to("cpu").batch(0, 5, 4, 1600)  # the trainer's path on a GPU, here on the CPU
    torch.testing.assert_close(moved[0], mix, rtol=0, atol=0)


def test_bad_target_too_many_talkers_and_unknown_split_are_one_line(small_rooms):
    _, dry, _ = small_rooms
    with pytest.raises(SeparenaError, match=r"^reverberation: bad target 'wet'; expected one of direct, reverb"):
        with_reverberation(dry, target="wet")
    with pytest.raises(SeparenaError, match=r"^reverberation: tones-2mix has 4 sources; expected at most 3"):
        with_reverberation(replace(dry, n_src=4, name="tones-2mix"))
    with pytest.raises(SeparenaError, match="unknown split 'dev'; expected 'train' or 'test'"):
        room_bank("dev")


def test_espeak_reverb_refuses_a_second_room_and_an_unknown_target_before_building():
    from separena.data.speech import espeak_2mix_noisy_reverb, espeak_2mix_reverb

    with pytest.raises(SeparenaError, match=r"^espeak-2mix-reverb: bad reverb 0\.5; expected 0"):
        espeak_2mix_reverb(reverb=0.5)
    with pytest.raises(SeparenaError, match=r"^espeak-2mix-noisy-reverb: bad reverb_target 'wet'; expected one of "
                                            r"direct, reverberant"):
        espeak_2mix_noisy_reverb(reverb_target="wet", cache_dir="/nonexistent")  # nothing is built or read


def test_the_references_keep_the_dry_talkers_levels_so_the_noise_keeps_its_snr(small_rooms):
    # WHAMR!'s scaling: a direct path as loud as the dry talker, whatever the distance
    from separena.data.noise import with_background_noise

    _, dry, data = small_rooms
    noisy = with_background_noise(dry, seed=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reverb, "ROOMS", {"train": 4, "test": 3})
        both = with_reverberation(noisy, cache_dir=small_rooms[0], seed=2, progress=False)
    for i in range(len(dry.test)):
        ref, base = data.test[i].sources, dry.test[i].sources
        level = 10 * torch.log10(ref.pow(2).sum(-1) / base.pow(2).sum(-1))
        assert level.abs().max() < 0.2, level
        noise = noisy.test[i].mix - noisy.test[i].sources.sum(0)
        torch.testing.assert_close(both.test[i].mix - data.test[i].mix, noise, atol=1e-5, rtol=0)
        snr_dry = 10 * torch.log10(base.pow(2).sum() / noise.pow(2).sum())
        snr_refs = 10 * torch.log10(ref.pow(2).sum() / noise.pow(2).sum())
        assert abs(float(snr_refs - snr_dry)) < 0.2
    # the mixture's talkers carry their reflections on top: louder than the dry ones
    assert float(data.test[0].mix.pow(2).sum()) > float(dry.test[0].mix.pow(2).sum())


def test_the_target_names_other_data(small_rooms, monkeypatch):
    cache, dry, data = small_rooms
    monkeypatch.setattr(reverb, "ROOMS", {"train": 4, "test": 3})
    wet = with_reverberation(dry, cache_dir=cache, seed=2, target="reverberant", progress=False)
    assert wet.name != data.name and wet.mix_is_sum == dry.mix_is_sum
    np.testing.assert_allclose(wet.test[0].sources.sum(0).numpy(), wet.test[0].mix.numpy(), atol=1e-5)


def test_noise_added_before_the_rooms_stays_as_recorded(small_rooms, monkeypatch):
    from separena.data.noise import with_background_noise

    cache, dry, data = small_rooms
    monkeypatch.setattr(reverb, "ROOMS", {"train": 4, "test": 3})
    noisy = with_background_noise(dry, seed=3)
    both = with_reverberation(noisy, cache_dir=cache, seed=2, progress=False)
    assert both.name.startswith("tones-2mix-noisy-reverb@") and not both.mix_is_sum
    for got, wet, with_noise in ((both.test[2], data.test[2], noisy.test[2]),):
        torch.testing.assert_close(got.sources, wet.sources, rtol=0, atol=0)  # the same rooms, the same refs
        torch.testing.assert_close(got.mix - wet.mix, with_noise.mix - with_noise.sources.sum(0), atol=1e-6, rtol=0)
    mix, refs = both.train.batch(0, 3, 4, 800)
    wmix, wrefs = data.train.batch(0, 3, 4, 800)
    nmix, nsrc = noisy.train.batch(0, 3, 4, 800)
    dmix, dsrc = dry.train.batch(0, 3, 4, 800)
    torch.testing.assert_close(refs, wrefs, rtol=0, atol=0)
    torch.testing.assert_close(mix - wmix, (nmix - nsrc.sum(1)) - (dmix - dsrc.sum(1)), atol=1e-6, rtol=0)
