"""Flite/Festival training speakers (separena.data.tts), recording channels (separena.data.channel)
and the two-speaker stream that mixes every pool."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from separena.data import channel, tts
from separena.data.augment import AugmentConfig
from separena.data.pool import UtterancePool
from separena.data.stream import SpeakerMixtureStream
from separena.errors import SeparenaError

SR = 8000


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    """Harmonics of a gliding pitch under a syllable-rate envelope (aperiodic: codec delays
    can be found by cross-correlation, as on speech)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)) + 10 * rng.standard_normal(len(t)).cumsum() / len(t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 3.1 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    return (0.1 * x * env).astype(np.float32)


def _pool(n_speakers: int, seconds: float, seed: int) -> UtterancePool:
    utts = [_speechlike(seconds, seed * 100 + i) for i in range(n_speakers)]
    lengths = np.array([len(u) for u in utts], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return UtterancePool(np.concatenate(utts), offsets, lengths, np.arange(n_speakers, dtype=np.int64),
                         [f"s{i}" for i in range(n_speakers)])


# ---------------------------------------------------------------------------------------------
# Flite / Festival speakers


def test_speaker_plan_is_deterministic_and_shares_voices_fairly():
    a = tts.plan_tts_speakers(0, 64, 0.08)
    assert a == tts.plan_tts_speakers(0, 64, 0.08) and a != tts.plan_tts_speakers(1, 64, 0.08)
    counts = {v.name: sum(s.voice == v.name for s in a) for v in tts.TTS_VOICES}
    assert set(counts.values()) == {64 // len(tts.TTS_VOICES)}
    assert all(0.92 <= s.formant <= 1.08 and 0.8 <= s.stretch <= 1.25 for s in a)
    # Festival voices keep their own intonation; Flite's is set per speaker
    assert all((s.pitch > 0) == (tts._voice(s.voice).engine == "flite") for s in a)
    assert len({v.person for v in tts.TTS_VOICES}) >= 14


def test_pool_builds_deterministically_from_flite_and_festival(tmp_path):
    # speakers 0 (Flite awb) .. 5 (Festival slt HTS): both engines
    a = tts.tts_pool(SR, str(tmp_path / "a"), n_speakers=6, utterances_per_speaker=1, progress=False)
    b = tts.tts_pool(SR, str(tmp_path / "b"), n_speakers=6, utterances_per_speaker=1, progress=False)
    assert [s.voice for s in a.speakers][:6] == [v.name for v in tts.TTS_VOICES[:6]]
    assert (a.lengths >= SR // 2).all() and np.array_equal(a.audio, b.audio)
    rms = np.sqrt(np.mean(a.audio.astype(np.float64) ** 2))
    assert 0.01 < rms < 0.1  # level-normalised speech, not silence or clipping
    cached = tts.tts_pool(SR, str(tmp_path / "a"), n_speakers=6, utterances_per_speaker=1, progress=False)
    assert np.array_equal(cached.audio, a.audio)


def test_missing_engine_says_what_to_install(monkeypatch):
    monkeypatch.setattr(tts.shutil, "which", lambda name: None)
    with pytest.raises(SeparenaError, match=r"flite not found.*apt-get install flite festival") as e:
        tts.installed_voices()
    assert "\n" not in str(e.value)


def test_bad_pool_parameters_are_refused():
    with pytest.raises(SeparenaError, match="n_speakers >= 2"):
        tts.tts_pool(SR, n_speakers=1)


# ---------------------------------------------------------------------------------------------
# Codecs and compression


@pytest.mark.parametrize("codec", channel.CODECS, ids=lambda c: c.name)
def test_each_codec_keeps_length_and_alignment(codec):
    x = _speechlike(3.0, 1)
    y = channel.code_signal(x, SR, codec)
    assert y.shape == x.shape and y.dtype == np.float32
    snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((x - y).astype(np.float64) ** 2))
    assert 8.0 < snr < 60.0, snr  # lossy (not a copy) and aligned (a shifted copy scores < 0 dB)


def test_coded_pool_codes_the_drawn_share_in_place_and_reproducibly(tmp_path):
    pool = _pool(40, 1.0, 0)
    clean = pool.audio.copy()
    out = channel.coded_pool(pool, SR, 0.5, 0, "test", str(tmp_path), progress=False)
    assert out is pool
    changed = [not np.array_equal(clean[o:o + n], out.audio[o:o + n]) for o, n in zip(pool.offsets, pool.lengths)]
    assert 10 <= sum(changed) <= 30
    again = channel.coded_pool(_pool(40, 1.0, 0), SR, 0.5, 0, "test", str(tmp_path), progress=False)  # cached
    assert np.array_equal(again.audio, out.audio)
    fresh = channel.coded_pool(_pool(40, 1.0, 0), SR, 0.5, 0, "test", str(tmp_path / "other"), progress=False)
    assert np.array_equal(fresh.audio, out.audio)
    untouched = channel.coded_pool(_pool(40, 1.0, 0), SR, 0.0, 0, "test", str(tmp_path), progress=False)
    assert np.array_equal(untouched.audio, clean)
    with pytest.raises(SeparenaError, match=r"codec probability.*\[0, 1\].*1\.5"):
        channel.coded_pool(_pool(4, 1.0, 0), SR, 1.5, 0, "test", str(tmp_path))


def test_compression_lowers_the_crest_factor_and_draws_per_source():
    x = torch.from_numpy(np.stack([_speechlike(2.0, s) for s in range(8)]).reshape(4, 2, -1))
    same = channel.compress(x, SR, np.random.default_rng(0), 0.0)
    assert torch.equal(same, x)
    y = channel.compress(x, SR, np.random.default_rng(0), 1.0)
    assert y.shape == x.shape and torch.isfinite(y).all()

    def crest(z):
        return z.abs().amax(-1) / z.pow(2).mean(-1).sqrt()

    assert (crest(y) < crest(x)).all()
    assert torch.equal(y, channel.compress(x, SR, np.random.default_rng(0), 1.0))


# ---------------------------------------------------------------------------------------------
# The stream over eSpeak, real and tts pools


def _tone_pool(n_speakers: int, hz: float) -> UtterancePool:
    t = np.arange(3 * SR) / SR
    one = (0.05 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    lengths = np.full(n_speakers, len(one), np.int64)
    return UtterancePool(np.tile(one, n_speakers), np.arange(n_speakers, dtype=np.int64) * len(one), lengths,
                         np.arange(n_speakers, dtype=np.int64), [f"s{i}" for i in range(n_speakers)])


def test_stream_draws_tts_sources_at_their_share_and_keeps_the_old_draws():
    espeak, real, voices = _pool(6, 3.0, 1), _pool(4, 3.0, 2), _pool(5, 3.0, 3)
    aug = AugmentConfig()
    old = SpeakerMixtureStream(espeak, SR, aug, real=real, real_fraction=0.3)
    new = SpeakerMixtureStream(espeak, SR, aug, real=real, real_fraction=0.3, tts=voices, tts_fraction=0.0)
    for a, b in zip(old.batch(0, 3, 8, 4000), new.batch(0, 3, 8, 4000)):
        assert torch.equal(a, b)
    # each pool a tone of its own: the spectrum's peak tells which pool a source came from
    tones = (250.0, 1000.0, 2500.0)
    stream = SpeakerMixtureStream(_tone_pool(6, tones[0]), SR, None, real=_tone_pool(4, tones[1]), real_fraction=0.3,
                              tts=_tone_pool(5, tones[2]), tts_fraction=0.5, level_db=0)
    _, src = stream.batch(0, 0, 512, 800)
    peak = torch.fft.rfft(src, dim=-1).abs().argmax(-1) * SR / 800
    kinds = torch.stack([(peak - f).abs() < 20 for f in tones]).float()
    assert (kinds.sum(0) == 1).all()
    share = kinds.mean((1, 2)).numpy()
    assert abs(share[1] - 0.3) < 0.05 and abs(share[2] - 0.5) < 0.05, share
    with pytest.raises(SeparenaError, match="real_fraction \\+ tts_fraction"):
        SpeakerMixtureStream(espeak, SR, None, real=real, real_fraction=0.6, tts=voices, tts_fraction=0.6)
